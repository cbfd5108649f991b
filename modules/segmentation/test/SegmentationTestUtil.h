#pragma once
// Helpers shared by the segmentation tests: overlap figures and initialisations derived from an
// expert mask, the way a reader would click or draw them.
#include <utility>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"

namespace lesion::segmentation::test {

/// The mean of `tissue(p)` (intensity at an LPS point) over the voxel of `g` centred at `c`, from 4^3
/// sub-samples: the partial volume a scanner averages at tissue boundaries.
template <class Tissue> double partialVolumeMean(const ImageGeometry& g, const Vec3& c, Tissue&& tissue) {
  constexpr int sub = 4;
  double sum = 0.0;
  for (int a = 0; a < sub; ++a)
    for (int b = 0; b < sub; ++b)
      for (int d = 0; d < sub; ++d)
        sum +=
            tissue(c + g.direction * Vec3{((a + 0.5) / sub - 0.5) * g.spacing.x, ((b + 0.5) / sub - 0.5) * g.spacing.y,
                                          ((d + 0.5) / sub - 0.5) * g.spacing.z});
  return sum / (sub * sub * sub);
}

/// Dice coefficient of the non-zero voxels of two label maps on the same grid.
[[nodiscard]] double dice(const LabelMap& a, const LabelMap& b);
[[nodiscard]] double volumeMl(const LabelMap& mask);
/// The interior point farthest from the mask's border (maximum of the distance map), LPS mm.
[[nodiscard]] Vec3 deepestInteriorPoint(const LabelMap& mask);
/// `count` points spread evenly (in scan order) over the voxels at least `minDepthFraction` of
/// the deepest point's depth inside the mask: clicks a reader could make anywhere in its interior.
[[nodiscard]] std::vector<Vec3> deepInteriorPoints(const LabelMap& mask, double minDepthFraction, std::size_t count);
/// End points of the longest in-slice chord between border voxels over all slices (third index
/// axis): the RECIST long axis a reader would draw on the axial slice where it is largest.
[[nodiscard]] std::pair<Vec3, Vec3> largestAxialDiameter(const LabelMap& mask);

} // namespace lesion::segmentation::test
