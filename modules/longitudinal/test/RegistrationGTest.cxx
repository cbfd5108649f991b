// Rigid registration against a known motion of an analytic scene; label transfer and sampling.
#include <iostream>

#include <gtest/gtest.h>

#include "SyntheticScene.h"
#include "lesion/core/Error.h"
#include "lesion/longitudinal/Registration.h"
#include "lesion/longitudinal/Resampling.h"

namespace lesion::longitudinal {
namespace {

using namespace lesion::longitudinal::test;

std::vector<Vec3> checkPoints() {
  return {{35, 25, 30}, {0, 30, 20}, {-30, -10, 10}, {28, -5, -15}, {-15, 20, -30}, {0, 0, 0}, {50, -30, -40}};
}

TEST(Registration, GlobalRigidRecoversKnownMotionWithinOneMillimetre) {
  const ImageGeometry g = sceneGrid();
  const Volume baseline = sceneVolume(g);
  const RigidTransform truth = knownMotion();
  const Volume followup = sceneVolume(g, truth);
  RegistrationOptions options;
  options.globalVoxelSizeMm = 2.0; // the grid is already coarse: no bin shrinking
  options.clampBelow = -1000.0f;
  const RegistrationResult r = registerRigid(baseline, followup, options);
  double worst = 0.0;
  for (const Vec3& p : checkPoints()) worst = std::max(worst, distance(r.baselineToFollowup.apply(p), truth.apply(p)));
  EXPECT_LE(worst, 1.0) << "stop: " << r.stopCondition << ", metric " << r.finalMetricValue;
  EXPECT_LT(r.finalMetricValue, 0.0); // Mattes MI is reported negated
  EXPECT_NEAR(r.baselineToFollowup.angleDegrees(), truth.angleDegrees(), 0.5);
  std::cout << "[ measured ] global TRE worst " << worst << " mm, " << r.seconds << " s\n";

  // Local refinement around the mass starting from the global result: TRE at the mass ≤ 1 mm,
  // and no worse than 0.5 mm from the global estimate there (both are close to the truth).
  const RegionOfInterest roi{"mass", Vec3{35, 25, 30} - Vec3{30, 30, 30}, Vec3{35, 25, 30} + Vec3{30, 30, 30}};
  const auto local = registerRigidLocal(baseline, followup, {roi}, r.baselineToFollowup);
  ASSERT_EQ(local.size(), 1u);
  const std::vector<Vec3> massPoints{{35, 25, 30}, {45, 25, 30}, {35, 32, 36}, {25, 18, 24}};
  const double tre = meanPointDistanceMm(local[0].baselineToFollowup, truth, massPoints);
  EXPECT_LE(tre, 1.0) << local[0].stopCondition;
  std::cout << "[ measured ] local TRE at the mass " << tre << " mm, " << local[0].seconds << " s\n";
}

TEST(Registration, RejectsRegionOutsideTheImage) {
  const ImageGeometry g = sceneGrid(24, 24, 16);
  const Volume v = sceneVolume(g);
  const RegionOfInterest far{"far", {500, 500, 500}, {520, 520, 520}};
  EXPECT_THROW((void)registerRigidLocal(v, v, {far}, {}), InputError);
}

TEST(Resampling, LabelsFollowTheMotion) {
  const ImageGeometry g = sceneGrid(80, 72, 48, {1.5, 1.5, 2.0});
  const RigidTransform truth = knownMotion();
  // A sphere of radius 10 mm at c, labelled 5 on the baseline grid.
  const Vec3 c{20, 10, 5};
  LabelMap baseline(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (distance(g.indexToPoint(i, j, k), c) <= 10.0) baseline.at(i, j, k) = 5;
  const LabelMap mapped = mapLabelsToFollowup(baseline, truth, g, {5});
  std::size_t count = 0, baselineCount = 0;
  Vec3 centroid{};
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        baselineCount += baseline.at(i, j, k) == 5;
        if (mapped.at(i, j, k) == 5) {
          ++count;
          centroid += g.indexToPoint(i, j, k);
        }
      }
  ASSERT_GT(count, 0u);
  centroid = centroid / double(count);
  EXPECT_LT(distance(centroid, truth.apply(c)), 0.3);
  EXPECT_NEAR(double(count), double(baselineCount), 0.03 * double(baselineCount));
  // Labels not asked for are not carried.
  EXPECT_EQ(mapLabelsToFollowup(baseline, truth, g, {4}).voxels, LabelMap(g, 0).voxels);
}

TEST(Resampling, SamplingUndoesTheMotion) {
  const ImageGeometry g = sceneGrid(60, 56, 40, {2.0, 2.0, 2.0});
  const RigidTransform truth = knownMotion();
  const Volume followup = sceneVolume(g, truth);
  // Inside the part of the scene both scans see (the motion shifts 6 mm along z).
  const ImageGeometry crop = cropGrid(g, {10, 0, 0}, {40, 30, 25});
  ASSERT_GT(crop.voxelCount(), 0u);
  const Volume back = sampleFollowupOnGrid(followup, truth, crop, -2000.0f);
  const Volume expected = sceneVolume(crop);
  double sumAbs = 0.0;
  for (std::size_t n = 0; n < back.voxels.size(); ++n) sumAbs += std::abs(back.voxels[n] - expected.voxels[n]);
  // Trilinear interpolation of a scene with ~1 mm edges on a 2 mm grid: small mean error.
  EXPECT_LT(sumAbs / double(back.voxels.size()), 15.0);
  // cropImage returns the same voxels as the analytic scene on that crop.
  const Volume full = sceneVolume(g);
  const Volume cropped = cropImage(full, crop);
  EXPECT_EQ(cropped.voxels, expected.voxels);
}

} // namespace
} // namespace lesion::longitudinal
