#include "lesion/phantom/PhantomModel.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::phantom {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Torso: concentric elliptic cylinders along z (semi-axes LR, AP in mm), outside in.
constexpr double kTorsoA = 150.0, kTorsoB = 110.0;
constexpr double kSkinMm = 2.0, kFatMm = 14.0, kMuscleMm = 10.0;

/// Fixed anatomy of the spine (straight, along z). Index 0 = T12 (top) .. 6 = S1 (bottom).
struct LevelSpec {
  double semiLr, semiAp, anteriorHeight, posteriorHeight, discBelow;
};
/// L4 is flattened: anterior height 21 mm = 75 % of the 28 mm of its normal neighbours.
constexpr std::array<LevelSpec, kLevelCount> kLevels{{
    {21.0, 15.0, 24.0, 24.0, 8.0},  // T12 (disc below: T12-L1)
    {22.0, 15.5, 26.0, 26.0, 9.0},  // L1
    {23.0, 16.0, 27.0, 27.0, 9.0},  // L2
    {24.0, 16.5, 28.0, 28.0, 10.0}, // L3
    {25.0, 17.0, 21.0, 28.0, 10.0}, // L4 (flattened)
    {25.0, 17.5, 28.0, 28.0, 10.0}, // L5
    {24.0, 17.0, 24.0, 24.0, 0.0},  // S1
}};
constexpr double kBodyCentreY = 35.0;
constexpr double kCanalY = 66.0, kCanalRadius = 11.0;
constexpr int kL4 = 4;

inline double sq(double v) { return v * v; }

bool inEllipse(double x, double y, double a, double b) { return sq(x / a) + sq(y / b) <= 1.0; }

/// Ribs at T12 level (floating 12th ribs) and the 11th ribs just above, left and right.
std::vector<RibArc> ribsFor(const PhantomAnatomy& a) {
  const VertebralBody& t12 = a.bodies[0];
  std::vector<RibArc> ribs;
  for (const double side : {-1.0, 1.0}) {
    // Angles measured from +x; for the right side (x < 0) mirror the arc about x = 0.
    auto arc = [&](double cx, double cy, double z, double R, double from, double to, double r) {
      if (side > 0) ribs.push_back({cx, cy, z, R, from, to, r});
      else ribs.push_back({-cx, cy, z, R, kPi - to, kPi - from, r});
    };
    arc(20.0, 10.0, t12.bottomZ + 10.0, 60.0, -20.0 * kPi / 180, 60.0 * kPi / 180, 4.0);  // 12th rib
    arc(15.0, 0.0, t12.bottomZ + 20.0, 100.0, -30.0 * kPi / 180, 52.0 * kPi / 180, 4.5); // 11th rib
  }
  return ribs;
}

} // namespace

bool RibArc::contains(const Vec3& p) const {
  const double dz = p.z - zc;
  if (std::abs(dz) > r) return false;
  const double dx = p.x - cx, dy = p.y - cy;
  const double rho = std::sqrt(dx * dx + dy * dy);
  if (std::abs(rho - R) > r) return false;
  double a = std::atan2(dy, dx);
  while (a < a0) a += 2.0 * kPi; // arcs may cross the +-pi cut
  if (a <= a1) return sq(rho - R) + dz * dz <= r * r;
  // Rounded ends: distance to the nearer end point.
  for (const double e : {a0, a1}) {
    const double ex = cx + R * std::cos(e), ey = cy + R * std::sin(e);
    if (sq(p.x - ex) + sq(p.y - ey) + dz * dz <= r * r) return true;
  }
  return false;
}

namespace {

bool inBox(const Vec3& p, double x0, double x1, double y0, double y1, double z0, double z1) {
  return p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1 && p.z >= z0 && p.z <= z1;
}

/// Posterior elements of one level: pedicles, laminae, spinous and transverse processes.
bool inPosteriorElements(const Vec3& p, const VertebralBody& b) {
  const double zm = b.bottomZ + 0.5 * b.posteriorHeightMm;
  const double dz = p.z - zm;
  if (std::abs(dz) > 10.0) return false;
  const double yPost = b.centre.y + b.semiAxisApMm;
  // Pedicles: elliptic rods along y at x = +-16 from the body to the lamina.
  if (p.y >= yPost - 2.0 && p.y <= kCanalY + kCanalRadius + 4.0) {
    if (sq((std::abs(p.x) - 16.0) / 5.0) + sq(dz / 7.0) <= 1.0) return true;
  }
  // Laminae: a plate behind the canal.
  if (inBox(p, -21.0, 21.0, kCanalY + kCanalRadius, kCanalY + kCanalRadius + 7.0, zm - 9.0, zm + 9.0)) return true;
  // Spinous process.
  if (inBox(p, -3.5, 3.5, kCanalY + kCanalRadius + 7.0, 96.0, zm - 8.0, zm + 7.0)) return true;
  // Transverse processes.
  if (std::abs(p.x) >= 20.0 && std::abs(p.x) <= 46.0 && sq((p.y - 64.0) / 4.0) + sq(dz / 5.0) <= 1.0) return true;
  return false;
}

} // namespace

const char* levelName(int level) {
  static const char* names[kLevelCount] = {"T12", "L1", "L2", "L3", "L4", "L5", "S1"};
  return level >= 0 && level < kLevelCount ? names[level] : "?";
}

std::uint16_t labelOfTissue(std::uint8_t code) {
  switch (code) {
  case Lytic: return labels::LyticLesion;
  case SclerosisRim:
  case CalcifiedNodule: return labels::CalcifiedPart;
  case Mass: return labels::SoftTissueMass;
  default: {
    const int level = levelOfTissue(code);
    return level >= 0 ? static_cast<std::uint16_t>(labels::FirstVertebralBody + level) : 0;
  }
  }
}

// ---- StarShape ----------------------------------------------------------------------------

double StarShape::radius(const Vec3& u) const {
  const double h0 = 2.0 * u.x * u.y;
  const double h1 = u.x * u.x * u.x - 3.0 * u.x * u.y * u.y;
  const double h2 = 2.0 * u.x * u.z;
  const double h3 = 0.5 * (3.0 * u.z * u.z - 1.0);
  return scale * (1.0 + coefficients[0] * h0 + coefficients[1] * h1 + coefficients[2] * h2 + coefficients[3] * h3);
}

double StarShape::minRadius() const {
  double s = 0;
  for (double c : coefficients) s += std::abs(c);
  return scale * (1.0 - s);
}
double StarShape::maxRadius() const {
  double s = 0;
  for (double c : coefficients) s += std::abs(c);
  return scale * (1.0 + s);
}

bool StarShape::contains(const Vec3& p) const {
  const Vec3 q = inverseAxes * (p - centre);
  const double r2 = dot(q, q);
  const double lo = minRadius(), hi = maxRadius();
  if (r2 <= lo * lo) return true;
  if (r2 > hi * hi) return false;
  const double r = std::sqrt(r2);
  return r <= radius(q / r);
}

Vec3 StarShape::surfacePoint(const Vec3& u) const { return centre + axes * (u * radius(u)); }

void StarShape::bounds(Vec3& lo, Vec3& hi) const {
  // The solid lies inside the ellipsoid axes * (maxRadius * unit ball): its box half-widths are
  // maxRadius * the row norms of `axes`.
  const double r = maxRadius();
  for (std::size_t i = 0; i < 3; ++i) {
    const double half = r * std::sqrt(sq(axes(i, 0)) + sq(axes(i, 1)) + sq(axes(i, 2)));
    lo[i] = centre[i] - half;
    hi[i] = centre[i] + half;
  }
}

StarShape StarShape::scaled(double factor) const {
  StarShape s = *this;
  s.scale *= factor;
  return s;
}

void StarShape::update() { inverseAxes = axes.inverse(); }

// ---- VertebralBody -------------------------------------------------------------------------

double VertebralBody::heightAt(double y) const {
  const double t = (y - (centre.y - semiAxisApMm)) / (2.0 * semiAxisApMm); // 0 anterior .. 1 posterior
  return anteriorHeightMm + (posteriorHeightMm - anteriorHeightMm) * t;
}

double VertebralBody::maxTopZ() const { return bottomZ + std::max(anteriorHeightMm, posteriorHeightMm); }

// ---- Anatomy ---------------------------------------------------------------------------------

TimePointState defaultTimePointState(int index) {
  TimePointState s;
  if (index <= 0) return s;
  s.massScale = index == 1 ? 0.8 : std::max(0.5, 0.7 - 0.05 * (index - 2));
  constexpr double rim[] = {0.0, 0.12, 0.22, 0.28, 0.32, 0.35}; // growing calcification
  s.rimFraction = rim[std::min(index, 5)];
  s.nodules.push_back({{-5.0, 0.0, 0.0}, index == 1 ? 2.5 : 3.0});
  if (index >= 2) {
    s.nodules.push_back({{4.5, 0.0, 1.0}, 2.5});
    s.nodules.push_back({{0.0, -1.0, -4.0}, 2.0});
  }
  return s;
}

PhantomAnatomy buildPhantomAnatomy(const TimePointState& state) {
  PhantomAnatomy a;
  // Spine from S1 (bottom, z = 0) upwards.
  double z = 0.0;
  for (int level = kLevelCount - 1; level >= 0; --level) {
    const LevelSpec& s = kLevels[std::size_t(level)];
    VertebralBody& b = a.bodies[std::size_t(level)];
    b.level = level;
    b.centre = {0.0, kBodyCentreY, 0.0};
    b.semiAxisLrMm = s.semiLr;
    b.semiAxisApMm = s.semiAp;
    b.bottomZ = z;
    b.anteriorHeightMm = s.anteriorHeight;
    b.posteriorHeightMm = s.posteriorHeight;
    b.corticalThicknessMm = 1.2;
    if (level > 0) z = b.maxTopZ() + kLevels[std::size_t(level - 1)].discBelow;
  }
  const VertebralBody& l4 = a.bodies[kL4];

  // Lytic lesion in L4: ~30 (LR) x 20 (AP) x 22 (SI) mm, left-sided, breaching the left
  // lateral cortex (centre.x + semi-axis > body semi-axis), irregular by the perturbation.
  StarShape& lesion = a.lyticLesion;
  const double ly = kBodyCentreY + 3.0;
  lesion.centre = {13.0, ly, l4.bottomZ + 0.5 * l4.heightAt(ly)};
  lesion.axes = Mat3::fromColumns({15.0, 0, 0}, {0, 10.0, 0}, {0, 0, 11.0});
  lesion.coefficients = {0.08, 0.06, 0.05, -0.04};
  lesion.update();
  a.rimFraction = state.rimFraction;
  const StarShape inner = lesion.scaled(1.0 - state.rimFraction);
  for (const Sphere& n : state.nodules) {
    const Sphere world{lesion.centre + n.centre, n.radiusMm};
    // Every nodule must lie inside the rim's inner surface and apart from the others, or the
    // analytic calcified volume (rim + sum of spheres) would be wrong.
    for (int i = 0; i < 400; ++i) {
      const double zc = 1.0 - (2.0 * i + 1.0) / 400.0, r = std::sqrt(1.0 - zc * zc), phi = i * 2.399963229728653;
      const Vec3 p = world.centre + Vec3{r * std::cos(phi), r * std::sin(phi), zc} * world.radiusMm;
      if (!inner.contains(p)) {
        throw ProcessingError(fmt::format("phantom model: calcified nodule at {} (r {} mm) leaves the lesion's inner surface",
                                          formatPoint(world.centre), world.radiusMm));
      }
    }
    for (const Sphere& o : a.nodules) {
      if (distance(o.centre, world.centre) < o.radiusMm + world.radiusMm) {
        throw ProcessingError("phantom model: calcified nodules overlap");
      }
    }
    a.nodules.push_back(world);
  }

  // Axillary / lateral chest-wall soft-tissue mass on the right (x < 0) at L1 level, 32 x 26 mm
  // axially (rotated 25 degrees about z), touching a lateral chest-wall muscle.
  const VertebralBody& l1 = a.bodies[1];
  const Vec3 massCentre{-128.0, -10.0, l1.bottomZ + 0.5 * l1.posteriorHeightMm};
  const Mat3 rz = Mat3::rotation({0, 0, 1}, 25.0 * kPi / 180.0);
  StarShape baselineMass;
  baselineMass.centre = massCentre;
  baselineMass.axes = rz * Mat3::fromColumns({16.0, 0, 0}, {0, 13.0, 0}, {0, 0, 12.0});
  baselineMass.update();
  a.mass = baselineMass.scaled(state.massScale);
  a.chestWallMuscle.centre = massCentre + Vec3{10.0, 30.0, 0.0};
  a.chestWallMuscle.axes = Mat3::fromColumns({12.0, 0, 0}, {0, 22.0, 0}, {0, 0, 45.0});
  a.chestWallMuscle.update();

  a.zMin = a.bodies[kLevelCount - 1].bottomZ - 4.0;
  a.zMax = a.bodies[0].maxTopZ() + 4.0;
  // 10 mm margin: follow-up motion moves the skin by up to ~7 mm.
  a.boxMin = {-kTorsoA - 10.0, -kTorsoB - 10.0, a.zMin};
  a.boxMax = {kTorsoA + 10.0, kTorsoB + 10.0, a.zMax};
  a.ribs = ribsFor(a);
  return a;
}

std::uint8_t PhantomAnatomy::classify(const Vec3& p) const {
  const double e0 = sq(p.x / kTorsoA) + sq(p.y / kTorsoB);
  if (e0 > 1.0) return Air;

  // Lesions first: they replace whatever they overlap.
  if (lyticLesion.contains(p)) {
    for (const Sphere& n : nodules) {
      if (dot(p - n.centre, p - n.centre) <= n.radiusMm * n.radiusMm) return CalcifiedNodule;
    }
    if (rimFraction > 0.0 && !lyticLesion.scaled(1.0 - rimFraction).contains(p)) return SclerosisRim;
    return Lytic;
  }
  if (mass.contains(p)) return Mass;

  // Spine.
  if (std::abs(p.x) <= 50.0 && p.y >= 10.0 && p.y <= 100.0) {
    for (const VertebralBody& b : bodies) {
      if (p.z < b.bottomZ || p.z > b.maxTopZ() + 0.0) continue;
      const double dx = p.x - b.centre.x, dy = p.y - b.centre.y;
      if (!inEllipse(dx, dy, b.semiAxisLrMm, b.semiAxisApMm)) continue;
      const double top = b.topZAt(p.y);
      if (p.z > top) continue;
      const double t = b.corticalThicknessMm;
      const double slope = (b.posteriorHeightMm - b.anteriorHeightMm) / (2.0 * b.semiAxisApMm);
      const bool interior = inEllipse(dx, dy, b.semiAxisLrMm - t, b.semiAxisApMm - t) && p.z - b.bottomZ > t &&
                            (top - p.z) / std::sqrt(1.0 + slope * slope) > t;
      return bodyTissue(b.level, interior);
    }
    // Discs: between the top endplate of the body below and the bottom endplate of the one above.
    for (int level = 0; level + 1 < kLevelCount; ++level) {
      const VertebralBody& above = bodies[std::size_t(level)];
      const VertebralBody& below = bodies[std::size_t(level + 1)];
      if (p.z >= above.bottomZ || p.z < below.bottomZ) continue;
      if (p.z > below.topZAt(p.y) &&
          inEllipse(p.x, p.y - kBodyCentreY, std::min(above.semiAxisLrMm, below.semiAxisLrMm),
                    std::min(above.semiAxisApMm, below.semiAxisApMm))) {
        return Disc;
      }
    }
    for (const VertebralBody& b : bodies) {
      if (inPosteriorElements(p, b)) return PosteriorBone;
    }
    if (sq(p.x) + sq(p.y - kCanalY) <= kCanalRadius * kCanalRadius) return Canal;
  }
  for (const RibArc& r : ribs) {
    if (r.contains(p)) return Rib;
  }
  if (chestWallMuscle.contains(p)) return ChestWallMuscle;
  if (inEllipse(std::abs(p.x) - 30.0, p.y - 80.0, 19.0, 15.0)) return Paraspinal;

  if (e0 > sq(1.0 - kSkinMm / kTorsoB) && !inEllipse(p.x, p.y, kTorsoA - kSkinMm, kTorsoB - kSkinMm)) return Skin;
  if (!inEllipse(p.x, p.y, kTorsoA - kSkinMm - kFatMm, kTorsoB - kSkinMm - kFatMm)) return Fat;
  if (!inEllipse(p.x, p.y, kTorsoA - kSkinMm - kFatMm - kMuscleMm, kTorsoB - kSkinMm - kFatMm - kMuscleMm)) return Muscle;
  return Viscera;
}

RigidTransform defaultFollowUpMotion(int index, const Vec3& c) {
  if (index <= 0) return {};
  // Small, different repositioning at each follow-up: rotations about z (yaw on the table),
  // x (pitch) and y, then a translation of a few mm.
  const double sign = index % 2 == 1 ? 1.0 : -1.0;
  const double deg = kPi / 180.0;
  const Mat3 r = Mat3::rotation({0, 0, 1}, sign * 2.0 * deg) * Mat3::rotation({1, 0, 0}, 1.0 * deg) *
                 Mat3::rotation({0, 1, 0}, 0.5 * (index - 1) * deg);
  const Vec3 shift{3.0 * sign, -2.0 + index, 4.0 * sign};
  RigidTransform t;
  t.rotation = r;
  t.translation = c + shift - r * c; // rotate about c, then shift
  return t;
}

std::array<float, 256> tissueIntensities(Contrast contrast) {
  std::array<float, 256> v{};
  const bool ct = contrast == Contrast::CT;
  auto set = [&](std::uint8_t code, float hu, float mr) { v[code] = ct ? hu : mr; };
  set(Air, -1000, 0);
  set(Skin, 40, 420);
  set(Fat, -100, 900);
  set(Muscle, 50, 350);
  set(Viscera, 30, 300);
  set(Paraspinal, 50, 350);
  set(ChestWallMuscle, 55, 360);
  set(Mass, 45, 430);
  set(Disc, 80, 260);
  set(Canal, 10, 150);
  set(PosteriorBone, 500, 380);
  set(Rib, 450, 330);
  set(Lytic, 40, 400);
  set(SclerosisRim, 450, 120);
  set(CalcifiedNodule, 700, 60);
  for (int level = 0; level < kLevelCount; ++level) {
    set(bodyTissue(level, false), 700, 60);  // cortical shell
    set(bodyTissue(level, true), 200, 600);  // trabecular bone (fatty marrow is bright on T1)
  }
  return v;
}

const char* tissueName(std::uint8_t code) {
  static const char* names[TissueCount] = {"air", "skin", "fat", "muscle", "viscera", "paraspinal muscle",
                                           "chest-wall muscle", "soft-tissue mass", "disc", "spinal canal",
                                           "posterior elements", "rib", "lytic lesion", "sclerotic rim",
                                           "calcified nodule"};
  if (code < TissueCount) return names[code];
  const int level = levelOfTissue(code);
  if (level >= 0) return (code - VertebralBodyBase) % 2 == 0 ? "cortical bone" : "trabecular bone";
  return "unknown";
}

} // namespace lesion::phantom
