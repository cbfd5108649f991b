#pragma once
/// \file TrackingUtilities.h
/// Internal helpers shared by the follow-up mask methods (LesionTracking.cxx, BaselineModelMask.cxx).

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion::longitudinal::detail {

/// Calls f(m) for each of the 6 face neighbours m (linear indices) of voxel n inside `grid`.
template <typename F> void forEachFaceNeighbour(const ImageGeometry& grid, std::size_t n, F&& f) {
  const auto& s = grid.size;
  const long i = long(n % s[0]), j = long((n / s[0]) % s[1]), k = long(n / (s[0] * s[1]));
  constexpr std::array<std::array<long, 3>, 6> steps{
      {{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}}};
  for (const auto& d : steps) {
    const long a = i + d[0], b = j + d[1], c = k + d[2];
    if (grid.containsIndex(a, b, c))
      f(grid.linearIndex(std::size_t(a), std::size_t(b), std::size_t(c)));
  }
}

/// 6-connected components of the voxels where inSet(n) holds: the component of each voxel (-1
/// outside) and the one with the largest sum of weight(n) over its voxels (-1 when none weighs).
struct Components {
  std::vector<std::int32_t> id;
  std::int32_t heaviest{-1};
};
template <typename InSet, typename Weight>
Components heaviestComponent(const ImageGeometry& grid, InSet&& inSet, Weight&& weight) {
  Components c{std::vector<std::int32_t>(grid.voxelCount(), -1), -1};
  std::int32_t next = 0;
  std::size_t heaviestWeight = 0;
  std::vector<std::size_t> stack;
  for (std::size_t seed = 0; seed < c.id.size(); ++seed) {
    if (c.id[seed] >= 0 || !inSet(seed))
      continue;
    std::size_t total = 0;
    c.id[seed] = next;
    stack.push_back(seed);
    while (!stack.empty()) {
      const std::size_t n = stack.back();
      stack.pop_back();
      total += weight(n);
      forEachFaceNeighbour(grid, n, [&](std::size_t m) {
        if (c.id[m] < 0 && inSet(m)) {
          c.id[m] = next;
          stack.push_back(m);
        }
      });
    }
    if (total > heaviestWeight) {
      heaviestWeight = total;
      c.heaviest = next;
    }
    ++next;
  }
  return c;
}

/// Of the surface voxels of a region (inRegion(n); a surface voxel has a face neighbour outside
/// it), the fraction with an outside neighbour m where leaks(m) holds: lesion-like tissue that
/// continues past a margin (a touching structure or growth beyond it).
template <typename InRegion, typename Leaks>
double leakingSurfaceFraction(const ImageGeometry& grid, InRegion&& inRegion, Leaks&& leaks) {
  std::size_t surface = 0, leaking = 0;
  for (std::size_t n = 0; n < grid.voxelCount(); ++n) {
    if (!inRegion(n))
      continue;
    bool onSurface = false, leak = false;
    forEachFaceNeighbour(grid, n, [&](std::size_t m) {
      if (inRegion(m))
        return;
      onSurface = true;
      leak = leak || leaks(m);
    });
    surface += onSurface;
    leaking += leak;
  }
  return double(leaking) / double(std::max<std::size_t>(1, surface));
}

} // namespace lesion::longitudinal::detail
