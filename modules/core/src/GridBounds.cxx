#include "lesion/core/GridBounds.h"

#include <algorithm>

namespace lesion {

std::pair<Vec3, Vec3> voxelBoxBoundsLps(const ImageGeometry& grid, const Vec3& first, const Vec3& last) {
  Vec3 lo{}, hi{};
  for (int corner = 0; corner < 8; ++corner) {
    Vec3 index;
    for (std::size_t a = 0; a < 3; ++a)
      index[a] = (corner >> a) & 1 ? last[a] + 0.5 : first[a] - 0.5;
    const Vec3 p = grid.indexToPoint(index);
    for (std::size_t a = 0; a < 3; ++a) {
      lo[a] = corner == 0 ? p[a] : std::min(lo[a], p[a]);
      hi[a] = corner == 0 ? p[a] : std::max(hi[a], p[a]);
    }
  }
  return {lo, hi};
}

} // namespace lesion
