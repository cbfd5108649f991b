// New lytic lesions on follow-up: a lesion inserted into a healthy vertebra of the phantom's
// follow-up scan is proposed (level and position), the tracked L4 lesion is not.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/pipeline/FollowupRun.h"
#include "lesion/pipeline/FollowupSegmenter.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;

namespace {

/// Replaces the trabecular bone of body `label` within `radiusMm` of its centre with soft tissue
/// (30 HU and the scan's noise): a lytic lesion. Returns its centre (LPS mm).
Vec3 insertLyticLesion(phantom::PhantomTimePoint& tp, std::uint16_t label, double radiusMm) {
  const ImageGeometry& g = tp.image.geometry;
  Vec3 sum{};
  std::size_t count = 0;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (tp.labels.at(i, j, k) == label) {
          sum += g.indexToPoint({double(i), double(j), double(k)});
          ++count;
        }
  const Vec3 centre = sum / double(count);
  std::mt19937 random(7);
  std::normal_distribution<float> noise(0.0f, 12.0f);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (tp.labels.at(i, j, k) == label && distance(g.indexToPoint({double(i), double(j), double(k)}), centre) < radiusMm)
          tp.image.at(i, j, k) = std::round(30.0f + noise(random));
  return centre;
}

} // namespace

TEST(NewLesionProposal, LesionInsertedIntoAHealthyVertebraIsProposedTheTrackedOneIsNot) {
  phantom::PhantomOptions o;
  o.timePoints = 2;
  o.supersampling = 1;
  o.threads = 2;
  phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  constexpr std::uint16_t L2 = 13; // truth labels 11..17 = T12..S1
  const Vec3 inserted = insertLyticLesion(study.timePoints[1], L2, 8.0);

  // Baseline lesion map: the L4 lesion (truth labels 1 lytic, 3 calcified) as label 1.
  const phantom::PhantomTimePoint& baseline = study.timePoints[0];
  LabelMap lesions(baseline.labels.geometry);
  for (std::size_t i = 0; i < lesions.voxels.size(); ++i) {
    lesions.voxels[i] = (baseline.labels.voxels[i] == 1 || baseline.labels.voxels[i] == 3) ? 1 : 0;
  }
  pipeline::FollowupRunInput run;
  run.baseline = &baseline.image;
  run.lesions = &lesions;
  run.followups.push_back({"follow-up-1", "phantom", [&] { return pipeline::ScanVolume(study.timePoints[1].image); }});
  run.options.measurement.lesions = {{1, "lytic-bone", "L4", false}};
  run.options.globalRegistration.clampBelow = run.options.localRegistration.clampBelow = -1000.0f;
  run.options.changeMaps = false;
  run.proposeNewLytic = true;
  test::ScratchFolder dir;
  const pipeline::FollowupRunOutput out = pipeline::writeFollowupRun(run, dir.path());

  ASSERT_EQ(out.newLesions.size(), 1u) << "expected exactly the inserted lesion";
  const pipeline::NewLesionProposal& p = out.newLesions.front();
  EXPECT_EQ(p.level, "L2");
  EXPECT_LT(distance(p.centroidMm, inserted), 6.0) << "proposed at " << p.centroidMm.x << "," << p.centroidMm.y << ","
                                                    << p.centroidMm.z;
  EXPECT_NEAR(p.volumeMl, 4.0 / 3.0 * M_PI * 8.0 * 8.0 * 8.0 / 1000.0, 1.2) << "the sphere of 8 mm is 2.14 mL";
  EXPECT_TRUE(std::filesystem::exists(dir / "new-lesions.json"));
}
