// The automatic reference region of the follow-up: the phantom's unaffected vertebral bodies,
// found on the baseline with the spine module, give each time point's calcification threshold
// (calcified volume of the calcifying L4 lesion against the analytic truth) and the HU drift; a
// scan without a spine falls back to the floor with the reason.
#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/pipeline/ReferenceVertebrae.h"

using namespace lesion;
using namespace lesion::longitudinal;

namespace {

const phantom::LesionTruth& truthOf(const phantom::TimePointTruth& tp, const std::string& id) {
  for (const phantom::LesionTruth& l : tp.lesions)
    if (l.id == id)
      return l;
  throw std::runtime_error("phantom truth has no lesion " + id);
}

/// The baseline lesions as a reader gives them: the L4 lesion (truth 1 lytic + 3 calcified) as
/// label 1, the axillary mass as label 2.
LabelMap baselineLesions(const phantom::PhantomTimePoint& base) {
  LabelMap lesions(base.labels.geometry, 0);
  for (std::size_t i = 0; i < lesions.voxels.size(); ++i) {
    const std::uint16_t v = base.labels.voxels[i];
    if (v == phantom::labels::LyticLesion || v == phantom::labels::CalcifiedPart)
      lesions.voxels[i] = 1;
    if (v == phantom::labels::SoftTissueMass)
      lesions.voxels[i] = 2;
  }
  return lesions;
}

FollowupOptions phantomOptions() {
  FollowupOptions options;
  options.measurement.lesions = {measurement::parseLesionSpec("1:lytic-bone:L4"),
                                 measurement::parseLesionSpec("2:soft-tissue:axilla")};
  options.measurement.computeSurfaceMesh = false;
  options.referenceFinder = pipeline::unaffectedVertebraeFinder();
  return options;
}

} // namespace

TEST(ReferenceVertebrae, UnaffectedBodiesOfThePhantomSetTheThresholdAtEveryTimePoint) {
  phantom::PhantomOptions o;
  o.timePoints = 4; // the L4 lesion calcifies: 0, then growing calcified volume
  o.supersampling = 2;
  o.threads = 2;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& base = study.timePoints.front();
  const LabelMap lesions = baselineLesions(base);
  FollowupOptions options = phantomOptions();

  const auto start = std::chrono::steady_clock::now();
  const std::optional<LabelMap> reference = resolveReference(base.image, lesions, nullptr, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const ReferenceRegion& region = options.referenceRegion;
  std::cout << "[ measured ] automatic reference in " << seconds << " s: " << region.structures.size() << " bodies (";
  for (const std::string& s : region.structures)
    std::cout << s << ' ';
  std::cout << "); left out:";
  for (const std::string& e : region.excluded)
    std::cout << " [" << e << "]";
  std::cout << '\n';
  ASSERT_TRUE(reference) << region.note;
  EXPECT_EQ(region.source, "automatic");
  // L4 holds the lesion; L3 and L5 are its neighbours; S1 is sacral: T12, L1, L2 remain.
  EXPECT_EQ(region.structures, (std::vector<std::string>{"T12", "L1", "L2"}));
  for (const char* why : {"L3: next to L4", "L4: touches lesion 1 (L4)", "L5: next to L4", "S1: first sacral segment"})
    EXPECT_NE(std::find_if(region.excluded.begin(), region.excluded.end(),
                           [why](const std::string& e) { return e.rfind(why, 0) == 0; }),
              region.excluded.end())
        << why;

  std::vector<TimePointResult> results{measureBaseline(base.image, lesions, &*reference, options)};
  ASSERT_TRUE(results[0].referenceRegion);
  EXPECT_EQ(results[0].referenceRegion->source, "automatic");
  for (std::size_t t = 0; t < study.timePoints.size(); ++t) {
    const phantom::PhantomTimePoint& tp = study.timePoints[t];
    if (t > 0)
      results.push_back(analyzeFollowup(base.image, lesions, &*reference, results[0], tp.image,
                                        "follow-up-" + std::to_string(t), options));
    const TimePointResult& r = results.back();
    ASSERT_TRUE(r.calcificationThreshold);
    const CalcificationThreshold& threshold = *r.calcificationThreshold;
    const TrackedLesion& l4 = r.lesions.front();
    const phantom::LesionTruth& truth = truthOf(tp.truth, "l4-lytic");
    std::cout << "[ measured ] tp" << t << " threshold " << threshold.hu << " HU (" << threshold.basis << ", median "
              << threshold.referenceMedianHu.value_or(0) << ", robust SD " << threshold.referenceRobustSdHu.value_or(0)
              << ", " << threshold.referenceVoxels << " voxels), L4 calcified " << l4.calcifiedVolumeMl.value_or(-1)
              << " mL (truth " << truth.calcifiedVolumeMl << ")\n";
    EXPECT_EQ(threshold.basis, "reference");
    ASSERT_TRUE(threshold.referenceMedianHu);
    EXPECT_NEAR(*threshold.referenceMedianHu, 200.0, 10.0) << "the phantom's trabecular bone is 200 HU";
    ASSERT_TRUE(l4.calcifiedVolumeMl);
    if (truth.calcifiedVolumeMl > 0.0)
      EXPECT_NEAR(*l4.calcifiedVolumeMl, truth.calcifiedVolumeMl, 0.10 * truth.calcifiedVolumeMl) << "tp " << t;
    else
      EXPECT_LT(*l4.calcifiedVolumeMl, 0.05) << "no calcification at baseline: the border's trabecular bone is not it";
    if (t > 0) {
      ASSERT_TRUE(r.referenceShiftHu);
      EXPECT_NEAR(*r.referenceShiftHu, 0.0, 3.0); // the phantom has no calibration drift
      ASSERT_TRUE(l4.normalisedMeanHu);
    }
  }
  const Timeline timeline = buildTimeline(std::move(results));
  for (std::size_t t = 1; t < timeline.mdAnderson.size(); ++t)
    EXPECT_EQ(timeline.mdAnderson[t].category, ResponseCategory::PartialResponse) << timeline.mdAnderson[t].reason;
  const std::string json = toTimelineJson(timeline);
  EXPECT_NE(json.find("\"referenceRegion\""), std::string::npos);
  const std::string summary = toTimelineSummary(timeline);
  std::cout << summary;
  EXPECT_NE(summary.find("reference region: automatic, T12, L1, L2"), std::string::npos) << summary;
}

TEST(ReferenceVertebrae, ScanWithoutASpineFallsBackWithTheReason) {
  // Water with a soft-tissue ball: no column to find.
  ImageGeometry g;
  g.size = {64, 64, 40};
  g.spacing = {1.5, 1.5, 2.0};
  Volume ct(g, 0.0f);
  LabelMap lesions(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (distance(g.indexToPoint(i, j, k), g.indexToPoint(32, 32, 20)) < 10.0) {
          ct.at(i, j, k) = 50.0f;
          lesions.at(i, j, k) = 1;
        }
  FollowupOptions options;
  options.referenceFinder = pipeline::unaffectedVertebraeFinder();
  const std::optional<LabelMap> reference = resolveReference(ct, lesions, nullptr, options);
  EXPECT_FALSE(reference);
  EXPECT_EQ(options.referenceRegion.source, "none");
  EXPECT_NE(options.referenceRegion.note.find("spine"), std::string::npos) << options.referenceRegion.note;
  const TimePointResult r = measureBaseline(ct, lesions, nullptr, options);
  ASSERT_TRUE(r.calcificationThreshold);
  EXPECT_EQ(r.calcificationThreshold->basis, "fallback");
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes.front().find("no unaffected vertebra: none found automatically"), std::string::npos)
      << r.notes.front();
}

TEST(ReferenceVertebrae, ScanAroundTheLesionIsAnchoredAtTheLevelTheLesionIsNamedBy) {
  // z-cropped around the L4 lesion and the mass (as PhantomFollowupGTest): no sacrum, no rib in
  // view, so only the lesion's name ("1:lytic-bone:L4") fixes the levels.
  const phantom::PhantomAnatomy a = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
  Vec3 lo, hi, mlo, mhi;
  a.lyticLesion.bounds(lo, hi);
  a.mass.bounds(mlo, mhi);
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.supersampling = 2;
  o.threads = 2;
  o.zFromMm = std::min(lo.z, mlo.z) - 12.0;
  o.zToMm = std::max(hi.z, mhi.z) + 10.0;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& base = study.timePoints.front();
  const LabelMap lesions = baselineLesions(base);
  FollowupOptions options = phantomOptions();
  const std::optional<LabelMap> reference = resolveReference(base.image, lesions, nullptr, options);
  const ReferenceRegion& region = options.referenceRegion;
  std::cout << "[ measured ] cropped: " << region.method << "; used";
  for (const std::string& s : region.structures)
    std::cout << ' ' << s;
  std::cout << "; left out:";
  for (const std::string& e : region.excluded)
    std::cout << " [" << e << "]";
  std::cout << " (" << region.seconds << " s)\n";
  ASSERT_TRUE(reference) << region.note;
  EXPECT_NE(region.method.find("anchored at lesion 1 named L4"), std::string::npos) << region.method;
  ASSERT_FALSE(region.structures.empty());
  EXPECT_EQ(std::find(region.structures.begin(), region.structures.end(), "L4"), region.structures.end());
  const TimePointResult r = measureBaseline(base.image, lesions, &*reference, options);
  ASSERT_TRUE(r.calcificationThreshold);
  EXPECT_EQ(r.calcificationThreshold->basis, "reference");
  EXPECT_NEAR(r.calcificationThreshold->referenceMedianHu.value_or(0.0), 200.0, 10.0);

  // Named by no level: nothing fixes the levels; the note says what the follow-up user can do.
  FollowupOptions unnamed = phantomOptions();
  unnamed.measurement.lesions.front() = measurement::parseLesionSpec("1:lytic-bone:spine");
  EXPECT_FALSE(resolveReference(base.image, lesions, nullptr, unnamed));
  const std::string& note = unnamed.referenceRegion.note;
  std::cout << "[ measured ] cropped, lesion named by no level: " << note << '\n';
  EXPECT_EQ(note.find("spine segmentation: spine segmentation"), std::string::npos) << note;
  EXPECT_EQ(note.find("--seed"), std::string::npos) << note;
  EXPECT_NE(note.find("1:lytic-bone:L4"), std::string::npos) << note;
  EXPECT_NE(note.find("--reference"), std::string::npos) << note;
}

TEST(ReferenceVertebrae, BodiesMergedOnThickSlicesAreNotTheReference) {
  // 6 mm slices: segmentSpine misses three discs and finds 4 "vertebrae", one of them ("L1")
  // three bodies tall (102 mm, 128 mL) next to the lesion-bearing body; it was once the
  // reference (robust SD 28-40 HU instead of 15: threshold 294-326 HU).
  // 5 and 7 mm slices keep T12, L1, L2 (7 mm: L3 35-42 mm tall, 49 mL, still one body).
  for (const double sliceMm : {5.0, 6.0, 7.0}) {
    phantom::PhantomOptions o;
    o.timePoints = 1;
    o.threads = 2;
    o.sliceThicknessMm = sliceMm;
    const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
    const phantom::PhantomTimePoint& base = study.timePoints.front();
    FollowupOptions options = phantomOptions();
    const std::optional<LabelMap> reference = resolveReference(base.image, baselineLesions(base), nullptr, options);
    const ReferenceRegion& region = options.referenceRegion;
    const std::string used = fmt::format("{}", fmt::join(region.structures, " "));
    std::cout << "[ measured ] " << sliceMm << " mm: " << region.source << ", " << used << "; " << region.note << '\n';
    if (sliceMm != 6.0) {
      ASSERT_TRUE(reference) << sliceMm << " mm: " << region.note;
      EXPECT_EQ(region.structures, (std::vector<std::string>{"T12", "L1", "L2"})) << sliceMm << " mm";
      continue;
    }
    // The body above the merged one (T12, counted down from its ribs; "L3" while L5 and S1 merged
    // passed for the sacrum) is plausible and, no longer graded against it, undeformed: it is the
    // reference (threshold 251 HU as 246-247 HU at 5 and 7 mm; it was 294-326 HU with the merged
    // body, and no reference at all while its neighbour read grade 3 against it).
    ASSERT_TRUE(reference) << "6 mm: " << region.note;
    EXPECT_EQ(region.structures, (std::vector<std::string>{"T12"})) << "6 mm: the merged body was taken: " << used;
    const std::string excluded = fmt::format("{}", fmt::join(region.excluded, "; "));
    EXPECT_NE(excluded.find("L1: body 102 mm tall"), std::string::npos) << excluded;
    EXPECT_NE(excluded.find("L4: touches lesion 1"), std::string::npos) << excluded; // the lesion's own level
    EXPECT_NE(excluded.find("implausible for one vertebral body"), std::string::npos) << excluded;
  }
}
