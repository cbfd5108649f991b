#pragma once
// Private voxel helpers of the spine module: plain loops over x-fastest buffers (no ITK, so this
// module compiles in seconds). Distances are physical (anisotropic spacing honoured).

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "lesion/core/Image.h"

namespace lesion::spine::detail {

using Mask = std::vector<std::uint8_t>;

struct Dims {
  std::size_t nx{0}, ny{0}, nz{0};
  double sx{1}, sy{1}, sz{1};
  explicit Dims(const ImageGeometry& g)
      : nx(g.size[0]), ny(g.size[1]), nz(g.size[2]), sx(g.spacing.x), sy(g.spacing.y), sz(g.spacing.z) {}
  [[nodiscard]] std::size_t count() const { return nx * ny * nz; }
  [[nodiscard]] std::size_t index(std::size_t i, std::size_t j, std::size_t k) const { return i + nx * (j + ny * k); }
  [[nodiscard]] double voxelMm3() const { return sx * sy * sz; }
};

/// Calls f(q, di, dj, dk) for each of the 26 neighbours q of voxel p inside the grid.
template <class F>
void forEachNeighbour26(std::size_t p, const Dims& d, F&& f) {
  const long i = long(p % d.nx), j = long((p / d.nx) % d.ny), k = long(p / (d.nx * d.ny));
  for (long dk = -1; dk <= 1; ++dk)
    for (long dj = -1; dj <= 1; ++dj)
      for (long di = -1; di <= 1; ++di) {
        const long a = i + di, b = j + dj, c = k + dk;
        if ((di == 0 && dj == 0 && dk == 0) || a < 0 || b < 0 || c < 0 || a >= long(d.nx) || b >= long(d.ny) ||
            c >= long(d.nz))
          continue;
        f(d.index(std::size_t(a), std::size_t(b), std::size_t(c)), di, dj, dk);
      }
}

/// Squared Euclidean distance (mm^2) from every voxel to the nearest voxel where `mask` is 0
/// (0 on background voxels). Felzenszwalb & Huttenlocher's separable exact transform.
[[nodiscard]] std::vector<float> squaredDistanceToBackground(const Mask& mask, const Dims& d);

/// mask eroded / dilated by a ball of `radiusMm` (through the exact distance transform).
[[nodiscard]] Mask erode(const Mask& mask, const Dims& d, double radiusMm);
[[nodiscard]] Mask dilate(const Mask& mask, const Dims& d, double radiusMm);

/// Connected components of non-zero voxels (6- or 26-connectivity); labels 1..n, sizes[label].
struct Components {
  std::vector<std::int32_t> labels;
  std::vector<std::size_t> sizes; ///< sizes[0] unused
};
[[nodiscard]] Components connectedComponents(const Mask& mask, const Dims& d, bool connectivity26);

/// 2D helpers on one slice (nx * ny, x fastest).
[[nodiscard]] std::vector<std::int32_t> components2d(const Mask& slice, std::size_t nx, std::size_t ny,
                                                    std::vector<std::size_t>& sizes);
/// Sets to 1 every pixel whose centre lies in the convex hull of the pixel centres of `pixels`
/// (indices into the slice).
void fillConvexHull(const std::vector<std::size_t>& pixels, std::size_t nx, std::size_t ny, Mask& slice,
                    double sx, double sy);
/// 2D closing with a 3x3 square (one step of dilation then erosion).
[[nodiscard]] Mask close2d(const Mask& slice, std::size_t nx, std::size_t ny);

/// Multi-source competitive growth: labels spread from `seeds` (non-zero labels) through voxels
/// where `allowed` is set, 26-connected, breadth first (each voxel goes to the seed that reaches it
/// in the fewest steps; ties to the first). Returns the grown labels.
[[nodiscard]] std::vector<std::uint16_t> growLabels(const std::vector<std::uint16_t>& seeds, const Mask& allowed,
                                                    const Dims& d);
/// Multi-source geodesic competition (Dijkstra): labels spread from `seeds` through `allowed`,
/// 26-connected, each voxel to the seed with the shortest physical path. A step towards +k costs
/// its length times `plusKStepFactor`, a step towards -k times `minusKStepFactor` (1: isotropic).
[[nodiscard]] std::vector<std::uint16_t> growLabelsGeodesic(const std::vector<std::uint16_t>& seeds, const Mask& allowed,
                                                            const Dims& d, double plusKStepFactor,
                                                            double minusKStepFactor);

} // namespace lesion::spine::detail
