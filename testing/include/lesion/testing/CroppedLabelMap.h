#pragma once
/// \file CroppedLabelMap.h
/// The label map 3D Slicer hands a CLI module for a segmentation: the volume's voxel lattice, cut
/// to the segments' extent. Header only: include from tests that link lesion::core.

#include <algorithm>
#include <array>
#include <cstddef>

#include "lesion/core/Image.h"

namespace lesion::test {

/// `map` cut to the box of its labelled voxels grown by `marginVoxels` (within the map), the
/// origin moved to the box's first voxel; the whole map when nothing is labelled.
[[nodiscard]] inline LabelMap cropToLabels(const LabelMap& map, std::size_t marginVoxels) {
  const ImageGeometry& g = map.geometry;
  std::array<std::size_t, 3> lo = g.size, hi{0, 0, 0};
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (map.at(i, j, k) != 0) {
          const std::array<std::size_t, 3> index{i, j, k};
          for (std::size_t a = 0; a < 3; ++a) {
            lo[a] = std::min(lo[a], index[a]);
            hi[a] = std::max(hi[a], index[a]);
          }
        }
  if (lo[0] > hi[0])
    return map;
  ImageGeometry box = g;
  for (std::size_t a = 0; a < 3; ++a) {
    lo[a] = lo[a] > marginVoxels ? lo[a] - marginVoxels : 0;
    hi[a] = std::min(hi[a] + marginVoxels, g.size[a] - 1);
    box.size[a] = hi[a] - lo[a] + 1;
  }
  box.origin = g.indexToPoint(lo[0], lo[1], lo[2]);
  LabelMap cropped(box, 0);
  for (std::size_t k = 0; k < box.size[2]; ++k)
    for (std::size_t j = 0; j < box.size[1]; ++j)
      for (std::size_t i = 0; i < box.size[0]; ++i)
        cropped.at(i, j, k) = map.at(lo[0] + i, lo[1] + j, lo[2] + k);
  return cropped;
}

} // namespace lesion::test
