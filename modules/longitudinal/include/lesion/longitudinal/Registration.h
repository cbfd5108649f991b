#pragma once
/// \file Registration.h
/// Rigid registration of a follow-up scan to its baseline (ITK v4 framework; every ITK template
/// lives in src/Registration.cxx): a fast global level on heavily downsampled copies, then a
/// local refinement per lesion region at full resolution.
///
/// Direction convention: the baseline is the *fixed* image and the follow-up the *moving* one,
/// and every transform here maps a fixed (baseline) LPS point to the moving (follow-up) LPS point
/// that shows the same anatomy: p_followup = R p_baseline + t. This is ITK's convention for
/// registration transforms and the convention of the phantom's truth (transformFromBaseline).
/// To bring follow-up voxels onto the baseline grid, sample the follow-up at T(p) for each
/// baseline point p; to carry a baseline mask to the follow-up grid, sample the baseline at
/// T^-1(q) for each follow-up point q (see Resampling.h).
///
/// Method: Mattes mutual information (Mattes et al., IEEE TMI 2003;22:120-128,
/// doi:10.1109/TMI.2002.808360), VersorRigid3DTransform, regular-step gradient descent with
/// scales from physical shift, multi-resolution pyramid, centred initialisation.
///
/// Optional deformable level (soft tissue): a cubic B-spline free-form deformation (Rueckert et
/// al., IEEE TMI 1999;18:712-721, doi:10.1109/42.796284) on a coarse control-point mesh over one
/// lesion region, after its local rigid level; Mattes MI, L-BFGS-B.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"

namespace lesion::longitudinal {

enum class RegistrationInitialiser {
  Geometry, ///< align the centres of the two grids (same patient, similar field of view)
  Moments,  ///< align the intensity centres of mass (intensities shifted to be non-negative)
  Identity  ///< start from the identity (scanner frames already close)
};

struct RegistrationOptions {
  /// Global level: both images are first averaged (bin-shrunk) to voxels of at least this size,
  /// then registered over `shrinkFactors` (relative to that) with `smoothingSigmas` (voxels).
  double globalVoxelSizeMm{2.0};
  std::vector<unsigned> shrinkFactors{4, 2, 1};
  std::vector<double> smoothingSigmas{2.0, 1.0, 0.0};
  unsigned histogramBins{32};
  double samplingFraction{0.15};   ///< random fraction of fixed voxels the metric samples per level
  std::size_t maxSamples{60000};   ///< ... capped at this many at the finest level (cost per iteration)
  unsigned maxIterations{200};     ///< per level
  double initialStepMm{2.0};       ///< largest first step (physical shift)
  double minimumStepMm{0.01};      ///< converged when the step falls below this
  RegistrationInitialiser initialiser{RegistrationInitialiser::Geometry};
  /// Intensities below this are clamped before the metric (CT: air and table noise carry no
  /// information and dominate the histogram otherwise). Unset: no clamping.
  std::optional<float> clampBelow{};
  unsigned threads{2};
  std::uint32_t seed{20240115};    ///< metric sampling seed: same inputs, same result
};

/// Options of the local (per-lesion) refinement; the region is registered at full resolution.
struct LocalRegistrationOptions {
  std::vector<unsigned> shrinkFactors{2, 1};
  std::vector<double> smoothingSigmas{1.0, 0.0};
  unsigned histogramBins{32};
  double samplingFraction{0.5};
  std::size_t maxSamples{30000};
  unsigned maxIterations{150};
  double initialStepMm{1.0};
  double minimumStepMm{0.005};
  /// The region is clipped to where the follow-up has data (under the initial transform) less
  /// this margin: samples that leave the follow-up during optimisation bias the metric.
  double followupEdgeMarginMm{5.0};
  std::optional<float> clampBelow{};
  unsigned threads{2};
  std::uint32_t seed{20240115};
};

/// Options of the deformable (B-spline) level on one lesion region, after its rigid level.
struct DeformableRegistrationOptions {
  /// B-spline mesh cells per axis over the region: meshSize + 3 control points per axis (cubic);
  /// 3 over a lesion box + 20 mm puts control points ~20-25 mm apart: smooth, 648 parameters.
  unsigned meshSize{3};
  /// Pyramid; both levels smoothed by a voxel: at full resolution, sub-voxel shifts that merely
  /// average the noise would otherwise raise mutual information (interpolation artefact).
  std::vector<unsigned> shrinkFactors{2, 1};
  std::vector<double> smoothingSigmas{1.0, 1.0};
  unsigned histogramBins{32};
  double samplingFraction{0.25};
  /// Random samples per level: ITK's metric derivative is dense in the parameters, so the cost of
  /// an iteration is samples x parameters.
  std::size_t maxSamples{5000};
  unsigned maxIterations{50};      ///< L-BFGS-B iterations per level: bounds the cost (seconds)
  double followupEdgeMarginMm{5.0};
  /// Intensity window of the metric: values outside are clamped. CT soft tissue: about
  /// −200..300 HU, so the histogram bins resolve fat, fluid, muscle and a mass (a −1000..1000
  /// range puts all soft tissue in three of 32 bins).
  std::optional<float> clampBelow{};
  std::optional<float> clampAbove{};
  unsigned threads{2};
  std::uint32_t seed{20240115};
};

/// An axis-aligned box in baseline LPS mm (the registration's fixed region).
struct RegionOfInterest {
  std::string name;
  Vec3 minimum{};
  Vec3 maximum{};
};

struct RegistrationResult {
  /// p_followup = R p_baseline + t (see the file comment).
  RigidTransform baselineToFollowup{};
  /// Mattes mutual information at the end (negative: lower is better; ITK's sign convention).
  double finalMetricValue{0.0};
  unsigned iterations{0};          ///< iterations of the last (finest) level
  std::string stopCondition;       ///< the optimiser's own words
  double seconds{0.0};             ///< wall time
  std::array<std::size_t, 3> fixedVoxels{}; ///< grid size of the finest level's fixed image
};

/// A rigid transform after a cubic B-spline displacement in baseline LPS:
/// p_followup = rigid(p + d(p)) (ITK: CompositeTransform [rigid, BSplineTransform], the
/// B-spline applied first). d is ITK's BSplineTransform of order 3: zero outside its domain
/// (the registered region), so far from the lesion this is the rigid transform.
struct DeformableTransform {
  RigidTransform rigid{};
  /// The coefficient grid (ITK's fixed parameters: mesh + 3 points per axis, origin one control
  /// spacing before the domain, spacing, direction).
  ImageGeometry controlGrid{};
  std::vector<Vec3> coefficients{}; ///< displacement coefficient per control point (mm), i fastest

  /// d(p); zero outside the B-spline's domain (ITK's convention).
  [[nodiscard]] Vec3 displacement(const Vec3& p) const;
  [[nodiscard]] Vec3 apply(const Vec3& p) const { return rigid.apply(p + displacement(p)); }
  /// The baseline point p with apply(p) = q, by fixed-point iteration p = R^-1(q - t) - d(p)
  /// (converges while the deformation is invertible: |grad d| < 1, always so for the coarse
  /// meshes here).
  [[nodiscard]] Vec3 applyInverse(const Vec3& q) const;
  /// Upper bound of |d| (the largest coefficient: B-spline weights are non-negative, sum 1).
  [[nodiscard]] double maxDisplacementBoundMm() const;
};

struct DeformableRegistrationResult {
  DeformableTransform baselineToFollowup{};
  /// Mattes MI on every voxel of the region at full resolution (negated: lower is better), with
  /// the rigid start alone and with the B-spline: the same sampling, so they compare.
  double rigidMetricValue{0.0};
  double finalMetricValue{0.0};
  unsigned iterations{0};          ///< L-BFGS-B iterations of the last level
  std::string stopCondition;
  double seconds{0.0};
  double maxDisplacementMm{0.0};   ///< largest |d| at the region's voxel centres
  std::array<std::size_t, 3> fixedVoxels{}; ///< the region's grid at full resolution
};

/// Throws lesion::InputError when a scan is too small for the registrations: under 4 voxels along
/// an axis or 4096 in all, they fail inside ITK ("A spacing of 0 is not allowed", "must have 1 or
/// more points") or place a lesion's region outside the scan. `what` names the scan.
void requireRegistrable(const ImageGeometry& g, std::string_view what);

/// Global rigid registration of `followup` (moving) to `baseline` (fixed). Throws
/// lesion::InputError for an invalid grid and lesion::ProcessingError when the optimiser fails
/// (e.g. the images do not overlap).
[[nodiscard]] RegistrationResult registerRigid(const Volume& baseline, const Volume& followup,
                                               const RegistrationOptions& options = {}, Progress progress = {});

/// Local rigid refinement: for each region, the baseline cropped to the region (full resolution)
/// is registered to the follow-up starting from `initial` (usually the global result). Throws
/// lesion::InputError when a region does not overlap the baseline grid.
[[nodiscard]] std::vector<RegistrationResult> registerRigidLocal(const Volume& baseline, const Volume& followup,
                                                                 const std::vector<RegionOfInterest>& regions,
                                                                 const RigidTransform& initial,
                                                                 const LocalRegistrationOptions& options = {},
                                                                 Progress progress = {});

/// Deformable refinement of one region: the baseline cropped to `region` (clipped to where the
/// follow-up has data) is registered to the follow-up with a B-spline displacement applied
/// before `rigid` (usually the region's local rigid result), which stays fixed. Throws
/// lesion::InputError when the region does not overlap both scans, lesion::ProcessingError when
/// the optimiser fails.
[[nodiscard]] DeformableRegistrationResult registerBSplineLocal(const Volume& baseline, const Volume& followup,
                                                                const RegionOfInterest& region, const RigidTransform& rigid,
                                                                const DeformableRegistrationOptions& options = {},
                                                                Progress progress = {});

/// The axis-aligned LPS box around the voxels of `labels` holding any of `values` (voxel boxes
/// included), grown by `marginMm` on every side. Throws lesion::InputError when none is present.
[[nodiscard]] RegionOfInterest regionAroundLabels(const LabelMap& labels, const std::vector<std::uint16_t>& values,
                                                  double marginMm, const std::string& name = {});

/// Mean distance (mm) between where two transforms send a set of points: the target
/// registration error of `estimated` against `truth` over `points`.
[[nodiscard]] double meanPointDistanceMm(const RigidTransform& estimated, const RigidTransform& truth,
                                         const std::vector<Vec3>& points);

} // namespace lesion::longitudinal
