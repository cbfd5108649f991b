// Voxelised phantom studies against the continuous ground truth: volumes, extents, partial
// volume, follow-up motion, determinism.
#include <cmath>
#include <iostream>
#include <map>

#include <gtest/gtest.h>

#include "lesion/phantom/Phantom.h"

using namespace lesion;
using namespace lesion::phantom;

namespace {

/// Options for a small, fast study covering patient-frame z range of `shape` (+-10 mm for motion).
PhantomOptions aroundShape(const StarShape& shape, int timePoints) {
  Vec3 lo, hi;
  shape.bounds(lo, hi);
  PhantomOptions o;
  o.timePoints = timePoints;
  o.zFromMm = lo.z - 10.0;
  o.zToMm = hi.z + 10.0;
  return o;
}

struct LabelStats {
  std::size_t count{0};
  Vec3 sum{};
  Vec3 lo{1e9, 1e9, 1e9}, hi{-1e9, -1e9, -1e9};
  [[nodiscard]] Vec3 centroid() const { return sum / double(count); }
};

LabelStats stats(const LabelMap& labels, std::initializer_list<std::uint16_t> values) {
  LabelStats s;
  const ImageGeometry& g = labels.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    for (std::size_t j = 0; j < g.size[1]; ++j) {
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const auto v = labels.at(i, j, k);
        bool hit = false;
        for (auto w : values) hit = hit || v == w;
        if (!hit) continue;
        const Vec3 p = g.indexToPoint(i, j, k);
        ++s.count;
        s.sum += p;
        for (std::size_t a = 0; a < 3; ++a) {
          s.lo[a] = std::min(s.lo[a], p[a]);
          s.hi[a] = std::max(s.hi[a], p[a]);
        }
      }
    }
  }
  return s;
}

/// Mean intensity over voxels of `label` whose 6 face neighbours have it too (no partial volume).
double meanOver(const PhantomTimePoint& tp, std::uint16_t label) {
  double sum = 0;
  std::size_t n = 0;
  const ImageGeometry& g = tp.labels.geometry;
  const std::size_t sx = 1, sy = g.size[0], sz = g.size[0] * g.size[1];
  for (std::size_t i = sz; i + sz < tp.labels.voxels.size(); ++i) {
    const auto& v = tp.labels.voxels;
    if (v[i] == label && v[i - sx] == label && v[i + sx] == label && v[i - sy] == label && v[i + sy] == label &&
        v[i - sz] == label && v[i + sz] == label) {
      sum += tp.image.voxels[i];
      ++n;
    }
  }
  return n ? sum / n : 0.0;
}

} // namespace

TEST(PhantomStudy, LyticLesionVoxelsMatchTheContinuousTruth) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  const PhantomStudy study = generatePhantomStudy(aroundShape(a.lyticLesion, 3));
  ASSERT_EQ(study.timePoints.size(), 3u);
  double previousCalcified = -1;
  for (const PhantomTimePoint& tp : study.timePoints) {
    const LesionTruth& truth = tp.truth.lesions.at(0);
    const ImageGeometry& g = tp.labels.geometry;
    const LabelStats lesion = stats(tp.labels, {labels::LyticLesion, labels::CalcifiedPart});
    const double voxelMl = lesion.count * g.voxelVolumeMm3() / 1000.0;
    EXPECT_NEAR(voxelMl, truth.volumeMl, 0.03 * truth.volumeMl) << "time point " << tp.truth.index;
    std::cout << "lytic lesion tp" << tp.truth.index << ": voxels " << voxelMl << " mL, truth " << truth.volumeMl << " mL ("
              << 100.0 * (voxelMl / truth.volumeMl - 1.0) << " %)" << std::endl;
    // Extents include the voxel: centre-to-centre extent + one spacing, within one spacing.
    const Vec3 extent = lesion.hi - lesion.lo + g.spacing;
    for (std::size_t ax = 0; ax < 3; ++ax) {
      EXPECT_NEAR(extent[ax], truth.extentMm()[ax], g.spacing[ax]) << "axis " << ax << " time point " << tp.truth.index;
    }
    const LabelStats calcified = stats(tp.labels, {labels::CalcifiedPart});
    const double calcifiedMl = calcified.count * g.voxelVolumeMm3() / 1000.0;
    std::cout << "  calcified: voxels " << calcifiedMl << " mL, truth " << truth.calcifiedVolumeMl << " mL" << std::endl;
    EXPECT_NEAR(calcifiedMl, truth.calcifiedVolumeMl, 0.1 * truth.calcifiedVolumeMl + 0.02);
    EXPECT_GT(truth.calcifiedVolumeMl, previousCalcified) << "calcification grows";
    previousCalcified = truth.calcifiedVolumeMl;
    EXPECT_NEAR(distance(lesion.centroid(), truth.centroid), 0.0, 0.5);
    // Seed is inside the non-calcified lesion on the voxel grid too.
    const Vec3 idx = g.pointToIndex(truth.seed);
    EXPECT_EQ(tp.labels.at(std::size_t(std::lround(idx.x)), std::size_t(std::lround(idx.y)), std::size_t(std::lround(idx.z))),
              labels::LyticLesion);
    // Intensities: soft-tissue lesion ~40 HU, calcified part much denser.
    EXPECT_NEAR(meanOver(tp, labels::LyticLesion), 40.0, 8.0);
    if (truth.calcifiedVolumeMl > 0) {
      // Rim and nodules are thin: average over all their voxels, which partial volume dilutes.
      double sum = 0;
      std::size_t n = 0;
      for (std::size_t i = 0; i < tp.labels.voxels.size(); ++i) {
        if (tp.labels.voxels[i] == labels::CalcifiedPart) sum += tp.image.voxels[i], ++n;
      }
      EXPECT_GT(sum / n, 250.0);
    }
  }
  EXPECT_EQ(study.timePoints[0].truth.lesions[0].calcifiedVolumeMl, 0.0);
  // The flattened L4 body is labelled by level.
  EXPECT_GT(stats(study.timePoints[0].labels, {labels::FirstVertebralBody + 4}).count, 1000u);
}

TEST(PhantomStudy, MassShrinksAndFollowsTheRigidTransform) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  PhantomOptions o = aroundShape(a.mass, 3);
  o.noiseSd = 0.0;
  const PhantomStudy study = generatePhantomStudy(o);
  const Vec3 baselineCentre = study.timePoints[0].truth.lesions.at(1).centroid;
  EXPECT_NEAR(distance(baselineCentre, a.mass.centre), 0.0, 1e-6);
  for (const PhantomTimePoint& tp : study.timePoints) {
    const LesionTruth& truth = tp.truth.lesions.at(1);
    const LabelStats mass = stats(tp.labels, {labels::SoftTissueMass});
    const double voxelMl = mass.count * tp.labels.geometry.voxelVolumeMm3() / 1000.0;
    EXPECT_NEAR(voxelMl, truth.volumeMl, 0.03 * truth.volumeMl) << "time point " << tp.truth.index;
    std::cout << "mass tp" << tp.truth.index << ": voxels " << voxelMl << " mL, truth " << truth.volumeMl << " mL ("
              << 100.0 * (voxelMl / truth.volumeMl - 1.0) << " %)" << std::endl;
    // The voxelised mass sits where the rigid motion puts the baseline mass centre.
    const Vec3 expected = tp.truth.transformFromBaseline.apply(baselineCentre);
    EXPECT_NEAR(distance(mass.centroid(), expected), 0.0, 0.4) << "time point " << tp.truth.index;
    EXPECT_NEAR(meanOver(tp, labels::SoftTissueMass), 45.0, 3.0);
  }
  EXPECT_GT(distance(study.timePoints[1].truth.transformFromBaseline.apply(baselineCentre), baselineCentre), 3.0)
      << "the follow-up must really move the patient";
  EXPECT_NEAR(study.timePoints[1].truth.lesions[1].longAxisMm, 0.8 * study.timePoints[0].truth.lesions[1].longAxisMm, 0.3);
}

TEST(PhantomStudy, EdgesHavePartialVolumeAndNoiseIsSeeded) {
  PhantomOptions o;
  o.timePoints = 1;
  o.zFromMm = 100.0;
  o.zToMm = 104.0;
  o.pixelSizeMm = 2.0;
  o.noiseSd = 0.0;
  const PhantomStudy clean = generatePhantomStudy(o);
  const Volume& img = clean.timePoints[0].image;
  // Along the row through the torso centre: air, then skin/fat boundary voxels with mixed values.
  const std::size_t j = img.geometry.size[1] / 2, k = 0;
  int mixed = 0;
  std::map<float, int> values;
  for (std::size_t i = 0; i < img.geometry.size[0]; ++i) {
    const float v = img.at(i, j, k);
    if (v > -990.0f && v < -110.0f) ++mixed; // between air and fat: partial volume at the skin
    ++values[v];
  }
  EXPECT_GE(mixed, 2);

  o.noiseSd = 12.0;
  o.seed = 7;
  o.threads = 1;
  const PhantomStudy a = generatePhantomStudy(o);
  o.threads = 2;
  const PhantomStudy b = generatePhantomStudy(o);
  EXPECT_EQ(a.timePoints[0].image.voxels, b.timePoints[0].image.voxels) << "same seed, same voxels, any thread count";
  o.seed = 8;
  const PhantomStudy c = generatePhantomStudy(o);
  EXPECT_NE(a.timePoints[0].image.voxels, c.timePoints[0].image.voxels);
  // Noise SD measured against the noise-free image in pure voxels.
  double sum2 = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < img.voxels.size(); ++i) {
    if (img.voxels[i] == 30.0f) { // viscera, pure
      const double d = a.timePoints[0].image.voxels[i] - img.voxels[i];
      sum2 += d * d;
      ++n;
    }
  }
  ASSERT_GT(n, 1000u);
  EXPECT_NEAR(std::sqrt(sum2 / n), 12.0, 0.6);
}

TEST(PhantomStudy, DefaultGridCoversTheTorsoAndSpine) {
  const ImageGeometry g = phantomGrid(PhantomOptions{});
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  EXPECT_DOUBLE_EQ(g.spacing.x, 1.0);
  EXPECT_DOUBLE_EQ(g.spacing.z, 2.0);
  const Vec3 first = g.indexToPoint(0, 0, 0);
  const Vec3 last = g.indexToPoint(g.size[0] - 1, g.size[1] - 1, g.size[2] - 1);
  EXPECT_LE(first.x, -150.0);
  EXPECT_GE(last.x, 150.0);
  EXPECT_LE(first.y, -110.0);
  EXPECT_GE(last.y, 110.0);
  EXPECT_LE(first.z, a.bodies[6].bottomZ);
  EXPECT_GE(last.z, a.bodies[0].maxTopZ());
  EXPECT_LT(g.size[0], 340u) << "FOV cropped to the torso";
}
