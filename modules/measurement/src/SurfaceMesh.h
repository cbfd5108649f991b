#pragma once
// Internal: the only place the measurement module touches VTK.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lesion::measurement::detail {

struct SurfaceMeasures {
  double volumeMm3{0.0};
  double areaMm2{0.0};
};

/// Closed iso-surface at 0.5 of a binary mask (x-fastest, values 0/1) sampled on an orthogonal
/// grid with `spacingMm`: vertices sit halfway between inside and outside voxel centres, the
/// pyradiomics / marching-cubes convention. The mask is padded by one empty voxel on every side
/// so the surface is closed. Volume and area do not depend on the grid's direction cosines.
[[nodiscard]] SurfaceMeasures measureSurface(const std::vector<std::uint8_t>& mask, const std::array<std::size_t, 3>& size,
                                             const std::array<double, 3>& spacingMm);

} // namespace lesion::measurement::detail
