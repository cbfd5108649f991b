#include "SegmentationTestUtil.h"

#include "lesion/measurement/Overlap.h"

#include <algorithm>
#include <vector>

#include <itkSignedMaurerDistanceMapImageFilter.h>

#include "lesion/core/ItkBridge.h"

namespace lesion::segmentation::test {

double dice(const LabelMap& a, const LabelMap& b) {
  const auto nonZero = [](std::uint16_t v) { return v != 0; };
  return measurement::diceCoefficient(a, nonZero, b, nonZero);
}

double volumeMl(const LabelMap& mask) {
  std::size_t n = 0;
  for (auto v : mask.voxels) n += v != 0;
  return double(n) * mask.geometry.voxelVolumeMm3() / 1000.0;
}

namespace {

/// Distance of each voxel inside the mask to its border, mm (outside: negative).
std::vector<float> interiorDepth(const LabelMap& mask) {
  using Mask = itk::Image<std::uint16_t, 3>;
  using Distance = itk::SignedMaurerDistanceMapImageFilter<Mask, itk::Image<float, 3>>;
  auto distance = Distance::New();
  distance->SetInput(itkbridge::toItk(mask));
  distance->SetBackgroundValue(0);
  distance->SetInsideIsPositive(true);
  distance->SetSquaredDistance(false);
  distance->SetUseImageSpacing(true);
  distance->Update();
  const float* d = distance->GetOutput()->GetBufferPointer();
  return {d, d + mask.voxels.size()};
}

Vec3 pointOf(const LabelMap& mask, std::size_t v) {
  const auto& s = mask.geometry.size;
  return mask.geometry.indexToPoint(v % s[0], (v / s[0]) % s[1], v / (s[0] * s[1]));
}

} // namespace

Vec3 deepestInteriorPoint(const LabelMap& mask) {
  const std::vector<float> d = interiorDepth(mask);
  std::size_t best = 0;
  for (std::size_t i = 0; i < mask.voxels.size(); ++i)
    if (mask.voxels[i] && d[i] > d[best]) best = i;
  return pointOf(mask, best);
}

std::vector<Vec3> deepInteriorPoints(const LabelMap& mask, double minDepthFraction, std::size_t count) {
  const std::vector<float> d = interiorDepth(mask);
  const float deepest = *std::max_element(d.begin(), d.end());
  std::vector<std::size_t> deep;
  for (std::size_t i = 0; i < mask.voxels.size(); ++i)
    if (mask.voxels[i] && d[i] >= minDepthFraction * deepest)
      deep.push_back(i);
  std::vector<Vec3> points;
  for (std::size_t c = 0; c < count && !deep.empty(); ++c)
    points.push_back(pointOf(mask, deep[(2 * c + 1) * deep.size() / (2 * count)]));
  return points;
}

std::pair<Vec3, Vec3> largestAxialDiameter(const LabelMap& mask) {
  const auto& g = mask.geometry;
  std::pair<Vec3, Vec3> best{};
  double bestLength = -1.0;
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    std::vector<Vec3> border;
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        if (!mask.at(i, j, k)) continue;
        const bool edge = i == 0 || j == 0 || i + 1 == g.size[0] || j + 1 == g.size[1] || !mask.at(i - 1, j, k) ||
                          !mask.at(i + 1, j, k) || !mask.at(i, j - 1, k) || !mask.at(i, j + 1, k);
        if (edge) border.push_back(g.indexToPoint(i, j, k));
      }
    for (std::size_t a = 0; a < border.size(); ++a)
      for (std::size_t b = a + 1; b < border.size(); ++b) {
        const double length = distance(border[a], border[b]);
        if (length > bestLength) {
          bestLength = length;
          best = {border[a], border[b]};
        }
      }
  }
  return best;
}

} // namespace lesion::segmentation::test
