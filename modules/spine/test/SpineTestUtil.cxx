#include "SpineTestUtil.h"

#include "lesion/measurement/Overlap.h"

#include <algorithm>
#include <cmath>

namespace lesion::spine::test {

double dice(const LabelMap& a, const std::function<bool(std::uint16_t)>& inA, const LabelMap& b,
            const std::function<bool(std::uint16_t)>& inB) {
  return measurement::diceCoefficient(a, inA, b, inB);
}

std::size_t countVoxels(const LabelMap& m, const std::function<bool(std::uint16_t)>& in) {
  return std::size_t(std::count_if(m.voxels.begin(), m.voxels.end(), in));
}

LabelMap insertSimulatedLesion(Volume& ct, const Vec3& centre, const Vec3& semiAxes, double meanHu, double noiseSd,
                               const std::function<bool(std::size_t)>& replace, std::uint32_t seed) {
  LabelMap truth(ct.geometry, 0);
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, noiseSd);
  const auto& g = ct.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 p = g.indexToPoint(i, j, k) - centre;
        const double r = std::pow(p.x / semiAxes.x, 2) + std::pow(p.y / semiAxes.y, 2) + std::pow(p.z / semiAxes.z, 2);
        const std::size_t q = g.linearIndex(i, j, k);
        if (r > 1.0 || !replace(q)) continue;
        ct.voxels[q] = float(std::round(meanHu + noise(rng)));
        truth.voxels[q] = 1;
      }
  return truth;
}

double estimateNoiseSd(const Volume& ct) {
  std::vector<double> diffs;
  const auto& g = ct.geometry;
  for (std::size_t k = 0; k < g.size[2]; k += 2)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i + 1 < g.size[0]; ++i) {
        const float a = ct.voxels[g.linearIndex(i, j, k)], b = ct.voxels[g.linearIndex(i + 1, j, k)];
        if (a > 0 && a < 100 && b > 0 && b < 100) diffs.push_back(double(a) - double(b));
      }
  if (diffs.empty()) return 0.0;
  for (double& v : diffs) v = std::abs(v);
  std::nth_element(diffs.begin(), diffs.begin() + long(diffs.size() / 2), diffs.end());
  return 1.4826 * diffs[diffs.size() / 2] / std::sqrt(2.0);
}

} // namespace lesion::spine::test
