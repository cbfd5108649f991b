#include "lesion/core/LatticePlacement.h"

#include <cmath>

namespace lesion {

std::optional<LatticePlacement> placeOnVolumeLattice(const LabelMap& map, const ImageGeometry& volume,
                                                     double toleranceVoxels) {
  // Spacing and axes as sameGrid compares them; size and origin may differ.
  ImageGeometry axes = map.geometry;
  axes.size = volume.size;
  axes.origin = volume.origin;
  if (!axes.sameGrid(volume))
    return std::nullopt;
  LatticePlacement placed;
  const Vec3 start = volume.pointToIndex(map.geometry.origin);
  for (std::size_t a = 0; a < 3; ++a) {
    const double whole = std::round(start[a]);
    if (std::abs(start[a] - whole) > toleranceVoxels)
      return std::nullopt;
    placed.offsetVoxels[a] = long(whole);
  }
  placed.labels = LabelMap(volume, 0);
  const auto& [ni, nj, nk] = map.geometry.size;
  const auto& o = placed.offsetVoxels;
  for (std::size_t k = 0; k < nk; ++k)
    for (std::size_t j = 0; j < nj; ++j)
      for (std::size_t i = 0; i < ni; ++i) {
        const std::uint16_t label = map.at(i, j, k);
        if (label == 0)
          continue;
        const long vi = o[0] + long(i), vj = o[1] + long(j), vk = o[2] + long(k);
        if (volume.containsIndex(vi, vj, vk))
          placed.labels.at(std::size_t(vi), std::size_t(vj), std::size_t(vk)) = label;
        else
          ++placed.labelledVoxelsOutside;
      }
  return placed;
}

} // namespace lesion
