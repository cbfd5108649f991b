#include "lesion/segmentation/StarSurfaceFit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "lesion/core/RobustStatistics.h"

namespace lesion::segmentation {
namespace {

/// Monomials of degree L and L - 1 in the unit direction: on the sphere they span the spherical
/// harmonics up to degree L ((L + 1)^2 functions; x^2 + y^2 + z^2 = 1 makes lower degrees redundant).
std::vector<double> directionBasis(const Vec3& u, int degree) {
  std::vector<double> out;
  for (int deg : {degree, degree - 1}) {
    if (deg < 0)
      continue;
    for (int a = 0; a <= deg; ++a)
      for (int b = 0; a + b <= deg; ++b) {
        const int c = deg - a - b;
        out.push_back(std::pow(u.x, a) * std::pow(u.y, b) * std::pow(u.z, c));
      }
  }
  return out;
}

/// Solves the symmetric positive definite system a x = b (Cholesky); false when a is not.
bool solveSymmetric(std::vector<double> a, std::vector<double>& b) {
  const std::size_t n = b.size();
  for (std::size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (std::size_t k = 0; k < j; ++k)
      d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0))
      return false;
    a[j * n + j] = std::sqrt(d);
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (std::size_t k = 0; k < j; ++k)
        s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / a[j * n + j];
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k)
      s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k)
      s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return true;
}

/// Weighted linear least squares: the coefficients c minimising sum w (rows . c - y)^2, with a
/// small ridge (1e-3 of the mean diagonal) so a direction no row constrains stays where it was.
std::optional<std::vector<double>> leastSquares(const std::vector<std::vector<double>>& rows,
                                                const std::vector<double>& y, const std::vector<double>& w) {
  const std::size_t k = rows.empty() ? 0 : rows[0].size();
  std::vector<double> a(k * k, 0.0), b(k, 0.0);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t i = 0; i < k; ++i) {
      b[i] += w[r] * rows[r][i] * y[r];
      for (std::size_t j = 0; j <= i; ++j)
        a[i * k + j] += w[r] * rows[r][i] * rows[r][j];
    }
  double trace = 0.0;
  for (std::size_t i = 0; i < k; ++i)
    trace += a[i * k + i];
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < i; ++j)
      a[j * k + i] = a[i * k + j];
    a[i * k + i] += 1e-3 * trace / double(k);
  }
  if (k == 0 || !solveSymmetric(std::move(a), b))
    return std::nullopt;
  return b;
}

/// Separable Gaussian (sigma in mm, truncated at 3 sigma, weights summing to 1, zero outside the grid).
std::vector<double> gaussianAverage(const ImageGeometry& g, std::vector<double> v, double sigmaMm) {
  const std::size_t stride[3] = {1, g.size[0], g.size[0] * g.size[1]};
  std::vector<double> tmp(v.size());
  for (int axis = 0; axis < 3; ++axis) {
    const double s = sigmaMm / g.spacing[std::size_t(axis)];
    const long radius = long(std::ceil(3.0 * s));
    std::vector<double> kernel(std::size_t(2 * radius + 1));
    double total = 0.0;
    for (long t = -radius; t <= radius; ++t)
      total += kernel[std::size_t(t + radius)] = std::exp(-0.5 * double(t * t) / (s * s));
    for (double& k : kernel)
      k /= total;
    const long len = long(g.size[std::size_t(axis)]);
    for (std::size_t v0 = 0; v0 < v.size(); ++v0) {
      const long pos = long((v0 / stride[axis]) % g.size[std::size_t(axis)]);
      double sum = 0.0;
      for (long t = std::max(-radius, -pos); t <= std::min(radius, len - 1 - pos); ++t)
        sum += kernel[std::size_t(t + radius)] * v[std::size_t(long(v0) + t * long(stride[axis]))];
      tmp[v0] = sum;
    }
    std::swap(v, tmp);
  }
  return v;
}

struct BandVoxel {
  std::size_t index;
  double distance;           ///< from the centre, mm
  double halfExtent;         ///< half the voxel's extent along the ray, mm
  std::vector<double> basis; ///< directionBasis of the ray
};

} // namespace

std::optional<StarSurfaceFitResult> fitStarSurface(const ImageGeometry& g, const float* raw,
                                                   const unsigned char* region, const float* sd,
                                                   const StarSurfaceFitOptions& o, double minStartAgreement,
                                                   std::string& why) {
  const std::size_t n = g.voxelCount();
  Vec3 centre{};
  std::size_t count = 0;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (region[g.linearIndex(i, j, k)]) {
          centre += g.indexToPoint(i, j, k);
          ++count;
        }
  if (count == 0) {
    why = "the region is empty";
    return std::nullopt;
  }
  centre = centre / double(count);

  // The band, each voxel with its ray from the centre.
  const Vec3 axes[3] = {g.direction.column(0), g.direction.column(1), g.direction.column(2)};
  std::vector<BandVoxel> band;
  std::vector<int> bandOf(n, -1);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t v = g.linearIndex(i, j, k);
        if (std::abs(sd[v]) > o.bandMm)
          continue;
        const Vec3 p = g.indexToPoint(i, j, k) - centre;
        const double d = std::max(norm(p), 1e-6);
        const Vec3 u = p / d;
        double h = 0.0;
        for (std::size_t a = 0; a < 3; ++a)
          h += 0.5 * g.spacing[a] * std::abs(dot(u, axes[a]));
        bandOf[v] = int(band.size());
        band.push_back({v, d, h, directionBasis(u, o.degree)});
      }
  const std::size_t terms = band.empty() ? 0 : band[0].basis.size();

  // Start: the radius at the region's border faces (a border voxel's outer face along its ray, an
  // outside neighbour's inner face).
  std::vector<std::vector<double>> rows;
  std::vector<double> target;
  const std::size_t stride[3] = {1, g.size[0], g.size[0] * g.size[1]};
  for (const BandVoxel& b : band) {
    const std::size_t v = b.index;
    bool border = false;
    for (std::size_t a = 0; a < 3 && !border; ++a) {
      const std::size_t pos = (v / stride[a]) % g.size[a];
      if (pos > 0 && region[v - stride[a]] != region[v])
        border = true;
      if (pos + 1 < g.size[a] && region[v + stride[a]] != region[v])
        border = true;
    }
    if (!border)
      continue;
    const double r = region[v] ? b.distance + b.halfExtent : b.distance - b.halfExtent;
    if (r <= 0.0) // an outside voxel next to the centre: a region of a voxel or two
      continue;
    rows.push_back(b.basis);
    target.push_back(1.0 / (r * r));
  }
  auto coef = leastSquares(rows, target, std::vector<double>(rows.size(), 1.0));
  if (!coef) {
    why = "no surface fits the region's border";
    return std::nullopt;
  }
  // The radius on a ray (1 / r^2 not above 0: no border on that ray within reach), and how far it
  // moves per unit of the polynomial.
  const auto radius = [&](const BandVoxel& b) {
    double p = 0.0;
    for (std::size_t t = 0; t < terms; ++t)
      p += (*coef)[t] * b.basis[t];
    return p > 0.0 ? 1.0 / std::sqrt(p) : std::numeric_limits<double>::infinity();
  };
  const auto radiusSlope = [](double r) { return -0.5 * r * r * r; };

  StarSurfaceFitResult result;
  std::size_t agree = 0;
  for (const BandVoxel& b : band)
    agree += (b.distance < radius(b)) == bool(region[b.index]);
  result.startAgreement = double(agree) / double(band.size());
  if (result.startAgreement < minStartAgreement) {
    why = fmt::format("a star-shaped surface of degree {} classifies only {:.1f} % of the border band as the region "
                      "does",
                      o.degree, 100.0 * result.startAgreement);
    return std::nullopt;
  }

  // The lesion's level: the region's interior beyond the band (fixed) and the band's voxels clear
  // inside the surface's ramp (radii `rad`, one per band voxel).
  double interiorSum = 0.0;
  std::size_t interiorCount = 0;
  for (std::size_t v = 0; v < n; ++v)
    if (region[v] && bandOf[v] < 0) {
      interiorSum += raw[v];
      ++interiorCount;
    }
  std::vector<double> rad(band.size());
  const auto updateRadii = [&]() {
    for (std::size_t t = 0; t < band.size(); ++t)
      rad[t] = radius(band[t]);
  };
  const auto lesionLevel = [&]() -> std::optional<double> {
    double sum = interiorSum;
    std::size_t inside = interiorCount;
    for (std::size_t t = 0; t < band.size(); ++t)
      if (rad[t] - band[t].distance > band[t].halfExtent + o.clearOfRampMm) {
        sum += raw[band[t].index];
        ++inside;
      }
    if (inside == 0)
      return std::nullopt;
    return sum / double(inside);
  };
  updateRadii();
  const auto startLevel = lesionLevel();
  if (!startLevel) {
    why = "the region has no interior";
    return std::nullopt;
  }

  // The neighbour's level at each band voxel: the Gaussian average (normalised convolution) of the
  // voxels clear of the starting surface's ramp outside it, fixed while fitting so that the surface
  // does not chase a level that moves with it. Averaged per tissue class: soft tissue within
  // `classGapHu` of the lesion; beyond twice that fat, air (below `airBelowHu`) or bone / contrast.
  // The values between are partial volume with the lesion where the start lies inside the border:
  // in the fat class they raised its level and shrank the surface further at each refit. The class
  // with most weight there is the neighbour: an average across a junction of fat and muscle is
  // neither, and pulled the border out along the muscle (+6.7 % on an ellipsoid half in fat, half
  // against muscle). Where no class holds `dominantClassShare` of the weight the voxel lies at such a
  // junction and is not fitted.
  constexpr int kClasses = 4; // fat, soft tissue, bone / contrast, air
  std::vector<double> value[kClasses], weight[kClasses];
  for (int c = 0; c < kClasses; ++c)
    value[c].assign(n, 0.0), weight[c].assign(n, 0.0);
  for (std::size_t t = 0; t < band.size(); ++t)
    if (const BandVoxel& b = band[t]; b.distance - rad[t] > b.halfExtent + o.clearOfRampMm) {
      const double x = raw[b.index], gap = std::abs(x - *startLevel);
      if (gap > o.classGapHu && gap < 2.0 * o.classGapHu)
        continue; // a mixture with the lesion, or noise
      const int c = gap <= o.classGapHu ? 1 : x > *startLevel ? 2 : x < o.airBelowHu ? 3 : 0;
      value[c][b.index] = x;
      weight[c][b.index] = 1.0;
    }
  for (int c = 0; c < kClasses; ++c) {
    if (std::none_of(weight[c].begin(), weight[c].end(), [](double w) { return w > 0.0; }))
      continue; // no voxel of this class (usually bone): nothing to average
    value[c] = gaussianAverage(g, std::move(value[c]), o.neighbourSigmaMm);
    weight[c] = gaussianAverage(g, std::move(weight[c]), o.neighbourSigmaMm);
  }
  std::vector<double> neighbour(band.size(), 0.0);
  std::vector<char> hasNeighbour(band.size(), 0);
  for (std::size_t t = 0; t < band.size(); ++t) {
    const std::size_t v = band[t].index;
    double total = 0.0;
    int best = 0;
    for (int c = 0; c < kClasses; ++c) {
      total += weight[c][v];
      if (weight[c][v] > weight[best][v])
        best = c;
    }
    // Outside voxels hold at least a thousandth of the Gaussian's weight there.
    hasNeighbour[t] = total > 1e-3 && weight[best][v] >= o.dominantClassShare * total;
    if (hasNeighbour[t])
      neighbour[t] = value[best][v] / weight[best][v];
  }

  std::vector<double> residual, weights;
  for (int iteration = 0; iteration < o.iterations; ++iteration) {
    updateRadii();
    const auto level = lesionLevel();
    if (!level) {
      why = "the region has no interior";
      return std::nullopt;
    }
    result.lesionLevel = *level;

    // Gauss-Newton on the voxels the surface crosses (partial volume on a linear ramp).
    rows.clear();
    residual.clear();
    for (std::size_t t = 0; t < band.size(); ++t) {
      const BandVoxel& b = band[t];
      const double r = rad[t];
      const double ramp = (r - b.distance) / (2.0 * b.halfExtent) + 0.5;
      if (ramp <= 0.0 || ramp >= 1.0 || !hasNeighbour[t])
        continue;
      const double contrast = result.lesionLevel - neighbour[t];
      residual.push_back(raw[b.index] - (neighbour[t] + contrast * ramp));
      std::vector<double> row(terms);
      const double slope = contrast / (2.0 * b.halfExtent) * radiusSlope(r);
      for (std::size_t i = 0; i < terms; ++i)
        row[i] = slope * b.basis[i];
      rows.push_back(std::move(row));
    }
    result.fittedVoxels = rows.size();
    if (rows.size() < 10 * terms) {
      why = fmt::format("only {} voxels lie on the surface's ramp for {} coefficients", rows.size(), terms);
      return std::nullopt;
    }
    std::vector<float> spread(residual.begin(), residual.end());
    result.residualSd = robustSpreadOf(std::move(spread)).sd;
    weights.assign(residual.size(), 1.0);
    for (std::size_t r = 0; r < residual.size(); ++r)
      if (std::abs(residual[r]) > o.huberK * result.residualSd)
        weights[r] = o.huberK * result.residualSd / std::abs(residual[r]);
    auto step = leastSquares(rows, residual, weights);
    if (!step) {
      why = "the fit's normal equations are singular";
      return std::nullopt;
    }
    double largest = 0.0;
    for (std::size_t t = 0; t < band.size(); ++t) {
      if (!std::isfinite(rad[t]))
        continue;
      double change = 0.0;
      for (std::size_t i = 0; i < terms; ++i)
        change += (*step)[i] * band[t].basis[i];
      largest = std::max(largest, std::abs(change * radiusSlope(rad[t])));
    }
    const double scale = largest > o.maxStepMm ? o.maxStepMm / largest : 1.0;
    for (std::size_t i = 0; i < terms; ++i)
      (*coef)[i] += scale * (*step)[i];
    result.lastStepMm = scale * largest;
  }

  // The high-contrast voxels just clear of the ramp say on which side the border lies without doubt (a
  // lesion voxel next to fat is 6 noise SDs from the midpoint): the share the fitted surface puts
  // on the wrong side tells a surface of this kind that does not fit (a lobulated mass, whose lobes
  // it cut off: 18-23 % too small at a band agreement of 0.93-0.96).
  updateRadii();
  std::size_t clear = 0, contradicted = 0;
  for (std::size_t t = 0; t < band.size(); ++t) {
    const BandVoxel& b = band[t];
    const double fromSurface = std::abs(rad[t] - b.distance) - b.halfExtent - o.clearOfRampMm;
    if (!hasNeighbour[t] || std::abs(result.lesionLevel - neighbour[t]) < 2.0 * o.classGapHu || fromSurface <= 0.0 ||
        fromSurface > o.contradictionZoneMm)
      continue;
    ++clear;
    const bool inside = rad[t] > b.distance;
    const bool lesionLike = std::abs(raw[b.index] - result.lesionLevel) < std::abs(raw[b.index] - neighbour[t]);
    contradicted += inside != lesionLike;
  }
  result.contradictedShare = clear ? double(contradicted) / double(clear) : 0.0;

  result.mask.assign(region, region + n);
  for (const BandVoxel& b : band)
    result.mask[b.index] = b.distance < radius(b) ? 1 : 0;
  return result;
}

} // namespace lesion::segmentation
