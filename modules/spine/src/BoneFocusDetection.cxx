// Skeleton-wide sclerotic and lytic bone foci (see BoneFocusDetection.h for the method).
//
// Everything runs on the bounding box of the bone. The filled bone is built plane by plane and a
// hole counts only when it is closed in at least two of the three orientations: marrow is closed
// in every direction, while the spinal canal (open at the intervertebral foramina and discs) and
// the obturator foramen are closed in one orientation only.
#include <algorithm>
#include <array>
#include <cmath>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "SpineImageOps.h"
#include "lesion/core/Error.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/spine/BoneFocusDetection.h"

namespace lesion::spine {
namespace {

using detail::Dims;
using detail::Mask;

/// Side of the blocks on which the local background is computed (one median per block).
constexpr double kBlockMm = 4.0;
/// Background samples per block: the neighbourhood is read with a stride to stay near this count.
constexpr double kBackgroundSamples = 4000.0;
/// Smoothing does not average along an axis with larger steps (3 mm slices).
constexpr double kMaxSmoothingStepMm = 2.0;
/// A focus reaches this far beyond its strict threshold (through voxels beyond half the margin).
constexpr double kFocusGrowMm = 2.0;
/// A focus lies in bone: at least kMinBoneAround of the voxels within kShellMm around it are bone.
constexpr double kShellMm = 4.0;
constexpr double kMinBoneAround = 0.5;
/// Grids larger than this are eroded in slabs of slices (the exact transform holds doubles).
constexpr std::size_t kMaxErodeVoxels = std::size_t(1) << 24;

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

/// Index box [lo, hi] (inclusive) on the full grid.
struct IndexBox {
  std::array<long, 3> lo{}, hi{};
  [[nodiscard]] std::size_t size(int a) const { return std::size_t(hi[std::size_t(a)] - lo[std::size_t(a)] + 1); }
};

/// Runs f(from, to) over [0, n) on two threads when n is large.
template <class F> void parallelRange(std::size_t n, F&& f) {
  if (n < 64)
    return f(std::size_t(0), n);
  std::thread worker([&] { f(std::size_t(0), n / 2); });
  f(n / 2, n);
  worker.join();
}

/// Mean over the 3x3x3 neighbourhood clipped to the grid (separable: the clipped box is a product),
/// not along an axis with steps over kMaxSmoothingStepMm (thick slices would blur endplates away).
std::vector<float> boxMean3(const std::vector<float>& v, const Dims& d) {
  std::vector<float> a = v, b(v.size());
  const std::array<std::size_t, 3> n{d.nx, d.ny, d.nz}, stride{1, d.nx, d.nx * d.ny};
  const std::array<double, 3> spacing{d.sx, d.sy, d.sz};
  for (std::size_t axis = 0; axis < 3; ++axis) {
    if (spacing[axis] > kMaxSmoothingStepMm)
      continue;
    const std::size_t len = n[axis], st = stride[axis];
    // Lines along `axis`: start voxels are those with coordinate 0 on it.
    const std::size_t lines = a.size() / len;
    for (std::size_t l = 0; l < lines; ++l) {
      const std::size_t start = (l % st) + (l / st) * st * len;
      for (std::size_t c = 0; c < len; ++c) {
        const std::size_t p = start + c * st;
        float sum = a[p];
        float cnt = 1;
        if (c > 0) {
          sum += a[p - st];
          cnt += 1;
        }
        if (c + 1 < len) {
          sum += a[p + st];
          cnt += 1;
        }
        b[p] = sum / cnt;
      }
    }
    std::swap(a, b);
  }
  return a;
}

/// 3x3x3 mean of `v` over the voxels of `mask` only (normalised convolution); 0 elsewhere.
std::vector<float> interiorMean3(const std::vector<float>& v, const Mask& mask, const Dims& d) {
  std::vector<float> masked(v.size()), weight(v.size());
  for (std::size_t p = 0; p < v.size(); ++p) {
    weight[p] = mask[p] ? 1.0f : 0.0f;
    masked[p] = mask[p] ? v[p] : 0.0f;
  }
  masked = boxMean3(masked, d);
  weight = boxMean3(weight, d);
  for (std::size_t p = 0; p < v.size(); ++p)
    masked[p] = weight[p] > 0 ? masked[p] / weight[p] : 0.0f;
  return masked;
}

/// detail::close2d (3x3 square; pixels outside the plane are background; the input's pixels stay)
/// by separable max / min passes: the hole search runs it on every plane of three orientations.
Mask close3x3(const Mask& in, std::size_t nu, std::size_t nv, Mask& scratch) {
  // One pass of a 3-wide max (dilate) or min (erode) along u (step 1) or v (step nu).
  auto pass = [&](const Mask& from, Mask& to, bool alongU, bool dilate) {
    to.assign(from.size(), 0);
    const std::size_t len = alongU ? nu : nv, step = alongU ? 1 : nu;
    for (std::size_t p = 0; p < from.size(); ++p) {
      const std::size_t c = alongU ? p % nu : p / nu;
      const std::uint8_t before = c > 0 ? from[p - step] : 0, after = c + 1 < len ? from[p + step] : 0;
      to[p] = dilate ? (from[p] | before | after) : (from[p] & before & after);
    }
  };
  Mask out;
  pass(in, scratch, true, true);
  pass(scratch, out, false, true);
  pass(out, scratch, true, false);
  pass(scratch, out, false, false);
  for (std::size_t p = 0; p < in.size(); ++p)
    out[p] = out[p] | in[p];
  return out;
}

/// Counts, per voxel, in how many of the three orientations it lies in a hole of `bone` (a
/// background region of one plane, after a 3x3 closing, that does not touch the plane's border) of
/// at most maxAreaMm2.
std::vector<std::uint8_t> holeVotes(const Mask& bone, const Dims& d, double maxAreaMm2) {
  std::vector<std::uint8_t> votes(bone.size(), 0);
  // Plane axes (u, v) and the axis w the planes step along: axial, coronal, sagittal.
  const std::array<std::array<int, 3>, 3> orientations{{{0, 1, 2}, {0, 2, 1}, {1, 2, 0}}};
  const std::array<std::size_t, 3> n{d.nx, d.ny, d.nz}, stride{1, d.nx, d.nx * d.ny};
  const std::array<double, 3> s{d.sx, d.sy, d.sz};
  for (const auto& o : orientations) {
    const std::size_t nu = n[std::size_t(o[0])], nv = n[std::size_t(o[1])], nw = n[std::size_t(o[2])];
    const std::size_t su = stride[std::size_t(o[0])], sv = stride[std::size_t(o[1])], sw = stride[std::size_t(o[2])];
    const auto maxPixels = std::size_t(maxAreaMm2 / (s[std::size_t(o[0])] * s[std::size_t(o[1])]));
    parallelRange(nw, [&](std::size_t from, std::size_t to) {
      Mask plane(nu * nv), scratch;
      std::vector<std::size_t> sizes;
      for (std::size_t w = from; w < to; ++w) {
        bool any = false;
        for (std::size_t v = 0; v < nv; ++v)
          for (std::size_t u = 0; u < nu; ++u) {
            const bool b = bone[w * sw + v * sv + u * su] != 0;
            plane[u + nu * v] = b ? 1 : 0;
            any = any || b;
          }
        if (!any)
          continue;
        // Gaps of one voxel in a thin or partial-volumed cortex (3 mm grids) are bridged first; what
        // the closing adds (narrow marrow, the bridges) counts as a hole too.
        const Mask closed = close3x3(plane, nu, nv, scratch);
        for (std::size_t x = 0; x < plane.size(); ++x)
          plane[x] = closed[x] ? 0 : 1;
        const auto labels = detail::components2d(plane, nu, nv, sizes);
        std::vector<std::uint8_t> open(sizes.size(), 0);
        for (std::size_t label = 1; label < sizes.size(); ++label)
          open[label] = sizes[label] > maxPixels;
        for (std::size_t u = 0; u < nu; ++u)
          open[std::size_t(labels[u])] = open[std::size_t(labels[u + nu * (nv - 1)])] = 1;
        for (std::size_t v = 0; v < nv; ++v)
          open[std::size_t(labels[nu * v])] = open[std::size_t(labels[nu - 1 + nu * v])] = 1;
        for (std::size_t v = 0; v < nv; ++v)
          for (std::size_t u = 0; u < nu; ++u) {
            const std::size_t x = u + nu * v, p = w * sw + v * sv + u * su;
            const std::int32_t label = labels[x];
            if ((label && !open[std::size_t(label)]) || (closed[x] && !bone[p]))
              ++votes[p];
          }
      }
    });
  }
  return votes;
}

/// detail::erode, in slabs of slices on large grids (the margin keeps the slab cores exact).
Mask erodeInSlabs(const Mask& mask, const Dims& d, double radiusMm) {
  if (mask.size() <= kMaxErodeVoxels)
    return detail::erode(mask, d, radiusMm);
  const std::size_t slice = d.nx * d.ny;
  const std::size_t core = std::max<std::size_t>(1, kMaxErodeVoxels / slice / 2);
  const auto margin = std::size_t(std::ceil(radiusMm / d.sz)) + 1;
  Mask out(mask.size(), 0);
  for (std::size_t k0 = 0; k0 < d.nz; k0 += core) {
    const std::size_t k1 = std::min(d.nz, k0 + core), a = k0 >= margin ? k0 - margin : 0,
                      b = std::min(d.nz, k1 + margin);
    Dims sub = d;
    sub.nz = b - a;
    const Mask part(mask.begin() + long(a * slice), mask.begin() + long(b * slice));
    const Mask eroded = detail::erode(part, sub, radiusMm);
    std::copy(eroded.begin() + long((k0 - a) * slice), eroded.begin() + long((k1 - a) * slice),
              out.begin() + long(k0 * slice));
  }
  return out;
}

/// Local background per block: median and robust SD (1.4826 MAD) of `value` over `interior`
/// voxels within radiusMm of the block centre (a cube), read with a stride.
struct Background {
  std::array<std::size_t, 3> block{}, count{};
  std::vector<float> median, sd; ///< NaN where the neighbourhood holds no interior voxel
  [[nodiscard]] std::size_t blockOf(std::size_t p, const Dims& d) const {
    const std::size_t i = p % d.nx, j = (p / d.nx) % d.ny, k = p / (d.nx * d.ny);
    return i / block[0] + count[0] * (j / block[1] + count[1] * (k / block[2]));
  }
};

Background localBackground(const std::vector<float>& value, const Mask& interior, const Dims& d, double radiusMm) {
  Background bg;
  const std::array<std::size_t, 3> n{d.nx, d.ny, d.nz};
  const std::array<double, 3> s{d.sx, d.sy, d.sz};
  std::array<long, 3> reach{};
  double cubeVoxels = 1;
  for (std::size_t a = 0; a < 3; ++a) {
    bg.block[a] = std::max<std::size_t>(1, std::size_t(std::lround(kBlockMm / s[a])));
    bg.count[a] = (n[a] + bg.block[a] - 1) / bg.block[a];
    reach[a] = std::lround(radiusMm / s[a]);
    cubeVoxels *= double(2 * reach[a] + 1);
  }
  const long stride = std::max(1L, std::lround(std::cbrt(cubeVoxels / kBackgroundSamples)));
  const std::size_t blocks = bg.count[0] * bg.count[1] * bg.count[2];
  std::vector<std::uint8_t> wanted(blocks, 0);
  for (std::size_t p = 0; p < interior.size(); ++p)
    if (interior[p])
      wanted[bg.blockOf(p, d)] = 1;
  bg.median.assign(blocks, std::nanf(""));
  bg.sd.assign(blocks, std::nanf(""));
  parallelRange(blocks, [&](std::size_t from, std::size_t to) {
    std::vector<float> sample;
    for (std::size_t b = from; b < to; ++b) {
      if (!wanted[b])
        continue;
      const std::array<std::size_t, 3> bi{b % bg.count[0], (b / bg.count[0]) % bg.count[1],
                                          b / (bg.count[0] * bg.count[1])};
      std::array<long, 3> lo{}, hi{};
      for (std::size_t a = 0; a < 3; ++a) {
        const long centre = long(bi[a] * bg.block[a] + bg.block[a] / 2);
        lo[a] = std::max(0L, centre - reach[a]);
        hi[a] = std::min(long(n[a]) - 1, centre + reach[a]);
      }
      sample.clear();
      for (long k = lo[2]; k <= hi[2]; k += stride)
        for (long j = lo[1]; j <= hi[1]; j += stride)
          for (long i = lo[0]; i <= hi[0]; i += stride) {
            const std::size_t p = d.index(std::size_t(i), std::size_t(j), std::size_t(k));
            if (interior[p])
              sample.push_back(value[p]);
          }
      if (sample.size() < 8)
        continue;
      const RobustSpread spread = robustSpreadOf(std::move(sample));
      bg.median[b] = float(spread.median);
      bg.sd[b] = std::max(1.0f, float(spread.sd));
    }
  });
  return bg;
}

/// One connected candidate region and what is measured on it (crop indices).
struct Region {
  std::vector<std::size_t> voxels;
};

/// Foci: 26-connected cores of strength-2 voxels, each grown through strength-1 voxels by at most
/// growSteps 26-neighbour steps (hysteresis with a short reach, so that a focus next to the cortex
/// does not run on along it); regions of fewer than minVoxels voxels are dropped.
std::vector<Region> fociRegions(const std::vector<std::uint8_t>& strength, const Dims& d, int growSteps,
                                std::size_t minVoxels) {
  Mask strong(strength.size());
  for (std::size_t p = 0; p < strength.size(); ++p)
    strong[p] = strength[p] == 2 ? 1 : 0;
  detail::Components c = detail::connectedComponents(strong, d, true);
  std::vector<std::size_t> front;
  for (std::size_t p = 0; p < strength.size(); ++p)
    if (c.labels[p])
      front.push_back(p);
  for (int step = 0; step < growSteps && !front.empty(); ++step) {
    std::vector<std::size_t> next;
    for (std::size_t p : front)
      detail::forEachNeighbour26(p, d, [&](std::size_t q, long, long, long) {
        if (strength[q] == 1 && !c.labels[q]) {
          c.labels[q] = c.labels[p];
          next.push_back(q);
        }
      });
    front.swap(next);
  }
  std::vector<Region> regions(c.sizes.size());
  for (std::size_t p = 0; p < strength.size(); ++p)
    if (c.labels[p])
      regions[std::size_t(c.labels[p])].voxels.push_back(p);
  regions.erase(
      std::remove_if(regions.begin(), regions.end(), [&](const Region& r) { return r.voxels.size() < minVoxels; }),
      regions.end());
  return regions;
}

/// True when the connected interior (26-neighbours) holding the region has at most `limit`
/// voxels; the flood stops as soon as it passes the limit.
bool interiorWithin(const Region& r, const Mask& interior, const Dims& d, std::size_t limit) {
  std::unordered_set<std::size_t> seen(r.voxels.begin(), r.voxels.end());
  std::vector<std::size_t> stack = r.voxels;
  while (!stack.empty() && seen.size() <= limit) {
    const std::size_t p = stack.back();
    stack.pop_back();
    detail::forEachNeighbour26(p, d, [&](std::size_t q, long, long, long) {
      if (interior[q] && seen.insert(q).second)
        stack.push_back(q);
    });
  }
  return seen.size() <= limit;
}

/// Fraction of the voxels within shellMm around the region that are filled bone: a focus lies in
/// bone, while a dense blob in soft tissue (contrast in the renal pelvis, a calcified node) that
/// passes the bone threshold is its own "bone".
double boneAroundFraction(const Region& r, const Mask& filled, const Dims& d, double shellMm) {
  std::array<long, 3> lo{long(d.nx), long(d.ny), long(d.nz)}, hi{-1, -1, -1};
  const std::array<long, 3> n{long(d.nx), long(d.ny), long(d.nz)};
  const std::array<long, 3> reach{long(std::ceil(shellMm / d.sx)), long(std::ceil(shellMm / d.sy)),
                                  long(std::ceil(shellMm / d.sz))};
  for (std::size_t p : r.voxels) {
    const std::array<long, 3> x{long(p % d.nx), long((p / d.nx) % d.ny), long(p / (d.nx * d.ny))};
    for (std::size_t a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], x[a]);
      hi[a] = std::max(hi[a], x[a]);
    }
  }
  for (std::size_t a = 0; a < 3; ++a) {
    lo[a] = std::max(0L, lo[a] - reach[a]);
    hi[a] = std::min(n[a] - 1, hi[a] + reach[a]);
  }
  Dims local = d;
  local.nx = std::size_t(hi[0] - lo[0] + 1);
  local.ny = std::size_t(hi[1] - lo[1] + 1);
  local.nz = std::size_t(hi[2] - lo[2] + 1);
  auto outer = [&](std::size_t q) {
    return d.index(std::size_t(lo[0]) + q % local.nx, std::size_t(lo[1]) + (q / local.nx) % local.ny,
                   std::size_t(lo[2]) + q / (local.nx * local.ny));
  };
  Mask outside(local.count(), 1);
  for (std::size_t p : r.voxels) {
    const std::array<long, 3> x{long(p % d.nx), long((p / d.nx) % d.ny), long(p / (d.nx * d.ny))};
    outside[local.index(std::size_t(x[0] - lo[0]), std::size_t(x[1] - lo[1]), std::size_t(x[2] - lo[2]))] = 0;
  }
  const auto dist2 = detail::squaredDistanceToBackground(outside, local); // distance to the region
  std::size_t shell = 0, bone = 0;
  for (std::size_t q = 0; q < local.count(); ++q) {
    if (!outside[q] || dist2[q] > shellMm * shellMm)
      continue;
    ++shell;
    bone += filled[outer(q)];
  }
  return shell ? double(bone) / double(shell) : 0.0;
}

/// Fraction of the region's surface voxels (a 6-neighbour outside the region) that touch the
/// cortex (a 6-neighbour outside the interior).
double cortexContactOf(const Region& r, const Mask& interior, const Dims& d) {
  std::vector<std::size_t> sorted = r.voxels;
  std::sort(sorted.begin(), sorted.end());
  auto inRegion = [&](std::size_t p) { return std::binary_search(sorted.begin(), sorted.end(), p); };
  std::size_t surface = 0, contact = 0;
  const std::array<long, 3> n{long(d.nx), long(d.ny), long(d.nz)};
  const std::array<long, 3> stride{1, long(d.nx), long(d.nx * d.ny)};
  for (std::size_t p : r.voxels) {
    const std::array<long, 3> x{long(p % d.nx), long((p / d.nx) % d.ny), long(p / (d.nx * d.ny))};
    bool onSurface = false, onCortex = false;
    for (std::size_t a = 0; a < 3; ++a)
      for (long step : {-1L, 1L}) {
        const long c = x[a] + step;
        if (c < 0 || c >= n[a]) {
          onSurface = onCortex = true;
          continue;
        }
        const auto q = std::size_t(long(p) + step * stride[a]);
        if (!inRegion(q))
          onSurface = true;
        if (!interior[q])
          onCortex = true;
      }
    surface += onSurface ? 1 : 0;
    contact += onSurface && onCortex ? 1 : 0;
  }
  return surface ? double(contact) / double(surface) : 0.0;
}

/// Smallest / largest principal SD of the voxel centres (mm): 1 for a ball, near 0 for a plate.
double compactnessOf(const Region& r, const Dims& d) {
  double m[3] = {0, 0, 0}, c[3][3] = {{0}};
  for (std::size_t p : r.voxels) {
    const double x[3] = {double(p % d.nx) * d.sx, double((p / d.nx) % d.ny) * d.sy, double(p / (d.nx * d.ny)) * d.sz};
    for (int a = 0; a < 3; ++a) {
      m[a] += x[a];
      for (int b = 0; b < 3; ++b)
        c[a][b] += x[a] * x[b];
    }
  }
  const double n = double(r.voxels.size());
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      c[a][b] = c[a][b] / n - (m[a] / n) * (m[b] / n);
  // Eigenvalues of the symmetric 3x3 covariance (trigonometric solution); a voxel's own extent
  // (s^2 / 12) is added so that one-voxel-thin regions are not zero.
  const double q = (c[0][0] + c[1][1] + c[2][2]) / 3.0;
  const double p1 = c[0][1] * c[0][1] + c[0][2] * c[0][2] + c[1][2] * c[1][2];
  const double p2 = std::pow(c[0][0] - q, 2) + std::pow(c[1][1] - q, 2) + std::pow(c[2][2] - q, 2) + 2 * p1;
  const double p = std::sqrt(p2 / 6.0);
  double e1 = q, e3 = q;
  if (p > 1e-12) {
    double b[3][3];
    for (int a = 0; a < 3; ++a)
      for (int bb = 0; bb < 3; ++bb)
        b[a][bb] = (c[a][bb] - (a == bb ? q : 0.0)) / p;
    const double det = b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1]) -
                       b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0]) +
                       b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0]);
    const double phi = std::acos(std::clamp(det / 2.0, -1.0, 1.0)) / 3.0;
    e1 = q + 2 * p * std::cos(phi);
    e3 = q + 2 * p * std::cos(phi + 2.0943951023931953);
  }
  const double voxelVar = std::pow(std::min({d.sx, d.sy, d.sz}), 2) / 12.0;
  return std::sqrt(std::max(0.0, e3) + voxelVar) / std::sqrt(std::max(0.0, e1) + voxelVar);
}

/// The search on the grid of `ct` (see detectBoneFoci).
BoneFocusResult detectOnGrid(const Volume& ct, const LabelMap* vertebrae, const BoneFocusOptions& options, int firstId,
                             const Progress& progress) {
  const ImageGeometry& g = ct.geometry;
  const bool haveVertebrae = vertebrae && !vertebrae->voxels.empty();
  const Dims full(g);
  BoneFocusResult result;
  result.foci = LabelMap(g, 0);
  if (full.count() == 0)
    return result;

  // Crop to the bone (3x3x3-mean HU at or above the threshold), one voxel of margin.
  progress.report(0.0, "bone mask");
  std::vector<float> smoothFull = boxMean3(ct.voxels, full);
  IndexBox box{{long(full.nx), long(full.ny), long(full.nz)}, {-1, -1, -1}};
  for (std::size_t p = 0; p < full.count(); ++p) {
    if (smoothFull[p] < options.boneThresholdHu)
      continue;
    const std::array<long, 3> x{long(p % full.nx), long((p / full.nx) % full.ny), long(p / (full.nx * full.ny))};
    for (std::size_t a = 0; a < 3; ++a) {
      box.lo[a] = std::min(box.lo[a], x[a]);
      box.hi[a] = std::max(box.hi[a], x[a]);
    }
  }
  if (box.hi[0] < 0)
    return result; // no bone
  const std::array<long, 3> n{long(full.nx), long(full.ny), long(full.nz)};
  for (std::size_t a = 0; a < 3; ++a) {
    box.lo[a] = std::max(0L, box.lo[a] - 1);
    box.hi[a] = std::min(n[a] - 1, box.hi[a] + 1);
  }
  Dims d = full;
  d.nx = box.size(0);
  d.ny = box.size(1);
  d.nz = box.size(2);
  auto global = [&](std::size_t q) {
    return full.index(std::size_t(box.lo[0]) + q % d.nx, std::size_t(box.lo[1]) + (q / d.nx) % d.ny,
                      std::size_t(box.lo[2]) + q / (d.nx * d.ny));
  };
  std::vector<float> smooth(d.count());
  Mask bone(d.count());
  for (std::size_t q = 0; q < d.count(); ++q) {
    smooth[q] = smoothFull[global(q)];
    bone[q] = smooth[q] >= options.boneThresholdHu ? 1 : 0;
  }
  smoothFull = {}; // the crop is all that is needed from here on

  // Filled bone (holes closed in two of three orientations) and its medullary interior. The
  // vertebral bodies of the spine model are not added: on 3 mm slices that takes in their whole
  // marrow (found: simulated foci in L3 and L5), but on 1 mm patches it gave 26 labelled foci
  // outside the BLDS boxes instead of 4; detectLyticLesions searches the bodies.
  progress.report(0.15, "filling marrow");
  const std::vector<std::uint8_t> votes = holeVotes(bone, d, options.maxHoleAreaMm2);
  Mask filled(d.count());
  std::size_t filledCount = 0;
  for (std::size_t q = 0; q < d.count(); ++q) {
    filled[q] = bone[q] || votes[q] >= 2 ? 1 : 0;
    filledCount += filled[q];
  }
  progress.report(0.35, "interior");
  const double corticalMm = std::max({options.corticalThicknessMm, d.sx, d.sy, d.sz});
  const Mask interior = erodeInSlabs(filled, d, corticalMm);
  std::size_t interiorCount = 0;
  for (std::uint8_t v : interior)
    interiorCount += v;
  const double voxelMl = d.voxelMm3() / 1000.0;
  result.boneVolumeMl = double(filledCount) * voxelMl;
  result.interiorVolumeMl = double(interiorCount) * voxelMl;

  // Sclerotic foci: interior voxels (smoothed, so that a focus is a blob, not trabecular texture)
  // clearly above the interior's local median.
  progress.report(0.5, "local background");
  // The interior's own values (5x5x5-weighted mean of the raw HU over the interior only): the
  // cortex does not bleed into the interior's edge.
  std::vector<float> interiorHu(d.count());
  for (std::size_t q = 0; q < d.count(); ++q)
    interiorHu[q] = ct.voxels[global(q)];
  interiorHu = interiorMean3(interiorMean3(interiorHu, interior, d), interior, d);
  const Background interiorBg = localBackground(interiorHu, interior, d, options.backgroundRadiusMm);
  // Hysteresis: a focus is a core beyond the whole margin (strength 2) and the voxels beyond half
  // the margin (strength 1) within kFocusGrowMm of it, so its extent is not cut at the strict
  // threshold.
  std::vector<std::uint8_t> dense(d.count(), 0), low(d.count(), 0);
  if (options.sclerotic) {
    for (std::size_t q = 0; q < d.count(); ++q) {
      if (!interior[q])
        continue;
      const std::size_t b = interiorBg.blockOf(q, d);
      const float median = interiorBg.median[b], sd = interiorBg.sd[b];
      if (std::isnan(median))
        continue;
      const double margin = std::max(options.minScleroticContrastHu, options.noiseFactor * double(sd));
      dense[q] = interiorHu[q] >= median + margin ? 2 : interiorHu[q] >= median + 0.5 * margin ? 1 : 0;
    }
  }
  // Lytic foci: low-density blobs in the medullary interior (reaching into the whole filled bone
  // at half the margin), below the interior's median and at soft-tissue density.
  if (options.lytic) {
    for (std::size_t q = 0; q < d.count(); ++q) {
      if (!filled[q] || smooth[q] <= options.lyticMinHu)
        continue;
      const std::size_t b = interiorBg.blockOf(q, d);
      const float median = interiorBg.median[b], sd = interiorBg.sd[b];
      if (std::isnan(median))
        continue;
      const double margin = std::max(options.minLyticContrastHu, options.noiseFactor * double(sd));
      low[q] = interior[q] && smooth[q] <= median - margin && smooth[q] < options.lyticMaxHu ? 2
               : smooth[q] <= median - 0.5 * margin                                          ? 1
                                                                                             : 0;
    }
  }
  progress.report(0.75, "foci");

  int nextId = firstId;
  auto judge = [&](const Region& r, bool sclerotic) {
    const Background& bg = interiorBg;
    BoneFocus f;
    f.kind = sclerotic ? "sclerotic-bone" : "lytic-bone";
    Vec3 lo{1e30, 1e30, 1e30}, hi{-1e30, -1e30, -1e30}, sum{};
    double sumHu = 0, sumBg = 0, sumSd = 0;
    std::vector<std::uint16_t> labels;
    for (std::size_t q : r.voxels) {
      const std::size_t p = global(q);
      const Vec3 at =
          g.indexToPoint(Vec3{double(p % full.nx), double((p / full.nx) % full.ny), double(p / (full.nx * full.ny))});
      sum += at;
      for (std::size_t a = 0; a < 3; ++a) {
        const double half = 0.5 * std::abs(g.direction(a, a)) * g.spacing[a]; // near-axial grids
        lo[a] = std::min(lo[a], at[a] - half);
        hi[a] = std::max(hi[a], at[a] + half);
      }
      sumHu += ct.voxels[p];
      const std::size_t b = bg.blockOf(q, d);
      sumBg += bg.median[b];
      sumSd += bg.sd[b];
      if (haveVertebrae)
        labels.push_back(vertebrae->voxels[p]);
    }
    const double count = double(r.voxels.size());
    f.centroid = sum / count;
    f.boundsMin = lo;
    f.boundsMax = hi;
    f.volumeMl = count * voxelMl;
    f.meanHu = sumHu / count;
    f.backgroundHu = sumBg / count;
    f.backgroundSdHu = sumSd / count;
    f.contrastHu = f.meanHu - f.backgroundHu;
    f.compactness = compactnessOf(r, d);
    const double edgeFraction = cortexContactOf(r, interior, d);
    const double boneAround = boneAroundFraction(r, filled, d, kShellMm);
    if (!haveVertebrae) {
      f.bone = "bone";
    } else {
      // The bone holding most of the focus.
      std::sort(labels.begin(), labels.end());
      std::uint16_t best = 0;
      std::size_t bestRun = 0;
      for (std::size_t i = 0; i < labels.size();) {
        std::size_t j = i;
        while (j < labels.size() && labels[j] == labels[i])
          ++j;
        if (labels[i] && j - i > bestRun) {
          best = labels[i];
          bestRun = j - i;
        }
        i = j;
      }
      f.level = levelOfLabel(best);
      f.bone = best == kSacrumRestLabel ? "sacrum" : !f.level.empty() ? "vertebra" : "other bone";
    }
    const Vec3 extent = hi - lo;
    const double largest = std::max({extent.x, extent.y, extent.z});
    // At least 2 x 2 x 2 voxels: on 3 mm grids a smaller "focus" is one or two noisy voxels.
    const double minVolume =
        std::max(sclerotic ? options.minScleroticVolumeMl : options.minLyticVolumeMl, 8.0 * voxelMl);
    const double margin = sclerotic ? options.minScleroticContrastHu : options.minLyticContrastHu;
    std::string rejected;
    if (f.volumeMl < minVolume)
      rejected = fmt::format("smaller than {:.3g} mL", minVolume);
    else if (largest < options.minExtentMm)
      rejected = fmt::format("smaller than {} mm", options.minExtentMm);
    else if (largest > options.maxExtentMm)
      rejected = fmt::format("larger than {} mm (not a focus)", options.maxExtentMm);
    else if (f.compactness < options.minCompactness)
      rejected = fmt::format("plate-like (compactness {:.2f}): cortex or endplate", f.compactness);
    else if (f.backgroundSdHu > options.maxBackgroundSdHu)
      rejected =
          fmt::format("its surroundings vary by {:.0f} HU (SD): not trabecular bone (contrast medium in an organ)",
                      f.backgroundSdHu);
    else if (interiorWithin(r, interior, d, 2 * r.voxels.size()))
      rejected =
          "it is most of the interior it lies in: a dense blob (contrast medium, calcification), not a focus in bone";
    else if (boneAround < kMinBoneAround)
      rejected =
          fmt::format("only {:.0f} % bone around it: not in bone (contrast medium, calcification)", 100.0 * boneAround);
    else if (edgeFraction > options.maxCortexContact)
      rejected =
          fmt::format("{:.0f} % of its surface on the cortex: {}", 100.0 * edgeFraction,
                      sclerotic ? "thick cortical bone" : "a gap between cortices (joint, foramen, cortical break)");
    // Confidence from the contrast (in HU and in background SDs), the size and the compactness.
    const double contrast = std::abs(f.contrastHu);
    const double cContrast = clamp01((contrast - margin) / 200.0);
    const double cSd = clamp01((contrast / std::max(1.0, f.backgroundSdHu) - options.noiseFactor) / 3.0);
    const double cSize = clamp01((largest - 2.0 * options.minExtentMm) / 8.0);
    const double cShape = clamp01((f.compactness - options.minCompactness) / 0.4);
    f.confidence = rejected.empty() ? clamp01(0.25 + 0.25 * cContrast + 0.2 * cSd + 0.15 * cSize + 0.15 * cShape) : 0.0;
    f.labelled = rejected.empty() && f.confidence >= options.minConfidence;
    const std::string where = f.level.empty() ? f.bone : f.bone + " " + f.level;
    f.reason = !rejected.empty()
                   ? "not a focus: " + rejected
                   : fmt::format("{} focus in {}: {:.2f} mL at {:.0f} HU vs local bone {:.0f} +- {:.0f} HU, "
                                 "compactness {:.2f}, {:.0f} % on the cortex, {:.0f} % bone around{}",
                                 sclerotic ? "sclerotic" : "lytic", where, f.volumeMl, f.meanHu, f.backgroundHu,
                                 f.backgroundSdHu, f.compactness, 100.0 * edgeFraction, 100.0 * boneAround,
                                 f.labelled ? "" : fmt::format(": confidence below {}", options.minConfidence));
    if (f.labelled) {
      f.id = nextId++;
      for (std::size_t q : r.voxels)
        result.foci.voxels[global(q)] = std::uint16_t(f.id);
    }
    result.candidates.push_back(f);
  };
  // Specks below a quarter of the smallest focus are not even listed.
  const double voxelMm3 = d.voxelMm3();
  const auto minVoxels = [&](double ml) {
    return std::max<std::size_t>(2, std::size_t(0.25 * ml * 1000.0 / voxelMm3));
  };
  const int growSteps = std::max(1, int(std::lround(kFocusGrowMm / std::min({d.sx, d.sy, d.sz}))));
  for (const Region& r : fociRegions(dense, d, growSteps, minVoxels(options.minScleroticVolumeMl)))
    judge(r, true);
  for (const Region& r : fociRegions(low, d, growSteps, minVoxels(options.minLyticVolumeMl)))
    judge(r, false);
  return result;
}

/// Fine grids are searched at about this in-plane spacing (voxels averaged in n x n blocks): the
/// cost falls with the square of n, and a focus of a few millimetres still spans several voxels.
constexpr double kWorkingInPlaneMm = 1.6;

int inPlaneFactor(const ImageGeometry& g) {
  return std::max(1, int(std::floor(kWorkingInPlaneMm / std::max(g.spacing.x, g.spacing.y) + 1e-6)));
}

/// The grid of n x n in-plane blocks of `g` (voxel centres at the block centres).
ImageGeometry blockGrid(const ImageGeometry& g, int n) {
  ImageGeometry c = g;
  c.size = {(g.size[0] + std::size_t(n) - 1) / std::size_t(n), (g.size[1] + std::size_t(n) - 1) / std::size_t(n),
            g.size[2]};
  c.spacing = {g.spacing.x * n, g.spacing.y * n, g.spacing.z};
  c.origin = g.indexToPoint(Vec3{0.5 * (n - 1), 0.5 * (n - 1), 0.0});
  return c;
}

Volume averageInBlocks(const Volume& ct, const ImageGeometry& coarse, int n) {
  Volume out(coarse, 0.0f);
  std::vector<float> count(out.voxels.size(), 0.0f);
  const ImageGeometry& g = ct.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t c = coarse.linearIndex(i / std::size_t(n), j / std::size_t(n), k);
        out.voxels[c] += ct.voxels[g.linearIndex(i, j, k)];
        count[c] += 1.0f;
      }
  for (std::size_t c = 0; c < out.voxels.size(); ++c)
    out.voxels[c] /= count[c];
  return out;
}

LabelMap sampleBlockCentres(const LabelMap& labels, const ImageGeometry& coarse, int n) {
  LabelMap out(coarse, 0);
  const ImageGeometry& g = labels.geometry;
  for (std::size_t k = 0; k < coarse.size[2]; ++k)
    for (std::size_t j = 0; j < coarse.size[1]; ++j)
      for (std::size_t i = 0; i < coarse.size[0]; ++i)
        out.at(i, j, k) = labels.at(std::min(g.size[0] - 1, i * std::size_t(n) + std::size_t(n) / 2),
                                    std::min(g.size[1] - 1, j * std::size_t(n) + std::size_t(n) / 2), k);
  return out;
}

} // namespace

BoneFocusResult detectBoneFoci(const Volume& ct, const SpineResult* spine, const BoneFocusOptions& options, int firstId,
                               Progress progress) {
  const ImageGeometry& g = ct.geometry;
  const LabelMap* vertebrae = spine && !spine->vertebrae.voxels.empty() ? &spine->vertebrae : nullptr;
  if (vertebrae && !g.sameGrid(vertebrae->geometry))
    throw InputError("detectBoneFoci: the CT and the spine segmentation are on different grids");
  const int n = inPlaneFactor(g);
  if (n == 1) {
    BoneFocusResult result = detectOnGrid(ct, vertebrae, options, firstId, progress);
    progress.report(1.0);
    return result;
  }
  const ImageGeometry coarse = blockGrid(g, n);
  const Volume averaged = averageInBlocks(ct, coarse, n);
  LabelMap coarseVertebrae;
  if (vertebrae)
    coarseVertebrae = sampleBlockCentres(*vertebrae, coarse, n);
  BoneFocusResult result = detectOnGrid(averaged, vertebrae ? &coarseVertebrae : nullptr, options, firstId, progress);
  // Back to the grid of the CT: each voxel takes the label of its block.
  LabelMap foci(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        foci.at(i, j, k) = result.foci.at(i / std::size_t(n), j / std::size_t(n), k);
  result.foci = std::move(foci);
  progress.report(1.0);
  return result;
}

} // namespace lesion::spine
