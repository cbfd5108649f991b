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

#include <array>
#include <cstdint>
#include <optional>
#include <string>
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

/// The axis-aligned LPS box around the voxels of `labels` holding any of `values` (voxel boxes
/// included), grown by `marginMm` on every side. Throws lesion::InputError when none is present.
[[nodiscard]] RegionOfInterest regionAroundLabels(const LabelMap& labels, const std::vector<std::uint16_t>& values,
                                                  double marginMm, const std::string& name = {});

/// Mean distance (mm) between where two transforms send a set of points: the target
/// registration error of `estimated` against `truth` over `points`.
[[nodiscard]] double meanPointDistanceMm(const RigidTransform& estimated, const RigidTransform& truth,
                                         const std::vector<Vec3>& points);

} // namespace lesion::longitudinal
