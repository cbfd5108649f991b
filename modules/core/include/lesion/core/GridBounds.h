#pragma once
/// \file GridBounds.h
/// Where a box of voxels lies in patient space.

#include <utility>

#include "lesion/core/Geometry.h"

namespace lesion {

/// The LPS axis-aligned bounds {lo, hi} of the voxels from index `first` to index `last` (each
/// corner): the union of their voxel boxes (the index box grown by half a voxel), whatever the grid's
/// direction.
[[nodiscard]] std::pair<Vec3, Vec3> voxelBoxBoundsLps(const ImageGeometry& grid, const Vec3& first, const Vec3& last);

} // namespace lesion
