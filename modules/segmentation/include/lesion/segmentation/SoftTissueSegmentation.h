#pragma once
/// \file SoftTissueSegmentation.h
/// Soft-tissue mass segmentation on CT or MR from a click (seed points), a box or a RECIST line.
///
/// Classical pipeline on a crop around the initialisation (cost does not grow with the scan):
/// MR only: N4 bias-field correction (Tustison et al., doi:10.1109/TMI.2010.2046908) and
/// normalisation by the seed intensity; median + gradient anisotropic diffusion; a robust intensity model
/// (median, MAD) from the seed neighbourhood (CT and MR clicks: a sample grown over the lesion, up to 10 mm,
/// for the homogeneity decision and a textured lesion's model); CT with a homogeneous lesion: a two-class model on a
/// tissue-masked Gaussian (normalised convolution, Knutsson & Westin 1993), each bound at the
/// midpoint towards the nearest neighbouring class; connected-threshold region growing inside a size
/// prior; split at narrow necks (distance-map erosion + Voronoi partition, keep the seed's
/// part, opening); boundary re-decided on raw intensities; hole filling; leak checks; CT with a
/// homogeneous lesion: the border fitted as one star-shaped surface on the raw voxels (StarSurfaceFit.h).
/// See modules/segmentation/README.md.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"

namespace lesion::segmentation {

enum class Modality {
  Auto, ///< CT when looksLikeHounsfieldUnits (>= 1 % of the voxels below -50: fat, air), MR otherwise
  CT,   ///< Hounsfield units: absolute soft-tissue checks apply
  MR    ///< arbitrary units: N4 bias-field correction and normalisation
};

/// How the user pointed at the lesion. Every point is in LPS millimetres.
struct SoftTissueInit {
  enum class Kind { Seeds, Box, Recist };
  Kind kind{Kind::Seeds};
  std::vector<Vec3> seeds{}; ///< Seeds: one or more points inside the mass
  Vec3 boxCorner1{};         ///< Box: two opposite corners of a box enclosing the mass
  Vec3 boxCorner2{};
  Vec3 recistFrom{};         ///< Recist: end points of the longest axial diameter
  Vec3 recistTo{};

  [[nodiscard]] static SoftTissueInit fromSeeds(std::vector<Vec3> points);
  [[nodiscard]] static SoftTissueInit fromBox(const Vec3& corner1, const Vec3& corner2);
  [[nodiscard]] static SoftTissueInit fromRecist(const Vec3& from, const Vec3& to);

  /// What makes this initialisation unusable, empty when nothing does: a box flat or empty (a side of
  /// 2 mm or less), a RECIST line shorter than 3 mm, no seeds. segmentSoftTissueMass throws it as an
  /// InputError; a command names its option with it.
  [[nodiscard]] std::string problem() const;
};

struct SoftTissueOptions {
  Modality modality{Modality::Auto};
  std::uint16_t labelValue{1};
  /// Largest lesion diameter expected from a seed-only initialisation; sets the crop (and the
  /// leak check: a result wider than this fails).
  double maxDiameterMm{100.0};
  /// Half width of the intensity interval in robust SDs of the seed neighbourhood; unset: 2.5 on
  /// CT, 3.0 on MR (MR masses are more heterogeneous relative to their noise).
  std::optional<double> intensityToleranceSd{};
  /// Radius of the ball around each seed point that the intensity model samples.
  double seedRadiusMm{4.0};
  /// Re-estimate the intensity model from the first grown region (widening only), so a
  /// heterogeneous mass grows beyond the intensities next to the seed; unset: on for MR, off for
  /// CT (on CT it adds the partial-volume rim of fat: +20 % volume on STS_002).
  std::optional<bool> refineIntensityModel{};
  /// Gradient anisotropic diffusion (after a 3x3 median): iterations (0 = median only), conductance.
  int diffusionIterations{6};
  double diffusionConductance{1.0};
  /// Neck split: the region is eroded by this fraction of the seed's depth inside it, and cut
  /// between the parts that remain (Voronoi partition).
  double neckSplitFraction{0.7};
  /// Then opened with this fraction of the depth (drops thin and porous attachments).
  double neckOpeningFraction{0.5};
  /// CT: two-class intensity model on a tissue-masked Gaussian of this sigma (0 = off, the
  /// diffusion image alone decides). Averages the lesion's own tissue class (within 4 noise SDs of
  /// the seed neighbourhood) so that a neighbour only a few HU apart (muscle next to a mass)
  /// becomes separable; each bound then sits at the midpoint towards the neighbouring class found
  /// around the first grown region.
  double contextSmoothingMm{2.0};
  /// The final border is smoothed at about its volume: the mask's signed distance averaged by a
  /// Gaussian of this sigma and cut at the level that keeps the voxel count; only voxels within the
  /// lesion's intensity interval may join, so a border the intensities hold stays (0 = off).
  double borderSmoothingMm{2.0};
  /// CT with a homogeneous lesion (two-class model): the final border is fitted as one smooth
  /// star-shaped surface on the raw voxels (StarSurfaceFit.h: degree 2, then 3 when the region spans
  /// at least `surfaceFitMinSlices` slices) instead of smoothed; kept when the region's border band
  /// agrees with a surface of that kind, the surface leaves the voxels just beyond it against fat, air
  /// or bone on their side (not a lobulated mass's lobes cut off), the seeds stay inside and the volume
  /// moves by at most `surfaceFitMaxVolumeChange` (otherwise the smoothing above runs).
  bool fitBorderSurface{true};
  int surfaceFitMinSlices{7};
  double surfaceFitMaxVolumeChange{0.4};
  /// ... used only when the lesion sample's robust SD in the averaged image is at most this many
  /// times the noise left after averaging (neighbour-difference noise / sqrt(voxels averaged): a
  /// homogeneous lesion); otherwise one class.
  double homogeneityFactor{1.5};
  /// CT, seeds only: the lesion sample (homogeneity decision; one-class intensity model) is the
  /// ball of `seedRadiusMm` grown in 1 mm shells up to this radius, stopping before a shell with
  /// more than 5 % of voxels outside the lesion's tissue class (fat, air, bone) or, for the
  /// decision, more than 10 % outside the sample's median +- 3 robust SDs in the averaged image (a
  /// neighbouring soft tissue). A 4 mm ball does not see a textured lesion's spread, and its
  /// statistics follow where the click lands (STS_002 CT: Dice 0.55-0.89 for 3 mm moves with the
  /// ball, 0.886-0.888 with the sample). MR, seeds only: the model's sample, grown the same way
  /// while the shells stay within the sample's level on the denoised image (no tissue class on
  /// MR). 0 (or <= seedRadiusMm) = the seed ball only.
  double lesionSampleRadiusMm{10.0};
  /// CT, textured lesion (one-class model), box or RECIST initialisation: a homogeneous brighter
  /// organ inside the grown region (a lung tumour on the liver) is cut off where a tissue-masked
  /// Gaussian of this sigma shows it as a narrow mode above the initialisation's samples, at the
  /// samples' own upper bound on that average (median + tolerance x robust SD; what it leaves of
  /// the organ goes with its slices, `maxOpenSliceFraction`) (0 = off). 5 mm averages over the
  /// texture of a necrotic core / enhancing rim (~1 cm).
  double brightNeighbourSmoothingMm{5.0};
  /// CT, textured lesion (one-class model), seeds only: a click in a necrotic core. When more than
  /// this fraction of the shell of `enclosingRimShellMm` around the grown region (holes filled) is
  /// soft tissue brighter than the interval, the core is enclosed by a rim: the interval widens to
  /// the rim's (median + tolerance x robust SD of those shell voxels), the region regrows, the
  /// bright-neighbour cut runs at the same bound of the rim's voxels on its average, and the
  /// organ's slices go as for a RECIST line (`maxOpenSliceFraction`, search sphere not counted as
  /// open, the click's own slices kept) (0 = off). The GTV's clicks read 0.49-0.59 (at 0.5 the
  /// rim path was a switch: one 3 mm move grew the core only, Dice 0.549 against 0.811 at 0.4);
  /// STS_002 CT's shells hold 0 % brighter tissue.
  double enclosingRimFraction{0.4};
  double enclosingRimShellMm{3.0};
  /// CT, box or RECIST line after the brighter-organ cut found an organ, or a click whose core's rim
  /// was grown (`enclosingRimFraction`): from the initialisation's
  /// slice outwards, the first axial slice whose region border is held by nothing on more than this
  /// fraction of its in-plane neighbours (raw intensity inside the interval, or outside the size
  /// prior: a disc cut out of the organ) and every slice beyond it are removed (1 = off). IBSI lung
  /// GTV: slices kept 0.27-0.47, the first removed 0.69, the liver below 0.57-0.92 (with the cut at
  /// the samples' own bound, over the test's line and four variants: kept at most 0.47, the first
  /// removed 0.61-0.81; with the midpoint cut one variant's slice 18 read 0.53). The neck
  /// opening then gives back what it drops within its own radius (the lesion's own lobes).
  double maxOpenSliceFraction{0.5};
  /// MR: N4 bias-field correction on the crop (ignored on CT).
  bool biasFieldCorrection{true};
  /// CT: the seed neighbourhood's median must lie in this range to count as soft tissue.
  double softTissueMinHu{-30.0};
  double softTissueMaxHu{200.0};
  /// A boundary held by the size prior on more than this fraction of its voxels is a leak.
  double maxPriorContactFraction{0.35};
  /// Seeds only: a region that reaches the rim of the search sphere (set by `maxDiameterMm`) on at
  /// most this fraction of its border (held by contrast elsewhere) is searched once more in a 1.1 x
  /// wider sphere with a 1.1 x diameter limit, and kept only if it stops inside it (0 = off). IBSI
  /// lung GTV (103 mm) from a click: 0.105 at the 110 mm sphere, then stops inside 121 mm; MR brain
  /// tumour leaks: 0.105-0.253, and they run on into the wider sphere (refused as before).
  double maxSearchContactFraction{0.25};
};

/// Robust intensity model of the lesion, from the seed neighbourhood after denoising.
struct IntensityModel {
  double median{0.0};    ///< in the working units (HU on CT; normalised units on MR, seed median = 1)
  double robustSd{0.0};  ///< 1.4826 * MAD, floored at a noise minimum
  double lower{0.0};     ///< region-growing interval
  double upper{0.0};
  std::size_t samples{0};
  std::string unit;      ///< "HU" or "normalised"
};

/// What the algorithm did, for QC and for the caller's report.
struct SegmentationDiagnostics {
  Modality modality{Modality::CT};             ///< resolved modality
  std::array<std::size_t, 3> cropIndex{};      ///< first voxel of the crop on the input grid
  std::array<std::size_t, 3> cropSize{};       ///< crop size in voxels
  Vec3 cropMinMm{}, cropMaxMm{};               ///< LPS bounds of the crop's voxel centres
  Vec3 centreMm{};                             ///< centre of the initialisation
  double priorRadiusMm{0.0};                   ///< size prior (0 = none, seeds only)
  IntensityModel intensity{};
  bool biasFieldCorrected{false};
  double seedDepthMm{0.0};          ///< depth of the seeds inside the grown region (MR clicks: of their lobe's centre)
  double neckErosionMm{0.0};        ///< opening radius used at necks
  /// Neighbouring structures cut off at necks: sizeable parts split off, or 1 when the opening
  /// removed more than a quarter of what it kept; 0 with leakRemovedMl > 0: thin attachments only.
  int componentsSplitOff{0};
  double leakRemovedMl{0.0}; ///< volume removed by the neck split and opening in all (structures and thin attachments)
  double priorContactFraction{0.0}; ///< boundary fraction held only by the size prior
  bool twoClassModel{false};        ///< CT: two-class model on the tissue-masked average was used
  double contextSpreadHu{0.0};      ///< CT: robust SD of the lesion sample in that average
  double contextNoiseHu{0.0};       ///< CT: the part of it that noise explains (neighbour differences)
  std::optional<double> brightNeighbourCutHu{}; ///< CT: cut on the wide average at a brighter organ
  double brightNeighbourRemovedMl{0.0};         ///< volume removed by that cut
  double openSlicesRemovedMl{0.0};              ///< CT: volume of the organ's slices removed after that cut
  double enclosingRimShellFraction{0.0};        ///< CT seeds: bright soft-tissue part of the shell around the core
  std::optional<double> enclosingRimHu{};       ///< CT seeds: the rim's median when the core was enclosed by one
  int borderSurfaceDegree{0};                   ///< two-class CT: degree of the fitted border surface (0 = not fitted)
  double borderSurfaceResidualHu{0.0};          ///< robust SD of that fit's residuals
  std::vector<std::string> warnings{};
};

struct SegmentationResult {
  LabelMap labels;           ///< on the input grid; the mass has options.labelValue, rest 0
  double volumeMl{0.0};      ///< voxel-count volume
  std::size_t voxelCount{0};
  SegmentationDiagnostics diagnostics{};
};

/// Segments the soft-tissue mass indicated by `init`. Throws lesion::InputError when the
/// initialisation lies outside the volume or is degenerate, and lesion::ProcessingError with the
/// reason when it cannot produce a trustworthy mask (seed outside soft tissue, leak it cannot stop,
/// implausible size).
[[nodiscard]] SegmentationResult segmentSoftTissueMass(const Volume& volume, const SoftTissueInit& init,
                                                       const SoftTissueOptions& options = {},
                                                       Progress progress = {});

[[nodiscard]] std::string modalityName(Modality modality);
/// "ct", "mr", "auto" (case-insensitive); throws lesion::UsageError otherwise.
[[nodiscard]] Modality parseModality(const std::string& text);

} // namespace lesion::segmentation
