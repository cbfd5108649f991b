#pragma once
/// \file LatticePlacement.h
/// A label map on a volume's voxel lattice that covers only part of it (same spacing and axes,
/// origin a whole number of voxels away: what 3D Slicer writes for a label map made from a
/// segmentation, cropped to the segments' extent) put onto the volume's grid without
/// interpolation.

#include <array>
#include <cstddef>
#include <optional>

#include "lesion/core/Image.h"

namespace lesion {

/// `map` copied onto the volume's grid, and what did not fit.
struct LatticePlacement {
  std::array<long, 3> offsetVoxels{};   ///< volume index of the map's voxel (0, 0, 0)
  LabelMap labels;                      ///< on the volume's grid; 0 where the map does not reach
  std::size_t labelledVoxelsOutside{0}; ///< non-zero voxels of `map` beyond the volume (dropped)
};

/// When `map` has the volume's spacing and direction (the tolerances of ImageGeometry::sameGrid)
/// and its origin lies on a voxel centre of `volume` within `toleranceVoxels` along each axis, its
/// voxels copied at that whole-voxel offset into a zero label map on `volume`; otherwise nullopt
/// (another lattice: only resampling, which this does not do, could bring it over).
[[nodiscard]] std::optional<LatticePlacement> placeOnVolumeLattice(const LabelMap& map, const ImageGeometry& volume,
                                                                   double toleranceVoxels = 1e-3);

} // namespace lesion
