// The continuous phantom model and its analytic truth, checked against independent dense
// sampling of the model (no voxeliser involved).
#include <cmath>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"

using namespace lesion;
using namespace lesion::phantom;

namespace {
constexpr double kPi = 3.14159265358979323846;

/// Volume (mL) of the points classified as one of `tissues`, by midpoint sampling at step h.
double sampledVolumeMl(const PhantomAnatomy& a, const StarShape& box, std::initializer_list<std::uint8_t> tissues, double h) {
  Vec3 lo, hi;
  box.bounds(lo, hi);
  std::size_t count = 0;
  for (double z = lo.z + h / 2; z < hi.z; z += h) {
    for (double y = lo.y + h / 2; y < hi.y; y += h) {
      for (double x = lo.x + h / 2; x < hi.x; x += h) {
        const std::uint8_t c = a.classify({x, y, z});
        for (auto t : tissues) count += c == t;
      }
    }
  }
  return count * h * h * h / 1000.0;
}
} // namespace

TEST(PhantomModel, SpineHasCorticalShellTrabecularCoreDiscsAndFlattenedL4) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  for (const VertebralBody& b : a.bodies) {
    const double zMid = b.bottomZ + 0.5 * b.anteriorHeightMm;
    // Away from the lesion (right side, x < 0): trabecular inside, cortical within the shell.
    EXPECT_EQ(a.classify({-5.0, b.centre.y, zMid}), bodyTissue(b.level, true)) << levelName(b.level);
    EXPECT_EQ(a.classify({-(b.semiAxisLrMm - 0.5), b.centre.y, zMid}), bodyTissue(b.level, false)) << levelName(b.level);
    EXPECT_EQ(a.classify({-(b.semiAxisLrMm + 0.5), b.centre.y, zMid}) == bodyTissue(b.level, false), false);
  }
  // Discs between the bodies, cortical bone at the L4 bottom endplate.
  const VertebralBody& l4 = a.bodies[4];
  const VertebralBody& l5 = a.bodies[5];
  EXPECT_EQ(a.classify({-5.0, 35.0, 0.5 * (l5.maxTopZ() + l4.bottomZ)}), Disc);
  EXPECT_EQ(a.classify({-5.0, 35.0, l4.bottomZ + 0.6}), bodyTissue(4, false));
  EXPECT_DOUBLE_EQ(l4.anteriorHeightMm / a.bodies[3].anteriorHeightMm, 0.75);
  EXPECT_DOUBLE_EQ(l4.middleHeightMm(), 0.5 * (l4.anteriorHeightMm + l4.posteriorHeightMm));
  // Anterior edge is lower than posterior edge: the top endplate is tilted.
  EXPECT_LT(l4.topZAt(l4.centre.y - l4.semiAxisApMm), l4.topZAt(l4.centre.y + l4.semiAxisApMm) - 6.0);
  EXPECT_EQ(a.classify({0.0, 66.0, l4.bottomZ + 5}), Canal);
  EXPECT_EQ(a.classify({0.0, 90.0, l4.bottomZ + 14}), PosteriorBone); // spinous process
  EXPECT_EQ(a.classify({0.0, -109.0, 100.0}), Skin);
  EXPECT_EQ(a.classify({0.0, -100.0, 100.0}), Fat);
  EXPECT_EQ(a.classify({0.0, -88.0, 100.0}), Muscle);
  EXPECT_EQ(a.classify({0.0, 200.0, 100.0}), Air);
}

TEST(PhantomModel, LyticLesionIsIrregularAndBreachesTheLeftCortex) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  const StarShape& s = a.lyticLesion;
  EXPECT_EQ(a.classify(s.centre), Lytic);
  double rMin = 10, rMax = 0, xMax = -1e9;
  for (int i = 0; i < 2000; ++i) {
    const double z = 1.0 - (2.0 * i + 1.0) / 2000, r = std::sqrt(1 - z * z), phi = i * 2.399963229728653;
    const Vec3 u{r * std::cos(phi), r * std::sin(phi), z};
    rMin = std::min(rMin, s.radius(u));
    rMax = std::max(rMax, s.radius(u));
    xMax = std::max(xMax, s.surfacePoint(u).x);
  }
  EXPECT_GT(rMax - rMin, 0.15) << "not an ellipsoid";
  EXPECT_GT(xMax, a.bodies[4].semiAxisLrMm + 2.0) << "the soft-tissue component must leave the body";
  EXPECT_EQ(a.classify({a.bodies[4].semiAxisLrMm + 1.0, s.centre.y, s.centre.z}), Lytic);
}

TEST(PhantomModel, AnalyticVolumesMatchDenseSamplingOfTheModel) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(2));
  const TimePointTruth t = computeTimePointTruth(a, {}, 2, "20240101");
  const LesionTruth& lytic = t.lesions.at(0);
  const double h = 0.25;
  EXPECT_NEAR(sampledVolumeMl(a, a.lyticLesion, {Lytic, SclerosisRim, CalcifiedNodule}, h), lytic.volumeMl, 0.005 * lytic.volumeMl);
  EXPECT_NEAR(sampledVolumeMl(a, a.lyticLesion, {SclerosisRim, CalcifiedNodule}, h), lytic.calcifiedVolumeMl,
              0.01 * lytic.calcifiedVolumeMl);
  EXPECT_NEAR(sampledVolumeMl(a, a.lyticLesion, {CalcifiedNodule}, h), lytic.noduleVolumeMl, 0.02 * lytic.noduleVolumeMl);
  EXPECT_NEAR(lytic.rimVolumeMl, lytic.volumeMl * (1 - std::pow(1 - a.rimFraction, 3)), 1e-12);
  // Roughly the clinical size: 30 x 20 x 22 mm.
  EXPECT_NEAR(lytic.extentMm().x, 30.0, 3.0);
  EXPECT_NEAR(lytic.extentMm().y, 20.0, 3.0);
  EXPECT_NEAR(lytic.extentMm().z, 22.0, 3.0);
  EXPECT_EQ(a.classify(lytic.seed), Lytic);
}

TEST(PhantomModel, EllipsoidMassTruthIsAnalytic) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  const LesionTruth m = computeTimePointTruth(a, {}, 0, "20240101").lesions.at(1);
  EXPECT_NEAR(m.volumeMl, 4.0 / 3.0 * kPi * 16 * 13 * 12 / 1000.0, 1e-4);
  EXPECT_NEAR(m.maxDiameter3dMm, 32.0, 0.02);
  EXPECT_NEAR(m.longAxisMm, 32.0, 0.02);
  EXPECT_NEAR(m.shortAxisMm, 26.0, 0.1);
  EXPECT_NEAR(m.axialPlaneZMm, a.mass.centre.z, 0.1);
  const double c = std::cos(25 * kPi / 180), s = std::sin(25 * kPi / 180);
  EXPECT_NEAR(m.extentMm().x, 2 * std::hypot(16 * c, 13 * s), 0.01);
  EXPECT_NEAR(m.extentMm().y, 2 * std::hypot(16 * s, 13 * c), 0.01);
  EXPECT_NEAR(m.extentMm().z, 24.0, 0.01);
  EXPECT_NEAR(distance(m.centroid, a.mass.centre), 0.0, 1e-6);
  EXPECT_EQ(a.classify(m.seed), Mass);
  // The mass touches the chest-wall muscle: muscle just outside the mass boundary.
  bool touches = false;
  for (int i = 0; i < 400 && !touches; ++i) {
    const double phi = 2 * kPi * i / 400;
    const Vec3 u{std::cos(phi), std::sin(phi), 0.0};
    touches = a.classify(a.mass.centre + (a.mass.surfacePoint(u) - a.mass.centre) * 1.04) == ChestWallMuscle;
  }
  EXPECT_TRUE(touches);
}

TEST(PhantomModel, FollowUpShrinksTheMassAndMovesThePatient) {
  const PhantomAnatomy a1 = buildPhantomAnatomy(defaultTimePointState(1));
  const RigidTransform motion = defaultFollowUpMotion(1, {0, 0, 120});
  EXPECT_GT(motion.angleDegrees(), 1.5);
  EXPECT_LT(motion.angleDegrees(), 3.0);
  const TimePointTruth t = computeTimePointTruth(a1, motion, 1, "20240101");
  const LesionTruth& m = t.lesions.at(1);
  EXPECT_NEAR(m.volumeMl, 0.8 * 0.8 * 0.8 * 4.0 / 3.0 * kPi * 16 * 13 * 12 / 1000.0, 1e-4);
  EXPECT_NEAR(m.maxDiameter3dMm, 0.8 * 32.0, 0.02);
  EXPECT_NEAR(m.longAxisMm, 0.8 * 32.0, 0.3); // sections of the slightly tilted ellipsoid
  EXPECT_NEAR(distance(m.centroid, motion.apply(a1.mass.centre)), 0.0, 1e-6);
  const RigidTransform identity = defaultFollowUpMotion(0, {0, 0, 120});
  EXPECT_NEAR(identity.angleDegrees(), 0.0, 1e-12);
  EXPECT_EQ(t.vertebrae.at(4).level, "L4");
  EXPECT_DOUBLE_EQ(t.vertebrae.at(4).anteriorHeightMm, 21.0);
}

TEST(PhantomModel, EveryAllowedTimePointIsConsistent) {
  double previousRim = -1;
  for (int t = 0; t < 6; ++t) {
    const TimePointState s = defaultTimePointState(t);
    PhantomAnatomy a;
    ASSERT_NO_THROW(a = buildPhantomAnatomy(s)) << "time point " << t;
    EXPECT_GT(s.rimFraction, previousRim);
    previousRim = s.rimFraction;
    for (const Sphere& n : a.nodules) EXPECT_EQ(a.classify(n.centre), CalcifiedNodule);
  }
}

TEST(PhantomModel, StudyDatesAndOptionChecks) {
  EXPECT_EQ(addDays("20240115", 90), "20240414");
  EXPECT_EQ(addDays("20240228", 1), "20240229");
  EXPECT_EQ(addDays("20231231", 1), "20240101");
  EXPECT_THROW((void)addDays("2024-01-15", 1), UsageError);
  PhantomOptions o;
  o.timePoints = 0;
  EXPECT_THROW(o.validate(), UsageError);
  o = {};
  o.pixelSizeMm = -1;
  EXPECT_THROW(o.validate(), UsageError);
  // The ID is written as DICOM LO text in UTF-8: bytes that are not UTF-8 (a Latin-1 shell's "\xFC")
  // or a backslash (LO's value separator) would not read back as given.
  for (const std::string id : {"M\xFCller", "A\\B", "A\tB"}) {
    o = {};
    o.patientId = id;
    EXPECT_THROW(o.validate(), UsageError) << id;
  }
  o = {};
  o.patientId = "M\xC3\xBCller";
  EXPECT_NO_THROW(o.validate());
  o = {};
  o.pixelSizeMm = 0.2;
  o.sliceThicknessMm = 0.2;
  EXPECT_THROW((void)generatePhantomStudy(o), UsageError) << "a 2.4 G voxel grid is refused up front";
}
