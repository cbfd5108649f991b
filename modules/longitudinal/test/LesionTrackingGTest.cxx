// Tracking on the analytic scene: a mass that shrinks or disappears after a known motion,
// followed with the built-in intensity-gated method and inside the mapped mask; an MR-like
// version followed with the baseline model.
#include <iostream>
#include <new>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "SyntheticScene.h"
#include "lesion/core/Error.h"
#include "lesion/longitudinal/LesionTracking.h"

namespace lesion::longitudinal {
namespace {

using namespace lesion::longitudinal::test;

class SceneTracking : public ::testing::Test {
protected:
  void SetUp() override {
    grid = sceneGrid(96, 88, 72, {1.25, 1.25, 1.5});
    baseline = sceneVolume(grid);
    lesions = LabelMap(grid, 0);
    const Blob mass = sceneBlobs()[6];
    for (std::size_t k = 0; k < grid.size[2]; ++k)
      for (std::size_t j = 0; j < grid.size[1]; ++j)
        for (std::size_t i = 0; i < grid.size[0]; ++i)
          if (inside(grid.indexToPoint(i, j, k), mass) >= 0.5)
            lesions.at(i, j, k) = 1;
    options.measurement.lesions = {measurement::parseLesionSpec("1:soft-tissue:mass")};
    options.measurement.computeSurfaceMesh = false;
    options.globalRegistration.clampBelow = -1000.0f;
    options.globalRegistration.globalVoxelSizeMm = 2.5;
  }
  ImageGeometry grid;
  Volume baseline;
  LabelMap lesions;
  FollowupOptions options;
};

TEST_F(SceneTracking, IntensityGatedFollowsAShrinkingMass) {
  const TimePointResult base = measureBaseline(baseline, lesions, nullptr, options);
  ASSERT_EQ(base.lesions.size(), 1u);
  const Volume followup = sceneVolume(grid, knownMotion(), 0.6);
  const TimePointResult r = analyzeFollowup(baseline, lesions, nullptr, base, followup, "follow-up-1", options);
  ASSERT_EQ(r.lesions.size(), 1u);
  const TrackedLesion& l = r.lesions[0];
  EXPECT_EQ(l.maskMethod, "intensity-gated");
  ASSERT_FALSE(l.disappeared);
  ASSERT_FALSE(l.notEvaluable) << (l.notes.empty() ? "" : l.notes[0]);
  // Ellipsoid 10 x 7 x 6 mm semi-axes scaled by 0.6: 4/3 pi abc = 0.380 mL.
  const double truthMl = 4.0 / 3.0 * 3.14159265358979 * 6.0 * 4.2 * 3.6 / 1000.0;
  std::cout << "[ measured ] gated volume " << l.volumeMl << " mL (truth " << truthMl << "), baseline "
            << base.lesions[0].volumeMl << " mL, long axis " << l.longAxisMm << " / " << base.lesions[0].longAxisMm
            << '\n';
  EXPECT_NEAR(l.volumeMl, truthMl, 0.15 * truthMl);
  // Its centre is where the motion puts the baseline centre.
  ASSERT_TRUE(l.measurement);
  EXPECT_LT(distance(l.measurement->principalAxes.centroid, knownMotion().apply({35, 25, 30})), 1.0);
  const Timeline tl = buildTimeline({base, r});
  EXPECT_EQ(tl.recist[1].category, ResponseCategory::PartialResponse) << tl.recist[1].reason;
  EXPECT_NE(toTimelineJson(tl).find("\"intensity-gated\""), std::string::npos);
}

// The tracked measurement is taken on a crop around the lesion, but reports and QC pictures read
// its RECIST slice index on the scan's own grid: it must be the index measureLesions gives there.
TEST_F(SceneTracking, RecistSliceIndexIsOnTheScansGridNotTheCrops) {
  const auto whole = measurement::measureLesions(baseline, lesions, options.measurement);
  ASSERT_EQ(whole.size(), 1u);
  const TimePointResult base = measureBaseline(baseline, lesions, nullptr, options);
  ASSERT_EQ(base.lesions.size(), 1u);
  ASSERT_TRUE(base.lesions[0].measurement);
  const measurement::LesionMeasurement& tracked = *base.lesions[0].measurement;
  EXPECT_EQ(tracked.recist.sliceIndex, whole[0].recist.sliceIndex);
  // Both axes lie on that slice of the scan.
  EXPECT_NEAR(grid.pointToIndex(tracked.recist.longAxis.start).z, double(tracked.recist.sliceIndex), 1e-6);
}

// RECIST 1.1 sums only lesions measurable at baseline (§3.1, §4.2): a mass under the size threshold is
// followed and shown, but it is not a target; a measurable one is.
TEST_F(SceneTracking, OnlyLesionsMeasurableAtBaselineAreRecistTargets) {
  options.measurement.sliceThicknessMm = 15.0; // measurable from 2 x 15 = 30 mm: the 20 mm mass is not
  const Timeline small = buildTimeline({measureBaseline(baseline, lesions, nullptr, options)});
  ASSERT_FALSE(small.timePoints[0].lesions[0].measurement->measurability.measurable);
  EXPECT_EQ(small.recist[0].category, ResponseCategory::NotApplicable) << small.recist[0].reason;
  EXPECT_TRUE(small.recist[0].lesionIds.empty());
  EXPECT_TRUE(recistTargets(small.timePoints[0]).empty());
  EXPECT_FALSE(small.observations[0].lesions.at(0).target);

  options.measurement.sliceThicknessMm.reset();
  const TimePointResult base = measureBaseline(baseline, lesions, nullptr, options);
  const std::string id = base.lesions.at(0).trackingId;
  // Chosen at baseline: still a target at a follow-up where it no longer measures up.
  TimePointResult shrunk = base;
  shrunk.label = "follow-up-1";
  shrunk.lesions[0].measurement->measurability.measurable = false;
  const Timeline measurable = buildTimeline({base, shrunk});
  EXPECT_EQ(measurable.recist[0].category, ResponseCategory::Baseline) << measurable.recist[0].reason;
  EXPECT_EQ(measurable.recist[0].lesionIds, std::vector<std::string>{id});
  EXPECT_EQ(recistTargets(measurable.timePoints[0]), std::set<std::string>{id});
  EXPECT_TRUE(measurable.observations[0].lesions.at(0).target);
  EXPECT_TRUE(measurable.observations[1].lesions.at(0).target);
  EXPECT_EQ(measurable.recist[1].lesionIds, std::vector<std::string>{id});

  // Measurable, but the lesion spec says non-target: followed, never summed.
  options.measurement.lesions[0].target = false;
  const Timeline nonTarget = buildTimeline({measureBaseline(baseline, lesions, nullptr, options)});
  EXPECT_TRUE(nonTarget.timePoints[0].lesions.at(0).measurement->measurability.measurable);
  EXPECT_TRUE(recistTargets(nonTarget.timePoints[0]).empty());
  EXPECT_FALSE(nonTarget.observations[0].lesions.at(0).target);
  EXPECT_EQ(nonTarget.recist[0].category, ResponseCategory::NotApplicable) << nonTarget.recist[0].reason;
}

// Below the calcification threshold a bone lesion is lytic; a soft-tissue mass is only "non-calcified".
TEST_F(SceneTracking, TheNonCalcifiedPartIsCalledLyticOnlyForBoneLesions) {
  const auto baselineAs = [&](const std::string& spec) {
    options.measurement.lesions = {measurement::parseLesionSpec(spec)};
    return buildTimeline({measureBaseline(baseline, lesions, nullptr, options)});
  };
  const Timeline mass = baselineAs("1:soft-tissue:mass");
  const std::string massText = toTimelineSummary(mass);
  EXPECT_NE(massText.find(", non-calcified "), std::string::npos) << massText;
  EXPECT_EQ(massText.find("lytic"), std::string::npos) << massText;
  const nlohmann::json massJson = nlohmann::json::parse(toTimelineJson(mass));
  const nlohmann::json& massLesion = massJson["timepoints"][0]["lesions"][0];
  EXPECT_FALSE(massLesion.contains("lyticVolumeMl")) << massLesion.dump();
  EXPECT_DOUBLE_EQ(massLesion["nonCalcifiedVolumeMl"].get<double>(),
                   massLesion["volumeMl"].get<double>() - massLesion["calcifiedVolumeMl"].get<double>());

  const Timeline bone = baselineAs("1:lytic-bone:L4");
  EXPECT_NE(toTimelineSummary(bone).find(", lytic "), std::string::npos) << toTimelineSummary(bone);
  const nlohmann::json boneLesion = nlohmann::json::parse(toTimelineJson(bone))["timepoints"][0]["lesions"][0];
  EXPECT_TRUE(boneLesion.contains("lyticVolumeMl")) << boneLesion.dump();
  EXPECT_FALSE(boneLesion.contains("nonCalcifiedVolumeMl"));
}

// Lesion tables, SEG and SR name a lesion ("axilla"); response reasons and timeline.json must let a
// reader find it there, not only by its tracking id.
TEST_F(SceneTracking, ResponseReasonsNameTheLesionNextToItsTrackingId) {
  options.measurement.lesions = {measurement::parseLesionSpec("1:soft-tissue:axilla")};
  const TimePointResult base = measureBaseline(baseline, lesions, nullptr, options);
  ASSERT_EQ(base.lesions.size(), 1u);
  TimePointResult unassessed = base; // the target not evaluable at a follow-up: its reason names it
  unassessed.label = "follow-up-1";
  unassessed.lesions[0].notEvaluable = true;
  const Timeline tl = buildTimeline({base, unassessed});
  const std::string id = base.lesions[0].trackingId;
  const std::string shown = id + " (axilla)";
  EXPECT_NE(tl.recist[0].reason.find(shown), std::string::npos) << tl.recist[0].reason;
  EXPECT_NE(tl.recist[1].reason.find(shown), std::string::npos) << tl.recist[1].reason;
  const nlohmann::json response = nlohmann::json::parse(toTimelineJson(tl))["response"];
  EXPECT_EQ(response["RECIST 1.1"][0]["lesions"], nlohmann::json::array({id})); // machine-readable ids unchanged
  EXPECT_EQ(response["RECIST 1.1"][0]["lesionNames"], nlohmann::json::array({"axilla"})) << response.dump();
  EXPECT_EQ(response["RECIST 1.1 per lesion"][id][0]["lesionNames"], nlohmann::json::array({"axilla"}));
}

TEST_F(SceneTracking, DisappearedMassIsCompleteResponseAndMappedMaskIsNamed) {
  const TimePointResult base = measureBaseline(baseline, lesions, nullptr, options);
  const Volume gone = sceneVolume(grid, knownMotion(), 0.0);
  const TimePointResult r = analyzeFollowup(baseline, lesions, nullptr, base, gone, "follow-up-1", options);
  ASSERT_EQ(r.lesions.size(), 1u);
  EXPECT_TRUE(r.lesions[0].disappeared) << r.lesions[0].maskMethod;
  const Timeline tl = buildTimeline({base, r});
  EXPECT_EQ(tl.recist[1].category, ResponseCategory::CompleteResponse) << tl.recist[1].reason;

  // Inside the mapped mask the same follow-up is measured, not judged: the method says so.
  FollowupOptions mapped = options;
  mapped.softTissueMethod = FollowupMaskMethod::MappedMask;
  mapped.localRefinement = false;
  const TimePointResult m = analyzeFollowup(baseline, lesions, nullptr, base, gone, "follow-up-1", mapped);
  EXPECT_EQ(m.lesions[0].maskMethod, "mapped-mask");
  EXPECT_FALSE(m.lesions[0].disappeared); // soft tissue (40 HU) fills the footprint
  EXPECT_NEAR(m.lesions[0].volumeMl, base.lesions[0].volumeMl, 0.05 * base.lesions[0].volumeMl);
  // Re-segmentation without a segmenter is a usage error, not a silent fallback.
  FollowupOptions reseg = options;
  reseg.softTissueMethod = FollowupMaskMethod::Resegment;
  EXPECT_THROW((void)analyzeFollowup(baseline, lesions, nullptr, base, gone, "follow-up-1", reseg), UsageError);
}

/// The scene with Gaussian noise of `sd` HU (fixed seed).
Volume withNoise(Volume v, double sd, unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> noise(0.0f, float(sd));
  for (float& x : v.voxels)
    x += noise(random);
  return v;
}

TEST_F(SceneTracking, CalcificationThresholdFollowsTheUnaffectedBoneOrSaysWhyNot) {
  // Reference: the spine-like column (40 + 300 HU), without its lytic spot, as label 12.
  LabelMap reference(grid, 0);
  const std::vector<Blob> blobs = sceneBlobs();
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j)
      for (std::size_t i = 0; i < grid.size[0]; ++i) {
        const Vec3 p = grid.indexToPoint(i, j, k);
        if (inside(p, blobs[3]) >= 0.5 && inside(p, blobs[4]) < 0.01)
          reference.at(i, j, k) = 12;
      }
  constexpr double noiseSd = 20.0;
  const Volume noisy = withNoise(baseline, noiseSd, 1);

  // Without a reference region the threshold falls back to the floor, and says so.
  const TimePointResult alone = measureBaseline(noisy, lesions, nullptr, options);
  ASSERT_TRUE(alone.calcificationThreshold);
  EXPECT_EQ(alone.calcificationThreshold->basis, "fallback");
  EXPECT_EQ(alone.calcificationThreshold->hu, options.measurement.calcificationThresholdHu);
  ASSERT_EQ(alone.notes.size(), 1u);
  EXPECT_NE(alone.notes[0].find("no unaffected vertebra"), std::string::npos) << alone.notes[0];

  // With it: median + 3 robust SD of the column, at baseline and on a follow-up whose own voxels
  // (not interpolated ones, which would hide part of the noise) give the spread.
  options.referenceLabels = {12};
  options.localRefinement = false;
  const TimePointResult base = measureBaseline(noisy, lesions, &reference, options);
  const Volume followup = withNoise(sceneVolume(grid, knownMotion()), noiseSd, 2);
  const TimePointResult next = analyzeFollowup(noisy, lesions, &reference, base, followup, "follow-up-1", options);
  for (const TimePointResult* tp : {&base, &next}) {
    ASSERT_TRUE(tp->calcificationThreshold);
    const CalcificationThreshold& t = *tp->calcificationThreshold;
    std::cout << "[ measured ] " << tp->label << ": threshold " << t.hu << " HU, median "
              << t.referenceMedianHu.value_or(0) << ", robust SD " << t.referenceRobustSdHu.value_or(0) << " over "
              << t.referenceVoxels << " voxels\n";
    EXPECT_EQ(t.basis, "reference");
    EXPECT_TRUE(tp->notes.empty());
    ASSERT_TRUE(t.referenceMedianHu && t.referenceRobustSdHu);
    EXPECT_NEAR(*t.referenceMedianHu, 340.0, 5.0);
    EXPECT_NEAR(*t.referenceRobustSdHu, noiseSd, 0.1 * noiseSd);
    EXPECT_DOUBLE_EQ(t.hu, *t.referenceMedianHu + 3.0 * *t.referenceRobustSdHu);
  }
  const std::string json = toTimelineJson(buildTimeline({base, next}));
  EXPECT_NE(json.find("\"basis\": \"reference\""), std::string::npos);

  // A number instead of auto: that threshold at every time point.
  options.calcification.fromReference = false;
  const TimePointResult fixed = measureBaseline(noisy, lesions, &reference, options);
  ASSERT_TRUE(fixed.calcificationThreshold);
  EXPECT_EQ(fixed.calcificationThreshold->basis, "fixed");
  EXPECT_EQ(fixed.calcificationThreshold->hu, options.measurement.calcificationThresholdHu);
}

/// The scene as an MR-like scan (offset to positive arbitrary units, 20 SD noise) with a bright
/// sphere of `radiusMm` (+300, contrast-to-noise 15; none when 0) where the mass was.
Volume mrLikeScene(const ImageGeometry& g, const RigidTransform& motion, double radiusMm, unsigned seed) {
  Volume v = sceneVolume(g, motion, 0.0);
  const RigidTransform back = motion.inverse();
  const Blob sphere{sceneBlobs()[6].centre, {radiusMm, radiusMm, radiusMm}, 300.0f};
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (radiusMm > 0.0)
          v.at(i, j, k) += sphere.value * float(inside(back.apply(g.indexToPoint(i, j, k)), sphere));
  for (float& x : v.voxels)
    x += 1000.0f;
  return withNoise(v, 20.0, seed);
}

TEST_F(SceneTracking, BaselineModelOnMrReportsAVanishedLesionAsDisappearedAndFollowsAShrinkingOne) {
  options.measurement.intensityUnit = measurement::IntensityUnit::Arbitrary;
  options.softTissueMethod = FollowupMaskMethod::BaselineModel;
  options.changeMaps = false;
  const Volume before = mrLikeScene(grid, {}, 10.0, 1);
  LabelMap sphere(grid, 0);
  const Blob ball{sceneBlobs()[6].centre, {10.0, 10.0, 10.0}, 1.0f};
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j)
      for (std::size_t i = 0; i < grid.size[0]; ++i)
        if (inside(grid.indexToPoint(i, j, k), ball) >= 0.5)
          sphere.at(i, j, k) = 1;
  const TimePointResult base = measureBaseline(before, sphere, nullptr, options);

  // Gone: each scan's own normalisation would stretch the background texture to the lesion's
  // range and report a residual speck (the defect this guards against); the contrast says why not.
  const TimePointResult gone =
      analyzeFollowup(before, sphere, nullptr, base, mrLikeScene(grid, knownMotion(), 0.0, 2), "follow-up-1", options);
  ASSERT_EQ(gone.lesions.size(), 1u);
  const TrackedLesion& g = gone.lesions[0];
  EXPECT_EQ(g.maskMethod, "baseline-model");
  EXPECT_FALSE(g.notEvaluable) << (g.notes.empty() ? "" : g.notes.back());
  ASSERT_TRUE(g.disappeared) << g.volumeMl << " mL";
  ASSERT_FALSE(g.notes.empty());
  std::cout << "[ measured ] vanished: " << g.notes.back() << '\n';
  EXPECT_NE(g.notes.back().find("the lesion has disappeared"), std::string::npos) << g.notes.back();
  EXPECT_TRUE(g.notes.back().find("no lesion-like tissue") != std::string::npos ||
              g.notes.back().find("no lesion signal left") != std::string::npos)
      << g.notes.back();
  const Timeline tl = buildTimeline({base, gone});
  EXPECT_EQ(tl.recist[1].category, ResponseCategory::CompleteResponse) << tl.recist[1].reason;

  // Shrunk from 10 to 5 mm radius (4 % of the band: its upper decile is background, as when gone):
  // measured, not judged gone. Measured 0.537 mL for 0.524.
  const TimePointResult shrunk =
      analyzeFollowup(before, sphere, nullptr, base, mrLikeScene(grid, knownMotion(), 5.0, 3), "follow-up-1", options);
  const TrackedLesion& s = shrunk.lesions[0];
  ASSERT_FALSE(s.disappeared || s.notEvaluable) << (s.notes.empty() ? "" : s.notes.back());
  const double truthMl = 4.0 / 3.0 * 3.14159265358979 * 5.0 * 5.0 * 5.0 / 1000.0;
  std::cout << "[ measured ] shrunk: " << s.volumeMl << " mL (truth " << truthMl << "), baseline "
            << base.lesions[0].volumeMl << " mL\n";
  EXPECT_NEAR(s.volumeMl, truthMl, 0.05 * truthMl);
}

TEST_F(SceneTracking, AReferenceFinderThatFailsLeavesTheFollowupWithoutAReference) {
  using Followed = std::vector<measurement::LesionSpec>;
  options.referenceFinder = [](const Volume&, const LabelMap&, const Followed&) -> FoundReference {
    throw std::bad_alloc();
  };
  EXPECT_FALSE(resolveReference(baseline, lesions, nullptr, options));
  EXPECT_EQ(options.referenceRegion.source, "none");
  EXPECT_NE(options.referenceRegion.note.find("none found automatically"), std::string::npos)
      << options.referenceRegion.note;
  // A caller's mistake is still the caller's.
  options.referenceFinder = [](const Volume&, const LabelMap&, const Followed&) -> FoundReference {
    throw UsageError("bad label");
  };
  EXPECT_THROW((void)resolveReference(baseline, lesions, nullptr, options), UsageError);
}

} // namespace
} // namespace lesion::longitudinal
