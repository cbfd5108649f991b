#pragma once
/// \file RobustStatistics.h
/// Quantiles and the robust SD of voxel samples, written once so every module ranks alike.

#include <algorithm>
#include <cmath>
#include <vector>

namespace lesion {

/// Nearest-rank quantile: the value at rank round(q x (n - 1)) of the sorted values, so q = 0.5
/// is the element at n / 2 (the upper median for even n); 0 when there are no values.
[[nodiscard]] inline double quantileOf(std::vector<float> values, double q) {
  if (values.empty())
    return 0.0;
  const auto n = std::min(values.size() - 1, static_cast<std::size_t>(q * double(values.size() - 1) + 0.5));
  std::nth_element(values.begin(), values.begin() + long(n), values.end());
  return values[n];
}

/// Median and robust SD (1.4826 x median absolute deviation: the SD for normal noise, unmoved by
/// a few outliers such as endplate voxels in a vertebral body's interior).
struct RobustSpread {
  double median{0.0};
  double sd{0.0};
};

[[nodiscard]] inline RobustSpread robustSpreadOf(std::vector<float> values) {
  const double median = quantileOf(values, 0.5);
  for (float& v : values)
    v = float(std::abs(v - median));
  return {median, 1.4826 * quantileOf(std::move(values), 0.5)};
}

} // namespace lesion
