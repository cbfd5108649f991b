/// \file PhantomTruth.cxx
/// Ground truth from the continuous model, never from voxels: volumes by quadrature over the
/// sphere of the star-shaped solids (exact for the rim: V (1 - (1 - s)^3)), diameters and extents
/// from dense surface sampling, RECIST axes from the exact axial sections (boundary points found
/// by bisection of the inside test).

#include <algorithm>
#include <cmath>
#include <functional>

#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"

namespace lesion::phantom {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Integrals over the unit sphere of radius^3 / 3 (volume) and radius^4 / 4 u (first moment),
/// midpoint rule in cos(theta) and phi: the integrands are smooth, error << 1e-5 relative.
void starMoments(const StarShape& s, double& volume, Vec3& centroid) {
  constexpr int nMu = 400, nPhi = 800;
  double v = 0.0;
  Vec3 m{};
  const double dA = (2.0 / nMu) * (2.0 * kPi / nPhi);
  for (int a = 0; a < nMu; ++a) {
    const double mu = -1.0 + (a + 0.5) * 2.0 / nMu, st = std::sqrt(1.0 - mu * mu);
    for (int b = 0; b < nPhi; ++b) {
      const double phi = (b + 0.5) * 2.0 * kPi / nPhi;
      const Vec3 u{st * std::cos(phi), st * std::sin(phi), mu};
      const double r = s.radius(u);
      v += r * r * r / 3.0 * dA;
      m += u * (r * r * r * r / 4.0 * dA);
    }
  }
  const double det = std::abs(s.axes.determinant());
  volume = v * det;
  centroid = s.centre + s.axes * (m / v);
}

/// Dense, near-uniform surface sample (Fibonacci sphere through the star map).
std::vector<Vec3> surfaceSample(const StarShape& s, const RigidTransform& t, int n) {
  std::vector<Vec3> pts;
  pts.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const double z = 1.0 - (2.0 * i + 1.0) / n, r = std::sqrt(1.0 - z * z), phi = i * 2.399963229728653;
    pts.push_back(t.apply(s.surfacePoint({r * std::cos(phi), r * std::sin(phi), z})));
  }
  return pts;
}

/// Largest distance between two of `pts`: extreme points along many directions are the only
/// candidates, then an exact pairwise search among them.
double maxDiameter(const std::vector<Vec3>& pts, Vec3* from = nullptr, Vec3* to = nullptr, bool planar = false) {
  std::vector<std::size_t> candidates;
  const int nDir = planar ? 180 : 1000;
  for (int d = 0; d < nDir; ++d) {
    Vec3 dir;
    if (planar) {
      const double a = kPi * d / nDir;
      dir = {std::cos(a), std::sin(a), 0.0};
    } else {
      const double z = 1.0 - (2.0 * d + 1.0) / nDir, r = std::sqrt(1.0 - z * z), phi = d * 2.399963229728653;
      dir = {r * std::cos(phi), r * std::sin(phi), z};
    }
    std::size_t iMin = 0, iMax = 0;
    double vMin = dot(pts[0], dir), vMax = vMin;
    for (std::size_t i = 1; i < pts.size(); ++i) {
      const double v = dot(pts[i], dir);
      if (v < vMin) vMin = v, iMin = i;
      if (v > vMax) vMax = v, iMax = i;
    }
    candidates.push_back(iMin);
    candidates.push_back(iMax);
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  double best = 0.0;
  for (std::size_t a = 0; a < candidates.size(); ++a) {
    for (std::size_t b = a + 1; b < candidates.size(); ++b) {
      const double d = distance(pts[candidates[a]], pts[candidates[b]]);
      if (d > best) {
        best = d;
        if (from) *from = pts[candidates[a]];
        if (to) *to = pts[candidates[b]];
      }
    }
  }
  return best;
}

using Inside = std::function<bool(const Vec3&)>;

/// Boundary of the section z = const of a solid within [lo, hi] (x, y): crossings of the inside
/// test along the edges of a fine grid, each located by bisection to ~1e-4 mm.
std::vector<Vec3> sectionBoundary(const Inside& inside, double z, const Vec3& lo, const Vec3& hi, double h) {
  const int nx = int(std::ceil((hi.x - lo.x) / h)) + 1, ny = int(std::ceil((hi.y - lo.y) / h)) + 1;
  std::vector<char> in(std::size_t(nx) * std::size_t(ny));
  auto P = [&](int i, int j) { return Vec3{lo.x + i * h, lo.y + j * h, z}; };
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) in[std::size_t(i + nx * j)] = inside(P(i, j));
  }
  std::vector<Vec3> pts;
  auto refine = [&](Vec3 a, Vec3 b, bool aIn) {
    for (int it = 0; it < 12; ++it) {
      const Vec3 m = (a + b) * 0.5;
      if (inside(m) == aIn) a = m;
      else b = m;
    }
    pts.push_back((a + b) * 0.5);
  };
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) {
      const bool v = in[std::size_t(i + nx * j)];
      if (i + 1 < nx && bool(in[std::size_t(i + 1 + nx * j)]) != v) refine(P(i, j), P(i + 1, j), v);
      if (j + 1 < ny && bool(in[std::size_t(i + nx * (j + 1))]) != v) refine(P(i, j), P(i, j + 1), v);
    }
  }
  return pts;
}

/// Longest chord of the section perpendicular to the long axis (from -> to): the section is
/// scanned along lines perpendicular to it; on each, the first and last inside points are found
/// by marching and bisection.
double perpendicularChord(const Inside& inside, const Vec3& from, const Vec3& to, double reach) {
  const Vec3 d = normalized(to - from);
  const Vec3 e{-d.y, d.x, 0.0};
  const double length = distance(from, to);
  const double step = 0.2;
  double best = 0.0;
  for (double t = 0.05; t < length; t += 0.05) {
    const Vec3 base = from + d * t;
    double first = 1e9, last = -1e9;
    bool prev = inside(base + e * (-reach));
    for (double s = -reach + step; s <= reach; s += step) {
      const bool cur = inside(base + e * s);
      if (cur != prev) {
        double a = s - step, b = s;
        for (int it = 0; it < 12; ++it) {
          const double m = 0.5 * (a + b);
          if (inside(base + e * m) == prev) a = m;
          else b = m;
        }
        const double x = 0.5 * (a + b);
        first = std::min(first, x);
        last = std::max(last, x);
      }
      prev = cur;
    }
    if (last > first) best = std::max(best, last - first);
  }
  return best;
}

/// Truth of one star-shaped lesion (whole solid) seen through `t`.
LesionTruth starTruth(const StarShape& s, const RigidTransform& t) {
  LesionTruth truth;
  double volumeMm3 = 0;
  Vec3 centroid;
  starMoments(s, volumeMm3, centroid);
  truth.volumeMl = volumeMm3 / 1000.0;
  truth.centroid = t.apply(centroid);

  const std::vector<Vec3> pts = surfaceSample(s, t, 40000);
  truth.boundsMin = truth.boundsMax = pts.front();
  for (const Vec3& p : pts) {
    for (std::size_t a = 0; a < 3; ++a) {
      truth.boundsMin[a] = std::min(truth.boundsMin[a], p[a]);
      truth.boundsMax[a] = std::max(truth.boundsMax[a], p[a]);
    }
  }
  truth.maxDiameter3dMm = maxDiameter(pts);

  // RECIST: scan axial sections, keep the one with the longest chord, refine around it.
  const RigidTransform toPatient = t.inverse();
  const Inside inside = [&](const Vec3& q) { return s.contains(toPatient.apply(q)); };
  const Vec3 lo = truth.boundsMin - Vec3{0.5, 0.5, 0}, hi = truth.boundsMax + Vec3{0.5, 0.5, 0};
  double bestZ = 0.5 * (lo.z + hi.z), bestLong = -1;
  auto evaluate = [&](double z, double h) {
    const auto boundary = sectionBoundary(inside, z, lo, hi, h);
    if (boundary.size() < 2) return;
    Vec3 a, b;
    const double d = maxDiameter(boundary, &a, &b, true);
    if (d > bestLong) {
      bestLong = d;
      bestZ = z;
      truth.longAxisFrom = a;
      truth.longAxisTo = b;
    }
  };
  const double zStep = 0.5;
  for (double z = truth.boundsMin.z + 0.25; z < truth.boundsMax.z; z += zStep) evaluate(z, 0.4);
  const double zc = bestZ;
  bestLong = -1;
  for (double z = zc - zStep; z <= zc + zStep + 1e-9; z += 0.05) evaluate(z, 0.2);
  truth.longAxisMm = bestLong;
  truth.axialPlaneZMm = bestZ;
  const double reach = 0.5 * norm(hi - lo) + 1.0;
  truth.shortAxisMm = perpendicularChord(inside, truth.longAxisFrom, truth.longAxisTo, reach);
  return truth;
}

/// An interior point with a 1.5 mm neighbourhood of the wanted tissue (a robust seed).
Vec3 findSeed(const PhantomAnatomy& a, const Vec3& centre, const Mat3& axes, std::uint8_t tissue) {
  const double offsets[] = {0.0, 0.2, -0.2, 0.35, -0.35, 0.5, -0.5};
  for (double oz : offsets) {
    for (double oy : offsets) {
      for (double ox : offsets) {
        const Vec3 p = centre + axes * Vec3{ox, oy, oz};
        bool ok = a.classify(p) == tissue;
        for (int n = 0; n < 6 && ok; ++n) {
          Vec3 q = p;
          q[std::size_t(n / 2)] += (n % 2 ? 1.5 : -1.5);
          ok = a.classify(q) == tissue;
        }
        if (ok) return p;
      }
    }
  }
  throw ProcessingError(std::string("phantom model: no interior seed found for ") + tissueName(tissue));
}

} // namespace

TimePointTruth computeTimePointTruth(const PhantomAnatomy& a, const RigidTransform& fromBaseline, int index,
                                     const std::string& studyDate) {
  TimePointTruth truth;
  truth.index = index;
  truth.studyDate = studyDate;
  truth.transformFromBaseline = fromBaseline;

  LesionTruth lytic = starTruth(a.lyticLesion, fromBaseline);
  lytic.id = "l4-lytic";
  lytic.description = "osteolytic lesion of the L4 vertebral body breaching the left lateral cortex (lytic + calcified parts)";
  lytic.labelValues = {labels::LyticLesion, labels::CalcifiedPart};
  const double lesionMm3 = lytic.volumeMl * 1000.0;
  const double s = a.rimFraction;
  lytic.rimVolumeMl = lesionMm3 * (1.0 - std::pow(1.0 - s, 3)) / 1000.0;
  for (const Sphere& n : a.nodules) lytic.noduleVolumeMl += 4.0 / 3.0 * kPi * std::pow(n.radiusMm, 3) / 1000.0;
  lytic.calcifiedVolumeMl = lytic.rimVolumeMl + lytic.noduleVolumeMl;
  lytic.seed = fromBaseline.apply(findSeed(a, a.lyticLesion.centre, a.lyticLesion.axes, Lytic));
  truth.lesions.push_back(lytic);

  LesionTruth mass = starTruth(a.mass, fromBaseline);
  mass.id = "axillary-mass";
  mass.description = "soft-tissue mass in the right lateral chest wall (axilla), touching a chest-wall muscle";
  mass.labelValues = {labels::SoftTissueMass};
  mass.seed = fromBaseline.apply(findSeed(a, a.mass.centre, a.mass.axes, Mass));
  truth.lesions.push_back(mass);

  for (const VertebralBody& b : a.bodies) {
    VertebraTruth v;
    v.level = levelName(b.level);
    v.label = static_cast<std::uint16_t>(labels::FirstVertebralBody + b.level);
    v.anteriorHeightMm = b.anteriorHeightMm;
    v.middleHeightMm = b.middleHeightMm();
    v.posteriorHeightMm = b.posteriorHeightMm;
    v.centre = fromBaseline.apply({b.centre.x, b.centre.y, b.bottomZ + 0.5 * b.middleHeightMm()});
    truth.vertebrae.push_back(v);
  }
  return truth;
}

} // namespace lesion::phantom
