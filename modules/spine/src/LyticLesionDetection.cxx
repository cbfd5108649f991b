// Osteolytic lesions inside the vertebral bodies found by segmentSpine.
//
// Per body: the envelope is the body mask (convex hull per slice, so it spans cortical breaks and
// the lesion itself). The trabecular reference is the median HU of the envelope eroded by 2 mm;
// voxels whose 3x3x3 mean is below min(reference - contrast, (reference + soft tissue) / 2) form
// candidates. Rules against normal variants: volume (>= 0.3 mL), thickness (the basivertebral vein
// channel is a thin posterior midline channel), density (focal fat is below -30 HU, not lytic),
// and a body-wide mild lowering (fatty marrow, osteopenia) lowers the reference itself. The
// soft-tissue part beyond a cortical breach follows a quadric fitted to the lesion surface where
// it is still inside the bone (expansile lesions are round), limited to soft-tissue densities.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "SpineImageOps.h"
#include "lesion/core/Error.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/spine/LyticLesionDetection.h"

namespace lesion::spine {
namespace {

using detail::Dims;
using detail::Mask;

struct Box {
  long i0, i1, j0, j1, k0, k1;
};

/// Solves the n x n system a x = b (row-major, partial pivoting); false when singular.
bool solve(std::vector<double> a, std::vector<double> b, std::size_t n, std::vector<double>& x) {
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
    if (std::abs(a[piv * n + c]) < 1e-12) return false;
    if (piv != c) {
      for (std::size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[piv * n + k]);
      std::swap(b[c], b[piv]);
    }
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0.0);
  for (std::size_t r = n; r-- > 0;) {
    double s = b[r];
    for (std::size_t k = r + 1; k < n; ++k) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return true;
}

/// Quadric q(v) = a x^2 + b y^2 + c z^2 + d xy + e xz + f yz + g x + h y + i z = 1 about a centre.
struct Quadric {
  std::array<double, 9> w{};
  bool valid{false};
  /// Positive distance along unit u where the quadric is crossed; 0 when it is not.
  [[nodiscard]] double radius(const Vec3& u) const {
    const double A = w[0] * u.x * u.x + w[1] * u.y * u.y + w[2] * u.z * u.z + w[3] * u.x * u.y + w[4] * u.x * u.z +
                     w[5] * u.y * u.z;
    const double B = w[6] * u.x + w[7] * u.y + w[8] * u.z;
    if (A <= 1e-12) return 0.0;
    const double disc = B * B + 4.0 * A;
    return (-B + std::sqrt(disc)) / (2.0 * A);
  }
};

Quadric fitQuadric(const std::vector<Vec3>& points) {
  Quadric q;
  if (points.size() < 20) return q;
  std::vector<double> ata(81, 0.0), atb(9, 0.0);
  for (const Vec3& p : points) {
    const std::array<double, 9> r{p.x * p.x, p.y * p.y, p.z * p.z, p.x * p.y, p.x * p.z, p.y * p.z, p.x, p.y, p.z};
    for (std::size_t a = 0; a < 9; ++a) {
      atb[a] += r[a];
      for (std::size_t b = 0; b < 9; ++b) ata[a * 9 + b] += r[a] * r[b];
    }
  }
  std::vector<double> x;
  if (!solve(ata, atb, 9, x)) return q;
  std::copy(x.begin(), x.end(), q.w.begin());
  // An ellipsoid needs a positive definite quadratic part; check the diagonal and the 2x2 minors.
  q.valid = q.w[0] > 0 && q.w[1] > 0 && q.w[2] > 0 && 4 * q.w[0] * q.w[1] > q.w[3] * q.w[3] &&
            4 * q.w[0] * q.w[2] > q.w[4] * q.w[4] && 4 * q.w[1] * q.w[2] > q.w[5] * q.w[5];
  return q;
}

std::vector<Vec3> sphereDirections(int n) {
  std::vector<Vec3> dirs;
  for (int i = 0; i < n; ++i) {
    const double z = 1.0 - (2.0 * i + 1.0) / n, r = std::sqrt(1.0 - z * z), phi = i * 2.399963229728653;
    dirs.push_back({r * std::cos(phi), r * std::sin(phi), z});
  }
  return dirs;
}

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

/// The soft-tissue part reaches at most this factor times the largest radius the lesion has inside
/// the bone: the quadric is an extrapolation, and muscle next to the bone has the same density.
constexpr double kMaxRadiusFactor = 1.15;

/// A voxel lies along an endplate when its centre is within this distance of the envelope's top or
/// bottom surface along the slice axis: one 3 mm slice, two 2 mm or three 1-1.12 mm slices (a fixed
/// count of slices made the band, and the fraction below, shrink with the slice thickness).
constexpr double kEndplateBandMm = 3.0;

/// The contrast that enters the confidence is measured over the lesion plus a shell of this width
/// inside the envelope: the partial-volume boundary a 3 mm voxel averages in. On finer grids the
/// mean of the below-threshold voxels alone is biased low by the trabecular texture (the darkest
/// voxels are the ones selected), which made faint regions confident there only.
constexpr double kContrastShellMm = 1.5;

/// Fraction of the region's voxels within kEndplateBandMm of the envelope's top or bottom surface.
double endplateFraction(const std::vector<std::uint16_t>& region, const Mask& envelope, const Dims& d) {
  std::size_t total = 0, near = 0;
  const std::size_t slice = d.nx * d.ny;
  // m slices to the first one outside: the voxel centre is (m - 0.5) slices from the surface.
  const long band = std::max(1L, long(std::floor(kEndplateBandMm / d.sz + 0.5 + 1e-6)));
  for (std::size_t q = 0; q < region.size(); ++q) {
    if (!region[q]) continue;
    ++total;
    const long k = long(q / slice);
    bool edge = false;
    for (long m = 1; m <= band && !edge; ++m)
      for (long dk : {-m, m}) {
        const long kk = k + dk;
        if (kk < 0 || kk >= long(d.nz) || !envelope[std::size_t(long(q) + dk * long(slice))]) edge = true;
      }
    near += edge ? 1 : 0;
  }
  return total ? double(near) / double(total) : 0.0;
}

/// A border voxel is taken as lesion partial volume only when it lies this many SDs of the body's
/// bone below the trabecular level: pure bone rarely gets there (about 1 voxel in 700).
constexpr double kBoneSpreadSds = 3.0;

/// Adds one layer (26-neighbours inside the envelope) of partial-volume voxels to the grown lesion;
/// only one, because porotic trabecular bone reaches low values too. A voxel is taken when its
/// value is within the lesion's own spread (mean + 1 SD, at most `halfwayHu`: half-way between the
/// core and the trabecular bone), or when it is nearer the lesion's median than `trabecularHu`
/// (more than half lesion, with trabecular bone as the rest) and at least kBoneSpreadSds x
/// `boneSd` below `trabecularHu`. The second rule reaches the true border where the bone is uniform (the
/// phantom) and adds nothing where the trabecular texture is as wide as the contrast. Next to the
/// cortex the half-way mark stays the trabecular one: a voxel of lesion, trabecular bone and
/// cortex is not judged against the cortex.
void addPartialVolumeBorder(std::vector<std::uint16_t>& lesion, const Mask& envelope, const std::vector<float>& hu,
                            const Dims& d, double halfwayHu, double trabecularHu, double boneSd) {
  std::vector<float> values;
  double sum = 0, sum2 = 0;
  for (std::size_t q = 0; q < d.count(); ++q)
    if (lesion[q]) {
      values.push_back(hu[q]);
      sum += hu[q];
      sum2 += double(hu[q]) * hu[q];
    }
  if (values.empty())
    return;
  const double n = double(values.size());
  const double spread = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  const double ownSpreadHu = std::min(sum / n + spread, halfwayHu);
  const double partialVolumeHu =
      std::min(0.5 * (quantileOf(std::move(values), 0.5) + trabecularHu), trabecularHu - kBoneSpreadSds * boneSd);
  const double limit = std::max(ownSpreadHu, partialVolumeHu);
  std::vector<std::size_t> taken;
  for (std::size_t q = 0; q < d.count(); ++q) {
    if (lesion[q] || !envelope[q] || hu[q] >= limit)
      continue;
    bool touches = false;
    detail::forEachNeighbour26(q, d, [&](std::size_t r, long, long, long) { touches = touches || lesion[r] != 0; });
    if (touches)
      taken.push_back(q);
  }
  for (std::size_t q : taken)
    lesion[q] = 1;
}

} // namespace

LyticResult detectLyticLesions(const Volume& ct, const SpineResult& spine, const LyticOptions& options, Progress progress) {
  if (!ct.geometry.sameGrid(spine.bodies.geometry))
    throw InputError("detectLyticLesions: the CT and the spine segmentation are on different grids");
  const ImageGeometry& g = ct.geometry;
  const Dims d(g);
  const double voxelMl = d.voxelMm3() / 1000.0;
  const double minSpacing = std::min({d.sx, d.sy, d.sz});
  LyticResult result;
  result.lesions = LabelMap(g, 0);
  result.components = LabelMap(g, 0);
  const double boneHu = 180.0;

  // Mean of the 3x3x3 neighbourhood (within the grid): suppresses noise before thresholding.
  auto smoothed = [&](long i, long j, long k) {
    double s = 0;
    int n = 0;
    for (long dk = -1; dk <= 1; ++dk)
      for (long dj = -1; dj <= 1; ++dj)
        for (long di = -1; di <= 1; ++di) {
          const long a = i + di, b = j + dj, c = k + dk;
          if (!g.containsIndex(a, b, c)) continue;
          s += ct.voxels[d.index(std::size_t(a), std::size_t(b), std::size_t(c))];
          ++n;
        }
    return s / n;
  };

  // Bounding boxes of all bodies in one pass.
  std::map<std::uint16_t, Box> bodyBoxes;
  for (std::size_t p = 0; p < spine.bodies.voxels.size(); ++p) {
    const std::uint16_t l = spine.bodies.voxels[p];
    if (!l) continue;
    const long i = long(p % d.nx), j = long((p / d.nx) % d.ny), k = long(p / (d.nx * d.ny));
    auto [it, fresh] = bodyBoxes.try_emplace(l, Box{i, i, j, j, k, k});
    Box& b = it->second;
    b = {std::min(b.i0, i), std::max(b.i1, i), std::min(b.j0, j), std::max(b.j1, j), std::min(b.k0, k), std::max(b.k1, k)};
  }
  std::size_t done = 0;
  int nextId = 1;
  for (const VertebraMeasurement& level : spine.levels) {
    progress.report(double(done++) / double(std::max<std::size_t>(1, spine.levels.size())), level.level);
    if (!options.levels.empty() && std::find(options.levels.begin(), options.levels.end(), level.level) == options.levels.end())
      continue;
    // Bounding box of the body, with a margin for the soft-tissue part.
    const auto found = bodyBoxes.find(level.label);
    if (found == bodyBoxes.end()) continue;
    Box box = found->second;
    const long mi = std::lround(25.0 / d.sx), mj = std::lround(25.0 / d.sy), mk = std::lround(6.0 / d.sz);
    box = {std::max(0L, box.i0 - mi), std::min(long(d.nx) - 1, box.i1 + mi), std::max(0L, box.j0 - mj),
           std::min(long(d.ny) - 1, box.j1 + mj), std::max(0L, box.k0 - mk), std::min(long(d.nz) - 1, box.k1 + mk)};
    // Local sub-grid.
    ImageGeometry lg;
    lg.size = {std::size_t(box.i1 - box.i0 + 1), std::size_t(box.j1 - box.j0 + 1), std::size_t(box.k1 - box.k0 + 1)};
    lg.spacing = g.spacing;
    lg.direction = g.direction;
    lg.origin = g.indexToPoint(Vec3{double(box.i0), double(box.j0), double(box.k0)});
    const Dims ld(lg);
    auto global = [&](std::size_t q) {
      const std::size_t i = q % ld.nx, j = (q / ld.nx) % ld.ny, k = q / (ld.nx * ld.ny);
      return d.index(std::size_t(box.i0) + i, std::size_t(box.j0) + j, std::size_t(box.k0) + k);
    };
    Mask envelope(ld.count(), 0);
    std::vector<float> hu(ld.count()), smooth(ld.count());
    for (std::size_t q = 0; q < ld.count(); ++q) {
      const std::size_t p = global(q);
      envelope[q] = spine.bodies.voxels[p] == level.label ? 1 : 0;
      hu[q] = ct.voxels[p];
      const std::size_t i = q % ld.nx, j = (q / ld.nx) % ld.ny, k = q / (ld.nx * ld.ny);
      smooth[q] = float(smoothed(box.i0 + long(i), box.j0 + long(j), box.k0 + long(k)));
    }
    const auto depth2 = detail::squaredDistanceToBackground(envelope, ld);
    std::vector<float> interiorValues;
    for (std::size_t q = 0; q < ld.count(); ++q)
      if (depth2[q] > 4.0f) interiorValues.push_back(hu[q]);
    if (double(interiorValues.size()) * ld.voxelMm3() < 1000.0) continue; // too small to judge
    const double reference = quantileOf(interiorValues, 0.5);
    const double threshold = std::min(reference - options.minContrastHu, 0.5 * (reference + options.softTissueHu));
    // Spread of the body's bone (noise and trabecular texture), the low regions left out.
    std::vector<float> boneValues;
    for (std::size_t q = 0; q < ld.count(); ++q)
      if (depth2[q] > 4.0f && smooth[q] >= threshold)
        boneValues.push_back(hu[q]);
    const double boneSd = robustSpreadOf(std::move(boneValues)).sd;

    // Candidate cores: at least two voxels deep (the outer voxels mix bone with the disc, fat
    // and muscle around it).
    const double coreDepth = std::max(2.0, 1.01 * std::max({ld.sx, ld.sy, ld.sz}));
    Mask low(ld.count(), 0);
    for (std::size_t q = 0; q < ld.count(); ++q)
      low[q] = envelope[q] && depth2[q] > coreDepth * coreDepth && smooth[q] < threshold ? 1 : 0;
    const detail::Components cc = detail::connectedComponents(low, ld, true);
    const auto lowDepth2 = detail::squaredDistanceToBackground(low, ld);
    // Cores joined through darker-than-threshold voxels grow into the same lesion: only the first
    // of them makes a candidate (the others would list it again).
    Mask claimed(ld.count(), 0);
    for (std::size_t c = 1; c < cc.sizes.size(); ++c) {
      const double coreMl = double(cc.sizes[c]) * voxelMl;
      if (coreMl < 0.5 * options.minVolumeMl) continue; // specks: not even listed
      bool seen = false;
      for (std::size_t q = 0; q < ld.count() && !seen; ++q) seen = cc.labels[q] == std::int32_t(c) && claimed[q];
      if (seen) continue;
      // Grow the core within the envelope (up to the cortex) into voxels darker than half-way
      // between the core and the trabecular bone: the boundary voxels are partial volumes.
      std::vector<std::uint16_t> seed(ld.count(), 0);
      double maxDepth2 = 0, coreSum = 0;
      std::size_t coreCount = 0;
      for (std::size_t q = 0; q < ld.count(); ++q)
        if (cc.labels[q] == std::int32_t(c)) {
          seed[q] = 1;
          maxDepth2 = std::max(maxDepth2, double(lowDepth2[q]));
          coreSum += smooth[q];
          ++coreCount;
        }
      Mask allowedInside(ld.count(), 0);
      for (std::size_t q = 0; q < ld.count(); ++q) allowedInside[q] = envelope[q] && smooth[q] < threshold ? 1 : 0;
      auto lesionInside = detail::growLabels(seed, allowedInside, ld);
      addPartialVolumeBorder(lesionInside, envelope, hu, ld, 0.5 * (coreSum / double(coreCount) + reference), reference,
                             boneSd);
      Mask lytic(ld.count(), 0); // the intraosseous (lytic) part as a mask
      for (std::size_t q = 0; q < ld.count(); ++q) {
        lytic[q] = lesionInside[q] ? 1 : 0;
        if (lesionInside[q]) claimed[q] = 1;
      }
      // Thickness of the whole intraosseous part (the core may be thin when the lesion sits at the cortex).
      {
        const auto wholeDepth2 = detail::squaredDistanceToBackground(lytic, ld);
        for (std::size_t q = 0; q < ld.count(); ++q) maxDepth2 = std::max(maxDepth2, double(wholeDepth2[q]));
      }

      LyticLesion lesion;
      lesion.level = level.level;
      lesion.trabecularReferenceHu = reference;
      const double thickness = 2.0 * std::sqrt(maxDepth2) - minSpacing;
      double sumHu = 0;
      std::size_t lyticCount = 0;
      Vec3 centre{};
      std::vector<float> insideHu;
      for (std::size_t q = 0; q < ld.count(); ++q)
        if (lesionInside[q]) {
          sumHu += hu[q];
          insideHu.push_back(hu[q]);
          ++lyticCount;
          centre += Vec3{double(q % ld.nx), double((q / ld.nx) % ld.ny), double(q / (ld.nx * ld.ny))};
        }
      centre = centre / double(lyticCount);
      lesion.meanHu = sumHu / double(lyticCount);
      lesion.lyticVolumeMl = double(lyticCount) * voxelMl;
      // Contrast for the confidence: the larger of two estimates, each diluting a different lesion.
      // Over the lesion and its partial-volume shell (kContrastShellMm): a small lesion on a fine
      // grid is half shell (a 12 mm ball at 1 mm read 56-97 HU of its 160). The core's 3x3x3 mean:
      // a thin lesion on thick slices is averaged with the bone above and below. Neither is the raw
      // mean of the selected voxels, which the trabecular texture biases low on fine grids.
      double contrast = reference - coreSum / double(coreCount);
      {
        const Mask shell = detail::dilate(lytic, ld, kContrastShellMm);
        double sum = 0;
        std::size_t n = 0;
        for (std::size_t q = 0; q < ld.count(); ++q)
          if (shell[q] && envelope[q]) { sum += hu[q]; ++n; }
        contrast = std::max(contrast, reference - (n ? sum / double(n) : lesion.meanHu));
      }

      // Normal-variant rules.
      const double medianHu = quantileOf(std::move(insideHu), 0.5);
      std::string rejected;
      if (lesion.lyticVolumeMl < options.minVolumeMl)
        rejected = fmt::format("smaller than {} mL", options.minVolumeMl);
      else if (thickness < options.minThicknessMm)
        rejected = fmt::format("thinner than {} mm (vascular channel)", options.minThicknessMm);
      else if (medianHu < -30.0) // the median: the grown partial-volume border averages fat with bone
        rejected = "fat density (focal fatty marrow)";
      else if (endplateFraction(lesionInside, envelope, ld) > 0.4)
        rejected = "lies along an endplate (disc, Schmorl node or partial volume)";
      else {
        const Vec3 at = lg.indexToPoint(centre);
        const Vec3 offset = at - level.bodyCentroid;
        if (lesion.lyticVolumeMl < options.veinChannelMaxVolumeMl && std::abs(offset.x) < 8.0 && offset.y > 0.15 * level.depthMm)
          rejected = "posterior midline channel (basivertebral vein)";
      }

      // Soft-tissue part: march from the centre; surface points inside the bone fit a quadric,
      // directions that leave the envelope through the lesion are the breach.
      const Vec3 centreMm{centre.x * ld.sx, centre.y * ld.sy, centre.z * ld.sz};
      auto inLesion = [&](const Vec3& pMm, bool& outsideEnvelope) {
        const long i = std::lround(pMm.x / ld.sx), j = std::lround(pMm.y / ld.sy), k = std::lround(pMm.z / ld.sz);
        if (i < 0 || j < 0 || k < 0 || i >= long(ld.nx) || j >= long(ld.ny) || k >= long(ld.nz)) {
          outsideEnvelope = true;
          return false;
        }
        const std::size_t q = ld.index(std::size_t(i), std::size_t(j), std::size_t(k));
        outsideEnvelope = !envelope[q];
        return lesionInside[q] != 0;
      };
      const auto dirs = sphereDirections(400);
      std::vector<double> rExit(dirs.size(), 0.0);
      std::vector<bool> truncated(dirs.size(), false);
      std::vector<Vec3> surface;
      const double stepMm = 0.25 * minSpacing;
      for (std::size_t n = 0; n < dirs.size(); ++n) {
        double r = 0;
        bool outside = false;
        while (r < 80.0) {
          const double rn = r + stepMm;
          if (!inLesion(centreMm + dirs[n] * rn, outside)) break;
          r = rn;
        }
        rExit[n] = r;
        truncated[n] = outside;
        if (!outside) surface.push_back(dirs[n] * r);
      }
      // Breach: lesion voxels on the envelope surface with no bone outside them.
      std::size_t breachFaces = 0;
      for (std::size_t q = 0; q < ld.count(); ++q) {
        if (!lesionInside[q]) continue;
        const long i = long(q % ld.nx), j = long((q / ld.nx) % ld.ny), k = long(q / (ld.nx * ld.ny));
        const std::array<std::array<long, 3>, 6> nb{{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}};
        for (const auto& o : nb) {
          const long a = i + o[0], b = j + o[1], cz = k + o[2];
          if (a < 0 || b < 0 || cz < 0 || a >= long(ld.nx) || b >= long(ld.ny) || cz >= long(ld.nz)) continue;
          const std::size_t r = ld.index(std::size_t(a), std::size_t(b), std::size_t(cz));
          // Through an axial face only: the top and bottom of the envelope are endplates/discs.
          if (!envelope[r] && o[2] == 0 && smooth[r] < boneHu) ++breachFaces;
        }
      }
      const double faceArea = std::sqrt(ld.sx * ld.sy) * ld.sz;
      lesion.breachAreaMm2 = double(breachFaces) * faceArea;
      std::size_t truncatedCount = 0;
      for (bool t : truncated) truncatedCount += t ? 1 : 0;
      lesion.corticalBreach = lesion.breachAreaMm2 >= 20.0 && truncatedCount >= 4;

      Mask soft(ld.count(), 0);
      Mask quadricInside(ld.count(), 0);
      const Quadric quadric = fitQuadric(surface);
      if (quadric.valid) {
        // Beyond the cortex the lesion reaches at most about its intraosseous half-thickness.
        Mask outsideLesion(ld.count(), 0);
        for (std::size_t q = 0; q < ld.count(); ++q) outsideLesion[q] = lesionInside[q] ? 0 : 1;
        const auto fromLesion2 = detail::squaredDistanceToBackground(outsideLesion, ld);
        const double reach = 0.5 * thickness + std::max({ld.sx, ld.sy, ld.sz});
        double rMax = 0;
        for (std::size_t n = 0; n < dirs.size(); ++n)
          if (!truncated[n]) rMax = std::max(rMax, rExit[n]);
        for (std::size_t q = 0; q < ld.count(); ++q) {
          const Vec3 p{double(q % ld.nx) * ld.sx, double((q / ld.nx) % ld.ny) * ld.sy, double(q / (ld.nx * ld.ny)) * ld.sz};
          const Vec3 v = p - centreMm;
          const double r = norm(v);
          if (r > kMaxRadiusFactor * rMax + 2.0) continue;
          const Vec3 u = r > 0 ? v / r : Vec3{0, 0, 1};
          const double rq = std::min(quadric.radius(u), kMaxRadiusFactor * rMax);
          if (r <= rq) quadricInside[q] = 1;
          if (!lesion.corticalBreach || envelope[q] || r > rq) continue;
          // Only directions that leave the body through the lesion (nearest sampled direction).
          std::size_t best = 0;
          double bestDot = -2;
          for (std::size_t n = 0; n < dirs.size(); ++n) {
            const double dd = dot(dirs[n], u);
            if (dd > bestDot) { bestDot = dd; best = n; }
          }
          if (!truncated[best]) continue;
          if (fromLesion2[q] > reach * reach) continue;
          if (smooth[q] >= -30.0 && smooth[q] < std::max(threshold, 100.0)) soft[q] = 1;
        }
        // Keep the soft-tissue voxels connected to the lesion.
        Mask allowed(ld.count(), 0);
        std::vector<std::uint16_t> s2(ld.count(), 0);
        for (std::size_t q = 0; q < ld.count(); ++q) {
          allowed[q] = soft[q] || lesionInside[q];
          s2[q] = lesionInside[q] ? 1 : 0;
        }
        const auto connected = detail::growLabels(s2, allowed, ld);
        for (std::size_t q = 0; q < ld.count(); ++q) soft[q] = soft[q] && connected[q] ? 1 : 0;
      }
      // Sclerotic parts: dense voxels in the lesion envelope (within 2 mm of the lytic part, or
      // inside the fitted surface), away from the cortical shell.
      Mask sclerotic(ld.count(), 0);
      {
        const Mask near = detail::dilate(lytic, ld, 2.0);
        for (std::size_t q = 0; q < ld.count(); ++q)
          sclerotic[q] = !lytic[q] && envelope[q] && depth2[q] > coreDepth * coreDepth && hu[q] >= options.scleroticThresholdHu &&
                                 (near[q] || quadricInside[q])
                             ? 1 : 0;
      }
      std::size_t softCount = 0, scleroticCount = 0;
      for (std::size_t q = 0; q < ld.count(); ++q) {
        softCount += soft[q];
        scleroticCount += sclerotic[q];
      }
      lesion.softTissueVolumeMl = double(softCount) * voxelMl;
      lesion.scleroticVolumeMl = double(scleroticCount) * voxelMl;
      lesion.volumeMl = lesion.lyticVolumeMl + lesion.softTissueVolumeMl + lesion.scleroticVolumeMl;

      // Confidence from size, contrast and thickness (each 0..1).
      const double cSize = clamp01((lesion.lyticVolumeMl - options.minVolumeMl) / (2.0 - options.minVolumeMl));
      const double cContrast = clamp01((contrast - options.minContrastHu) / 80.0);
      const double cThick = clamp01((thickness - options.minThicknessMm) / 4.0);
      lesion.confidence = rejected.empty() ? clamp01(0.35 * cSize + 0.45 * cContrast + 0.2 * cThick) : 0.0;
      lesion.labelled = rejected.empty() && lesion.confidence >= options.minConfidence;
      lesion.reason = !rejected.empty()
                          ? "not a lesion: " + rejected
                          : fmt::format("{:.2f} mL at {:.0f} HU vs trabecular {:.0f} HU, {:.1f} mm thick{}", lesion.lyticVolumeMl,
                                        lesion.meanHu, reference, thickness,
                                        lesion.labelled ? "" : fmt::format(": confidence below {}", options.minConfidence));

      // Bounds and centroid of the whole lesion in LPS.
      Vec3 lo{1e30, 1e30, 1e30}, hi{-1e30, -1e30, -1e30}, sum{};
      std::size_t total = 0;
      for (std::size_t q = 0; q < ld.count(); ++q) {
        if (!lesionInside[q] && !soft[q] && !sclerotic[q]) continue;
        const Vec3 idx{double(q % ld.nx), double((q / ld.nx) % ld.ny), double(q / (ld.nx * ld.ny))};
        const Vec3 p = lg.indexToPoint(idx);
        sum += p;
        ++total;
        for (int a = 0; a < 3; ++a) {
          // Include the voxel: half a spacing along each LPS axis (near-axial grids).
          const double half = 0.5 * std::abs(g.direction(std::size_t(a), std::size_t(a))) * g.spacing[std::size_t(a)];
          lo[std::size_t(a)] = std::min(lo[std::size_t(a)], p[std::size_t(a)] - half);
          hi[std::size_t(a)] = std::max(hi[std::size_t(a)], p[std::size_t(a)] + half);
        }
      }
      lesion.centroid = sum / double(total);
      lesion.boundsMin = lo;
      lesion.boundsMax = hi;
      if (lesion.labelled) {
        lesion.id = nextId++;
        for (std::size_t q = 0; q < ld.count(); ++q) {
          const std::size_t p = global(q);
          std::uint16_t comp = 0;
          if (lesionInside[q]) comp = component::Lytic;
          else if (sclerotic[q]) comp = component::Sclerotic;
          else if (soft[q]) comp = component::SoftTissue;
          if (!comp || result.lesions.voxels[p]) continue;
          result.lesions.voxels[p] = std::uint16_t(lesion.id);
          result.components.voxels[p] = comp;
        }
      }
      result.candidates.push_back(lesion);
    }

    // Sclerotic (blastic) foci: dense cores inside the body, away from the cortex and endplates,
    // not already part of a lytic lesion.
    if (!options.scleroticFoci) continue;
    const double denseThreshold = std::max(options.scleroticThresholdHu, reference + options.minScleroticContrastHu);
    // Dense bone next to a lytic lesion (within 3 mm) is its rim or a remnant, not a separate focus.
    Mask nearLytic(ld.count(), 0);
    for (std::size_t q = 0; q < ld.count(); ++q) nearLytic[q] = result.lesions.voxels[global(q)] ? 1 : 0;
    nearLytic = detail::dilate(nearLytic, ld, 3.0);
    Mask dense(ld.count(), 0);
    for (std::size_t q = 0; q < ld.count(); ++q)
      dense[q] = envelope[q] && depth2[q] > coreDepth * coreDepth && smooth[q] >= denseThreshold && !nearLytic[q] ? 1 : 0;
    const detail::Components dc = detail::connectedComponents(dense, ld, true);
    for (std::size_t c = 1; c < dc.sizes.size(); ++c) {
      const double ml = double(dc.sizes[c]) * voxelMl;
      if (ml < 0.5 * options.minScleroticVolumeMl) continue;
      std::vector<std::uint16_t> focus(ld.count(), 0);
      Vec3 centre{}, lo{1e30, 1e30, 1e30}, hi{-1e30, -1e30, -1e30};
      double sumHu = 0;
      for (std::size_t q = 0; q < ld.count(); ++q) {
        if (dc.labels[q] != std::int32_t(c)) continue;
        focus[q] = 1;
        sumHu += hu[q];
        const Vec3 p = lg.indexToPoint(Vec3{double(q % ld.nx), double((q / ld.nx) % ld.ny), double(q / (ld.nx * ld.ny))});
        centre += p;
        for (int a = 0; a < 3; ++a) {
          const double half = 0.5 * std::abs(g.direction(std::size_t(a), std::size_t(a))) * g.spacing[std::size_t(a)];
          lo[std::size_t(a)] = std::min(lo[std::size_t(a)], p[std::size_t(a)] - half);
          hi[std::size_t(a)] = std::max(hi[std::size_t(a)], p[std::size_t(a)] + half);
        }
      }
      LyticLesion focusLesion;
      focusLesion.kind = "sclerotic-bone";
      focusLesion.level = level.level;
      focusLesion.trabecularReferenceHu = reference;
      focusLesion.volumeMl = focusLesion.scleroticVolumeMl = ml;
      focusLesion.meanHu = sumHu / double(dc.sizes[c]);
      focusLesion.centroid = centre / double(dc.sizes[c]);
      focusLesion.boundsMin = lo;
      focusLesion.boundsMax = hi;
      // Dense bone in the posterior part that runs on out of the body is a pedicle base, not a focus
      // (a focus on the cortex elsewhere stays: sclerotic lesions often abut it).
      bool reachesCortex = false;
      {
        Mask denseAnyDepth(ld.count(), 0);
        for (std::size_t q = 0; q < ld.count(); ++q) denseAnyDepth[q] = smooth[q] >= denseThreshold ? 1 : 0;
        const auto grownFocus = detail::growLabels(focus, denseAnyDepth, ld);
        for (std::size_t q = 0; q < ld.count() && !reachesCortex; ++q)
          reachesCortex = grownFocus[q] && (!envelope[q] || depth2[q] <= float(minSpacing * minSpacing) * 1.01f);
      }
      std::string rejected;
      if (ml < options.minScleroticVolumeMl) rejected = fmt::format("smaller than {} mL", options.minScleroticVolumeMl);
      else if (reachesCortex && (focusLesion.centroid - level.bodyCentroid).y > 0.1 * level.depthMm)
        rejected = "continuous with the posterior cortex (pedicle base)";
      else if (endplateFraction(focus, envelope, ld) > 0.4) rejected = "lies along an endplate (sclerosis of the endplate)";
      const double contrast = focusLesion.meanHu - reference;
      const double cSize = clamp01((ml - options.minScleroticVolumeMl) / (1.0 - options.minScleroticVolumeMl));
      const double cContrast = clamp01((contrast - options.minScleroticContrastHu) / 200.0);
      focusLesion.confidence = rejected.empty() ? clamp01(0.3 + 0.35 * cSize + 0.35 * cContrast) : 0.0;
      focusLesion.labelled = rejected.empty() && focusLesion.confidence >= options.minConfidence;
      focusLesion.reason = !rejected.empty() ? "not a lesion: " + rejected
                                             : fmt::format("sclerotic focus {:.2f} mL at {:.0f} HU vs trabecular {:.0f} HU", ml,
                                                           focusLesion.meanHu, reference);
      if (focusLesion.labelled) {
        focusLesion.id = nextId++;
        for (std::size_t q = 0; q < ld.count(); ++q)
          if (focus[q]) {
            result.lesions.voxels[global(q)] = std::uint16_t(focusLesion.id);
            result.components.voxels[global(q)] = component::Sclerotic;
          }
      }
      result.candidates.push_back(focusLesion);
    }
  }
  progress.report(1.0);
  return result;
}

LabelMap lyticLesionsAtSeeds(const LyticResult& lytic, const std::vector<Vec3>& seeds, std::uint16_t labelValue) {
  const ImageGeometry& g = lytic.lesions.geometry;
  std::vector<std::uint16_t> chosen;
  for (const Vec3& p : seeds) {
    const Vec3 index = g.pointToIndex(p);
    const long i = std::lround(index.x), j = std::lround(index.y), k = std::lround(index.z);
    const std::uint16_t id = g.containsIndex(i, j, k) ? lytic.lesions.at(std::size_t(i), std::size_t(j), std::size_t(k))
                                                      : std::uint16_t(0);
    if (id == 0) throw ProcessingError(fmt::format("no lytic lesion found at the seed {}", formatPoint(p)));
    chosen.push_back(id);
  }
  LabelMap mask(g, 0);
  std::size_t voxels = 0;
  for (std::size_t q = 0; q < mask.voxels.size(); ++q) {
    const std::uint16_t id = lytic.lesions.voxels[q];
    if (id != 0 && (chosen.empty() || std::find(chosen.begin(), chosen.end(), id) != chosen.end())) {
      mask.voxels[q] = labelValue;
      ++voxels;
    }
  }
  if (voxels == 0) throw ProcessingError("no lytic lesion found in the vertebral bodies");
  return mask;
}

LabelMap segmentLyticLesion(const Volume& ct, const std::vector<Vec3>& seeds, std::uint16_t labelValue, Progress progress) {
  // A seed off the scan is bad input, found before the slow spine labelling, not "no lesion there" after it.
  for (const Vec3& seed : seeds)
    if (!ct.geometry.containsPoint(seed))
      throw InputError(fmt::format("the seed {} (LPS mm) lies outside the scan ({} to {} mm); check the coordinate "
                                   "system (LPS, not RAS)",
                                   formatPoint(seed), formatPoint(ct.geometry.indexToPoint(0, 0, 0)),
                                   formatPoint(ct.geometry.indexToPoint(
                                       ct.geometry.size[0] - 1, ct.geometry.size[1] - 1, ct.geometry.size[2] - 1))));
  const SpineResult vertebrae = segmentSpine(ct, {}, progress.sub(0.0, 0.7));
  const LyticResult lytic = detectLyticLesions(ct, vertebrae, {}, progress.sub(0.7, 1.0));
  return lyticLesionsAtSeeds(lytic, seeds, labelValue);
}

} // namespace lesion::spine
