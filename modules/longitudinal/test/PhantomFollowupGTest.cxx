// The phantom time series (known motion, shrinking mass, calcifying lytic L4 lesion) through the
// whole follow-up: registration error at each lesion, calcified volume (default threshold: from the
// unaffected vertebrae of each time point) against the analytic truth, and the response
// categories each criterion must give.
#include <iostream>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/phantom/Phantom.h"

namespace lesion::longitudinal {
namespace {

using phantom::LesionTruth;

const LesionTruth& truthOf(const phantom::TimePointTruth& tp, const std::string& id) {
  for (const LesionTruth& l : tp.lesions)
    if (l.id == id) return l;
  throw std::runtime_error("phantom truth has no lesion " + id);
}

/// Points around a lesion (centre and ±10 mm along each axis) to measure registration error at.
std::vector<Vec3> pointsAround(const Vec3& c) {
  return {c, c + Vec3{10, 0, 0}, c - Vec3{10, 0, 0}, c + Vec3{0, 10, 0}, c - Vec3{0, 10, 0}, c + Vec3{0, 0, 10},
          c - Vec3{0, 0, 10}};
}

class PhantomFollowup : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    const phantom::PhantomAnatomy a = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
    Vec3 lo, hi, mlo, mhi, wlo, whi;
    a.lyticLesion.bounds(lo, hi);
    a.mass.bounds(mlo, mhi);
    a.chestWallMuscle.bounds(wlo, whi); // touches the mass: keep it inside the scan, as in a real one
    phantom::PhantomOptions o;
    o.timePoints = 4; // mass 1.0, 0.8, 0.7, 0.65: the last is a clear RECIST PR
    o.supersampling = 2; // test time; boundary voxels still carry partial volume
    o.threads = 2;
    o.zFromMm = std::min(lo.z, mlo.z) - 12.0;
    o.zToMm = std::max({hi.z, mhi.z, whi.z}) + 10.0;
    s_Study = new phantom::PhantomStudy(phantom::generatePhantomStudy(o));
  }
  static void TearDownTestSuite() {
    delete s_Study;
    s_Study = nullptr;
  }
  static phantom::PhantomStudy* s_Study;
};
phantom::PhantomStudy* PhantomFollowup::s_Study = nullptr;

TEST_F(PhantomFollowup, TracksRegistersAndAssessesEveryTimePoint) {
  const phantom::PhantomStudy& study = *s_Study;
  const phantom::PhantomTimePoint& base = study.timePoints.front();
  // Baseline lesions: the lytic lesion (label 1; 3 = its calcified part, absent at baseline) and
  // the mass (label 2). Reference: the unaffected vertebral bodies in the scan (L4 = 15 excluded).
  LabelMap lesions(base.labels.geometry, 0);
  for (std::size_t i = 0; i < lesions.voxels.size(); ++i) {
    const std::uint16_t v = base.labels.voxels[i];
    if (v == phantom::labels::LyticLesion || v == phantom::labels::CalcifiedPart) lesions.voxels[i] = 1;
    if (v == phantom::labels::SoftTissueMass) lesions.voxels[i] = 2;
  }
  FollowupOptions options;
  options.measurement.lesions = {measurement::parseLesionSpec("1:lytic-bone:L4"),
                                 measurement::parseLesionSpec("2:soft-tissue:axilla")};
  options.measurement.computeSurfaceMesh = false;
  options.referenceLabels = {12, 13, 14, 16};
  // The mass lies in the muscle layer (50 HU) touching the chest-wall muscle (55 HU) at 45 HU
  // with 12 HU noise: no intensity-based segmenter separates it (modules/segmentation reports a
  // leak, intensity gating takes the muscle; see docs/followup.md). Segmentation quality is not
  // what this test is about, so the reference segmentation of each time point is injected as the
  // segmenter: the test checks registration, transfer, measurement and the response logic.
  options.softTissueMethod = FollowupMaskMethod::Resegment;
  options.segmenter = [&study](const Volume& followup, const LabelMap& mapped, const measurement::LesionSpec& spec) {
    for (const phantom::PhantomTimePoint& tp : study.timePoints) {
      if (&tp.image != &followup) continue;
      LabelMap mask(tp.labels.geometry, 0);
      for (std::size_t i = 0; i < mask.voxels.size(); ++i)
        if (tp.labels.voxels[i] == phantom::labels::SoftTissueMass && mapped.voxels.size() == mask.voxels.size())
          mask.voxels[i] = spec.label;
      return mask;
    }
    throw ProcessingError("not a phantom time point");
  };

  std::vector<TimePointResult> results;
  results.push_back(measureBaseline(base.image, lesions, &base.labels, options));
  ASSERT_EQ(results[0].lesions.size(), 2u);
  for (std::size_t t = 1; t < study.timePoints.size(); ++t) {
    const phantom::PhantomTimePoint& tp = study.timePoints[t];
    results.push_back(analyzeFollowup(base.image, lesions, &base.labels, results[0], tp.image,
                                      "follow-up-" + std::to_string(t), options));
    const TimePointResult& r = results.back();
    // The default threshold comes from the unaffected vertebrae of the time point: above their
    // trabecular bone (200 HU), which a fixed 130 HU would count at the lesion border, and
    // below the sclerotic rim (450 HU).
    ASSERT_TRUE(r.calcificationThreshold);
    const CalcificationThreshold& threshold = *r.calcificationThreshold;
    std::cout << "[ measured ] tp" << t << " calcification threshold " << threshold.hu << " HU (" << threshold.basis
              << ", median " << threshold.referenceMedianHu.value_or(0) << ", robust SD "
              << threshold.referenceRobustSdHu.value_or(0) << ", " << threshold.referenceVoxels << " voxels)\n";
    EXPECT_EQ(threshold.basis, "reference");
    EXPECT_GT(threshold.hu, 200.0);
    EXPECT_LT(threshold.hu, 450.0);
    // The phantom has no calibration drift: the paired reference median must not move.
    ASSERT_TRUE(r.referenceShiftHu);
    EXPECT_NEAR(*r.referenceShiftHu, 0.0, 3.0);
    const RigidTransform& truth = tp.truth.transformFromBaseline;
    std::cout << "[ measured ] tp" << t << " global " << r.globalRegistration->seconds << " s, TRE L4 "
              << meanPointDistanceMm(r.globalRegistration->baselineToFollowup, truth,
                                     pointsAround(truthOf(base.truth, "l4-lytic").centroid))
              << " mm\n";
    for (const TrackedLesion& l : r.lesions) {
      ASSERT_TRUE(l.registration) << l.trackingId;
      ASSERT_FALSE(l.disappeared) << l.trackingId;
      const std::string id = l.spec.label == 1 ? "l4-lytic" : "axillary-mass";
      const double tre = meanPointDistanceMm(l.registration->baselineToFollowup, truth,
                                             pointsAround(truthOf(base.truth, id).centroid));
      EXPECT_LE(tre, 1.0) << l.trackingId << " at tp " << t;
      const LesionTruth& lt = truthOf(tp.truth, id);
      std::cout << "[ measured ] tp" << t << " " << id << " (" << l.maskMethod << "): TRE " << tre << " mm, volume "
                << l.volumeMl << " mL (truth " << lt.volumeMl << "), long axis " << l.longAxisMm << " (truth "
                << lt.longAxisMm << ")";
      if (l.calcifiedVolumeMl)
        std::cout << ", calcified " << *l.calcifiedVolumeMl << " mL (truth " << lt.calcifiedVolumeMl << ")";
      std::cout << ", mean HU " << l.meanHu.value_or(0) << " normalised " << l.normalisedMeanHu.value_or(0) << '\n';
      for (const std::string& note : l.notes) std::cout << "    note: " << note << '\n';
      if (id == "l4-lytic") {
        ASSERT_TRUE(l.calcifiedVolumeMl);
        EXPECT_NEAR(*l.calcifiedVolumeMl, lt.calcifiedVolumeMl, 0.10 * lt.calcifiedVolumeMl) << "tp " << t;
        ASSERT_TRUE(l.changeMap);
        EXPECT_GT(l.changeMapMeanHu, 50.0); // calcification raises the density inside the lesion
      } else {
        EXPECT_EQ(l.maskMethod, "resegment");
        EXPECT_NEAR(l.volumeMl, lt.volumeMl, 0.15 * lt.volumeMl) << "tp " << t;
      }
    }
  }

  const Timeline timeline = buildTimeline(std::move(results));
  std::cout << toTimelineSummary(timeline);
  using RC = ResponseCategory;
  ASSERT_EQ(timeline.recist.size(), 4u);
  // RECIST (the mass is the only target; the intra-osseous lesion is non-measurable): the mass
  // shrinks 20 % (SD), 30 % (at the threshold: PR or SD), 35 % (PR).
  EXPECT_EQ(timeline.recist[1].category, RC::StableDisease) << timeline.recist[1].reason;
  EXPECT_TRUE(timeline.recist[2].category == RC::PartialResponse || timeline.recist[2].category == RC::StableDisease)
      << timeline.recist[2].reason;
  EXPECT_EQ(timeline.recist[3].category, RC::PartialResponse) << timeline.recist[3].reason;
  // The L4 lesion keeps its size (RECIST SD on its own) while it calcifies: MDA and inverse Choi
  // call it a response at every follow-up.
  const auto& l4 = timeline.recistPerLesion.at("T001");
  for (std::size_t t = 1; t < 4; ++t) {
    EXPECT_EQ(l4[t].category, RC::StableDisease) << l4[t].reason;
    EXPECT_EQ(timeline.mdAnderson[t].category, RC::PartialResponse) << timeline.mdAnderson[t].reason;
    EXPECT_EQ(timeline.inverseChoi[t].category, RC::PartialResponse) << timeline.inverseChoi[t].reason;
  }
  const std::string json = toTimelineJson(timeline);
  EXPECT_NE(json.find("\"MDA bone\""), std::string::npos);
}

} // namespace
} // namespace lesion::longitudinal
