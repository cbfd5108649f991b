// Spine segmentation by a column model: plain loops over the voxel grid (see SpineImageOps.h).
//
// 1. Column centre line: every axial slice scores each in-plane position by "block filled with
//    bone, soft spinal canal 26 mm behind it, near the midline" (box means); dynamic programming
//    picks the smoothest high-scoring path through slabs of >= 3 mm (as stiff per mm on any
//    slice spacing), then it is re-centred on the bone.
// 2. Body envelopes: per slice, the bone near the centre line and in front of the canal is closed
//    by 5 mm and each 2D component is filled by its convex hull (rebuilds the envelope across
//    cortical breaks, lesions and porotic trabecular bone; separate components stay separate).
// 3. Discs: valleys of the bone fraction along the column (on disks across the column axis or
//    axial disks, the CT read at +-1.5 mm) with bright endplates within 10 mm on both sides,
//    taken by contrast (>= 25 HU darker than 6 mm away); a "disc" that splits a body into two
//    short halves is dropped; each disc is a plane across the local axis (a disc found on the
//    axial profile is turned across the column between its neighbours, tilt fitted to its darkest
//    points), and body voxels are labelled by the interval between disc planes (one connected
//    piece per interval).
// 4. Levels: counted up from the sacrum (the lowest body with alae, or much taller than the
//    others, or below which the column ends), else down from the lowest body with ribs on both
//    sides (T12; also where a sacrum known only by its height may be L5 and S1 merged, since bodies
//    above are merged too; down from T12 a merged body holds the levels its height does), or from
//    the user's level and seed. The L5 body is searched again around the
//    lateral line of the bodies above it, the S1 body around the lumbar column's (the alae and
//    ilium pull the centre line sideways there); S1's front is trimmed to its bony endplate.
// 5. Whole vertebrae: the bodies compete for the bone within a slab around the centre line
//    (shortest path, upward steps dearer: an arch hangs down from its pedicles), which gives each
//    one its pedicles and posterior arch; thoracic levels stop before the rib heads; each
//    vertebra is closed (marrow of thin elements) and its partial-volume surface layer peeled.
// 6. First sacral segment: S1 (26) ends L5's body height below its top and laterally where its
//    body's band does (arch included); the rest of the sacrum and the alae are 25
//    (TotalSegmentator's `sacrum`); L5 and S1 re-compete for their arches with equal step costs,
//    and L5's arch below the L5/S1 disc plane is S1.
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "SpineImageOps.h"
#include "lesion/core/Error.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {
namespace {

using detail::Dims;
using detail::Mask;

constexpr double kPi = 3.14159265358979323846;

/// Axis signs of a near-axial grid: +1 when the index axis points Left / Posterior / Superior.
struct AxisSigns {
  double x{1}, y{1}, z{1};
};

AxisSigns axialSigns(const ImageGeometry& g) {
  const double limit = std::cos(30.0 * kPi / 180.0);
  for (int a = 0; a < 3; ++a) {
    const Vec3 column = normalized(g.direction.column(std::size_t(a)));
    if (std::abs(column[std::size_t(a)]) < limit) {
      throw InputError(fmt::format("spine segmentation needs near-axial slices (index axes along L, P and S within 30 "
                                   "degrees); index axis {} points along {}",
                                   a, formatPoint(column)));
    }
  }
  return {g.direction(0, 0) > 0 ? 1.0 : -1.0, g.direction(1, 1) > 0 ? 1.0 : -1.0, g.direction(2, 2) > 0 ? 1.0 : -1.0};
}

/// 2D summed-area table of one slice for box means.
struct Integral {
  std::size_t nx{0}, ny{0};
  std::vector<double> s;
  void build(const float* v, std::size_t w, std::size_t h, float lo, float hi) {
    nx = w;
    ny = h;
    s.assign((w + 1) * (h + 1), 0.0);
    for (std::size_t j = 0; j < h; ++j) {
      double row = 0;
      for (std::size_t i = 0; i < w; ++i) {
        row += std::clamp(v[i + w * j], lo, hi);
        s[(i + 1) + (w + 1) * (j + 1)] = s[(i + 1) + (w + 1) * j] + row;
      }
    }
  }
  /// Mean over the box [i0, i1] x [j0, j1] clipped to the slice; `outside` when empty.
  [[nodiscard]] double mean(long i0, long i1, long j0, long j1, double outside) const {
    i0 = std::max(i0, 0L);
    j0 = std::max(j0, 0L);
    i1 = std::min(i1, long(nx) - 1);
    j1 = std::min(j1, long(ny) - 1);
    if (i1 < i0 || j1 < j0) return outside;
    auto at = [&](long i, long j) { return s[std::size_t(i) + (nx + 1) * std::size_t(j)]; };
    const double sum = at(i1 + 1, j1 + 1) - at(i0, j1 + 1) - at(i1 + 1, j0) + at(i0, j0);
    return sum / double((i1 - i0 + 1) * (j1 - j0 + 1));
  }
};

struct CentrePoint {
  double i{0}, j{0}; ///< continuous in-plane index
};

/// Column centre per slice by dynamic programming over box-mean scores: a block filled with bone
/// (fraction of 100..1500 HU over 20 x 20 mm) with the soft canal (~20 HU) 26 mm behind it.
std::vector<CentrePoint> findCentreLine(const Volume& ct, const Dims& d, const AxisSigns& s) {
  // Patient centre (median over slices of the centroid of non-air pixels).
  std::vector<double> ci, cj;
  for (std::size_t k = 0; k < d.nz; ++k) {
    double si = 0, sj = 0;
    std::size_t n = 0;
    for (std::size_t j = 0; j < d.ny; ++j)
      for (std::size_t i = 0; i < d.nx; ++i)
        if (ct.voxels[d.index(i, j, k)] > -400.0f) {
          si += double(i);
          sj += double(j);
          ++n;
        }
    if (n > 100) {
      ci.push_back(si / double(n));
      cj.push_back(sj / double(n));
    }
  }
  if (ci.empty()) throw ProcessingError("spine segmentation: the volume holds no body (no voxel above -400 HU)");
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double pi = median(ci), pj = median(cj);

  const double stepMm = 2.0;
  const long stepI = std::max(1L, std::lround(stepMm / d.sx)), stepJ = std::max(1L, std::lround(stepMm / d.sy));
  // Candidate window: +-70 mm about the patient's centre laterally, from 40 mm anterior to
  // 160 mm posterior of it.
  std::vector<long> gi, gj;
  for (long i = std::lround(pi - 70.0 / d.sx); i <= std::lround(pi + 70.0 / d.sx); i += stepI)
    if (i >= 0 && i < long(d.nx)) gi.push_back(i);
  for (long j = 0; j < long(d.ny); j += stepJ) {
    const double post = (double(j) - pj) * d.sy * s.y;
    if (post >= -40.0 && post <= 160.0) gj.push_back(j);
  }
  if (gi.empty() || gj.empty()) throw ProcessingError("spine segmentation: empty search window for the spinal column");
  const std::size_t states = gi.size() * gj.size();

  const long hbI = std::max(1L, std::lround(10.0 / d.sx)), hbJ = std::max(1L, std::lround(10.0 / d.sy));
  const long hcI = std::max(1L, std::lround(5.0 / d.sx)), hcJ = std::max(1L, std::lround(5.0 / d.sy));
  const long canalOffset = std::lround(26.0 / d.sy * s.y);
  std::vector<float> score(states * d.nz);
  Integral integral, boneFraction;
  const std::size_t sliceSize = d.nx * d.ny;
  std::vector<float> indicator(sliceSize);
  for (std::size_t k = 0; k < d.nz; ++k) {
    integral.build(&ct.voxels[d.index(0, 0, k)], d.nx, d.ny, -100.0f, 300.0f);
    for (std::size_t p = 0; p < sliceSize; ++p) {
      const float v = ct.voxels[k * sliceSize + p];
      indicator[p] = v >= 100.0f && v <= 1500.0f ? 1.0f : 0.0f;
    }
    boneFraction.build(indicator.data(), d.nx, d.ny, 0.0f, 1.0f);
    for (std::size_t a = 0; a < gi.size(); ++a)
      for (std::size_t b = 0; b < gj.size(); ++b) {
        const long i = gi[a], j = gj[b];
        // A body is filled with bone; posterior elements are thin plates with muscle between.
        const double body = 250.0 * boneFraction.mean(i - hbI, i + hbI, j - hbJ, j + hbJ, 0.0);
        const double canal = integral.mean(i - hcI, i + hcI, j + canalOffset - hcJ, j + canalOffset + hcJ, 300.0);
        // The canal holds CSF (~20 HU): fat or bone behind a candidate both count against it.
        // The column runs near the midline: hips and the pelvis are lateral.
        const double lateral = std::max(0.0, std::abs(double(i) - pi) * d.sx - 15.0);
        score[k * states + a * gj.size() + b] = float(body - std::abs(canal - 20.0) - 2.0 * lateral);
      }
  }
  // Dynamic programming over slabs of at least 3 mm (the score averaged over the slices of a slab):
  // the shift penalty is paid once per slab, so the path is as stiff per mm of height on any
  // slice spacing (once per 1 mm slice, it bent nine times as easily and left the column for the
  // ala at the lumbosacral junction). The spine drifts at most ~0.6 mm per mm of height (lordosis).
  const double slabMm = std::max(3.0, d.sz);
  std::vector<std::size_t> slabOf(d.nz);
  for (std::size_t k = 0; k < d.nz; ++k) slabOf[k] = std::size_t(std::floor((double(k) + 0.5) * d.sz / slabMm));
  const std::size_t slabs = slabOf[d.nz - 1] + 1;
  std::vector<float> slabScore(states * slabs, 0.0f);
  std::vector<int> slabSlices(slabs, 0);
  for (std::size_t k = 0; k < d.nz; ++k) {
    ++slabSlices[slabOf[k]];
    for (std::size_t n = 0; n < states; ++n) slabScore[slabOf[k] * states + n] += score[k * states + n];
  }
  for (std::size_t g = 0; g < slabs; ++g)
    for (std::size_t n = 0; n < states; ++n) slabScore[g * states + n] /= float(std::max(1, slabSlices[g]));
  const double maxShiftMm = std::max(stepMm, 0.6 * slabMm + 0.5 * stepMm);
  const long wI = std::max(1L, long(maxShiftMm / (double(stepI) * d.sx))), wJ = std::max(1L, long(maxShiftMm / (double(stepJ) * d.sy)));
  const double lambda = 2.0; // HU per mm^2 of shift between neighbouring slabs
  std::vector<float> acc(states), next(states);
  std::vector<std::int32_t> back(states * slabs, -1);
  for (std::size_t n = 0; n < states; ++n) acc[n] = slabScore[n];
  for (std::size_t g = 1; g < slabs; ++g) {
    for (long a = 0; a < long(gi.size()); ++a)
      for (long b = 0; b < long(gj.size()); ++b) {
        float best = -1e30f;
        std::int32_t arg = -1;
        for (long da = -wI; da <= wI; ++da)
          for (long db = -wJ; db <= wJ; ++db) {
            const long a0 = a + da, b0 = b + db;
            if (a0 < 0 || b0 < 0 || a0 >= long(gi.size()) || b0 >= long(gj.size())) continue;
            const double shift2 = std::pow(double(da * stepI) * d.sx, 2) + std::pow(double(db * stepJ) * d.sy, 2);
            const float v = acc[std::size_t(a0) * gj.size() + std::size_t(b0)] - float(lambda * shift2);
            if (v > best) {
              best = v;
              arg = std::int32_t(std::size_t(a0) * gj.size() + std::size_t(b0));
            }
          }
        const std::size_t n = std::size_t(a) * gj.size() + std::size_t(b);
        next[n] = best + slabScore[g * states + n];
        back[g * states + n] = arg;
      }
    std::swap(acc, next);
  }
  std::vector<CentrePoint> slabPath(slabs);
  std::size_t n = std::size_t(std::max_element(acc.begin(), acc.end()) - acc.begin());
  for (std::size_t g = slabs; g-- > 0;) {
    slabPath[g] = {double(gi[n / gj.size()]), double(gj[n % gj.size()])};
    if (g > 0) n = std::size_t(back[g * states + n]);
  }
  std::vector<CentrePoint> path(d.nz);
  for (std::size_t k = 0; k < d.nz; ++k) path[k] = slabPath[slabOf[k]];
  return path;
}

/// Re-centres the path on the bone within 15 mm and smooths it over +-10 mm of height.
void refineCentreLine(const Volume& ct, const Dims& d, double boneHu, std::vector<CentrePoint>& path) {
  std::vector<CentrePoint> refined = path;
  std::vector<bool> has(d.nz, false);
  for (std::size_t k = 0; k < d.nz; ++k) {
    const CentrePoint c = path[k];
    double si = 0, sj = 0;
    std::size_t count = 0;
    const long ri = std::lround(15.0 / d.sx), rj = std::lround(15.0 / d.sy);
    for (long j = std::lround(c.j) - rj; j <= std::lround(c.j) + rj; ++j)
      for (long i = std::lround(c.i) - ri; i <= std::lround(c.i) + ri; ++i) {
        if (i < 0 || j < 0 || i >= long(d.nx) || j >= long(d.ny)) continue;
        const double r2 = std::pow((double(i) - c.i) * d.sx, 2) + std::pow((double(j) - c.j) * d.sy, 2);
        if (r2 > 225.0 || ct.voxels[d.index(std::size_t(i), std::size_t(j), k)] < boneHu) continue;
        si += double(i);
        sj += double(j);
        ++count;
      }
    if (double(count) * d.sx * d.sy >= 100.0) {
      refined[k] = {si / double(count), sj / double(count)};
      has[k] = true;
    }
  }
  const long half = std::max(1L, std::lround(10.0 / d.sz));
  for (std::size_t k = 0; k < d.nz; ++k) {
    double si = 0, sj = 0, w = 0;
    for (long m = long(k) - half; m <= long(k) + half; ++m) {
      if (m < 0 || m >= long(d.nz) || !has[std::size_t(m)]) continue;
      si += refined[std::size_t(m)].i;
      sj += refined[std::size_t(m)].j;
      w += 1;
    }
    if (w > 0) path[k] = {si / w, sj / w};
  }
}

/// HU read at a fixed physical resolution: the mean over the voxels within +-1.5 mm of a voxel on
/// each axis (the voxel alone on 3 mm grids, 3 x 3 x 3 voxels at 1 mm). The disc profile read
/// through it behaves alike on any grid: on 1 mm grids single voxels of trabecular texture and
/// noise made valleys inside the bodies.
/// Least-squares line y = a + b x, accumulated point by point; slope 0 (a constant) when the
/// points do not spread along x.
struct LineFit {
  double n{0}, sx{0}, sy{0}, sxx{0}, sxy{0};
  void add(double x, double y) {
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  double slope() const {
    const double den = n * sxx - sx * sx;
    return den > 1e-9 ? (n * sxy - sx * sy) / den : 0.0;
  }
  double at(double x) const { return (sy - slope() * sx) / n + slope() * x; }
};

struct PhysicalSampler {
  static constexpr double kHalfMm = 1.5;
  const Volume& ct;
  const Dims& d;
  long hi, hj, hk;
  PhysicalSampler(const Volume& volume, const Dims& dims)
      : ct(volume), d(dims), hi(long(std::floor(kHalfMm / dims.sx + 1e-6))), hj(long(std::floor(kHalfMm / dims.sy + 1e-6))),
        hk(long(std::floor(kHalfMm / dims.sz + 1e-6))) {}
  /// Mean around voxel (i, j, k), which must lie inside the grid.
  [[nodiscard]] float at(long i, long j, long k) const {
    if (hi == 0 && hj == 0 && hk == 0) return ct.voxels[d.index(std::size_t(i), std::size_t(j), std::size_t(k))];
    double sum = 0;
    int n = 0;
    for (long c = std::max(0L, k - hk); c <= std::min(long(d.nz) - 1, k + hk); ++c)
      for (long b = std::max(0L, j - hj); b <= std::min(long(d.ny) - 1, j + hj); ++b)
        for (long a = std::max(0L, i - hi); a <= std::min(long(d.nx) - 1, i + hi); ++a) {
          sum += ct.voxels[d.index(std::size_t(a), std::size_t(b), std::size_t(c))];
          ++n;
        }
    return float(sum / n);
  }
};

/// The spinal canal holds CSF (~20 HU) and epidural fat: a run of voxels below 100 HU, darker
/// than lumbar trabecular bone. The sacrum's marrow is often fatty (40-150 HU at S1 on
/// TotalSegmentator's example CT), so there the run must also average below 30 HU (a mean, not
/// every voxel: single 1 mm voxels of CSF with 12 HU noise cross 30 HU too often).
constexpr double kCanalHu = 100.0, kSacralCanalMeanHu = 30.0;

/// Distance (mm) from the centre, posteriorly, to the spinal canal: the first run of >= 4 mm below
/// 100 HU whose mean is below `meanBelowHu`, after bone, starting at least 8 mm behind the centre.
double canalDistanceMm(const Volume& ct, const Dims& d, const AxisSigns& s, std::size_t k, const CentrePoint& c,
                       double boneHu, double meanBelowHu) {
  const long i = std::clamp(std::lround(c.i), 0L, long(d.nx) - 1);
  std::vector<float> v;
  std::vector<double> t;
  for (double at = 0; at <= 45.0; at += d.sy) {
    const long j = std::lround(c.j + s.y * at / d.sy);
    if (j < 0 || j >= long(d.ny)) break;
    v.push_back(ct.voxels[d.index(std::size_t(i), std::size_t(j), k)]);
    t.push_back(at);
  }
  bool seenBone = false;
  for (std::size_t n = 0; n < v.size(); ++n) {
    seenBone = seenBone || v[n] >= boneHu;
    if (!seenBone || t[n] < 8.0 || v[n] >= kCanalHu)
      continue;
    double sum = 0;
    for (std::size_t m = n; m < v.size() && v[m] < kCanalHu; ++m) {
      sum += v[m];
      if (t[m] - t[n] >= 4.0) {
        if (sum / double(m - n + 1) < meanBelowHu)
          return std::clamp(t[n], 10.0, 35.0);
        break;
      }
    }
  }
  return 30.0;
}

/// Body envelope of slice k around the centre c (method step 2), written into `slice` (nx * ny):
/// voxels >= the body threshold within the search radius and in front of the canal, closed by
/// 5 mm, each 2D component near the centre filled by its convex hull. The canal is sought along the
/// centre's column unless its distance `canalMm` behind the centre is given.
void bodyEnvelopeSlice(const Volume& ct, const Dims& d, const AxisSigns& s, const SpineOptions& options, double boneHu,
                       std::size_t k, const CentrePoint& c, std::uint8_t* slice, double canalMeanBelowHu = kCanalHu,
                       const std::function<bool(std::size_t)>& inZone = {},
                       std::optional<double> canalMm = std::nullopt) {
  const double r2 = options.bodySearchRadiusMm * options.bodySearchRadiusMm;
  ImageGeometry sliceGeometry = ct.geometry;
  sliceGeometry.size[2] = 1;
  // Only a box around the search disk (plus the 5 mm closing) is processed.
  const long boxHalfI = long(std::ceil((options.bodySearchRadiusMm + 5.0) / d.sx)) + 2;
  const long boxHalfJ = long(std::ceil((options.bodySearchRadiusMm + 5.0) / d.sy)) + 2;
  const double canal = canalMm ? *canalMm : canalDistanceMm(ct, d, s, k, c, boneHu, canalMeanBelowHu);
  const long i0 = std::max(0L, std::lround(c.i) - boxHalfI), i1 = std::min(long(d.nx) - 1, std::lround(c.i) + boxHalfI);
  const long j0 = std::max(0L, std::lround(c.j) - boxHalfJ), j1 = std::min(long(d.ny) - 1, std::lround(c.j) + boxHalfJ);
  ImageGeometry boxGeometry = sliceGeometry;
  boxGeometry.size = {std::size_t(i1 - i0 + 1), std::size_t(j1 - j0 + 1), 1};
  const Dims bd(boxGeometry);
  Mask zone(bd.count(), 0);
  for (std::size_t j = 0; j < bd.ny; ++j)
    for (std::size_t i = 0; i < bd.nx; ++i) {
      const double dx = (double(i0) + double(i) - c.i) * d.sx, dy = (double(j0) + double(j) - c.j) * d.sy;
      if (dx * dx + dy * dy > r2 || dy * s.y > canal)
        continue;
      const std::size_t p = d.index(std::size_t(i0) + i, std::size_t(j0) + j, k);
      if (ct.voxels[p] >= options.bodyThresholdHu && (!inZone || inZone(p)))
        zone[i + bd.nx * j] = 1;
    }
  // Closing by 5 mm joins the pieces of a thin, partial-volume cortex (3 mm slices, porotic bone)
  // without bridging the disc band between two bodies in one slice.
  const Mask closed = detail::erode(detail::dilate(zone, bd, 5.0), bd, 5.0);
  std::vector<std::size_t> sizes;
  const auto labels = detail::components2d(closed, bd.nx, bd.ny, sizes);
  std::vector<std::vector<std::size_t>> pixels(sizes.size());
  std::vector<bool> near(sizes.size(), false);
  for (std::size_t p = 0; p < bd.count(); ++p) {
    if (!labels[p])
      continue;
    pixels[std::size_t(labels[p])].push_back(p);
    const double dx = (double(i0) + double(p % bd.nx) - c.i) * d.sx, dy = (double(j0) + double(p / bd.nx) - c.j) * d.sy;
    if (dx * dx + dy * dy <= 400.0)
      near[std::size_t(labels[p])] = true;
  }
  Mask filled(bd.count(), 0);
  for (std::size_t l = 1; l < sizes.size(); ++l) {
    if (!near[l] || double(sizes[l]) * d.sx * d.sy < 30.0)
      continue;
    detail::fillConvexHull(pixels[l], bd.nx, bd.ny, filled, d.sx, d.sy);
  }
  std::fill(slice, slice + d.nx * d.ny, std::uint8_t{0});
  for (std::size_t j = 0; j < bd.ny; ++j)
    for (std::size_t i = 0; i < bd.nx; ++i)
      slice[std::size_t(i0) + i + d.nx * (std::size_t(j0) + j)] = filled[i + bd.nx * j];
}

struct BodyInfo {
  std::uint16_t tmpLabel{0};
  std::size_t voxels{0};
  double ci{0}, cj{0}, ck{0};
  long kmin{0}, kmax{0};
  std::string level;
};

/// Statistics of every label 1..count-1 of `labels` that has voxels.
std::vector<BodyInfo> bodyInfos(const std::vector<std::uint16_t>& labels, const Dims& d, std::size_t count) {
  std::vector<BodyInfo> bodies(count);
  const std::size_t sliceSize = d.nx * d.ny;
  for (std::size_t p = 0; p < labels.size(); ++p) {
    const std::uint16_t l = labels[p];
    if (!l) continue;
    BodyInfo& b = bodies[l];
    const long k = long(p / sliceSize);
    if (b.voxels == 0) { b.kmin = k; b.kmax = k; }
    b.tmpLabel = l;
    ++b.voxels;
    b.ci += double(p % d.nx);
    b.cj += double((p / d.nx) % d.ny);
    b.ck += double(k);
    b.kmin = std::min(b.kmin, k);
    b.kmax = std::max(b.kmax, k);
  }
  std::vector<BodyInfo> found;
  for (BodyInfo& b : bodies)
    if (b.voxels) {
      b.ci /= double(b.voxels);
      b.cj /= double(b.voxels);
      b.ck /= double(b.voxels);
      found.push_back(b);
    }
  return found;
}

struct DiscPlane {
  Vec3 point;  ///< disc centre, in index-millimetres (i sx, j sy, k sz)
  Vec3 normal; ///< local column axis, pointing to +k
  [[nodiscard]] bool above(const Vec3& p) const { return dot(p - point, normal) > 0.0; }
};

constexpr double kDiscContrastHu = 25.0;

/// Discs along the column, ordered by k. The intensity profile runs along the column axis: each
/// centre-line point is sampled on a 10 mm disk perpendicular to the local axis (so steep discs
/// at the lumbosacral junction are cut flat, not smeared over many axial slices).
std::vector<DiscPlane> findDiscs(const Volume& ct, const Dims& d, const std::vector<CentrePoint>& path, double bodyHu) {
  const long nz = long(d.nz);
  auto centre = [&](long k) {
    k = std::clamp(k, 0L, nz - 1);
    return Vec3{path[std::size_t(k)].i * d.sx, path[std::size_t(k)].j * d.sy, double(k) * d.sz};
  };
  // Local axis: least-squares line through the centre line over +-15 mm of height.
  const long h = std::max(2L, std::lround(15.0 / d.sz));
  std::vector<Vec3> tangent(d.nz);
  for (long k = 0; k < nz; ++k) {
    double n = 0, sz = 0, szz = 0;
    Vec3 sp{}, spz{};
    for (long m = std::max(0L, k - h); m <= std::min(nz - 1, k + h); ++m) {
      const Vec3 c = centre(m);
      n += 1; sz += c.z; szz += c.z * c.z; sp += c; spz += c * c.z;
    }
    const double den = n * szz - sz * sz;
    const Vec3 slope = den > 1e-9 ? (spz * n - sp * sz) / den : Vec3{0, 0, 1};
    tangent[std::size_t(k)] = normalized(Vec3{slope.x, slope.y, 1.0});
  }
  const PhysicalSampler hu(ct, d);
  auto sample = [&](const Vec3& pMm) -> std::optional<float> {
    const long i = std::lround(pMm.x / d.sx), j = std::lround(pMm.y / d.sy), k = std::lround(pMm.z / d.sz);
    if (i < 0 || j < 0 || k < 0 || i >= long(d.nx) || j >= long(d.ny) || k >= nz) return std::nullopt;
    return hu.at(i, j, k);
  };
  // Bone fraction and mean HU on the disk at `c` perpendicular to `t`.
  auto disk = [&](const Vec3& c, const Vec3& t, double& fraction, double& meanHu) {
    const Vec3 e1 = normalized(std::abs(t.x) < 0.9 ? cross(t, Vec3{1, 0, 0}) : cross(t, Vec3{0, 1, 0}));
    const Vec3 e2 = cross(t, e1);
    double bone = 0, all = 0, sum = 0;
    for (double u = -10.0; u <= 10.0; u += 1.0)
      for (double v = -10.0; v <= 10.0; v += 1.0) {
        if (u * u + v * v > 100.0) continue;
        const auto value = sample(c + e1 * u + e2 * v);
        if (!value) continue;
        all += 1;
        sum += *value;
        if (*value >= bodyHu) bone += 1;
      }
    fraction = all > 0 ? bone / all : 0.0;
    meanHu = all > 0 ? sum / all : 0.0;
  };
  // Two profiles: disks perpendicular to the local axis, and axial disks (the centre line is only
  // as good as the bone around it; the axial one is the safer where it wobbles). Valley depth: the
  // lower of the brightest points within 10 mm below and above; the deeper one wins.
  std::vector<double> depth(d.nz, 0.0);
  std::vector<Vec3> normal(d.nz, Vec3{0, 0, 1});
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<double> fraction(d.nz), meanHu(d.nz);
    for (long k = 0; k < nz; ++k)
      disk(centre(k), variant == 0 ? Vec3{0, 0, 1} : tangent[std::size_t(k)], fraction[std::size_t(k)], meanHu[std::size_t(k)]);
    for (long k = 1; k + 1 < nz; ++k) {
      double below = -1, above = -1;
      for (long m = k - 1; m >= 0 && double(k - m) * d.sz <= 10.5; --m) below = std::max(below, fraction[std::size_t(m)]);
      for (long m = k + 1; m < nz && double(m - k) * d.sz <= 10.5; ++m) above = std::max(above, fraction[std::size_t(m)]);
      if (below < 0 || above < 0) continue;
      const double v = std::min(below, above) - fraction[std::size_t(k)];
      // The tilted profile must be clearly deeper to be preferred.
      if (variant == 0 ? v > depth[std::size_t(k)] : v > depth[std::size_t(k)] + 0.15) {
        depth[std::size_t(k)] = v;
        normal[std::size_t(k)] = variant == 0 ? Vec3{0, 0, 1} : tangent[std::size_t(k)];
      }
    }
  }
  // Candidates: valleys at least 0.25 deep. A disc is darker than the endplates 6 mm above and
  // below it; the porotic middle of a body is a valley too, but not much darker than the
  // trabecular bone around it. Candidates are taken by that contrast, darkest first (by depth, a
  // porotic mid-body emptied of >= 130 HU samples outranked the disc next to it on 1 mm grids).
  std::vector<double> contrast(d.nz, 0.0);
  std::vector<long> order;
  for (long k = 0; k < nz; ++k) {
    if (depth[std::size_t(k)] < 0.25) continue;
    const Vec3 c = centre(k), t = normal[std::size_t(k)];
    double f0, m0, fa, ma, fb, mb;
    disk(c, t, f0, m0);
    disk(c + t * 6.0, t, fa, ma);
    disk(c - t * 6.0, t, fb, mb);
    contrast[std::size_t(k)] = 0.5 * (ma + mb) - m0;
    if (contrast[std::size_t(k)] >= kDiscContrastHu) order.push_back(k);
  }
  std::sort(order.begin(), order.end(), [&](long x, long y) { return contrast[std::size_t(x)] > contrast[std::size_t(y)]; });
  std::vector<long> picked;
  for (long k0 : order) {
    // Bodies are at least 18 mm apart along the axis.
    bool clear = true;
    for (long q : picked) clear = clear && double(std::abs(q - k0)) * d.sz >= 18.0;
    if (clear) picked.push_back(k0);
  }
  // A disc that splits one body-sized interval into two short ones is the dark middle of a body
  // (a basivertebral or porotic centre 18 mm from both discs: L1 on a 1 mm copy of a 3 mm CT): of
  // a disc with intervals below 0.7 x the median interval on both sides that add up to at most
  // 1.3 x the median, the lowest contrast one is dropped, until there is none. Two neighbouring
  // collapsed bodies that small would be merged.
  std::sort(picked.begin(), picked.end());
  for (bool dropped = true; dropped && picked.size() >= 4;) {
    dropped = false;
    std::vector<double> gaps;
    for (std::size_t n = 1; n < picked.size(); ++n) gaps.push_back(norm(centre(picked[n]) - centre(picked[n - 1])));
    std::vector<double> sorted = gaps;
    std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
    const double median = sorted[sorted.size() / 2];
    long weakest = -1;
    for (std::size_t n = 1; n + 1 < picked.size(); ++n) {
      const double below = gaps[n - 1], above = gaps[n];
      if (below < 0.7 * median && above < 0.7 * median && below + above <= 1.3 * median &&
          (weakest < 0 || contrast[std::size_t(picked[n])] < contrast[std::size_t(picked[std::size_t(weakest)])]))
        weakest = long(n);
    }
    if (weakest >= 0) {
      picked.erase(picked.begin() + weakest);
      dropped = true;
    }
  }
  std::vector<DiscPlane> planes;
  for (long k0 : picked) planes.push_back({centre(k0), normal[std::size_t(k0)]});
  std::sort(planes.begin(), planes.end(), [](const DiscPlane& x, const DiscPlane& y) { return x.point.z < y.point.z; });
  return planes;
}

/// Index-millimetre position (i sx, j sy, k sz) of voxel p: the frame of the disc planes.
Vec3 indexMm(std::size_t p, const Dims& d) {
  return {double(p % d.nx) * d.sx, double((p / d.nx) % d.ny) * d.sy, double(p / (d.nx * d.ny)) * d.sz};
}

/// Interval between the disc planes that holds q: 1 below every disc, one more per disc below q.
std::uint16_t intervalOf(const Vec3& q, const std::vector<DiscPlane>& discs) {
  std::uint16_t interval = 1;
  for (const DiscPlane& disc : discs)
    if (disc.above(q))
      ++interval;
  return interval;
}

/// Per interval label (1..count-1) keeps the largest connected piece that reaches within 10 mm of
/// a disc plane bounding the interval: the body (pelvic bone or a rib head caught in the search
/// radius makes smaller or remote pieces; below the lowest disc, the pubis of a fine grid can
/// outweigh the S1 body). `discs` may be empty (every piece counts).
void keepLargestPiecePerInterval(const Dims& d, std::uint16_t count, const std::vector<DiscPlane>& discs,
                                 std::vector<std::uint16_t>& grown) {
  const std::size_t sliceSize = d.nx * d.ny;
  Mask any(d.count(), 0);
  for (std::size_t p = 0; p < grown.size(); ++p)
    any[p] = grown[p] ? 1 : 0;
  // Pieces of different intervals must not join: cut along interval changes.
  for (std::size_t p = 0; p < grown.size(); ++p) {
    if (!grown[p])
      continue;
    const std::size_t k = p / sliceSize;
    if (k + 1 < d.nz && grown[p + sliceSize] && grown[p + sliceSize] != grown[p])
      any[p] = 0;
  }
  const detail::Components pieces = detail::connectedComponents(any, d, false);
  // A piece can still hold two intervals where a tilted disc plane separates them within a slice:
  // each interval keeps the piece holding most of its own voxels.
  std::map<std::pair<std::int32_t, std::uint16_t>, std::size_t> voxelsOf;
  std::vector<bool> nearDisc(pieces.sizes.size(), discs.empty());
  for (std::size_t p = 0; p < grown.size(); ++p) {
    const std::int32_t piece = pieces.labels[p];
    if (!piece)
      continue;
    const std::uint16_t l = grown[p];
    ++voxelsOf[{piece, l}];
    if (nearDisc[std::size_t(piece)])
      continue;
    const Vec3 q = indexMm(p, d);
    for (std::size_t n : {std::size_t(l) - 2, std::size_t(l) - 1}) // the discs below and above interval l
      if (n < discs.size() && std::abs(dot(q - discs[n].point, discs[n].normal)) <= 10.0)
        nearDisc[std::size_t(piece)] = true;
  }
  std::vector<std::size_t> largest(count, 0);
  std::vector<std::int32_t> largestPiece(count, 0);
  for (const auto& [key, n] : voxelsOf) {
    const auto [piece, l] = key;
    if (nearDisc[std::size_t(piece)] && n > largest[l]) {
      largest[l] = n;
      largestPiece[l] = piece;
    }
  }
  for (std::size_t p = 0; p < grown.size(); ++p)
    if (grown[p] && pieces.labels[p] != largestPiece[grown[p]])
      grown[p] = 0;
}

/// Slope (mm along `axis` per mm along `e`) of the darkest point of the AP columns through a disc:
/// each column (every in-plane step within 12 mm of the centre along `e`, the mean over +-5 mm
/// laterally) is searched for its darkest point within 9 mm of the centre along `axis`.
double fittedDiscSlope(const Volume& ct, const Dims& d, const Vec3& centre, const Vec3& axis, const Vec3& e) {
  const Vec3 w = cross(axis, e);
  auto at = [&](const Vec3& q) {
    const long i = std::lround(q.x / d.sx), j = std::lround(q.y / d.sy), k = std::lround(q.z / d.sz);
    if (i < 0 || j < 0 || k < 0 || i >= long(d.nx) || j >= long(d.ny) || k >= long(d.nz))
      return 1e9;
    return double(ct.voxels[d.index(std::size_t(i), std::size_t(j), std::size_t(k))]);
  };
  const double step = std::min({d.sx, d.sy, d.sz});
  LineFit heightByOffset;
  for (double o = -12.0; o <= 12.0 + 1e-9; o += d.sy) {
    double darkest = 1e30, darkestH = 0;
    for (double h = -9.0; h <= 9.0 + 1e-9; h += step) {
      double sum = 0;
      int count = 0;
      for (double l = -5.0; l <= 5.0 + 1e-9; l += d.sx, ++count)
        sum += at(centre + e * o + axis * h + w * l);
      if (sum / count < darkest) {
        darkest = sum / count;
        darkestH = h;
      }
    }
    heightByOffset.add(o, darkestH);
  }
  return heightByOffset.slope();
}

/// Turns the discs found on the axial profile across the column: the axis is the line between the
/// centroids of the bodies below and above, and the disc's tilt about it in the mid-sagittal plane
/// is fitted to the darkest point of its AP columns (discs are wedges and need not lie exactly
/// across that line). The axial disk is the safer one for finding a disc where the centre line
/// wobbles, but discs tilt with the column: on TotalSegmentator's example CT the column leans 18
/// degrees at T12/L1, and the axial plane through the disc centre gave the back of the disc to L1
/// (posterior height 37.3 mm against 28.0 mm for their body). Planes are kept where a neighbour is
/// missing or under 3 mL, or the line is more than 30 degrees off the axial. Discs found on the
/// tilted profile keep their plane (the L5/S1 disc: S1's centroid lies behind, where the sacrum
/// bends away). Returns whether a plane turned.
bool alignDiscsWithColumn(const Volume& ct, const Dims& d, const std::vector<std::uint16_t>& intervals,
                          std::vector<DiscPlane>& discs) {
  std::vector<Vec3> sums(discs.size() + 2, Vec3{});
  std::vector<double> counts(discs.size() + 2, 0.0);
  for (std::size_t p = 0; p < intervals.size(); ++p)
    if (const std::uint16_t l = intervals[p]) {
      sums[l] += indexMm(p, d);
      counts[l] += 1;
    }
  const double minVoxels = 3000.0 / d.voxelMm3();
  bool turned = false;
  for (std::size_t n = 0; n < discs.size(); ++n) {
    const std::size_t below = n + 1, above = n + 2; // the intervals either side of disc n (sorted along +k)
    const bool axial = discs[n].normal.z >= 1.0 - 1e-9;
    if (!axial || counts[below] < minVoxels || counts[above] < minVoxels)
      continue;
    const Vec3 axis = normalized(sums[above] / counts[above] - sums[below] / counts[below]);
    if (axis.z < std::cos(30.0 * kPi / 180.0))
      continue;
    const Vec3 e = normalized(Vec3{0, 1, 0} - axis * axis.y); // anterior-posterior, across the axis
    discs[n].normal = normalized(axis - e * fittedDiscSlope(ct, d, discs[n].point, axis, e));
    turned = true;
  }
  return turned;
}

/// Width (mm) of the bone run through the body centre along rows near its centre depth (gaps up
/// to 6 mm bridged): sacral alae continue the body laterally; ribs and transverse processes do not
/// (they are separated by soft tissue or lie behind the body).
double alaWidthMm(const Volume& ct, const Dims& d, const BodyInfo& b, double boneHu) {
  double widest = 0;
  const long gap = std::max(1L, std::lround(6.0 / d.sx));
  const long jc = std::lround(b.cj), rj = std::lround(5.0 / d.sy), ic = std::lround(b.ci);
  // The middle of the body's height only: the alae of S1 rise above the tilted L5/S1 disc, so the
  // lowest slices of L5 can hold them (a 1 mm copy of a 3 mm CT counted L5 as the sacrum).
  const long margin = long(std::floor(0.2 * double(b.kmax - b.kmin)));
  for (long k = b.kmin + margin; k <= b.kmax - margin; ++k)
    for (long j = std::max(0L, jc - rj); j <= std::min(long(d.ny) - 1, jc + rj); ++j) {
      auto bone = [&](long i) {
        return i >= 0 && i < long(d.nx) && ct.voxels[d.index(std::size_t(i), std::size_t(j), std::size_t(k))] >= boneHu;
      };
      long ends[2] = {ic, ic};
      for (int dir : {-1, 1}) {
        long last = ic, i = ic;
        while (i >= 0 && i < long(d.nx) && std::abs(i - last) <= gap) {
          if (bone(i)) last = i;
          i += dir;
        }
        ends[dir > 0 ? 1 : 0] = last;
      }
      widest = std::max(widest, double(ends[1] - ends[0] + 1) * d.sx);
    }
  return widest;
}

/// Slices of the body's height with bone lateral to the column (45..140 mm) on both sides, in
/// components no larger than a rib cross-section or arc (<= 2000 mm^2).
bool bearsRibs(const Volume& ct, const Dims& d, const AxisSigns& s, const BodyInfo& b,
               const std::vector<CentrePoint>& path, double boneHu) {
  int slicesWithBoth = 0;
  for (long k = b.kmin; k <= b.kmax; ++k) {
    const std::size_t kk = std::size_t(k);
    Mask slice(d.nx * d.ny, 0);
    for (std::size_t p = 0; p < slice.size(); ++p) slice[p] = ct.voxels[kk * slice.size() + p] >= boneHu ? 1 : 0;
    std::vector<std::size_t> sizes;
    const auto labels = detail::components2d(slice, d.nx, d.ny, sizes);
    std::vector<double> si(sizes.size(), 0), sj(sizes.size(), 0);
    for (std::size_t p = 0; p < slice.size(); ++p)
      if (labels[p]) {
        si[std::size_t(labels[p])] += double(p % d.nx);
        sj[std::size_t(labels[p])] += double(p / d.nx);
      }
    bool left = false, right = false;
    for (std::size_t l = 1; l < sizes.size(); ++l) {
      const double area = double(sizes[l]) * d.sx * d.sy;
      if (area < 15.0 || area > 2000.0) continue;
      const double dx = (si[l] / double(sizes[l]) - path[kk].i) * d.sx * s.x;
      const double dy = (sj[l] / double(sizes[l]) - path[kk].j) * d.sy * s.y;
      if (std::abs(dx) < 45.0 || std::abs(dx) > 140.0 || std::abs(dy) > 60.0) continue;
      (dx > 0 ? left : right) = true;
    }
    if (left && right) ++slicesWithBoth;
  }
  return double(slicesWithBoth) * d.sz >= 4.0;
}

/// How many levels each body holds, counted by its height: 1, or for a complete body at least
/// 1.5 x as tall as the median of the other complete bodies within three places (at least two;
/// the rule of implausibleBodySize: several merged where discs were not found, e.g. on 6 mm slices
/// of the phantom the L1/L2 and L2/L3 discs fall across two slices each whose endplate cortices
/// outweigh the disc) round((height + disc) / (median + disc)), a disc taken as 9 mm (lumbar discs
/// 8-12 mm). `heights`: the bodies' heights (mm) from the top down, `complete`: not cut by the scan.
std::vector<int> levelsHeldByHeight(const std::vector<double>& heights, const std::vector<bool>& complete) {
  constexpr double kDiscMm = 9.0;
  std::vector<int> held(heights.size(), 1);
  for (std::size_t n = 0; n < heights.size(); ++n) {
    std::vector<double> others;
    for (std::size_t m = n >= 3 ? n - 3 : 0; m < std::min(heights.size(), n + 4); ++m)
      if (m != n && complete[m])
        others.push_back(heights[m]);
    if (!complete[n] || others.size() < 2)
      continue;
    std::sort(others.begin(), others.end());
    const std::size_t mid = others.size() / 2;
    const double usual = others.size() % 2 ? others[mid] : 0.5 * (others[mid - 1] + others[mid]);
    if (heights[n] >= 1.5 * usual)
      held[n] = std::max(1, int(std::lround((heights[n] + kDiscMm) / (usual + kDiscMm))));
  }
  return held;
}

/// Gaps along a body's column that measureVertebralBody bridges (see there).
constexpr double kRunGapMm = 3.0;
/// Columns shorter than this fraction of the median of their third of the body are left out of
/// that third's height (see measureVertebralBody).
constexpr double kRimFractionOfMedian = 0.75;

/// Sub-voxel position (continuous sample index) of an endplate along a column profile: where the
/// HU profile crosses half-way between the body side and the disc side near the mask edge
/// `kEdge`; empty when the profile shows no edge there (less than 50 HU between the two sides).
std::optional<double> endplatePosition(const std::vector<double>& profile, long kEdge, int outward) {
  const long n = long(profile.size());
  auto at = [&](long k) { return profile[std::size_t(std::clamp(k, 0L, n - 1))]; };
  double inside = -1e9, outside = 1e9;
  for (long m = 0; m <= 2; ++m) inside = std::max(inside, at(kEdge - outward * m));
  for (long m = 1; m <= 3; ++m) outside = std::min(outside, at(kEdge + outward * m));
  if (!(inside > outside + 50.0)) return std::nullopt;
  const double half = 0.5 * (inside + outside);
  // Walk outward from inside the body to the first fall below half.
  for (long k = kEdge - 2 * outward; k != kEdge + 3 * outward; k += outward) {
    const double v0 = at(k), v1 = at(k + outward);
    if (v0 >= half && v1 < half) return double(k) + outward * (v0 - half) / (v0 - v1);
  }
  return std::nullopt;
}

/// Closes each vertebra by max(3 mm, one in-plane voxel diagonal), adding only unlabelled voxels
/// of at least 0 HU: fills the marrow of thin posterior elements (below the bone threshold at
/// 3 mm) and one-voxel gaps of a partial-volumed cortex, never fat.
void closeVertebrae(const Volume& ct, const Dims& d, std::vector<std::uint16_t>& labels) {
  const double radius = std::max(3.0, std::hypot(d.sx, d.sy));
  std::map<std::uint16_t, std::array<long, 6>> boxes; // i0 i1 j0 j1 k0 k1
  for (std::size_t p = 0; p < labels.size(); ++p) {
    if (!labels[p]) continue;
    const long i = long(p % d.nx), j = long((p / d.nx) % d.ny), k = long(p / (d.nx * d.ny));
    auto [it, fresh] = boxes.try_emplace(labels[p], std::array<long, 6>{i, i, j, j, k, k});
    auto& b = it->second;
    b = {std::min(b[0], i), std::max(b[1], i), std::min(b[2], j), std::max(b[3], j), std::min(b[4], k), std::max(b[5], k)};
  }
  const long mi = long(std::ceil(radius / d.sx)) + 1, mj = long(std::ceil(radius / d.sy)) + 1,
             mk = long(std::ceil(radius / d.sz)) + 1;
  std::vector<std::pair<std::size_t, std::uint16_t>> added;
  for (const auto& [label, b] : boxes) {
    const long i0 = std::max(0L, b[0] - mi), i1 = std::min(long(d.nx) - 1, b[1] + mi);
    const long j0 = std::max(0L, b[2] - mj), j1 = std::min(long(d.ny) - 1, b[3] + mj);
    const long k0 = std::max(0L, b[4] - mk), k1 = std::min(long(d.nz) - 1, b[5] + mk);
    ImageGeometry boxGeometry = ct.geometry;
    boxGeometry.size = {std::size_t(i1 - i0 + 1), std::size_t(j1 - j0 + 1), std::size_t(k1 - k0 + 1)};
    const Dims bd(boxGeometry);
    Mask box(bd.count(), 0);
    auto global = [&](std::size_t q) {
      return d.index(std::size_t(i0) + q % bd.nx, std::size_t(j0) + (q / bd.nx) % bd.ny, std::size_t(k0) + q / (bd.nx * bd.ny));
    };
    for (std::size_t q = 0; q < box.size(); ++q) box[q] = labels[global(q)] == label ? 1 : 0;
    const Mask closed = detail::erode(detail::dilate(box, bd, radius), bd, radius);
    for (std::size_t q = 0; q < box.size(); ++q) {
      if (!closed[q] || box[q]) continue;
      const std::size_t p = global(q);
      if (!labels[p] && ct.voxels[p] >= 0.0f) added.push_back({p, label});
    }
  }
  // Where two closings claim a voxel, the first (lower label: the lower level) keeps it.
  for (const auto& [p, label] : added)
    if (!labels[p]) labels[p] = label;
}

/// Removes, in one pass, the labelled voxels below `thresholdHu` that have an unlabelled face
/// neighbour inside the grid: the partial-volume layer at the bone surface (at 3 mm a voxel half
/// cortex, half fat or muscle reads 50..150 HU; bone surfaces are drawn through the half-way
/// level between cortex and soft tissue). The scan edge is not a surface.
void peelPartialVolume(const Volume& ct, const Dims& d, double thresholdHu, std::vector<std::uint16_t>& labels) {
  std::vector<std::size_t> removed;
  for (std::size_t p = 0; p < labels.size(); ++p) {
    if (!labels[p] || ct.voxels[p] >= thresholdHu) continue;
    const long i = long(p % d.nx), j = long((p / d.nx) % d.ny), k = long(p / (d.nx * d.ny));
    const long offsets[6][3] = {{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}};
    for (const auto& o : offsets) {
      const long a = i + o[0], b = j + o[1], c = k + o[2];
      if (a < 0 || b < 0 || c < 0 || a >= long(d.nx) || b >= long(d.ny) || c >= long(d.nz)) continue;
      if (!labels[d.index(std::size_t(a), std::size_t(b), std::size_t(c))]) {
        removed.push_back(p);
        break;
      }
    }
  }
  for (std::size_t p : removed) labels[p] = 0;
}

/// Squares off the posterior corners of a first sacral body slice (nx * ny, 0/1): the rows behind
/// its widest row, as long as they are at least `minFraction` of that width, are widened to it.
/// The lateral walls of the S1 body are not cortical, they merge into the alae, so the hull of its
/// bone narrows backwards where TotalSegmentator's S1 body (like a lumbar one) is as wide behind as
/// in front.
void squarePosteriorCorners(const Dims& d, const AxisSigns& s, double minFraction, std::uint8_t* slice) {
  std::vector<long> lo(d.ny, long(d.nx)), hi(d.ny, -1);
  for (std::size_t q = 0; q < d.nx * d.ny; ++q)
    if (slice[q]) {
      const std::size_t j = q / d.nx;
      lo[j] = std::min(lo[j], long(q % d.nx));
      hi[j] = std::max(hi[j], long(q % d.nx));
    }
  long widest = -1;
  for (long j = 0; j < long(d.ny); ++j)
    if (hi[j] >= 0 && (widest < 0 || hi[j] - lo[j] > hi[widest] - lo[widest] ||
                       (hi[j] - lo[j] == hi[widest] - lo[widest] && (j - widest) * s.y > 0)))
      widest = j;
  if (widest < 0)
    return;
  const long width = hi[widest] - lo[widest] + 1, step = s.y > 0 ? 1 : -1;
  for (long j = widest + step; j >= 0 && j < long(d.ny) && double(hi[j] - lo[j] + 1) >= minFraction * double(width);
       j += step)
    for (long i = lo[widest]; i <= hi[widest]; ++i)
      slice[std::size_t(i) + d.nx * std::size_t(j)] = 1;
}

/// Least-squares plane z = a + b x + c y, accumulated point by point.
struct PlaneFit {
  Mat3 normal{{0, 0, 0, 0, 0, 0, 0, 0, 0}};
  Vec3 rhs{};
  void add(double x, double y, double z) {
    const std::array<double, 3> v{1.0, x, y};
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t c = 0; c < 3; ++c)
        normal(r, c) += v[r] * v[c];
    rhs += Vec3{z, z * x, z * y};
  }
  /// (a, b, c); none when the points do not span a plane.
  [[nodiscard]] std::optional<Vec3> coefficients() const {
    if (std::abs(normal.determinant()) < 1e-6)
      return std::nullopt;
    return normal.inverse() * rhs;
  }
};

/// The L5/S1 disc is wedge-shaped (taller in front: the lumbosacral angle), so the plane across its
/// middle leaves the front of the disc in S1's interval, where the hull joined it to L5's
/// anterior-inferior lip. In front of the body's centre, body `label` ends at the highest voxel of
/// at least `boneHu` in each column (the bony endplate; columns without one are disc), but no
/// deeper than the endplate of the columns around it (a floor: the plane fitted through the
/// columns' bony endplates, see below). Without that floor, a lytic lesion that destroyed the front
/// of the endplate was cut away with the disc down to the bone under it (the 1 mm phantom: 63 % of
/// a 1.6 mL lesion at S1's upper endplate, which was then not even a candidate; now 5 %, its top
/// slice).
void trimAnteriorDiscWedge(const Volume& ct, const Dims& d, const AxisSigns& s, double boneHu, std::uint16_t label,
                           std::vector<std::uint16_t>& labels) {
  const std::size_t sliceSize = d.nx * d.ny;
  double sumJ = 0, count = 0;
  for (std::size_t p = 0; p < labels.size(); ++p)
    if (labels[p] == label) {
      sumJ += double((p / d.nx) % d.ny);
      count += 1;
    }
  if (count == 0)
    return;
  const double centreJ = sumJ / count;
  const auto voxelAtDepth = [&](std::size_t q, std::size_t n) { return (s.z > 0 ? d.nz - 1 - n : n) * sliceSize + q; };
  const auto depthMm = [&](std::size_t n) { return double(n) * d.sz; }; // below the top of the grid
  // The bony endplate of every column in front of the centre: (column, depth mm).
  std::vector<std::pair<std::size_t, double>> endplates;
  std::vector<std::size_t> columns;
  for (std::size_t q = 0; q < sliceSize; ++q) {
    if ((double(q / d.nx) - centreJ) * s.y >= 0) // behind the centre
      continue;
    bool inBody = false;
    for (std::size_t n = 0; n < d.nz; ++n) {
      const std::size_t p = voxelAtDepth(q, n);
      if (labels[p] != label)
        continue;
      inBody = true;
      if (ct.voxels[p] >= boneHu) {
        endplates.push_back({q, depthMm(n)});
        break;
      }
    }
    if (inBody)
      columns.push_back(q);
  }
  // Columns more than a slice (at least 3 mm) below the plane are not endplate: a lesion, or a
  // partial-volumed endplate over fatty marrow.
  const double outlierMm = std::max(3.0, d.sz);
  std::optional<Vec3> plane;
  const auto planeDepth = [&](std::size_t q) {
    return plane->x + plane->y * double(q % d.nx) * d.sx + plane->z * double(q / d.nx) * d.sy;
  };
  const auto onPlane = [&](std::size_t q, double depth) { return !plane || depth <= planeDepth(q) + outlierMm; };
  for (int round = 0; round < 3; ++round) {
    PlaneFit fit;
    for (const auto& [q, depth] : endplates)
      if (onPlane(q, depth))
        fit.add(double(q % d.nx) * d.sx, double(q / d.nx) * d.sy, depth);
    plane = fit.coefficients();
    if (!plane)
      break;
  }
  // The floor: the plane plus twice the endplates' RMS distance from it (a real endplate is
  // concave and stepped by the slices: 1.9 mm on the 3 mm CT; 0.15 mm on the 1 mm phantom), at
  // least half a slice.
  double floorMm = 0.5 * d.sz;
  if (plane) {
    double sum2 = 0, n = 0;
    for (const auto& [q, depth] : endplates)
      if (onPlane(q, depth)) {
        sum2 += (depth - planeDepth(q)) * (depth - planeDepth(q));
        n += 1;
      }
    if (n > 0)
      floorMm = std::max(floorMm, 2.0 * std::sqrt(sum2 / n));
  }
  for (std::size_t q : columns)
    for (std::size_t n = 0; n < d.nz; ++n) {
      const std::size_t p = voxelAtDepth(q, n);
      if (labels[p] != label)
        continue;
      if (ct.voxels[p] >= boneHu || (plane && depthMm(n) > planeDepth(q) + floorMm))
        break;
      labels[p] = 0;
    }
}

/// Least-squares lateral line i(k) through the centroids of the bodies `labels` of `grown` (a
/// constant through one body's).
LineFit lateralLineThroughCentroids(const Dims& d, const std::vector<std::uint16_t>& grown,
                                    const std::vector<std::uint16_t>& labels) {
  const std::size_t sliceSize = d.nx * d.ny;
  std::map<std::uint16_t, std::array<double, 3>> sums; // per body: sum i, sum k, count
  for (std::size_t p = 0; p < grown.size(); ++p)
    if (grown[p] && std::find(labels.begin(), labels.end(), grown[p]) != labels.end()) {
      auto& sum = sums[grown[p]];
      sum[0] += double(p % d.nx);
      sum[1] += double(p / sliceSize);
      sum[2] += 1;
    }
  LineFit line;
  for (const auto& [label, sum] : sums)
    line.add(sum[1] / sum[2], sum[0] / sum[2]);
  return line;
}

/// On slice k, body `label` of `grown` becomes the envelope `slice` (nx * ny, 0/1) where `inZone`
/// holds and no other body is.
void replaceBodySlice(const Dims& d, long k, const std::uint8_t* slice, std::uint16_t label,
                      const std::function<bool(std::size_t)>& inZone, std::vector<std::uint16_t>& grown) {
  const std::size_t sliceSize = d.nx * d.ny;
  for (std::size_t q = 0; q < sliceSize; ++q) {
    const std::size_t p = std::size_t(k) * sliceSize + q;
    if (grown[p] == label)
      grown[p] = 0;
    if (slice[q] && !grown[p] && inZone(p))
      grown[p] = label;
  }
}

/// Body `label` of `grown` keeps its largest connected piece only, as for every interval.
void keepLargestPieceOf(const Dims& d, std::uint16_t label, std::vector<std::uint16_t>& grown) {
  std::vector<std::uint16_t> own(grown.size(), 0);
  for (std::size_t p = 0; p < grown.size(); ++p)
    own[p] = grown[p] == label ? 1 : 0;
  keepLargestPiecePerInterval(d, 2, {}, own);
  for (std::size_t p = 0; p < grown.size(); ++p)
    if (grown[p] == label && !own[p])
      grown[p] = 0;
}

/// Re-centres the lowest lumbar body laterally on the column above it (method step 4). At the
/// L5/S1 transition the sacral ala (and the ilium behind it) pull the centre line's bone-filled box
/// and bone centroid sideways (up to 15 mm to the right on TotalSegmentator's example CT), so the
/// search disk cut the other side of L5. The L5 slices are searched again around the lateral line
/// fitted through the centroids of the bodies above, `above` (L4 first; L4's alone gives a constant
/// line), taking only bone in L5's interval. The canal stays where the centre line's column
/// found it (the centre line is kept): along the re-centred column L5's partial-volumed posterior
/// cortex may hold no bone before the canal, whose search then fails and lets the envelope run
/// 30 mm back. A re-search that finds less than half the body (a column that bends away from the
/// line, as in a scoliosis) is not kept.
void recentreLowestLumbarBody(const Volume& ct, const Dims& d, const AxisSigns& s, const SpineOptions& options,
                              double boneHu, const std::vector<DiscPlane>& discs, std::uint16_t l5,
                              const std::vector<std::uint16_t>& above, const std::vector<CentrePoint>& path,
                              std::vector<std::uint16_t>& grown) {
  const std::size_t sliceSize = d.nx * d.ny;
  long kmin = long(d.nz), kmax = -1;
  std::vector<std::size_t> found;
  for (std::size_t p = 0; p < grown.size(); ++p)
    if (grown[p] == l5) {
      kmin = std::min(kmin, long(p / sliceSize));
      kmax = std::max(kmax, long(p / sliceSize));
      found.push_back(p);
    }
  if (above.empty() || found.empty())
    return;
  const LineFit line = lateralLineThroughCentroids(d, grown, above);
  const auto inL5 = [&](std::size_t p) { return intervalOf(indexMm(p, d), discs) == l5; };
  std::vector<std::uint8_t> slice(sliceSize);
  for (long k = kmin; k <= kmax; ++k) {
    const CentrePoint& centre = path[std::size_t(k)];
    const double canalMm = canalDistanceMm(ct, d, s, std::size_t(k), centre, boneHu, kCanalHu);
    bodyEnvelopeSlice(ct, d, s, options, boneHu, std::size_t(k), CentrePoint{line.at(double(k)), centre.j},
                      slice.data(), kCanalHu, inL5, canalMm);
    replaceBodySlice(d, k, slice.data(), l5, inL5, grown);
  }
  keepLargestPieceOf(d, l5, grown);
  if (2 * std::size_t(std::count(grown.begin(), grown.end(), l5)) < found.size()) {
    std::replace(grown.begin(), grown.end(), l5, std::uint16_t{0});
    for (std::size_t p : found)
      grown[p] = l5;
  }
}

/// The first sacral segment's lateral band: the lateral line i(k) through the lumbar body centroids
/// and L5's half-width about it; and the voxels that square off the S1 body's posterior corners
/// (see squarePosteriorCorners), for the vertebra only: their fatty marrow in the body envelope
/// read as an 11.7 mL lytic lesion on TotalSegmentator's example CT.
struct SacralBand {
  LineFit line;
  double halfWidthMm{0};
  std::vector<std::size_t> posteriorCorners;
  [[nodiscard]] bool contains(const Dims& d, std::size_t p) const {
    return std::abs(double(p % d.nx) - line.at(double(p / (d.nx * d.ny)))) * d.sx <= halfWidthMm;
  }
};

/// Re-centres the first sacral body laterally on the column (method step 4). At S1 the alae, and
/// the ilium on one side, pull the centre line's bone-filled box and bone centroid sideways (15 mm
/// to the right on TotalSegmentator's example CT), so the search disk cut one side of the body and
/// took in an ala. The sacrum continues the column: the S1 slices are searched again around the
/// lateral line fitted through the centroids of the lumbar bodies `lumbar` (L5 first; L5's alone
/// gives a constant line; the centre line's depth is kept: the sacrum curves backwards), as wide
/// as L5, and the S1 body is the part of that envelope in its own interval between the disc
/// planes. Updates `path` there; returns the band searched (none without L5).
std::optional<SacralBand> recentreFirstSacralBody(const Volume& ct, const Dims& d, const AxisSigns& s,
                                                  const SpineOptions& options, double boneHu,
                                                  const std::vector<DiscPlane>& discs, std::uint16_t s1,
                                                  const std::vector<std::uint16_t>& lumbar,
                                                  std::vector<CentrePoint>& path, std::vector<std::uint16_t>& grown) {
  const std::size_t sliceSize = d.nx * d.ny;
  const std::uint16_t l5 = lumbar.front();
  std::vector<std::pair<double, double>> l5Voxels; // (i, k) of every L5 body voxel
  long kmin = long(d.nz), kmax = -1;
  for (std::size_t p = 0; p < grown.size(); ++p) {
    const double i = double(p % d.nx), k = double(p / sliceSize);
    if (grown[p] == s1) {
      kmin = std::min(kmin, long(k));
      kmax = std::max(kmax, long(k));
    } else if (grown[p] == l5) {
      l5Voxels.push_back({i, k});
    }
  }
  if (l5Voxels.empty() || kmax < kmin)
    return std::nullopt;
  // Least-squares line i(k) through the lumbar body centroids (constant through L5's alone).
  const LineFit lateralByHeight = lateralLineThroughCentroids(d, grown, lumbar);
  const auto lateralCentre = [&](double k) { return lateralByHeight.at(k); };
  // The S1 body is as wide as L5's (the alae continue it laterally without a boundary at 1-3 mm):
  // L5's lateral half-width about that line over the 2nd..98th percentile of its voxel centres,
  // plus half a voxel on each side (voxel extents, not centres). Without the half voxel S1 read
  // 0.852 instead of 0.848 on TotalSegmentator's example CT while L5 was clipped on the left and
  // the line ran 0.5 voxel right of their S1; since L5 is searched about the column above
  // (recentreLowestLumbarBody) the line runs 0.4 voxel left of it, and the half voxel gives 0.851
  // against 0.838 without (one column each way, their S1 is 19 columns wide).
  std::vector<double> offsets;
  for (const auto& [i, k] : l5Voxels)
    offsets.push_back(i - lateralCentre(k));
  std::sort(offsets.begin(), offsets.end());
  const auto percentile = [&](double f) { return offsets[std::size_t(f * double(offsets.size() - 1))]; };
  SacralBand band{lateralByHeight, (0.5 * (percentile(0.98) - percentile(0.02)) + 0.5) * d.sx, {}};
  std::vector<std::uint8_t> slice(sliceSize), squared(sliceSize);
  // Only bone in S1's interval: L5's anterior-inferior lip, below the L5/S1 plane's centre on a
  // wedge-shaped disc, made the hull take in the front of the disc.
  const auto inS1 = [&](std::size_t p) { return band.contains(d, p) && intervalOf(indexMm(p, d), discs) == s1; };
  for (long k = kmin; k <= kmax; ++k) {
    path[std::size_t(k)].i = lateralCentre(double(k));
    bodyEnvelopeSlice(ct, d, s, options, boneHu, std::size_t(k), path[std::size_t(k)], slice.data(), kSacralCanalMeanHu,
                      inS1);
    replaceBodySlice(d, k, slice.data(), s1, inS1, grown);
    squared = slice;
    squarePosteriorCorners(d, s, 0.6, squared.data());
    for (std::size_t q = 0; q < sliceSize; ++q) {
      const std::size_t p = std::size_t(k) * sliceSize + q;
      if (squared[q] && !slice[q] && !grown[p] && inS1(p))
        band.posteriorCorners.push_back(p);
    }
  }
  trimAnteriorDiscWedge(ct, d, s, options.bodyThresholdHu, s1, grown);
  keepLargestPieceOf(d, s1, grown);
  return band;
}

/// The first sacral segment's lower face: a plane across the column axis of the L5/S1 disc, a
/// segment height below the top of the S1 body (the S1-S2 fusion leaves no disc to find at 1-3 mm).
struct SacralCut {
  bool valid{false};
  Vec3 point{};     ///< L5/S1 disc centre (index-mm)
  Vec3 up{};        ///< towards the head, unit (index-mm)
  double cutMm{0};  ///< height along `up` from `point` below which the rest of the sacrum lies
  double xMinMm{0}, xMaxMm{0}; ///< lateral extent of the S1 segment's body (index-mm x)
  [[nodiscard]] double height(const Vec3& q) const { return dot(q - point, up); }
};

/// Gives the S1 body voxels lower than `segmentHeightMm` below the top of the S1 body (along the
/// axis of the L5/S1 disc) to the rest of the sacrum, and returns that plane.
SacralCut cutFirstSacralSegment(const Dims& d, const AxisSigns& s, const std::vector<DiscPlane>& discs,
                                double segmentHeightMm, std::vector<std::uint16_t>& bodies) {
  const std::uint16_t s1 = labelOfLevel("S1");
  Vec3 centroid{};
  std::size_t count = 0;
  for (std::size_t p = 0; p < bodies.size(); ++p)
    if (bodies[p] == s1) {
      centroid += indexMm(p, d);
      ++count;
    }
  SacralCut cut;
  if (count == 0) return cut;
  centroid = centroid / double(count);
  // The L5/S1 disc: the nearest disc plane above the S1 body (axial through the centroid without one).
  cut.point = centroid;
  cut.up = Vec3{0, 0, s.z};
  double nearest = 1e30;
  for (const DiscPlane& disc : discs) {
    const Vec3 up = disc.normal * s.z;
    const double below = -dot(centroid - disc.point, up);
    if (below > 0 && below < nearest) {
      nearest = below;
      cut.point = disc.point;
      cut.up = up;
    }
  }
  double top = -1e30;
  for (std::size_t p = 0; p < bodies.size(); ++p)
    if (bodies[p] == s1) top = std::max(top, cut.height(indexMm(p, d)));
  cut.cutMm = top - segmentHeightMm;
  cut.xMinMm = 1e30;
  cut.xMaxMm = -1e30;
  for (std::size_t p = 0; p < bodies.size(); ++p) {
    if (bodies[p] != s1) continue;
    const Vec3 q = indexMm(p, d);
    if (cut.height(q) < cut.cutMm) {
      bodies[p] = kSacrumRestLabel;
      continue;
    }
    cut.xMinMm = std::min(cut.xMinMm, q.x);
    cut.xMaxMm = std::max(cut.xMaxMm, q.x);
  }
  cut.valid = cut.xMaxMm >= cut.xMinMm;
  return cut;
}

/// L5's arch below the plane of the L5/S1 disc goes to S1: the dearer upward step of the
/// competition lets L5 win S1's superior articular processes and the top of its laminae, which rise
/// above the S1 body to the level of the disc (TotalSegmentator's example CT: L5 Dice
/// 0.867 -> 0.875, S1 0.807 -> 0.811).
void giveSacralSideOfTheDiscToS1(const Dims& d, const SacralCut& cut, const std::vector<std::uint16_t>& bodies,
                                 std::vector<std::uint16_t>& vertebrae) {
  if (!cut.valid)
    return;
  const std::uint16_t l5 = labelOfLevel("L5"), s1 = labelOfLevel("S1");
  for (std::size_t p = 0; p < vertebrae.size(); ++p)
    if (vertebrae[p] == l5 && !bodies[p] && cut.height(indexMm(p, d)) < 0.0)
      vertebrae[p] = s1;
}

/// L5 and S1 compete again for their arches with equal step costs up and down: S1's superior
/// articular processes rise beside L5's inferior ones above the level of the L5/S1 disc, and the
/// dearer upward step gave them to L5.
void competeLumbosacralArch(const Dims& d, const std::vector<std::uint16_t>& bodies,
                            std::vector<std::uint16_t>& vertebrae) {
  const std::uint16_t l5 = labelOfLevel("L5"), s1 = labelOfLevel("S1");
  Mask region(vertebrae.size(), 0);
  std::vector<std::uint16_t> seeds(vertebrae.size(), 0);
  for (std::size_t p = 0; p < vertebrae.size(); ++p) {
    if (vertebrae[p] != l5 && vertebrae[p] != s1)
      continue;
    region[p] = 1;
    if (bodies[p] == vertebrae[p])
      seeds[p] = bodies[p];
  }
  const std::vector<std::uint16_t> grown = detail::growLabelsGeodesic(seeds, region, d, 1.0, 1.0);
  for (std::size_t p = 0; p < vertebrae.size(); ++p)
    if (region[p] && grown[p])
      vertebrae[p] = grown[p];
}

/// Splits what the S1 body won in the competition for the bone between the first sacral segment
/// and the rest of the sacrum: the S1 body competes (the same geodesic rule) with the rest of the
/// sacral body and the bone below the cut plane (the dorsal sacrum behind the tilted S1 body
/// belongs to the lower segments); then the arch beyond the S1 body's lateral extent plus
/// `lateralMarginMm`, and beyond the band the S1 body was searched in (`band`), goes to the rest of
/// the sacrum: TotalSegmentator's S1 ends laterally where its body does, on every slice (the alae
/// are their sacrum: i 50-68 on their example CT, the width of L5's body), where the margin left the
/// rim of the alae in S1.
void splitSacralArch(const Dims& d, const SacralCut& cut, const std::vector<std::uint16_t>& bodies,
                     const std::optional<SacralBand>& band, double lateralMarginMm, double plusKStepFactor,
                     double minusKStepFactor, std::vector<std::uint16_t>& vertebrae) {
  if (!cut.valid) return;
  const std::uint16_t s1 = labelOfLevel("S1");
  Mask region(vertebrae.size(), 0);
  std::vector<std::uint16_t> seeds(vertebrae.size(), 0);
  for (std::size_t p = 0; p < vertebrae.size(); ++p) {
    if (vertebrae[p] != s1 && vertebrae[p] != kSacrumRestLabel) continue;
    region[p] = 1;
    if (bodies[p] == s1 || bodies[p] == kSacrumRestLabel) seeds[p] = bodies[p];
    else if (cut.height(indexMm(p, d)) < cut.cutMm) seeds[p] = kSacrumRestLabel;
  }
  const std::vector<std::uint16_t> grown = detail::growLabelsGeodesic(seeds, region, d, plusKStepFactor, minusKStepFactor);
  for (std::size_t p = 0; p < vertebrae.size(); ++p) {
    if (!region[p]) continue;
    if (grown[p]) vertebrae[p] = grown[p];
    const double x = double(p % d.nx) * d.sx;
    if (vertebrae[p] == s1 && bodies[p] != s1 && (x < cut.xMinMm - lateralMarginMm || x > cut.xMaxMm + lateralMarginMm))
      vertebrae[p] = kSacrumRestLabel;
    if (vertebrae[p] == s1 && band && !band->contains(d, p))
      vertebrae[p] = kSacrumRestLabel;
  }
}

/// The S1 vertebra takes the unlabelled voxels that square off its body's posterior corners, above
/// the first sacral segment's lower face.
void squareFirstSacralVertebra(const Dims& d, const SacralCut& cut, const SacralBand& band,
                               std::vector<std::uint16_t>& vertebrae) {
  if (!cut.valid)
    return;
  const std::uint16_t s1 = labelOfLevel("S1");
  for (std::size_t p : band.posteriorCorners)
    if (!vertebrae[p] && cut.height(indexMm(p, d)) >= cut.cutMm)
      vertebrae[p] = s1;
}

} // namespace

VertebraMeasurement measureVertebralBody(const Volume& ct, const LabelMap& bodies, std::uint16_t label,
                                         const std::optional<Vec3>& axisLps) {
  if (!ct.geometry.sameGrid(bodies.geometry)) throw InputError("measureVertebralBody: the CT and the body labels are on different grids");
  const ImageGeometry& g = ct.geometry;
  (void)axialSigns(g); // near-axial grids only (as segmentSpine)
  const Dims d(g);
  VertebraMeasurement m;
  m.label = label;
  m.level = levelOfLabel(label);
  // One pass over the labels: count, centroid, bounding box and per-slice area / centroid (the
  // rest works on the bounding box only).
  auto in = [&](std::size_t p) { return bodies.voxels[p] == label; };
  double si = 0, sj = 0, sk = 0;
  std::size_t count = 0;
  long kmin = long(d.nz), kmax = -1, bi0 = long(d.nx), bi1 = -1, bj0 = long(d.ny), bj1 = -1;
  std::vector<double> area(d.nz, 0), ai(d.nz, 0), aj(d.nz, 0);
  for (std::size_t k = 0; k < d.nz; ++k)
    for (std::size_t j = 0; j < d.ny; ++j)
      for (std::size_t i = 0; i < d.nx; ++i) {
        if (!in(d.index(i, j, k))) continue;
        si += double(i);
        sj += double(j);
        sk += double(k);
        ++count;
        kmin = std::min(kmin, long(k));
        kmax = std::max(kmax, long(k));
        bi0 = std::min(bi0, long(i)); bi1 = std::max(bi1, long(i)); bj0 = std::min(bj0, long(j)); bj1 = std::max(bj1, long(j));
        area[k] += 1;
        ai[k] += double(i);
        aj[k] += double(j);
      }
  if (count == 0) throw ProcessingError(fmt::format("measureVertebralBody: label {} is empty", label));
  m.bodyVolumeMl = double(count) * d.voxelMm3() / 1000.0;
  m.bodyCentroid = g.indexToPoint(Vec3{si / double(count), sj / double(count), sk / double(count)});
  m.complete = kmin > 0 && kmax < long(d.nz) - 1;

  // Trabecular density: the body eroded by 3 mm (less for small bodies), on its bounding box.
  ImageGeometry boxGeometry = g;
  boxGeometry.size = {std::size_t(bi1 - bi0 + 3), std::size_t(bj1 - bj0 + 3), std::size_t(kmax - kmin + 3)};
  const Dims bd(boxGeometry);
  Mask boxMask(bd.count(), 0);
  std::vector<float> boxHu(bd.count(), 0.0f);
  for (std::size_t k = 1; k + 1 < bd.nz; ++k)
    for (std::size_t j = 1; j + 1 < bd.ny; ++j)
      for (std::size_t i = 1; i + 1 < bd.nx; ++i) {
        const std::size_t p = d.index(std::size_t(bi0) + i - 1, std::size_t(bj0) + j - 1, std::size_t(kmin) + k - 1);
        boxMask[bd.index(i, j, k)] = in(p) ? 1 : 0;
        boxHu[bd.index(i, j, k)] = ct.voxels[p];
      }
  for (double r : {3.0, 1.5}) {
    const Mask core = detail::erode(boxMask, bd, r);
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t p = 0; p < core.size(); ++p)
      if (core[p]) {
        sum += boxHu[p];
        ++n;
      }
    if (double(n) * bd.voxelMm3() >= 500.0 || r == 1.5) {
      m.meanTrabecularHu = n ? sum / double(n) : 0.0;
      break;
    }
  }

  // Column axis: line through the centroids of the full-size slices of the body.
  const double maxArea = *std::max_element(area.begin(), area.end());
  double sz0 = 0, sz2 = 0, sx0 = 0, sxz = 0, sy0 = 0, syz = 0, nfit = 0;
  for (std::size_t k = 0; k < d.nz; ++k) {
    if (area[k] < 0.8 * maxArea) continue;
    const double z = double(k) * d.sz, x = ai[k] / area[k] * d.sx, y = aj[k] / area[k] * d.sy;
    sz0 += z; sz2 += z * z; sx0 += x; sxz += x * z; sy0 += y; syz += y * z; nfit += 1;
  }
  double slopeX = 0, slopeY = 0; // mm of in-plane index-axis travel per mm of slice-axis travel
  const double den = nfit * sz2 - sz0 * sz0;
  if (nfit >= 3 && den > 1e-9) {
    slopeX = (nfit * sxz - sx0 * sz0) / den;
    slopeY = (nfit * syz - sy0 * sz0) / den;
  }
  // The body's own axes in index millimetres (i sx, j sy, k sz; an orthonormal frame, the grid
  // directions map it to LPS): u superior-inferior (`axisLps`, else the line through the
  // centroids of its slices), a
  // anterior-posterior (patient posterior made perpendicular to u), w lateral. Heights are read
  // along lines parallel to u in the plane of u and a through the centroid, so a tilted body or an
  // oblique grid gives the same heights as an axial one.
  const Vec3 u = axisLps ? normalized(g.direction.transposed() * *axisLps) : normalized(Vec3{slopeX, slopeY, 1.0});
  const Vec3 posteriorIndexMm{g.direction(1, 0), g.direction(1, 1), g.direction(1, 2)};
  const Vec3 a = normalized(posteriorIndexMm - u * dot(posteriorIndexMm, u));
  const Vec3 w = cross(u, a);
  m.axisDirection = normalized(g.direction * u);
  if (m.axisDirection.z < 0) m.axisDirection = m.axisDirection * -1.0;

  // Lines start on the voxel centre nearest the centroid (on an axial grid with an upright body
  // they run through voxel centres), step by the in-plane spacing across and the smallest voxel
  // spacing along (the HU profile is trilinear).
  const Vec3 origin{double(std::lround(si / double(count))) * d.sx, double(std::lround(sj / double(count))) * d.sy,
                    double(std::lround(sk / double(count))) * d.sz};
  const double acrossStep = std::min(d.sx, d.sy), alongStep = std::min({d.sx, d.sy, d.sz}), lateralStep = d.sx;
  const double reach = 0.5 * std::sqrt(std::pow(double(bi1 - bi0 + 1) * d.sx, 2) + std::pow(double(bj1 - bj0 + 1) * d.sy, 2) +
                                       std::pow(double(kmax - kmin + 1) * d.sz, 2)) + 3.0 * alongStep;
  const long nAcross = long(std::ceil(reach / acrossStep)), nAlong = long(std::ceil(reach / alongStep));
  auto voxelOf = [&](const Vec3& q, long& i, long& j, long& k) {
    i = std::lround(q.x / d.sx);
    j = std::lround(q.y / d.sy);
    k = std::lround(q.z / d.sz);
    return i >= 0 && j >= 0 && k >= 0 && i < long(d.nx) && j < long(d.ny) && k < long(d.nz);
  };
  auto huAt = [&](const Vec3& q) { // trilinear, clamped to the grid
    const double fi = std::clamp(q.x / d.sx, 0.0, double(d.nx - 1)), fj = std::clamp(q.y / d.sy, 0.0, double(d.ny - 1)),
                 fk = std::clamp(q.z / d.sz, 0.0, double(d.nz - 1));
    const std::size_t i = std::min(std::size_t(fi), d.nx > 1 ? d.nx - 2 : 0), j = std::min(std::size_t(fj), d.ny > 1 ? d.ny - 2 : 0),
                      k = std::min(std::size_t(fk), d.nz > 1 ? d.nz - 2 : 0);
    const double ti = fi - double(i), tj = fj - double(j), tk = fk - double(k);
    double v = 0;
    for (std::size_t c = 0; c < 8; ++c) {
      const std::size_t ii = std::min(i + (c & 1), d.nx - 1), jj = std::min(j + ((c >> 1) & 1), d.ny - 1),
                        kk = std::min(k + ((c >> 2) & 1), d.nz - 1);
      v += ((c & 1) ? ti : 1 - ti) * (((c >> 1) & 1) ? tj : 1 - tj) * (((c >> 2) & 1) ? tk : 1 - tk) *
           ct.voxels[d.index(ii, jj, kk)];
    }
    return v;
  };

  struct Column { double post; double bottom; double top; };
  std::vector<Column> columns;
  std::vector<double> profile(std::size_t(2 * nAlong + 1));
  // Runs along a line bridge gaps of up to kRunGapMm: on fine grids the envelope of a single
  // slice can miss a column at the partial-volumed edge of the body, which cut the run short.
  const long gapSamples = long(std::floor(kRunGapMm / alongStep + 1e-6));
  for (long t = -nAcross; t <= nAcross; ++t) {
    const Vec3 base = origin + a * (double(t) * acrossStep);
    long lo = -1, hi = -1, bestLo = -1, bestHi = -1;
    for (long n = 0; n <= 2 * nAlong; ++n) {
      long i, j, k;
      const Vec3 q = base + u * (double(n - nAlong) * alongStep);
      if (voxelOf(q, i, j, k) && in(d.index(std::size_t(i), std::size_t(j), std::size_t(k)))) {
        if (lo < 0) lo = n;
        hi = n;
      } else if (lo >= 0 && n - hi > gapSamples) {
        if (hi - lo > bestHi - bestLo) { bestLo = lo; bestHi = hi; }
        lo = hi = -1;
      }
    }
    if (lo >= 0 && hi - lo > bestHi - bestLo) { bestLo = lo; bestHi = hi; }
    if (bestLo < 0) continue;
    // HU profile along the line, averaged over +-1 lateral step (the mid-sagittal band).
    for (long n = 0; n <= 2 * nAlong; ++n) {
      const Vec3 q = base + u * (double(n - nAlong) * alongStep);
      profile[std::size_t(n)] = (huAt(q - w * lateralStep) + huAt(q) + huAt(q + w * lateralStep)) / 3.0;
    }
    const std::optional<double> top = endplatePosition(profile, bestHi, +1), bottom = endplatePosition(profile, bestLo, -1);
    // A line with no endplate edge at either end (the front of the canal or fat the envelope took
    // in) measures no height.
    if (!top && !bottom) continue;
    columns.push_back({double(t) * acrossStep, bottom.value_or(double(bestLo) - 0.5) * alongStep,
                       top.value_or(double(bestHi) + 0.5) * alongStep});
  }
  // The section is one piece: columns beyond a gap across of more than kRunGapMm or one missing
  // line belong to something else the envelope took in (the front of the canal, 14 mm behind L3
  // on a 1 mm copy of TotalSegmentator's example CT, read an 18 mm "posterior height"); the
  // widest run of columns is the section. Not for a body cut by the scan: its lines lose their
  // edges where the scan ends, so its columns are not contiguous.
  if (m.complete) {
    const double maxStep = std::max(kRunGapMm, 2.0 * acrossStep) + 0.5 * acrossStep;
    std::size_t bestFrom = 0, bestTo = 0, from = 0;
    for (std::size_t n = 1; n <= columns.size(); ++n) {
      if (n < columns.size() && columns[n].post - columns[n - 1].post <= maxStep)
        continue;
      if (n - from > bestTo - bestFrom) {
        bestFrom = from;
        bestTo = n;
      }
      from = n;
    }
    columns = std::vector<Column>(columns.begin() + long(bestFrom), columns.begin() + long(bestTo));
  }
  // Columns cut short (the rounded corners, pedicle stubs) do not measure the body's height.
  double longest = 0;
  for (const Column& c : columns) longest = std::max(longest, c.top - c.bottom);
  columns.erase(std::remove_if(columns.begin(), columns.end(), [&](const Column& c) { return c.top - c.bottom < 0.5 * longest; }),
                columns.end());
  double postMin = 1e9, postMax = -1e9;
  for (const Column& c : columns) {
    postMin = std::min(postMin, c.post);
    postMax = std::max(postMax, c.post);
  }
  if (columns.size() < 3) {
    throw ProcessingError(fmt::format("measureVertebralBody: label {} has fewer than 3 columns in its mid-sagittal plane", label));
  }
  const double anterior = postMin - 0.5 * acrossStep, posterior = postMax + 0.5 * acrossStep;
  m.depthMm = posterior - anterior;
  const double depth = posterior - anterior;
  // Height at `at`: endplate lines fitted over columns within [from, to] (edge columns excluded).
  auto heightAt = [&](double at, double from, double to) {
    from = std::max(from, anterior + 1.5 * acrossStep);
    to = std::min(to, posterior - 1.5 * acrossStep);
    std::vector<double> inThird;
    for (const Column& c : columns)
      if (c.post >= from && c.post <= to)
        inThird.push_back(c.top - c.bottom);
    if (inThird.empty())
      return 0.0;
    // Columns under 0.75 x the median of their third are a rounded rim, not a wedge (a wedge's
    // anterior third stays within that of its median): on fine grids the envelope misses the
    // partial-volumed anterior-inferior corner of L5, whose short columns made the fit read
    // 18.7 mm (grade 2) on the 0.8 x 0.8 x 1.12 mm copy of TotalSegmentator's example CT.
    std::nth_element(inThird.begin(), inThird.begin() + long(inThird.size() / 2), inThird.end());
    const double shortest = kRimFractionOfMedian * inThird[inThird.size() / 2];
    LineFit heightByPosition;
    for (const Column& c : columns)
      if (c.post >= from && c.post <= to && c.top - c.bottom >= shortest)
        heightByPosition.add(c.post, c.top - c.bottom);
    if (heightByPosition.n == 0)
      return 0.0;
    // The line extrapolates to the edge (exact for a wedge); never beyond the heights it was fitted to.
    double lo = 1e9, hi = -1e9;
    for (const Column& c : columns)
      if (c.post >= from && c.post <= to && c.top - c.bottom >= shortest) {
        lo = std::min(lo, c.top - c.bottom);
        hi = std::max(hi, c.top - c.bottom);
      }
    return std::clamp(heightByPosition.at(at), lo, hi);
  };
  m.anteriorHeightMm = heightAt(anterior, anterior, anterior + depth / 3.0);
  m.middleHeightMm = heightAt(0.5 * (anterior + posterior), anterior + depth / 3.0, posterior - depth / 3.0);
  m.posteriorHeightMm = heightAt(posterior, posterior - depth / 3.0, posterior);
  return m;
}

SpineResult segmentSpine(const Volume& ct, const SpineOptions& options, Progress progress) {
  ct.geometry.validate("CT volume");
  const AxisSigns s = axialSigns(ct.geometry);
  const Dims d(ct.geometry);
  if (d.nz < 5) throw InputError(fmt::format("spine segmentation needs at least 5 slices, got {}", d.nz));
  if (options.anchorLevel.has_value() != options.anchorSeed.has_value())
    throw UsageError("spine anchoring needs both a level and a seed point");
  const double boneHu = options.boneThresholdHu;
  SpineResult result;

  progress.report(0.0, "column centre line");
  std::vector<CentrePoint> path = findCentreLine(ct, d, s);
  refineCentreLine(ct, d, boneHu, path);
  progress.report(0.25, "vertebral bodies");

  // Bodies: convex hull of each 2D bone component near the centre, in front of the canal.
  const std::size_t sliceSize = d.nx * d.ny;
  Mask bodyMask(d.count(), 0);
  for (std::size_t k = 0; k < d.nz; ++k)
    bodyEnvelopeSlice(ct, d, s, options, boneHu, k, path[k], &bodyMask[k * sliceSize]);

  // Discs along the column: valleys of the bone fraction near the centre line with bright
  // endplates close on both sides; each disc plane is then fitted to the darkest point of every
  // AP column of the mid-sagittal band (discs tilt with the lordosis), and the body voxels are
  // labelled by the interval between disc planes they fall in.
  std::vector<DiscPlane> discs = findDiscs(ct, d, path, options.bodyThresholdHu);
  result.discCount = discs.size();
  for (const DiscPlane& disc : discs)
    result.discCentres.push_back(ct.geometry.indexToPoint(Vec3{disc.point.x / d.sx, disc.point.y / d.sy, disc.point.z / d.sz}));
  std::vector<std::uint16_t> grown(d.count(), 0);
  const std::uint16_t next = std::uint16_t(discs.size() + 2);
  auto labelIntervals = [&] {
    for (std::size_t p = 0; p < grown.size(); ++p)
      grown[p] = bodyMask[p] ? intervalOf(indexMm(p, d), discs) : 0;
    keepLargestPiecePerInterval(d, next, discs, grown);
  };
  labelIntervals();
  if (alignDiscsWithColumn(ct, d, grown, discs))
    labelIntervals();
  progress.report(0.45, "levels");
  std::vector<BodyInfo> found = bodyInfos(grown, d, next);
  if (found.empty()) throw ProcessingError("spine segmentation: no vertebral body found along the column");
  std::vector<double> volumes;
  for (const BodyInfo& b : found) volumes.push_back(double(b.voxels));
  std::sort(volumes.begin(), volumes.end());
  const double typical = volumes[volumes.size() / 2];
  std::vector<BodyInfo> accepted;
  for (const BodyInfo& b : found) {
    const double ml = double(b.voxels) * d.voxelMm3() / 1000.0;
    const bool edge = b.kmin == 0 || b.kmax == long(d.nz) - 1;
    // Bodies cut by the scan edge may be small; inner fragments (endplate bits) are not bodies.
    if (ml >= 3.0 && (double(b.voxels) >= 0.3 * typical || (edge && double(b.voxels) >= 0.1 * typical)))
      accepted.push_back(b);
  }
  if (accepted.empty()) throw ProcessingError("spine segmentation: no vertebral body of plausible size found");
  // Top of the patient first.
  std::sort(accepted.begin(), accepted.end(), [&](const BodyInfo& a, const BodyInfo& b) { return a.ck * s.z > b.ck * s.z; });

  // Levels.
  std::vector<std::uint16_t> tmpToFinal(next, 0);
  long anchorIndex = -1;
  std::string anchorLevel;
  if (options.anchorLevel) {
    (void)labelOfLevel(*options.anchorLevel); // validates the name
    const Vec3 seedIndex = ct.geometry.pointToIndex(*options.anchorSeed);
    const long si = std::lround(seedIndex.x), sj = std::lround(seedIndex.y), sk = std::lround(seedIndex.z);
    double best = 1e30;
    for (std::size_t n = 0; n < accepted.size(); ++n) {
      const BodyInfo& b = accepted[n];
      double dist = norm(ct.geometry.indexToPoint(Vec3{b.ci, b.cj, b.ck}) - *options.anchorSeed);
      if (ct.geometry.containsIndex(si, sj, sk) &&
          grown[d.index(std::size_t(si), std::size_t(sj), std::size_t(sk))] == b.tmpLabel)
        dist = -1;
      if (dist < best) { best = dist; anchorIndex = long(n); }
    }
    anchorLevel = *options.anchorLevel;
    result.anchor = LevelAnchor::UserSeed;
  }
  // Sacrum: the lowest body that is continued laterally by alae, or that is much taller than the
  // bodies above it (S1-S3 are fused: no disc separates them), or below which the column ends.
  constexpr double kAlaWidthMm = 80.0;
  std::vector<double> heights;
  // Heights: the slices holding the central 90 % of a body's voxels. The full slice range of an
  // interval cut by a steep (tilted) L5/S1 plane takes in a thin wedge below the disc's centre:
  // L5 reached 1.4 x the height of the bodies above on a 1 mm copy of a 3 mm CT.
  {
    std::vector<std::vector<std::size_t>> perSlice(next, std::vector<std::size_t>(d.nz, 0));
    for (std::size_t p = 0; p < grown.size(); ++p)
      if (grown[p]) ++perSlice[grown[p]][p / sliceSize];
    for (const BodyInfo& b : accepted) {
      const std::vector<std::size_t>& counts = perSlice[b.tmpLabel];
      std::size_t seen = 0;
      long k05 = b.kmin, k95 = b.kmax;
      bool low = false;
      for (long k = b.kmin; k <= b.kmax; ++k) {
        seen += counts[std::size_t(k)];
        if (!low && double(seen) >= 0.05 * double(b.voxels)) { k05 = k; low = true; }
        if (double(seen) >= 0.95 * double(b.voxels)) { k95 = k; break; }
      }
      heights.push_back(double(k95 - k05 + 1) * d.sz);
    }
  }
  auto medianHeightAbove = [&](std::size_t n) {
    std::vector<double> h(heights.begin(), heights.begin() + long(n));
    if (h.size() < 2) return 0.0;
    std::nth_element(h.begin(), h.begin() + long(h.size() / 2), h.end());
    return h[h.size() / 2];
  };
  // Why a body is taken for the top of the sacrum; by its height alone it may also be L5 and S1
  // merged across a missed disc (see below).
  enum class SacralSign { None, Alae, Height, ColumnEnds };
  auto sacral = [&](std::size_t n) {
    const BodyInfo& b = accepted[n];
    if (b.kmin == 0 || b.kmax == long(d.nz) - 1)
      return SacralSign::None; // cut by the scan: height unknown
    if (alaWidthMm(ct, d, b, boneHu) >= kAlaWidthMm)
      return SacralSign::Alae;
    // The spine does not end below a lumbar body: a lowest body with 40 mm of scan below it and
    // no body there is the top of the sacrum.
    const bool lowest = n + 1 == accepted.size();
    const double scanBelowMm = double(s.z > 0 ? b.kmin : long(d.nz) - 1 - b.kmax) * d.sz;
    if (lowest && scanBelowMm >= 40.0)
      return SacralSign::ColumnEnds;
    const double above = medianHeightAbove(n);
    return above > 0 && heights[n] >= 1.4 * above ? SacralSign::Height : SacralSign::None;
  };
  long sacrumIndex = -1;
  SacralSign sacralSign = SacralSign::None;
  for (long n = 0; n < long(accepted.size()) && sacrumIndex < 0; ++n)
    if ((sacralSign = sacral(std::size_t(n))) != SacralSign::None)
      sacrumIndex = n;
  if (sacrumIndex >= 0) {
    // Below S1 only bone joined to it belongs to the sacrum; other finds there are pelvic bone.
    std::vector<BodyInfo> kept(accepted.begin(), accepted.begin() + sacrumIndex + 1);
    long lowestK = s.z > 0 ? accepted[std::size_t(sacrumIndex)].kmin : accepted[std::size_t(sacrumIndex)].kmax;
    for (std::size_t n = std::size_t(sacrumIndex) + 1; n < accepted.size(); ++n) {
      const BodyInfo& b = accepted[n];
      const long gapSlices = s.z > 0 ? lowestK - b.kmax : b.kmin - lowestK;
      if (double(gapSlices) * d.sz > 6.0) break;
      kept.push_back(b);
      lowestK = s.z > 0 ? b.kmin : b.kmax;
    }
    accepted = kept;
  }
  long ribIndex = -1;
  for (long n = long(accepted.size()) - 1; n >= 0; --n) {
    if (sacrumIndex >= 0 && n >= sacrumIndex) continue;
    if (bearsRibs(ct, d, s, accepted[std::size_t(n)], path, boneHu)) { ribIndex = n; break; }
  }
  std::vector<bool> complete;
  for (const BodyInfo& b : accepted)
    complete.push_back(b.kmin > 0 && b.kmax < long(d.nz) - 1);
  const std::vector<int> held =
      levelsHeldByHeight(std::vector<double>(heights.begin(), heights.begin() + long(accepted.size())), complete);
  // A sacrum known by its height alone is as tall as L5 and S1 merged across a missed L5/S1 disc
  // (the 6 mm phantom: 66 mm, where its true L5 was named S1). Where bodies above are merged too,
  // discs are being missed on this scan: the ribs, if in view, anchor the count instead; without
  // them every level is doubtful.
  bool everyLevelDoubtful = false;
  if (anchorIndex < 0 && sacralSign == SacralSign::Height &&
      std::any_of(held.begin(), held.begin() + sacrumIndex, [](int h) { return h > 1; })) {
    const std::string why =
        fmt::format("the lowest body ({:.0f} mm) is as tall as a fused sacrum and as L5 and S1 merged "
                    "across a missed disc, and bodies above it are merged too",
                    heights[std::size_t(sacrumIndex)]);
    if (ribIndex >= 0) {
      result.warnings.push_back(why + ": the levels are counted down from the lowest ribs (T12) instead");
      sacrumIndex = -1;
    } else {
      result.warnings.push_back(why + ": the levels counted up from it as S1 are doubtful");
      everyLevelDoubtful = true;
    }
  }
  if (anchorIndex < 0) {
    if (sacrumIndex >= 0) {
      anchorIndex = sacrumIndex;
      anchorLevel = "S1";
      result.anchor = LevelAnchor::Sacrum;
    } else if (ribIndex >= 0) {
      anchorIndex = ribIndex;
      anchorLevel = "T12";
      result.anchor = LevelAnchor::LowestRib;
    } else {
      throw NoLevelAnchorError(
          "spine segmentation: neither the sacrum nor ribs are in view, so the vertebral levels cannot be "
          "counted; give the level of one vertebra with --level and --seed");
    }
  }
  // Levels from the top of the column to each body's top: counted down from the ribs, a merged body
  // holds as many levels as its height does (its label is the highest of them).
  std::vector<int> levelsAbove(accepted.size() + 1, 0);
  for (std::size_t n = 0; n < accepted.size(); ++n)
    levelsAbove[n + 1] = levelsAbove[n] + (result.anchor == LevelAnchor::LowestRib ? held[n] : 1);
  for (std::size_t n = 0; n < accepted.size(); ++n) {
    const int steps = levelsAbove[std::size_t(anchorIndex)] - levelsAbove[n]; // positive: above the anchor
    std::string level = levelAbove(anchorLevel, steps);
    if (level.empty() && steps < 0 && (anchorLevel == "S1" || levelAbove(anchorLevel, steps + 1) == "S1" || sacrumIndex >= 0))
      level = "S1"; // sacral segments below S1 belong to the sacrum
    if (level.empty()) {
      result.warnings.push_back(fmt::format("a body {} levels from {} has no level name; left out", steps, anchorLevel));
      continue;
    }
    accepted[n].level = level;
    tmpToFinal[accepted[n].tmpLabel] = labelOfLevel(level);
  }
  if (ribIndex >= 0) {
    result.lowestRibBearingLevel = accepted[std::size_t(ribIndex)].level;
    // Counted from the sacrum, a lumbar answer is expected noise (the 12th rib slopes down past L1,
    // the iliac wings reach L4): only a thoracic level other than T12 questions the count.
    const bool thoracic = result.lowestRibBearingLevel.rfind('T', 0) == 0;
    if (result.anchor != LevelAnchor::LowestRib && thoracic && result.lowestRibBearingLevel != "T12")
      result.warnings.push_back(fmt::format("the lowest body with ribs on both sides at its height is {}, not T12: check the "
                                            "count (ribs slope downwards, a lumbar rib or a sacralised L5 changes it)",
                                            result.lowestRibBearingLevel));
  }
  std::optional<SacralBand> sacralBand;
  {
    // The first sacral body (the highest body labelled S1) and the lumbar bodies, L5 first.
    std::uint16_t s1Tmp = 0;
    std::vector<std::uint16_t> lumbarTmp;
    for (const BodyInfo& b : accepted)
      if (b.level == "S1" && !s1Tmp)
        s1Tmp = b.tmpLabel;
    for (const char* level : {"L5", "L4", "L3", "L2", "L1"})
      for (const BodyInfo& b : accepted)
        if (b.level == level)
          lumbarTmp.push_back(b.tmpLabel);
    if (!lumbarTmp.empty() && tmpToFinal[lumbarTmp.front()] == labelOfLevel("L5"))
      recentreLowestLumbarBody(ct, d, s, options, boneHu, discs, lumbarTmp.front(),
                               std::vector<std::uint16_t>(lumbarTmp.begin() + 1, lumbarTmp.end()), path, grown);
    if (s1Tmp && !lumbarTmp.empty() && tmpToFinal[lumbarTmp.front()] == labelOfLevel("L5"))
      sacralBand = recentreFirstSacralBody(ct, d, s, options, boneHu, discs, s1Tmp, lumbarTmp, path, grown);
  }
  progress.report(0.6, "whole vertebrae");

  result.bodies = LabelMap(ct.geometry, 0);
  for (std::size_t p = 0; p < grown.size(); ++p)
    if (grown[p]) result.bodies.voxels[p] = tmpToFinal[grown[p]];
  // The sacrum runs down the midline and curves backwards: where the centre line below the top of
  // S1 has moved more than 20 mm sideways or forwards, it has left the sacrum (for the ilium or
  // the pubis, which fine grids show as bone-filled boxes too); S1 ends there.
  {
    const std::uint16_t s1 = labelOfLevel("S1");
    long top = -1;
    for (std::size_t k = 0; k < d.nz; ++k) {
      const long kk = s.z > 0 ? long(d.nz) - 1 - long(k) : long(k); // from the head down
      for (std::size_t q = 0; q < sliceSize && top < 0; ++q)
        if (result.bodies.voxels[std::size_t(kk) * sliceSize + q] == s1) top = kk;
      if (top >= 0) break;
    }
    if (top >= 0) {
      bool left = false;
      for (long k = top; k >= 0 && k < long(d.nz); k += s.z > 0 ? -1 : 1) {
        const CentrePoint& c = path[std::size_t(k)];
        const double lateral = std::abs(c.i - path[std::size_t(top)].i) * d.sx;
        const double forwards = -(c.j - path[std::size_t(top)].j) * d.sy * s.y;
        left = left || lateral > 20.0 || forwards > 20.0;
        if (!left) continue;
        for (std::size_t q = 0; q < sliceSize; ++q)
          if (result.bodies.voxels[std::size_t(k) * sliceSize + q] == s1) result.bodies.voxels[std::size_t(k) * sliceSize + q] = 0;
      }
    }
  }

  // Each body is measured along the column's axis at its level: the line from the centroid of the
  // body below to that of the body above (its own centroid at the top or bottom end). The sacrum
  // bends away from L5 (and our S1 centroid lies off the column where the ala pulls the centre
  // line), so S1 is nobody's neighbour and keeps the line through its own slice centroids. A body's
  // own slice centroids are pulled by the irregular envelope: on an oblique grid the slices are
  // clipped by an endplate at one side, which halved the tilt on the double-oblique phantom.
  std::map<std::uint16_t, std::pair<Vec3, double>> centroidSums;
  for (std::size_t p = 0; p < result.bodies.voxels.size(); ++p)
    if (const std::uint16_t l = result.bodies.voxels[p]) {
      auto& [sum, n] = centroidSums[l];
      sum += Vec3{double(p % d.nx), double((p / d.nx) % d.ny), double(p / (d.nx * d.ny))};
      n += 1;
    }
  const std::uint16_t s1Label = labelOfLevel("S1");
  auto centroidOf = [&](std::uint16_t l) -> std::optional<Vec3> {
    const auto it = centroidSums.find(l);
    if (it == centroidSums.end() || l <= s1Label) return std::nullopt;
    return ct.geometry.indexToPoint(it->second.first / it->second.second);
  };
  auto columnAxis = [&](std::uint16_t label) -> std::optional<Vec3> {
    const std::optional<Vec3> own = centroidOf(label), above = centroidOf(std::uint16_t(label + 1)),
                              below = centroidOf(std::uint16_t(label - 1));
    if (!own || (!above && !below)) return std::nullopt;
    return normalized((above ? *above : *own) - (below ? *below : *own));
  };

  // The first sacral segment (TotalSegmentator's S1) apart from the rest of the sacrum: its height
  // is L5's (undeformed, complete) mean body height, else options.s1SegmentHeightMm.
  double s1HeightMm = options.s1SegmentHeightMm;
  const std::uint16_t l5 = labelOfLevel("L5");
  if (std::find(result.bodies.voxels.begin(), result.bodies.voxels.end(), l5) != result.bodies.voxels.end()) {
    try {
      // L5's height along its own slice-centroid line, as before issue 6: along the L4-L5 axis the
      // segment came out 2.3 mm taller on TotalSegmentator's example CT (S1 Dice 0.678 -> 0.672).
      const VertebraMeasurement m = measureVertebralBody(ct, result.bodies, l5);
      const double hmin = std::min({m.anteriorHeightMm, m.middleHeightMm, m.posteriorHeightMm});
      const double hmax = std::max({m.anteriorHeightMm, m.middleHeightMm, m.posteriorHeightMm});
      if (m.complete && hmax > 0 && hmin / hmax >= 0.85) s1HeightMm = (m.anteriorHeightMm + m.middleHeightMm + m.posteriorHeightMm) / 3.0;
    } catch (const ProcessingError&) {
      // L5 too small to measure: the default height
    }
  }
  const SacralCut sacralCut = cutFirstSacralSegment(d, s, discs, s1HeightMm, result.bodies.voxels);

  // Whole vertebrae: bodies compete for the bone within the slab around the centre line.
  Mask allowed(d.count(), 0);
  for (std::size_t k = 0; k < d.nz; ++k)
    for (std::size_t j = 0; j < d.ny; ++j)
      for (std::size_t i = 0; i < d.nx; ++i) {
        const std::size_t p = d.index(i, j, k);
        const double dx = (double(i) - path[k].i) * d.sx, dy = (double(j) - path[k].j) * d.sy * s.y;
        allowed[p] = (result.bodies.voxels[p] != 0 ||
                      (ct.voxels[p] >= boneHu && std::abs(dx) <= options.maxLateralMm && dy >= -40.0 && dy <= 80.0))
                         ? 1 : 0;
      }
  result.vertebrae.geometry = ct.geometry;
  const double superiorCost = std::max(1.0, options.superiorStepCost);
  result.vertebrae.voxels = detail::growLabelsGeodesic(result.bodies.voxels, allowed, d, s.z > 0 ? superiorCost : 1.0,
                                                       s.z > 0 ? 1.0 : superiorCost);
  competeLumbosacralArch(d, result.bodies.voxels, result.vertebrae.voxels);
  giveSacralSideOfTheDiscToS1(d, sacralCut, result.bodies.voxels, result.vertebrae.voxels);
  splitSacralArch(d, sacralCut, result.bodies.voxels, sacralBand, options.s1LateralMarginMm,
                  s.z > 0 ? superiorCost : 1.0, s.z > 0 ? 1.0 : superiorCost, result.vertebrae.voxels);
  if (sacralBand)
    squareFirstSacralVertebra(d, sacralCut, *sacralBand, result.vertebrae.voxels);
  // Ribs: thoracic levels (T12 = 32 ... T1 = 43) end laterally before the rib heads.
  const std::uint16_t lowestThoracic = labelOfLevel("T12"), highestThoracic = labelOfLevel("T1");
  for (std::size_t p = 0; p < result.vertebrae.voxels.size(); ++p) {
    const std::uint16_t l = result.vertebrae.voxels[p];
    if (l < lowestThoracic || l > highestThoracic || result.bodies.voxels[p]) continue;
    const std::size_t k = p / sliceSize;
    if (std::abs(double(p % d.nx) - path[k].i) * d.sx > options.thoracicMaxLateralMm) result.vertebrae.voxels[p] = 0;
  }
  closeVertebrae(ct, d, result.vertebrae.voxels);
  peelPartialVolume(ct, d, options.bodyThresholdHu, result.vertebrae.voxels);
  progress.report(0.8, "measurements");

  std::map<std::uint16_t, std::size_t> vertebraVoxels;
  for (std::uint16_t l : result.vertebrae.voxels)
    if (l) ++vertebraVoxels[l];
  std::vector<std::uint16_t> done;
  for (const BodyInfo& b : accepted) {
    const std::uint16_t label = tmpToFinal[b.tmpLabel];
    if (!label || std::find(done.begin(), done.end(), label) != done.end()) continue;
    done.push_back(label);
    VertebraMeasurement m = measureVertebralBody(ct, result.bodies, label, columnAxis(label));
    m.vertebraVolumeMl = double(vertebraVoxels[label]) * d.voxelMm3() / 1000.0;
    result.levels.push_back(m);
  }
  gradeHeightLoss(result.levels);
  for (std::size_t n = 0; n < result.levels.size(); ++n)
    if (const std::string why = implausibleBodySize(result.levels, n); !why.empty())
      result.warnings.push_back(fmt::format("{}: {}: probably several bodies merged (a disc not found, e.g. on thick "
                                            "slices); it is not graded nor a neighbour's reference, and the level "
                                            "count past it is doubtful",
                                            result.levels[n].level, why));
  markDoubtfulLevels(result.levels, anchorLevel);
  if (everyLevelDoubtful)
    for (VertebraMeasurement& v : result.levels)
      v.levelDoubtful = true;
  if (const std::string why = implausibleSpine(result.levels); !why.empty())
    throw ProcessingError("no spine found: " + why);
  for (std::size_t k = 0; k < d.nz; ++k) result.centreLine.push_back(ct.geometry.indexToPoint(Vec3{path[k].i, path[k].j, double(k)}));
  progress.report(1.0);
  return result;
}

} // namespace lesion::spine
