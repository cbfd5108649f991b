#pragma once
/// \file StarSurfaceFit.h
/// A homogeneous mass's border fitted on the raw voxels as one smooth surface, instead of voxel by
/// voxel.
///
/// Against a neighbour of nearly its level (a 45 HU mass on 50 HU muscle under 12 HU of noise) a
/// border decided per voxel follows the noise, and the volume with it (the project phantom: SD 6 %
/// over noise realisations). The surface here is star-shaped about the region's centre, 1 / radius^2
/// a polynomial of degree L in the direction's unit vector (the span of the spherical harmonics up
/// to degree L: (L + 1)^2 coefficients; exact at L = 2 for an ellipsoid about its centre; on the
/// project phantom's noise sets it kept every segmented row within 5 %, the radius itself as the
/// polynomial 34 of 35), fitted by Gauss-Newton with Huber weights on the raw values of the voxels it crosses: each
/// such voxel is modelled as a partial-volume mix (a linear ramp over the voxel's own extent along the ray) of the
/// lesion's level and the level of what lies outside it there (a Gaussian average of the voxels outside the starting
/// border, fixed while fitting). Few degrees of freedom pool the whole contact's evidence, so the border follows the
/// mass, not the noise. No ITK: plain loops on the crop.

#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion::segmentation {

struct StarSurfaceFitOptions {
  int degree{3};                  ///< L: 1 / radius^2 is a polynomial of this degree in the direction (1..4)
  double bandMm{7.0};             ///< voxels within this of the starting border are re-decided
  double neighbourSigmaMm{2.5};   ///< Gaussian of the outside level (the neighbour at each border voxel)
  double clearOfRampMm{0.5};      ///< outside voxels this far beyond their ramp give the neighbour level
  double classGapHu{60.0};        ///< soft tissue within this of the lesion's level; fat / bone beyond twice it
  double airBelowHu{-400.0};      ///< darker than this: air, a class of its own (not averaged with fat)
  double contradictionZoneMm{2.0}; ///< contradictedShare counts the voxels this far beyond the clear ramp
  double dominantClassShare{0.8}; ///< below this share of the neighbour's weight a voxel is at a junction
  double huberK{1.5};             ///< Huber weight threshold in robust SDs of the residuals
  double maxStepMm{1.0};          ///< one iteration moves the surface by at most this
  int iterations{12};
};

struct StarSurfaceFitResult {
  std::vector<unsigned char> mask; ///< the starting region outside the band; voxel centres inside the surface in it
  double lesionLevel{0.0};         ///< mean raw value of the lesion's interior at the end
  double residualSd{0.0};          ///< robust SD of the fitted voxels' residuals (the noise, if the model fits)
  double startAgreement{0.0};      ///< share of the band the starting surface classifies as the region does
  double lastStepMm{0.0};          ///< largest radius change of the last iteration
  /// Of the band's voxels against a neighbour at least 2 x classGapHu away (fat, air, bone) and just
  /// clear of the ramp (within contradictionZoneMm beyond it), the share on the wrong side of the surface (nearer the
  /// other level): near 0 when the surface fits; the caller declines the fit above a small share.
  double contradictedShare{0.0};
  std::size_t fittedVoxels{0};     ///< voxels on the ramp at the end
};

/// Fits the surface to `raw` (the crop's undenoised intensities) starting from `region` (1 = lesion),
/// whose signed distance `signedDistanceMm` (negative inside, mm) selects the band. Returns nullopt
/// and says why in `why` when the region has no voxel, or no surface of this kind fits its border
/// (`startAgreement` below `minStartAgreement`: not star-shaped about its centre, or too irregular
/// for degree L), or too few voxels lie on the ramp.
[[nodiscard]] std::optional<StarSurfaceFitResult>
fitStarSurface(const ImageGeometry& grid, const float* raw, const unsigned char* region, const float* signedDistanceMm,
               const StarSurfaceFitOptions& options, double minStartAgreement, std::string& why);

} // namespace lesion::segmentation
