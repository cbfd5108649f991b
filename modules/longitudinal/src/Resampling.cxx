// Nearest-neighbour label transfer and trilinear intensity sampling through a rigid transform.
#include "lesion/longitudinal/Resampling.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace lesion::longitudinal {

namespace {

/// Trilinear value at a continuous index; within half a voxel of the edge the nearest edge voxel
/// is used (clamped interpolation); farther out there is no value.
std::optional<double> trilinearAtIndex(const Volume& volume, const Vec3& p) {
  const ImageGeometry& g = volume.geometry;
  const auto nx = static_cast<long>(g.size[0]), ny = static_cast<long>(g.size[1]), nz = static_cast<long>(g.size[2]);
  if (p.x < -0.5 || p.y < -0.5 || p.z < -0.5 || p.x > nx - 0.5 || p.y > ny - 0.5 || p.z > nz - 0.5) return std::nullopt;
  const double x = std::clamp(p.x, 0.0, double(nx - 1)), y = std::clamp(p.y, 0.0, double(ny - 1)),
               z = std::clamp(p.z, 0.0, double(nz - 1));
  const long x0 = std::min(static_cast<long>(x), nx - 1), y0 = std::min(static_cast<long>(y), ny - 1),
             z0 = std::min(static_cast<long>(z), nz - 1);
  const long x1 = std::min(x0 + 1, nx - 1), y1 = std::min(y0 + 1, ny - 1), z1 = std::min(z0 + 1, nz - 1);
  const double fx = x - double(x0), fy = y - double(y0), fz = z - double(z0);
  auto v = [&](long a, long b, long c) { return double(volume.at(std::size_t(a), std::size_t(b), std::size_t(c))); };
  const double c00 = v(x0, y0, z0) * (1 - fx) + v(x1, y0, z0) * fx;
  const double c10 = v(x0, y1, z0) * (1 - fx) + v(x1, y1, z0) * fx;
  const double c01 = v(x0, y0, z1) * (1 - fx) + v(x1, y0, z1) * fx;
  const double c11 = v(x0, y1, z1) * (1 - fx) + v(x1, y1, z1) * fx;
  return (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
}

/// index_in = A * index_out + b: where output voxel (i,j,k) lands on the input grid.
struct AffineIndexMap {
  Mat3 a{};
  Vec3 b{};
  [[nodiscard]] Vec3 operator()(double i, double j, double k) const { return a * Vec3{i, j, k} + b; }
};

/// Output index → LPS (output grid) → `toInput` → input index.
AffineIndexMap indexMap(const ImageGeometry& out, const RigidTransform& toInput, const ImageGeometry& in) {
  const Mat3 outScaled = out.direction * Mat3{{out.spacing.x, 0, 0, 0, out.spacing.y, 0, 0, 0, out.spacing.z}};
  const Mat3 inInverse = Mat3{{1.0 / in.spacing.x, 0, 0, 0, 1.0 / in.spacing.y, 0, 0, 0, 1.0 / in.spacing.z}} *
                         in.direction.inverse();
  AffineIndexMap m;
  m.a = inInverse * toInput.rotation * outScaled;
  m.b = inInverse * (toInput.rotation * out.origin + toInput.translation - in.origin);
  return m;
}

/// Output index box that can receive data from the input index box [lo, hi] (inclusive).
void outputBox(const ImageGeometry& out, const RigidTransform& inToOut, const ImageGeometry& in,
               const std::array<double, 3>& lo, const std::array<double, 3>& hi, std::array<std::size_t, 3>& first,
               std::array<std::size_t, 3>& last, bool& empty) {
  const AffineIndexMap m = indexMap(in, inToOut, out);
  std::array<double, 3> omin{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::max()};
  std::array<double, 3> omax{-omin[0], -omin[1], -omin[2]};
  for (int c = 0; c < 8; ++c) {
    const Vec3 p = m(c & 1 ? hi[0] : lo[0], c & 2 ? hi[1] : lo[1], c & 4 ? hi[2] : lo[2]);
    for (std::size_t a = 0; a < 3; ++a) {
      omin[a] = std::min(omin[a], p[a]);
      omax[a] = std::max(omax[a], p[a]);
    }
  }
  empty = false;
  for (std::size_t a = 0; a < 3; ++a) {
    const double f = std::max(0.0, std::floor(omin[a]) - 1.0);
    const double l = std::min(double(out.size[a]) - 1.0, std::ceil(omax[a]) + 1.0);
    if (l < f) {
      empty = true;
      return;
    }
    first[a] = static_cast<std::size_t>(f);
    last[a] = static_cast<std::size_t>(l);
  }
}

/// Nearest-neighbour label transfer: `toBaselineIndex(i, j, k)` gives the continuous baseline
/// index of follow-up voxel (i, j, k); only the follow-up box that `rigid` (the transform's rigid
/// part) carries the labels' box to, grown by `growMm`, is visited.
template <typename ToBaselineIndex>
LabelMap transferLabels(const LabelMap& baselineLabels, const RigidTransform& rigid, double growMm,
                        const ImageGeometry& followupGrid, const std::vector<std::uint16_t>& values,
                        ToBaselineIndex toBaselineIndex) {
  const ImageGeometry& in = baselineLabels.geometry;
  LabelMap out(followupGrid, 0);
  auto wanted = [&](std::uint16_t v) {
    return v != 0 && (values.empty() || std::find(values.begin(), values.end(), v) != values.end());
  };
  // Index box of the wanted labels on the baseline grid.
  std::array<double, 3> lo{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::max()};
  std::array<double, 3> hi{-1.0, -1.0, -1.0};
  for (std::size_t k = 0, n = 0; k < in.size[2]; ++k)
    for (std::size_t j = 0; j < in.size[1]; ++j)
      for (std::size_t i = 0; i < in.size[0]; ++i, ++n)
        if (wanted(baselineLabels.voxels[n])) {
          lo = {std::min(lo[0], double(i)), std::min(lo[1], double(j)), std::min(lo[2], double(k))};
          hi = {std::max(hi[0], double(i)), std::max(hi[1], double(j)), std::max(hi[2], double(k))};
        }
  if (hi[0] < 0.0) return out;
  for (std::size_t a = 0; a < 3; ++a) {
    const double grow = std::ceil(growMm / in.spacing[a]);
    lo[a] -= grow;
    hi[a] += grow;
  }
  std::array<std::size_t, 3> first{}, last{};
  bool empty = false;
  outputBox(followupGrid, rigid, in, lo, hi, first, last, empty);
  if (empty) return out;
  for (std::size_t k = first[2]; k <= last[2]; ++k)
    for (std::size_t j = first[1]; j <= last[1]; ++j)
      for (std::size_t i = first[0]; i <= last[0]; ++i) {
        const Vec3 p = toBaselineIndex(i, j, k);
        const long ii = std::lround(p.x), jj = std::lround(p.y), kk = std::lround(p.z);
        if (!in.containsIndex(ii, jj, kk)) continue;
        const std::uint16_t v = baselineLabels.at(std::size_t(ii), std::size_t(jj), std::size_t(kk));
        if (wanted(v)) out.at(i, j, k) = v;
      }
  return out;
}

} // namespace

LabelMap mapLabelsToFollowup(const LabelMap& baselineLabels, const RigidTransform& baselineToFollowup,
                             const ImageGeometry& followupGrid, const std::vector<std::uint16_t>& values) {
  const AffineIndexMap m = indexMap(followupGrid, baselineToFollowup.inverse(), baselineLabels.geometry);
  return transferLabels(baselineLabels, baselineToFollowup, 0.0, followupGrid, values,
                        [&m](std::size_t i, std::size_t j, std::size_t k) { return m(double(i), double(j), double(k)); });
}

LabelMap mapLabelsToFollowup(const LabelMap& baselineLabels, const DeformableTransform& baselineToFollowup,
                             const ImageGeometry& followupGrid, const std::vector<std::uint16_t>& values) {
  const ImageGeometry& in = baselineLabels.geometry;
  return transferLabels(baselineLabels, baselineToFollowup.rigid, baselineToFollowup.maxDisplacementBoundMm(), followupGrid,
                        values, [&](std::size_t i, std::size_t j, std::size_t k) {
                          return in.pointToIndex(baselineToFollowup.applyInverse(followupGrid.indexToPoint(i, j, k)));
                        });
}

Volume sampleFollowupOnGrid(const Volume& followup, const DeformableTransform& baselineToFollowup,
                            const ImageGeometry& grid, float outside) {
  Volume out(grid, outside);
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j)
      for (std::size_t i = 0; i < grid.size[0]; ++i) {
        const Vec3 q = baselineToFollowup.apply(grid.indexToPoint(i, j, k));
        if (const auto value = trilinearAtIndex(followup, followup.geometry.pointToIndex(q)))
          out.at(i, j, k) = static_cast<float>(*value);
      }
  return out;
}

Volume sampleFollowupOnGrid(const Volume& followup, const RigidTransform& baselineToFollowup, const ImageGeometry& grid,
                            float outside) {
  Volume out(grid, outside);
  const ImageGeometry& in = followup.geometry;
  const AffineIndexMap m = indexMap(grid, baselineToFollowup, in);
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j)
      for (std::size_t i = 0; i < grid.size[0]; ++i) {
        if (const auto value = trilinearAtIndex(followup, m(double(i), double(j), double(k)))) {
          out.at(i, j, k) = static_cast<float>(*value);
        }
      }
  return out;
}

std::optional<double> sampleAt(const Volume& volume, const Vec3& point) {
  return trilinearAtIndex(volume, volume.geometry.pointToIndex(point));
}

ImageGeometry cropGrid(const ImageGeometry& g, const Vec3& minimum, const Vec3& maximum) {
  std::array<double, 3> lo{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::max()};
  std::array<double, 3> hi{-lo[0], -lo[1], -lo[2]};
  for (int c = 0; c < 8; ++c) {
    const Vec3 p = g.pointToIndex({c & 1 ? maximum.x : minimum.x, c & 2 ? maximum.y : minimum.y,
                                   c & 4 ? maximum.z : minimum.z});
    for (std::size_t a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p[a]);
      hi[a] = std::max(hi[a], p[a]);
    }
  }
  ImageGeometry out = g;
  Vec3 firstIndex{};
  for (std::size_t a = 0; a < 3; ++a) {
    const double f = std::max(0.0, std::ceil(lo[a] - 1e-6));
    const double l = std::min(double(g.size[a]) - 1.0, std::floor(hi[a] + 1e-6));
    out.size[a] = l >= f ? static_cast<std::size_t>(l - f) + 1 : 0;
    firstIndex[a] = f;
  }
  out.origin = g.indexToPoint(firstIndex);
  return out;
}

} // namespace lesion::longitudinal
