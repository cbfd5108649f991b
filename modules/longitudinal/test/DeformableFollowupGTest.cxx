// The optional B-spline level for soft tissue: the phantom's axillary mass on a follow-up whose
// anatomy around the mass is deformed by a known smooth displacement field (on top of a rigid
// repositioning). Target registration error at the mass (centre and surface points) with the
// local rigid level alone and with the B-spline level after it; then the whole tracking chain
// with the mass's mask carried through the deformation.
#include <iostream>
#include <random>

#include <gtest/gtest.h>

#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/longitudinal/Registration.h"
#include "lesion/longitudinal/Resampling.h"
#include "lesion/phantom/Phantom.h"

namespace lesion::longitudinal {
namespace {

/// A smooth, invertible displacement d in baseline LPS: a Gaussian bump around the mass (the
/// mass and its surroundings shift by up to |amplitude| against tissue 3 sigma away).
struct Bump {
  Vec3 centre{};
  Vec3 amplitude{};
  double sigmaMm{15.0};
  [[nodiscard]] Vec3 operator()(const Vec3& p) const {
    const Vec3 r = p - centre;
    return amplitude * std::exp(-dot(r, r) / (2.0 * sigmaMm * sigmaMm));
  }
};

/// The true baseline → follow-up map: F(p) = T(p + d(p)).
struct TrueMotion {
  RigidTransform rigid{};
  Bump bump{};
  [[nodiscard]] Vec3 apply(const Vec3& p) const { return rigid.apply(p + bump(p)); }
  /// F^-1(q): p + d(p) = T^-1(q), by fixed-point iteration (|grad d| <= |A|/sigma e^-1/2 < 1).
  [[nodiscard]] Vec3 inverse(const Vec3& q) const {
    const Vec3 r = rigid.inverse().apply(q);
    Vec3 p = r;
    for (int n = 0; n < 100; ++n) {
      const Vec3 next = r - bump(p);
      const bool converged = distance(next, p) < 1e-6;
      p = next;
      if (converged) break;
    }
    return p;
  }
};

void addNoise(Volume& v, double sd, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, sd);
  for (float& x : v.voxels) x = static_cast<float>(std::lround(x + noise(rng)));
}

double dice(const LabelMap& a, const LabelMap& b, std::uint16_t label) {
  std::size_t both = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) {
    const bool x = a.voxels[i] == label, y = b.voxels[i] == label;
    both += x && y;
    na += x;
    nb += y;
  }
  return na + nb ? 2.0 * double(both) / double(na + nb) : 1.0;
}

class DeformableFollowup : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    s_Anatomy = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
    Vec3 lo, hi;
    s_Anatomy.mass.bounds(lo, hi);
    phantom::PhantomOptions o;
    o.timePoints = 1;
    o.noiseSd = 0.0; // independent noise is added to each scan below
    o.supersampling = 2;
    o.threads = 2;
    o.zFromMm = lo.z - 45.0;
    o.zToMm = hi.z + 45.0;
    const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
    const Volume clean = study.timePoints[0].image;
    const LabelMap& truthLabels = study.timePoints[0].labels;
    const ImageGeometry& g = clean.geometry;

    s_Motion.rigid = phantom::defaultFollowUpMotion(1, {0.0, 0.0, 0.5 * (lo.z + hi.z)});
    s_Motion.bump = {s_Anatomy.mass.centre, {4.0, -3.0, 2.5}, 15.0};

    // Follow-up voxel q shows the baseline anatomy at F^-1(q) (trilinear in the noise-free
    // baseline; air outside it), then both scans get their own noise.
    s_Followup = Volume(g);
    s_FollowupMass = LabelMap(g, 0);
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const Vec3 p = s_Motion.inverse(g.indexToPoint(i, j, k));
          s_Followup.at(i, j, k) = static_cast<float>(sampleAt(clean, p).value_or(-1000.0));
          const Vec3 index = g.pointToIndex(p);
          const long a = std::lround(index.x), b = std::lround(index.y), c = std::lround(index.z);
          if (g.containsIndex(a, b, c) &&
              truthLabels.at(std::size_t(a), std::size_t(b), std::size_t(c)) == phantom::labels::SoftTissueMass)
            s_FollowupMass.at(i, j, k) = 2;
        }
    s_Baseline = clean;
    addNoise(s_Baseline, 12.0, 11u);
    addNoise(s_Followup, 12.0, 22u);
    s_Lesions = LabelMap(g, 0);
    for (std::size_t n = 0; n < s_Lesions.voxels.size(); ++n)
      if (truthLabels.voxels[n] == phantom::labels::SoftTissueMass) s_Lesions.voxels[n] = 2;
  }

  /// The mass centre and its surface at the ends of its three axes (baseline LPS).
  static std::vector<Vec3> massPoints() {
    std::vector<Vec3> points{s_Anatomy.mass.centre};
    for (const Vec3& u : {Vec3{1, 0, 0}, Vec3{-1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, -1, 0}, Vec3{0, 0, 1}, Vec3{0, 0, -1}})
      points.push_back(s_Anatomy.mass.surfacePoint(u));
    return points;
  }

  template <typename Transform>
  static double tre(const Transform& estimated, double* worst = nullptr) {
    double sum = 0.0, w = 0.0;
    for (const Vec3& p : massPoints()) {
      const double e = distance(estimated.apply(p), s_Motion.apply(p));
      sum += e;
      w = std::max(w, e);
    }
    if (worst) *worst = w;
    return sum / double(massPoints().size());
  }

  static phantom::PhantomAnatomy s_Anatomy;
  static TrueMotion s_Motion;
  static Volume s_Baseline, s_Followup;
  static LabelMap s_Lesions, s_FollowupMass;
};
phantom::PhantomAnatomy DeformableFollowup::s_Anatomy;
TrueMotion DeformableFollowup::s_Motion;
Volume DeformableFollowup::s_Baseline, DeformableFollowup::s_Followup;
LabelMap DeformableFollowup::s_Lesions, DeformableFollowup::s_FollowupMass;

TEST_F(DeformableFollowup, BSplineLevelRecoversTheDeformationAndCarriesTheMask) {
  FollowupOptions options; // as lesionkit followup --soft-tissue-registration bspline on CT
  options.measurement.lesions = {measurement::parseLesionSpec("2:soft-tissue:axilla")};
  options.measurement.computeSurfaceMesh = false;
  options.softTissueMethod = FollowupMaskMethod::MappedMask; // the carried mask itself is what is checked
  options.softTissueRegistration = SoftTissueRegistration::BSpline;
  options.globalRegistration.clampBelow = options.localRegistration.clampBelow = -1000.0f;
  options.deformableRegistration.clampBelow = -200.0f;
  options.deformableRegistration.clampAbove = 300.0f;
  const TimePointResult base = measureBaseline(s_Baseline, s_Lesions, nullptr, options);
  const TimePointResult r = analyzeFollowup(s_Baseline, s_Lesions, nullptr, base, s_Followup, "follow-up-1", options);
  ASSERT_EQ(r.lesions.size(), 1u);
  const TrackedLesion& l = r.lesions[0];
  ASSERT_TRUE(l.registration);
  ASSERT_TRUE(l.deformable);
  for (const std::string& note : l.notes) std::cout << "    note: " << note << '\n';
  EXPECT_TRUE(l.deformableUsed);
  const DeformableRegistrationResult& d = *l.deformable;

  double worstRigid = 0.0, worstBSpline = 0.0;
  const double globalTre = tre(r.globalRegistration->baselineToFollowup);
  const double rigidTre = tre(l.registration->baselineToFollowup, &worstRigid);
  const double bsplineTre = tre(d.baselineToFollowup, &worstBSpline);
  const Vec3 c = s_Anatomy.mass.centre;
  const double centreRigid = distance(l.registration->baselineToFollowup.apply(c), s_Motion.apply(c));
  const double centreBSpline = distance(d.baselineToFollowup.apply(c), s_Motion.apply(c));
  const LabelMap rigidMask = mapLabelsToFollowup(s_Lesions, l.registration->baselineToFollowup, s_Followup.geometry, {2});
  const double diceRigid = dice(rigidMask, s_FollowupMass, 2), diceBSpline = dice(r.labels, s_FollowupMass, 2);
  const ImageGeometry& grid = d.baselineToFollowup.controlGrid;
  std::cout << "[ measured ] true displacement at the mass centre " << norm(s_Motion.bump(c))
            << " mm (Gaussian bump, sigma " << s_Motion.bump.sigmaMm << " mm, on top of the rigid motion)\n"
            << "[ measured ] TRE at the mass, mean of centre + 6 surface points: global rigid " << globalTre
            << " mm, local rigid " << rigidTre << " mm (worst " << worstRigid << ", centre " << centreRigid
            << "), B-spline " << bsplineTre << " mm (worst " << worstBSpline << ", centre " << centreBSpline << ")\n"
            << "[ measured ] carried mask vs truth: Dice rigid " << diceRigid << ", B-spline " << diceBSpline
            << "; volume " << l.volumeMl << " mL (baseline " << base.lesions[0].volumeMl << ")\n"
            << "[ measured ] B-spline: " << grid.size[0] << "x" << grid.size[1] << "x" << grid.size[2]
            << " control points, spacing " << grid.spacing.x << "/" << grid.spacing.y << "/" << grid.spacing.z
            << " mm, region " << d.fixedVoxels[0] << "x" << d.fixedVoxels[1] << "x" << d.fixedVoxels[2] << " voxels, "
            << d.iterations << " iterations (last level), " << d.seconds << " s (local rigid "
            << l.registration->seconds << " s, global " << r.globalRegistration->seconds << " s); metric "
            << d.rigidMetricValue << " -> " << d.finalMetricValue << ", max displacement " << d.maxDisplacementMm
            << " mm\n";
  EXPECT_LE(bsplineTre, 1.0);
  // The mass (45 HU) lies in muscle (50 HU): its interior has no contrast, so the centre is
  // placed by the surroundings. Measured 1.05-1.11 mm at the default 50 iterations per level (0.83
  // mm at 100, at 1.5x the cost): the 1 mm target is met on the mean, not at the centre.
  EXPECT_LE(centreBSpline, 1.5);
  EXPECT_GT(rigidTre, 2.0 * bsplineTre); // a rigid transform cannot absorb the deformation
  EXPECT_LT(d.finalMetricValue, d.rigidMetricValue);
  EXPECT_GT(diceBSpline, diceRigid);
  EXPECT_GT(diceBSpline, 0.85);
  // Same anatomy, deformed: through the B-spline the change map inside the mass is noise only.
  ASSERT_TRUE(l.changeMap);
  EXPECT_LT(std::abs(l.changeMapMeanHu), 5.0);

  // The plain evaluation inverts: applyInverse(apply(p)) = p.
  for (const Vec3& p : massPoints())
    EXPECT_LT(distance(d.baselineToFollowup.applyInverse(d.baselineToFollowup.apply(p)), p), 1e-3);
  // The timeline reports it.
  const std::string json = toTimelineJson(buildTimeline({base, r}));
  EXPECT_NE(json.find("\"deformableRegistration\""), std::string::npos);
  EXPECT_NE(json.find("\"used\": true"), std::string::npos);
}

} // namespace
} // namespace lesion::longitudinal
