#include "lesion/measurement/LesionMeasurement.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "ConvexHull.h"
#include "SurfaceMesh.h"
#include "lesion/core/Error.h"
#include "lesion/core/GridBounds.h"
#include "lesion/core/Log.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/core/SliceOrientation.h"

namespace lesion::measurement {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// The lesion cut out of the label map: a 0/1 mask over its bounding box (x-fastest).
struct LesionCrop {
  std::array<std::size_t, 3> begin{};
  std::array<std::size_t, 3> size{};
  std::vector<std::uint8_t> mask;

  [[nodiscard]] std::size_t index(std::size_t i, std::size_t j, std::size_t k) const {
    return i + size[0] * (j + size[1] * k);
  }
  [[nodiscard]] bool inside(long i, long j, long k) const {
    return i >= 0 && j >= 0 && k >= 0 && std::size_t(i) < size[0] && std::size_t(j) < size[1] &&
           std::size_t(k) < size[2] && mask[index(std::size_t(i), std::size_t(j), std::size_t(k))] != 0;
  }
};

struct LabelBox {
  std::size_t count{0};
  std::array<std::size_t, 3> lo{std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max(),
                                std::numeric_limits<std::size_t>::max()};
  std::array<std::size_t, 3> hi{0, 0, 0};
};

/// Index (i,j,k) → LPS mm, with the matrix direction·diag(spacing) precomputed.
struct IndexToPoint {
  Mat3 m{};
  Vec3 origin{};
  explicit IndexToPoint(const ImageGeometry& g) : origin(g.origin) {
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t c = 0; c < 3; ++c)
        m(r, c) = g.direction(r, c) * g.spacing[c];
  }
  [[nodiscard]] Vec3 operator()(double i, double j, double k) const { return origin + m * Vec3{i, j, k}; }
};

/// Eigen-decomposition of a symmetric 3x3 matrix (cyclic Jacobi); eigenvalues descending,
/// eigenvectors as unit columns.
void symmetricEigen(Mat3 a, std::array<double, 3>& values, std::array<Vec3, 3>& vectors) {
  Mat3 v = Mat3::identity();
  for (int sweep = 0; sweep < 50; ++sweep) {
    const double off = a(0, 1) * a(0, 1) + a(0, 2) * a(0, 2) + a(1, 2) * a(1, 2);
    const double scale = a(0, 0) * a(0, 0) + a(1, 1) * a(1, 1) + a(2, 2) * a(2, 2);
    if (off <= 1e-30 * std::max(scale, 1e-300))
      break;
    for (std::size_t p = 0; p < 2; ++p) {
      for (std::size_t q = p + 1; q < 3; ++q) {
        if (a(p, q) == 0.0)
          continue;
        const double theta = (a(q, q) - a(p, p)) / (2.0 * a(p, q));
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (std::size_t r = 0; r < 3; ++r) { // a = a·J
          const double arp = a(r, p);
          const double arq = a(r, q);
          a(r, p) = c * arp - s * arq;
          a(r, q) = s * arp + c * arq;
        }
        for (std::size_t r = 0; r < 3; ++r) { // a = Jᵀ·a
          const double apr = a(p, r);
          const double aqr = a(q, r);
          a(p, r) = c * apr - s * aqr;
          a(q, r) = s * apr + c * aqr;
        }
        for (std::size_t r = 0; r < 3; ++r) {
          const double vrp = v(r, p);
          const double vrq = v(r, q);
          v(r, p) = c * vrp - s * vrq;
          v(r, q) = s * vrp + c * vrq;
        }
      }
    }
  }
  std::array<std::size_t, 3> order{0, 1, 2};
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a(x, x) > a(y, y); });
  for (std::size_t n = 0; n < 3; ++n) {
    values[n] = std::max(0.0, a(order[n], order[n])); // round-off can make a zero eigenvalue negative
    vectors[n] = normalized(v.column(order[n]));
  }
}

/// Linear interpolation between order statistics (numpy's default "linear" method).
double percentile(const std::vector<double>& sorted, double p) {
  const double position = p / 100.0 * double(sorted.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const std::size_t upper = std::min(lower + 1, sorted.size() - 1);
  const double fraction = position - double(lower);
  return sorted[lower] + fraction * (sorted[upper] - sorted[lower]);
}

// ---------------------------------------------------------------------------------------------
// RECIST diameters on one acquisition slice. In-plane coordinates (i·sx, j·sy) are physical
// distances because the direction cosines are orthonormal.

struct Pixel {
  long i{0};
  long j{0};
};

struct SliceView {
  const LesionCrop& crop;
  std::size_t k;
  double sx;
  double sy;
  [[nodiscard]] bool inside(long i, long j) const { return crop.inside(i, j, long(k)); }
  [[nodiscard]] double lengthMm(const Pixel& a, const Pixel& b) const {
    return std::hypot(double(b.i - a.i) * sx, double(b.j - a.j) * sy);
  }
  /// Every sample of the segment a→b (step a fifth of the smaller in-plane spacing) lies in a
  /// lesion pixel (nearest pixel).
  [[nodiscard]] bool segmentInside(const Pixel& a, const Pixel& b) const {
    const double length = lengthMm(a, b);
    const auto steps = static_cast<long>(std::ceil(length / (0.2 * std::min(sx, sy))));
    const auto sampleInside = [&](long s) {
      const double t = double(s) / double(steps);
      return inside(std::lround(double(a.i) + t * double(b.i - a.i)), std::lround(double(a.j) + t * double(b.j - a.j)));
    };
    // Coarse pass first (every 8th sample): a chord crossing a gap usually fails there, cheaply.
    for (long s = 8; s < steps; s += 8)
      if (!sampleInside(s))
        return false;
    for (long s = 1; s < steps; ++s)
      if (s % 8 != 0 && !sampleInside(s))
        return false;
    return true;
  }
};

struct Candidate {
  double lengthMm;
  std::size_t b;
};

/// The longest pair (in `points`) satisfying `accept` and lying inside, among pairs longer than
/// `mustExceedMm`. Returns false when there is none. Memory stays O(n): each point's partners
/// are tried longest first, and only while they can still beat the best pair found so far.
template <typename Accept>
bool longestInsidePair(const SliceView& slice, const std::vector<Pixel>& points, double mustExceedMm,
                       const Accept& accept, Pixel& bestA, Pixel& bestB, double& bestLengthMm) {
  double best = mustExceedMm;
  bool found = false;
  std::vector<Candidate> partners;
  for (std::size_t a = 0; a < points.size(); ++a) {
    partners.clear();
    for (std::size_t b = a; b < points.size(); ++b) {
      const double length = slice.lengthMm(points[a], points[b]);
      if (length > best && accept(points[a], points[b]))
        partners.push_back({length, b});
    }
    std::sort(partners.begin(), partners.end(), [](const Candidate& x, const Candidate& y) {
      return x.lengthMm > y.lengthMm || (x.lengthMm == y.lengthMm && x.b < y.b);
    });
    for (const Candidate& partner : partners) {
      if (slice.segmentInside(points[a], points[partner.b])) {
        best = partner.lengthMm;
        bestA = points[a];
        bestB = points[partner.b];
        found = true;
        break;
      }
    }
  }
  if (found)
    bestLengthMm = best;
  return found;
}

/// Lesion pixels of slice k with an in-plane 4-neighbour outside the lesion.
std::vector<Pixel> boundaryPixels(const SliceView& slice) {
  std::vector<Pixel> boundary;
  for (long j = 0; j < long(slice.crop.size[1]); ++j)
    for (long i = 0; i < long(slice.crop.size[0]); ++i)
      if (slice.inside(i, j) &&
          (!slice.inside(i - 1, j) || !slice.inside(i + 1, j) || !slice.inside(i, j - 1) || !slice.inside(i, j + 1)))
        boundary.push_back({i, j});
  return boundary;
}

RecistDiameters measureRecist(const LesionCrop& crop, const ImageGeometry& geometry, const IndexToPoint& toPoint) {
  const double sx = geometry.spacing.x;
  const double sy = geometry.spacing.y;
  const auto always = [](const Pixel&, const Pixel&) { return true; };

  double bestLengthMm = -1.0;
  Pixel bestA{};
  Pixel bestB{};
  std::size_t bestSlice = 0;
  for (std::size_t k = 0; k < crop.size[2]; ++k) {
    const SliceView slice{crop, k, sx, sy};
    // The in-plane hull vertices are among the row extremes (first/last lesion pixel of a row).
    std::vector<Pixel> extremes;
    for (long j = 0; j < long(crop.size[1]); ++j) {
      long first = -1;
      long last = -1;
      for (long i = 0; i < long(crop.size[0]); ++i) {
        if (slice.inside(i, j)) {
          if (first < 0)
            first = i;
          last = i;
        }
      }
      if (first >= 0) {
        extremes.push_back({first, j});
        if (last != first)
          extremes.push_back({last, j});
      }
    }
    if (extremes.empty())
      continue;
    std::vector<detail::Point2> planar;
    planar.reserve(extremes.size());
    for (const Pixel& p : extremes)
      planar.push_back({double(p.i) * sx, double(p.j) * sy});
    std::vector<Pixel> hull;
    for (std::size_t index : detail::convexHull2d(planar))
      hull.push_back(extremes[index]);

    // The slice's caliper diameter (longest hull-vertex pair) bounds every chord of the slice.
    Pixel a = hull.front();
    Pixel b = hull.front();
    double length = 0.0;
    for (std::size_t x = 0; x < hull.size(); ++x)
      for (std::size_t y = x + 1; y < hull.size(); ++y)
        if (slice.lengthMm(hull[x], hull[y]) > length) {
          length = slice.lengthMm(hull[x], hull[y]);
          a = hull[x];
          b = hull[y];
        }
    if (length <= bestLengthMm)
      continue; // no chord of this slice can be longer
    // Convex along the caliper diameter: it is the answer. Otherwise the longest inside chord
    // can end anywhere on the boundary (e.g. in the notch of an L), so search all boundary pairs.
    if (slice.segmentInside(a, b) ||
        longestInsidePair(slice, boundaryPixels(slice), bestLengthMm, always, a, b, length)) {
      bestLengthMm = length;
      bestA = a;
      bestB = b;
      bestSlice = k;
    }
  }
  if (bestLengthMm < 0.0)
    throw ProcessingError("RECIST diameters: the lesion has no voxel on any slice");

  // Short axis: the longest inside chord perpendicular to the long axis on the same slice,
  // allowing half a pixel of offset along the long axis between its ends.
  const SliceView slice{crop, bestSlice, sx, sy};
  const double ux = double(bestB.i - bestA.i) * sx;
  const double uy = double(bestB.j - bestA.j) * sy;
  const double uLength = std::hypot(ux, uy);
  const double toleranceMm = 0.5 * std::min(sx, sy);
  const auto perpendicular = [&](const Pixel& p, const Pixel& q) {
    if (uLength == 0.0)
      return p.i == q.i && p.j == q.j;
    const double along = (double(q.i - p.i) * sx * ux + double(q.j - p.j) * sy * uy) / uLength;
    return std::abs(along) <= toleranceMm;
  };
  Pixel shortA = bestA;
  Pixel shortB = bestA;
  double shortLength = 0.0;
  (void)longestInsidePair(slice, boundaryPixels(slice), -1.0, perpendicular, shortA, shortB, shortLength);

  const auto lps = [&](const Pixel& p) {
    return toPoint(double(crop.begin[0]) + double(p.i), double(crop.begin[1]) + double(p.j),
                   double(crop.begin[2] + bestSlice));
  };
  RecistDiameters recist;
  recist.longAxisMm = bestLengthMm;
  recist.shortAxisMm = shortLength;
  recist.longAxis = {lps(bestA), lps(bestB)};
  recist.shortAxis = {lps(shortA), lps(shortB)};
  recist.sliceIndex = crop.begin[2] + bestSlice;
  return recist;
}

/// The lesion resampled (nearest neighbour) onto an LPS-aligned grid of `spacingMm` covering its
/// crop's voxel boxes plus one voxel: axial sections LPS z = const are that grid's slices.
struct AxialResampling {
  ImageGeometry grid{};
  LesionCrop crop{};
};

constexpr double kMaxAxialSamples = 64e6;

AxialResampling resampleOntoAxialGrid(const LesionCrop& crop, const ImageGeometry& geometry, double spacingMm) {
  const IndexToPoint toPoint(geometry);
  const Vec3 first{double(crop.begin[0]), double(crop.begin[1]), double(crop.begin[2])};
  const auto [lo, hi] = voxelBoxBoundsLps(
      geometry, first, first + Vec3{double(crop.size[0] - 1), double(crop.size[1] - 1), double(crop.size[2] - 1)});
  // A lesion box many times the scan's finest pixel (a 250 mm mass on 0.25 mm MR pixels: 10^9
  // samples) is sampled coarser, at most kMaxAxialSamples.
  const Vec3 extent = hi - lo;
  spacingMm = std::max(spacingMm, std::cbrt(extent.x * extent.y * extent.z / kMaxAxialSamples));
  AxialResampling axial;
  axial.grid.spacing = {spacingMm, spacingMm, spacingMm};
  // Samples in step with a voxel centre, one beyond the box: where the scan's axes are LPS axes at
  // this spacing they fall on voxel centres, not on the voxel borders where nearest is a tie.
  const Vec3 firstCentre = geometry.indexToPoint(first);
  for (std::size_t a = 0; a < 3; ++a) {
    axial.grid.origin[a] = firstCentre[a] - spacingMm * (std::ceil((firstCentre[a] - lo[a]) / spacingMm) + 1.0);
    axial.grid.size[a] = std::size_t(std::ceil((hi[a] - axial.grid.origin[a]) / spacingMm)) + 2;
  }
  LesionCrop& out = axial.crop;
  out.size = axial.grid.size;
  out.mask.assign(out.size[0] * out.size[1] * out.size[2], 0);
  const Mat3 toIndex = toPoint.m.inverse();
  for (std::size_t k = 0; k < out.size[2]; ++k)
    for (std::size_t j = 0; j < out.size[1]; ++j)
      for (std::size_t i = 0; i < out.size[0]; ++i) {
        const Vec3 index = toIndex * (axial.grid.indexToPoint(i, j, k) - toPoint.origin);
        out.mask[out.index(i, j, k)] =
            crop.inside(std::lround(index.x) - long(crop.begin[0]), std::lround(index.y) - long(crop.begin[1]),
                        std::lround(index.z) - long(crop.begin[2]));
      }
  // A lesion thinner than the axial spacing can fall between the samples: keep the sample nearest
  // each of its voxel centres instead.
  if (std::find(out.mask.begin(), out.mask.end(), 1) == out.mask.end())
    for (std::size_t k = 0; k < crop.size[2]; ++k)
      for (std::size_t j = 0; j < crop.size[1]; ++j)
        for (std::size_t i = 0; i < crop.size[0]; ++i)
          if (crop.mask[crop.index(i, j, k)]) {
            const Vec3 index = axial.grid.pointToIndex(
                toPoint(double(crop.begin[0] + i), double(crop.begin[1] + j), double(crop.begin[2] + k)));
            out.mask[out.index(std::size_t(std::lround(index.x)), std::size_t(std::lround(index.y)),
                               std::size_t(std::lround(index.z)))] = 1;
          }
  return axial;
}

/// RECIST diameters on the axial sections `sections` says: the acquisition slices, or the lesion
/// resampled onto planes LPS z = const (its sliceIndex then the acquisition slice nearest the long
/// axis' middle).
RecistDiameters measureRecistOnAxialSections(const LesionCrop& crop, const ImageGeometry& geometry,
                                             const IndexToPoint& toPoint, const AxialSections& sections) {
  if (sections.acquisitionSlices) {
    RecistDiameters recist = measureRecist(crop, geometry, toPoint);
    recist.sections = sections.description();
    return recist;
  }
  const AxialResampling axial = resampleOntoAxialGrid(crop, geometry, sections.spacingMm);
  RecistDiameters recist = measureRecist(axial.crop, axial.grid, IndexToPoint(axial.grid));
  // The ends found on the samples sit anywhere in the lesion voxel they sample (a 5 mm sagittal
  // slice is ten 0.5 mm samples wide), so the axes would be up to a slice longer than between
  // voxel centres: each end moves to its voxel's centre, kept on the section's plane.
  const Mat3 toIndex = toPoint.m.inverse();
  const auto toVoxelCentre = [&](const Vec3& end) {
    const Vec3 index = toIndex * (end - toPoint.origin);
    Vec3 centre = toPoint(double(std::lround(index.x)), double(std::lround(index.y)), double(std::lround(index.z)));
    centre.z = end.z;
    return centre;
  };
  recist.longAxis = {toVoxelCentre(recist.longAxis.start), toVoxelCentre(recist.longAxis.end)};
  recist.shortAxis = {toVoxelCentre(recist.shortAxis.start), toVoxelCentre(recist.shortAxis.end)};
  recist.longAxisMm = distance(recist.longAxis.start, recist.longAxis.end);
  recist.shortAxisMm = distance(recist.shortAxis.start, recist.shortAxis.end);
  const double middleK = geometry.pointToIndex((recist.longAxis.start + recist.longAxis.end) * 0.5).z;
  recist.sliceIndex =
      std::size_t(std::clamp(std::lround(middleK), long(crop.begin[2]), long(crop.begin[2] + crop.size[2] - 1)));
  recist.onAcquisitionSlices = false;
  recist.sections = sections.description();
  return recist;
}

// ---------------------------------------------------------------------------------------------

/// The lesion's voxel values over its crop, x-fastest (0 outside the lesion).
struct CropValues {
  const LesionCrop& crop;
  const Volume& volume;
  [[nodiscard]] double operator()(std::size_t i, std::size_t j, std::size_t k) const {
    return double(volume.at(crop.begin[0] + i, crop.begin[1] + j, crop.begin[2] + k));
  }
};

/// Lesion voxels at or above `thresholdHu` (crop indexing).
std::vector<std::uint8_t> voxelsAtOrAbove(const LesionCrop& crop, const CropValues& value, double thresholdHu) {
  std::vector<std::uint8_t> above(crop.mask.size(), 0);
  for (std::size_t k = 0; k < crop.size[2]; ++k)
    for (std::size_t j = 0; j < crop.size[1]; ++j)
      for (std::size_t i = 0; i < crop.size[0]; ++i)
        if (crop.mask[crop.index(i, j, k)] && value(i, j, k) >= thresholdHu)
          above[crop.index(i, j, k)] = 1;
  return above;
}

/// Calls `fn(cluster)` with the crop indices of each 26-connected cluster of `voxels`.
template <class Fn> void forEachCluster(const std::vector<std::uint8_t>& voxels, const LesionCrop& crop, Fn&& fn) {
  std::vector<std::uint8_t> seen(voxels.size(), 0);
  std::vector<std::size_t> cluster;
  std::vector<std::size_t> stack;
  const long nx = long(crop.size[0]), ny = long(crop.size[1]), nz = long(crop.size[2]);
  for (std::size_t start = 0; start < voxels.size(); ++start) {
    if (!voxels[start] || seen[start])
      continue;
    cluster.clear();
    stack.assign(1, start);
    seen[start] = 1;
    while (!stack.empty()) {
      const std::size_t at = stack.back();
      stack.pop_back();
      cluster.push_back(at);
      const long i = long(at % crop.size[0]), j = long((at / crop.size[0]) % crop.size[1]),
                 k = long(at / (crop.size[0] * crop.size[1]));
      for (long dk = -1; dk <= 1; ++dk)
        for (long dj = -1; dj <= 1; ++dj)
          for (long di = -1; di <= 1; ++di) {
            const long ni = i + di, nj = j + dj, nk = k + dk;
            if (ni < 0 || nj < 0 || nk < 0 || ni >= nx || nj >= ny || nk >= nz)
              continue;
            const std::size_t n = crop.index(std::size_t(ni), std::size_t(nj), std::size_t(nk));
            if (!voxels[n] || seen[n])
              continue;
            seen[n] = 1;
            stack.push_back(n);
          }
    }
    fn(cluster);
  }
}

/// Clears the 26-connected clusters of `voxels` smaller than `minVoxels`.
void dropClustersSmallerThan(std::vector<std::uint8_t>& voxels, const LesionCrop& crop, std::size_t minVoxels) {
  std::vector<std::size_t> dropped;
  forEachCluster(voxels, crop, [&](const std::vector<std::size_t>& cluster) {
    if (cluster.size() < minVoxels)
      dropped.insert(dropped.end(), cluster.begin(), cluster.end());
  });
  for (std::size_t at : dropped)
    voxels[at] = 0;
}

/// Median + kSoftTissueNoiseSds robust SDs of the lesion's voxels below `thresholdHu` (its soft
/// tissue, however much of the lesion is calcified): the level that tissue's noise does not reach.
constexpr double kSoftTissueNoiseSds = 4.0;
double ownTissueCeilingHu(const LesionCrop& crop, const CropValues& value, double thresholdHu) {
  std::vector<float> values;
  for (std::size_t k = 0; k < crop.size[2]; ++k)
    for (std::size_t j = 0; j < crop.size[1]; ++j)
      for (std::size_t i = 0; i < crop.size[0]; ++i)
        if (crop.mask[crop.index(i, j, k)] && value(i, j, k) < thresholdHu)
          values.push_back(float(value(i, j, k)));
  const RobustSpread spread = robustSpreadOf(std::move(values));
  return spread.median + kSoftTissueNoiseSds * spread.sd;
}

/// Smallest calcification counted in a soft-tissue lesion: noise peaks above the ceiling are
/// single voxels or pairs, a calcification a reader calls one spans a few voxels and mm³.
constexpr std::size_t kMinSoftTissueCalcificationVoxels = 3;
constexpr double kMinSoftTissueCalcificationMm3 = 3.0;
std::size_t minSoftTissueCalcificationVoxels(const ImageGeometry& g) {
  return std::max(kMinSoftTissueCalcificationVoxels,
                  std::size_t(std::ceil(kMinSoftTissueCalcificationMm3 / g.voxelVolumeMm3())));
}

/// Agatston-style score over the `calcified` voxels (see Calcification). The sum runs over every
/// reconstructed slice, so each slice stands for its spacing: overlapping slices (thickness above
/// the spacing) would count a calcification more than once if scaled by the thickness.
double agatstonScore(const LesionCrop& crop, const CropValues& value, const std::vector<std::uint8_t>& calcified,
                     double pixelAreaMm2, double sliceSpacingMm) {
  double weightedAreaMm2 = 0.0;
  std::vector<std::uint8_t> visited(crop.size[0] * crop.size[1]);
  std::vector<std::pair<std::size_t, std::size_t>> stack;
  for (std::size_t k = 0; k < crop.size[2]; ++k) {
    std::fill(visited.begin(), visited.end(), 0);
    const auto isCalcified = [&](long i, long j) {
      return i >= 0 && j >= 0 && std::size_t(i) < crop.size[0] && std::size_t(j) < crop.size[1] &&
             calcified[crop.index(std::size_t(i), std::size_t(j), k)];
    };
    for (std::size_t j = 0; j < crop.size[1]; ++j) {
      for (std::size_t i = 0; i < crop.size[0]; ++i) {
        if (!calcified[crop.index(i, j, k)] || visited[i + crop.size[0] * j])
          continue;
        // One 8-connected calcified region of this slice: its area and peak.
        std::size_t pixels = 0;
        double peakHu = value(i, j, k);
        visited[i + crop.size[0] * j] = 1;
        stack.assign(1, {i, j});
        while (!stack.empty()) {
          const auto [ci, cj] = stack.back();
          stack.pop_back();
          ++pixels;
          peakHu = std::max(peakHu, value(ci, cj, k));
          for (long dj = -1; dj <= 1; ++dj) {
            for (long di = -1; di <= 1; ++di) {
              const long ni = long(ci) + di;
              const long nj = long(cj) + dj;
              if (!isCalcified(ni, nj) || visited[std::size_t(ni) + crop.size[0] * std::size_t(nj)])
                continue;
              visited[std::size_t(ni) + crop.size[0] * std::size_t(nj)] = 1;
              stack.emplace_back(std::size_t(ni), std::size_t(nj));
            }
          }
        }
        const double areaMm2 = double(pixels) * pixelAreaMm2;
        if (areaMm2 < 1.0)
          continue; // Agatston ignores specks under 1 mm²
        const double weight = peakHu >= 400.0 ? 4.0 : peakHu >= 300.0 ? 3.0 : peakHu >= 200.0 ? 2.0 : 1.0;
        weightedAreaMm2 += areaMm2 * weight;
      }
    }
  }
  return weightedAreaMm2 * sliceSpacingMm / 3.0;
}

Calcification measureCalcification(const LesionCrop& crop, const Volume& volume, const LesionSpec& spec,
                                   const MeasurementOptions& options) {
  const ImageGeometry& g = volume.geometry;
  const double voxelMl = g.voxelVolumeMm3() / 1000.0;
  const CropValues value{crop, volume};
  Calcification c;
  c.thresholdHu = options.calcificationThresholdHu;
  c.boneThresholdHu = options.boneThresholdHu;
  // In bone every voxel above the threshold is mineral (sclerosis). A soft-tissue lesion's own
  // noise reaches 130 HU, so there only clusters above what its tissue reaches count.
  const bool bone = isBoneKind(spec.kind);
  if (!bone)
    c.thresholdHu = std::max(c.thresholdHu, ownTissueCeilingHu(crop, value, c.thresholdHu));
  std::vector<std::uint8_t> calcified = voxelsAtOrAbove(crop, value, c.thresholdHu);
  if (!bone)
    dropClustersSmallerThan(calcified, crop, minSoftTissueCalcificationVoxels(g));
  const std::vector<std::uint8_t> boneDense = voxelsAtOrAbove(crop, value, c.boneThresholdHu);
  const auto count = [](const std::vector<std::uint8_t>& v) { return double(std::count(v.begin(), v.end(), 1)); };
  const double lesionCount = count(crop.mask);
  c.volumeMl = count(calcified) * voxelMl;
  c.boneVolumeMl = count(boneDense) * voxelMl;
  c.fraction = lesionCount > 0 ? count(calcified) / lesionCount : 0.0;
  c.boneFraction = lesionCount > 0 ? count(boneDense) / lesionCount : 0.0;
  c.agatstonScore = agatstonScore(crop, value, calcified, g.spacing.x * g.spacing.y, g.spacing.z);
  return c;
}

std::string gridText(const ImageGeometry& g) {
  return fmt::format("size {}x{}x{}, spacing ({:.4g}, {:.4g}, {:.4g}) mm, origin {}", g.size[0], g.size[1], g.size[2],
                     g.spacing.x, g.spacing.y, g.spacing.z, formatPoint(g.origin));
}

LesionMeasurement measureOne(const Volume& volume, const LabelMap& labels, const LesionSpec& spec, const LabelBox& box,
                             const MeasurementOptions& options) {
  const ImageGeometry& g = labels.geometry;
  const IndexToPoint toPoint(g);
  LesionMeasurement m;
  m.spec = spec;
  m.voxelCount = box.count;
  m.voxelVolumeMl = double(box.count) * g.voxelVolumeMm3() / 1000.0;
  m.sliceThicknessMm = sliceThicknessMmOf(options, g);

  for (std::size_t a = 0; a < 3; ++a)
    if (box.lo[a] == 0 || box.hi[a] + 1 == g.size[a]) {
      logWarning("label {} touches the edge of the image (index axis {}): it may extend beyond the scan, so its "
                 "sizes and volume may be too small",
                 spec.label, "ijk"[a]);
      break;
    }

  LesionCrop crop;
  for (std::size_t a = 0; a < 3; ++a) {
    crop.begin[a] = box.lo[a];
    crop.size[a] = box.hi[a] - box.lo[a] + 1;
  }
  crop.mask.assign(crop.size[0] * crop.size[1] * crop.size[2], 0);
  std::vector<double> values;
  values.reserve(box.count);
  // First and second moments of the local index (small numbers: no cancellation).
  std::array<double, 3> sum{};
  std::array<double, 9> sumSquares{};
  // Row extremes: every convex-hull vertex (and every extreme along a direction) is one of them.
  std::vector<Vec3> extremes;
  for (std::size_t k = 0; k < crop.size[2]; ++k) {
    for (std::size_t j = 0; j < crop.size[1]; ++j) {
      long first = -1;
      long last = -1;
      for (std::size_t i = 0; i < crop.size[0]; ++i) {
        const std::size_t gi = crop.begin[0] + i;
        const std::size_t gj = crop.begin[1] + j;
        const std::size_t gk = crop.begin[2] + k;
        if (labels.at(gi, gj, gk) != spec.label)
          continue;
        crop.mask[crop.index(i, j, k)] = 1;
        values.push_back(double(volume.at(gi, gj, gk)));
        const std::array<double, 3> x{double(i), double(j), double(k)};
        for (std::size_t r = 0; r < 3; ++r) {
          sum[r] += x[r];
          for (std::size_t c = 0; c < 3; ++c)
            sumSquares[r * 3 + c] += x[r] * x[c];
        }
        if (first < 0)
          first = long(i);
        last = long(i);
      }
      if (first < 0)
        continue;
      const double gj = double(crop.begin[1] + j);
      const double gk = double(crop.begin[2] + k);
      extremes.push_back(toPoint(double(crop.begin[0]) + double(first), gj, gk));
      if (last != first)
        extremes.push_back(toPoint(double(crop.begin[0]) + double(last), gj, gk));
    }
  }

  // One label in separate parts is measured as one lesion (its diameters and extents span the
  // gaps): two masses given one label, or stray voxels, should not pass without a word.
  std::size_t parts = 0, largest = 0;
  forEachCluster(crop.mask, crop, [&](const std::vector<std::size_t>& cluster) {
    ++parts;
    largest = std::max(largest, cluster.size());
  });
  if (parts > 1)
    logWarning("label {} is in {} separate parts (the largest holds {:.0f} % of its voxels): measured as one lesion, "
               "its diameters and extents span the gaps; give each lesion its own label",
               spec.label, parts, 100.0 * double(largest) / double(box.count));

  // Voxel-face surface area: the volume uncertainty when no mesh is computed.
  double faceAreaMm2 = 0.0;
  {
    const std::array<double, 3> faceArea{g.spacing.y * g.spacing.z, g.spacing.x * g.spacing.z,
                                         g.spacing.x * g.spacing.y};
    for (long k = 0; k < long(crop.size[2]); ++k)
      for (long j = 0; j < long(crop.size[1]); ++j)
        for (long i = 0; i < long(crop.size[0]); ++i) {
          if (!crop.inside(i, j, k))
            continue;
          faceAreaMm2 += faceArea[0] * (int(!crop.inside(i - 1, j, k)) + int(!crop.inside(i + 1, j, k))) +
                         faceArea[1] * (int(!crop.inside(i, j - 1, k)) + int(!crop.inside(i, j + 1, k))) +
                         faceArea[2] * (int(!crop.inside(i, j, k - 1)) + int(!crop.inside(i, j, k + 1)));
        }
  }

  // Surface mesh.
  if (options.computeSurfaceMesh) {
    const auto surface = detail::measureSurface(crop.mask, crop.size, {g.spacing.x, g.spacing.y, g.spacing.z});
    m.meshVolumeMl = surface.volumeMm3 / 1000.0;
    m.surfaceAreaMm2 = surface.areaMm2;
  }

  // RECIST 1.1 long and short axes, on axial sections of the patient.
  m.recist = measureRecistOnAxialSections(crop, g, toPoint, axialSectionsOf(g));

  // 3D Feret diameter over the convex hull's vertices.
  {
    std::vector<std::size_t> candidates = detail::convexHull3d(extremes);
    if (candidates.empty()) { // flat lesion: every row extreme is a candidate
      candidates.resize(extremes.size());
      std::iota(candidates.begin(), candidates.end(), std::size_t{0});
    }
    double best = -1.0;
    for (std::size_t a = 0; a < candidates.size(); ++a) {
      for (std::size_t b = a; b < candidates.size(); ++b) {
        const Vec3 d = extremes[candidates[b]] - extremes[candidates[a]];
        const double squared = dot(d, d);
        if (squared > best) {
          best = squared;
          m.maxDiameter3d = {extremes[candidates[a]], extremes[candidates[b]]};
        }
      }
    }
    m.maxDiameter3dMm = std::sqrt(std::max(best, 0.0));
  }

  // Extents along L-R, A-P, S-I including the voxel: a voxel box spans
  // centre ± ½·Σ_j |direction(a,j)|·spacing_j along patient axis a.
  {
    Vec3 lo{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(), std::numeric_limits<double>::max()};
    Vec3 hi = -lo;
    for (const Vec3& p : extremes)
      for (std::size_t a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], p[a]);
        hi[a] = std::max(hi[a], p[a]);
      }
    for (std::size_t a = 0; a < 3; ++a) {
      const double half = 0.5 * (std::abs(toPoint.m(a, 0)) + std::abs(toPoint.m(a, 1)) + std::abs(toPoint.m(a, 2)));
      lo[a] -= half;
      hi[a] += half;
    }
    m.boundingBoxMin = lo;
    m.boundingBoxMax = hi;
    m.extentLrMm = hi.x - lo.x;
    m.extentApMm = hi.y - lo.y;
    m.extentSiMm = hi.z - lo.z;
  }

  // Principal axes: population covariance of the voxel centres, mapped to LPS.
  {
    const double n = double(box.count);
    Mat3 covarianceIndex;
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t c = 0; c < 3; ++c)
        covarianceIndex(r, c) = sumSquares[r * 3 + c] / n - (sum[r] / n) * (sum[c] / n);
    const Mat3 covariance = toPoint.m * covarianceIndex * toPoint.m.transposed();
    PrincipalAxes& axes = m.principalAxes;
    symmetricEigen(covariance, axes.eigenvaluesMm2, axes.directions);
    axes.centroid = toPoint(double(crop.begin[0]) + sum[0] / n, double(crop.begin[1]) + sum[1] / n,
                            double(crop.begin[2]) + sum[2] / n);
    for (std::size_t a = 0; a < 3; ++a) {
      axes.ibsiAxisLengthsMm[a] = 4.0 * std::sqrt(axes.eigenvaluesMm2[a]);
      axes.ellipsoidAxisLengthsMm[a] = 2.0 * std::sqrt(5.0 * axes.eigenvaluesMm2[a]);
      const Vec3& e = axes.directions[a];
      double lo = std::numeric_limits<double>::max();
      double hi = -lo;
      for (const Vec3& p : extremes) {
        lo = std::min(lo, dot(p, e));
        hi = std::max(hi, dot(p, e));
      }
      const double voxelWidth = std::abs(dot(e, toPoint.m.column(0))) + std::abs(dot(e, toPoint.m.column(1))) +
                                std::abs(dot(e, toPoint.m.column(2)));
      axes.orientedBoxExtentsMm[a] = hi - lo + voxelWidth;
    }
    const double major = axes.eigenvaluesMm2[0];
    // A single voxel has no spread: call it isotropic rather than divide by zero.
    m.shape.elongation = major > 0.0 ? std::sqrt(axes.eigenvaluesMm2[1] / major) : 1.0;
    m.shape.flatness = major > 0.0 ? std::sqrt(axes.eigenvaluesMm2[2] / major) : 1.0;
    if (m.meshVolumeMl && m.surfaceAreaMm2 && *m.surfaceAreaMm2 > 0.0)
      m.shape.sphericity = std::cbrt(kPi) * std::pow(6.0 * *m.meshVolumeMl * 1000.0, 2.0 / 3.0) / *m.surfaceAreaMm2;
  }

  // Intensity statistics.
  {
    IntensityStatistics& s = m.intensity;
    s.unit = options.intensityUnit == IntensityUnit::HounsfieldUnit ? "HU" : "arbitrary";
    std::sort(values.begin(), values.end());
    const double n = double(values.size());
    s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
    double squares = 0.0;
    for (double v : values)
      squares += (v - s.mean) * (v - s.mean);
    s.standardDeviation = std::sqrt(squares / n);
    s.median = percentile(values, 50.0);
    s.percentile5 = percentile(values, 5.0);
    s.percentile95 = percentile(values, 95.0);
    s.minimum = values.front();
    s.maximum = values.back();
  }

  if (options.intensityUnit == IntensityUnit::HounsfieldUnit)
    m.calcification = measureCalcification(crop, volume, spec, options);

  m.measurability = assessMeasurability(m.recist.longAxisMm, m.recist.shortAxisMm, spec.lymphNode, m.sliceThicknessMm,
                                        spec.kind == "sclerotic-bone");
  m.uncertainty.distanceMm = g.voxelDiagonalMm();
  m.uncertainty.volumeMl = m.surfaceAreaMm2.value_or(faceAreaMm2) * 0.5 * g.voxelDiagonalMm() / 1000.0;
  return m;
}

} // namespace

const std::vector<std::string>& knownLesionKinds() {
  static const std::vector<std::string> kinds{"soft-tissue", "lytic-bone", "sclerotic-bone", "lymph-node", "other"};
  return kinds;
}

bool isBoneKind(const std::string& kind) { return kind == "lytic-bone" || kind == "sclerotic-bone"; }

LesionSpec parseLesionSpec(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ':'))
    parts.push_back(part);
  if (parts.empty() || parts.size() > 3)
    throw UsageError(fmt::format("lesion '{}': expected LABEL[:KIND[:NAME]], e.g. 1:soft-tissue:axilla", text));
  LesionSpec spec;
  std::size_t used = 0;
  long label = 0;
  try {
    label = std::stol(parts[0], &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != parts[0].size() || label < 1 || label > 65535)
    throw UsageError(fmt::format("lesion '{}': the label must be an integer in 1..65535, found '{}'", text, parts[0]));
  spec.label = static_cast<std::uint16_t>(label);
  if (parts.size() > 1 && !parts[1].empty()) {
    const auto& kinds = knownLesionKinds();
    if (std::find(kinds.begin(), kinds.end(), parts[1]) == kinds.end())
      throw UsageError(fmt::format("lesion '{}': unknown kind '{}', expected one of soft-tissue, lytic-bone, "
                                   "sclerotic-bone, lymph-node, other",
                                   text, parts[1]));
    spec.kind = parts[1];
  }
  if (parts.size() > 2)
    spec.name = parts[2];
  spec.lymphNode = spec.kind == "lymph-node";
  return spec;
}

MeasurementOptions withScanSliceThickness(MeasurementOptions options, std::optional<double> scanSliceThicknessMm) {
  if (!options.sliceThicknessMm && scanSliceThicknessMm) {
    options.sliceThicknessMm = scanSliceThicknessMm;
    options.sliceThicknessSource = "dicom";
  }
  return options;
}

double sliceThicknessMmOf(const MeasurementOptions& options, const ImageGeometry& grid) {
  return options.sliceThicknessMm.value_or(grid.spacing.z);
}

std::string sliceThicknessSourceOf(const MeasurementOptions& options) {
  return options.sliceThicknessMm ? options.sliceThicknessSource : "spacing";
}

std::vector<std::uint16_t> labelsPresent(const LabelMap& labels) {
  std::vector<bool> seen(65536, false);
  for (std::uint16_t v : labels.voxels)
    seen[v] = true;
  std::vector<std::uint16_t> present;
  for (std::size_t v = 1; v < seen.size(); ++v)
    if (seen[v])
      present.push_back(static_cast<std::uint16_t>(v));
  return present;
}

Measurability assessMeasurability(double longAxisMm, double shortAxisMm, bool lymphNode, double sliceThicknessMm,
                                  bool blasticBone) {
  Measurability m;
  if (lymphNode) {
    // RECIST 1.1 §3.1.1: a node is pathological and measurable at >= 15 mm short axis;
    // 10 to < 15 mm is pathological but non-measurable; < 10 mm is normal.
    m.basis = "short-axis";
    m.thresholdMm = 15.0;
    if (shortAxisMm >= 15.0) {
      m.measurable = true;
      m.category = "measurable";
      m.reason = fmt::format("lymph node short axis {:.1f} mm >= 15 mm", shortAxisMm);
    } else if (shortAxisMm >= 10.0) {
      m.category = "pathological-node-non-target";
      m.reason =
          fmt::format("lymph node short axis {:.1f} mm is 10 to < 15 mm: pathological, non-measurable", shortAxisMm);
    } else {
      m.category = "non-pathological-node";
      m.reason = fmt::format("lymph node short axis {:.1f} mm < 10 mm: not pathological", shortAxisMm);
    }
    return m;
  }
  // RECIST 1.1 §3.1.1: long axis >= 10 mm on CT with slices <= 5 mm, else >= 2 × slice thickness.
  m.basis = "long-axis";
  m.thresholdMm = std::max(10.0, 2.0 * sliceThicknessMm);
  if (blasticBone) {
    m.category = "non-measurable";
    m.reason = fmt::format("sclerotic (blastic) bone lesion: non-measurable under RECIST 1.1 §3.1.3 whatever its "
                           "size (long axis {:.1f} mm)",
                           longAxisMm);
    return m;
  }
  m.measurable = longAxisMm >= m.thresholdMm;
  m.category = m.measurable ? "measurable" : "non-measurable";
  m.reason =
      fmt::format("long axis {:.1f} mm {} {:.1f} mm (the larger of 10 mm and twice the {:.2f} mm slice thickness)",
                  longAxisMm, m.measurable ? ">=" : "<", m.thresholdMm, sliceThicknessMm);
  return m;
}

std::vector<LesionMeasurement> measureLesions(const Volume& volume, const LabelMap& labels,
                                              const MeasurementOptions& options) {
  volume.geometry.validate("the volume");
  labels.geometry.validate("the label map");
  if (!labels.geometry.sameGrid(volume.geometry))
    throw InputError(fmt::format("the label map and the volume must share one grid: label map {}, volume {}",
                                 gridText(labels.geometry), gridText(volume.geometry)));
  if (volume.voxels.size() != volume.geometry.voxelCount() || labels.voxels.size() != labels.geometry.voxelCount())
    throw InputError("measureLesions: voxel buffer size does not match the image geometry");
  if (options.sliceThicknessMm && !(*options.sliceThicknessMm > 0.0 && std::isfinite(*options.sliceThicknessMm)))
    throw InputError(fmt::format("slice thickness must be a positive number of mm, got {}", *options.sliceThicknessMm));
  if (!std::isfinite(options.calcificationThresholdHu) || !std::isfinite(options.boneThresholdHu))
    throw InputError("calcification and bone thresholds must be finite HU values");

  // One pass: voxel count and bounding box of every label.
  std::vector<LabelBox> boxes(65536);
  const auto& size = labels.geometry.size;
  for (std::size_t k = 0, n = 0; k < size[2]; ++k)
    for (std::size_t j = 0; j < size[1]; ++j)
      for (std::size_t i = 0; i < size[0]; ++i, ++n) {
        const std::uint16_t v = labels.voxels[n];
        if (v == 0)
          continue;
        LabelBox& b = boxes[v];
        ++b.count;
        const std::array<std::size_t, 3> x{i, j, k};
        for (std::size_t a = 0; a < 3; ++a) {
          b.lo[a] = std::min(b.lo[a], x[a]);
          b.hi[a] = std::max(b.hi[a], x[a]);
        }
      }

  // Labels to measure: those named in options.labels, then those with a spec, else all present.
  std::vector<std::uint16_t> wanted = options.labels;
  for (const LesionSpec& spec : options.lesions)
    if (std::find(wanted.begin(), wanted.end(), spec.label) == wanted.end())
      wanted.push_back(spec.label);
  if (wanted.empty()) {
    for (std::size_t v = 1; v < boxes.size(); ++v)
      if (boxes[v].count)
        wanted.push_back(static_cast<std::uint16_t>(v));
    if (wanted.empty())
      throw InputError("the label map has no lesion: every voxel is 0 (background)");
  }
  std::vector<LesionMeasurement> results;
  for (std::uint16_t label : wanted) {
    if (label == 0)
      throw InputError("label 0 is background and cannot be measured");
    if (boxes[label].count == 0)
      throw InputError(fmt::format("label {} was asked for but has no voxel in the label map", label));
    LesionSpec spec;
    spec.label = label;
    const auto found = std::find_if(options.lesions.begin(), options.lesions.end(),
                                    [&](const LesionSpec& s) { return s.label == label; });
    if (found != options.lesions.end())
      spec = *found;
    if (spec.kind == "lymph-node")
      spec.lymphNode = true;
    if (spec.name.empty())
      spec.name = fmt::format("label {}", label);
    results.push_back(measureOne(volume, labels, spec, boxes[label], options));
  }
  return results;
}

} // namespace lesion::measurement
