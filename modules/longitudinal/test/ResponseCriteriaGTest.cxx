// Response criteria: hand-made cases at the exact thresholds, multi-time-point logic, and the
// 906 real baseline → follow-up RECIST pairs of the DLT data set.
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"
#include "lesion/longitudinal/ResponseCriteria.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::longitudinal {
namespace {

using RC = ResponseCategory;

LesionObservation lesionObs(const std::string& id, double longMm, double shortMm, bool node = false, bool bone = false) {
  LesionObservation l;
  l.id = id;
  l.longAxisMm = longMm;
  l.shortAxisMm = shortMm;
  l.lymphNode = node;
  l.bone = bone;
  return l;
}

RC pair(double b, double f) { return assessRecistPair(b, 0.5 * b, f, 0.5 * f).category; }

TEST(RecistPair, ProgressionNeedsTwentyPercentAndFiveMillimetres) {
  EXPECT_EQ(pair(25.0, 30.0), RC::ProgressiveDisease); // exactly +20 % and exactly +5 mm
  EXPECT_EQ(pair(25.0, 29.9), RC::StableDisease);      // +19.6 %, +4.9 mm
  EXPECT_EQ(pair(20.0, 24.0), RC::StableDisease);      // +20 % but only +4 mm
  EXPECT_EQ(pair(20.0, 25.0), RC::ProgressiveDisease); // +25 %, +5 mm
  EXPECT_EQ(pair(50.0, 59.9), RC::StableDisease);      // +9.9 mm but +19.8 %
  EXPECT_EQ(pair(50.0, 60.0), RC::ProgressiveDisease);
  const ResponseAssessment a = assessRecistPair(20.0, 10.0, 24.0, 12.0);
  EXPECT_NE(a.reason.find("PD needs 5 mm"), std::string::npos) << a.reason;
}

TEST(RecistPair, PartialResponseAtThirtyPercentDecrease) {
  EXPECT_EQ(pair(50.0, 35.0), RC::PartialResponse); // exactly -30 %
  EXPECT_EQ(pair(50.0, 35.1), RC::StableDisease);   // -29.8 %
  EXPECT_EQ(pair(32.0, 22.4), RC::PartialResponse); // -30 % with inexact binary fractions
  EXPECT_EQ(pair(32.0, 0.0), RC::CompleteResponse);
}

TEST(RecistPair, LymphNodesAreJudgedByShortAxis) {
  // Node 15 mm short axis → 9.5 mm: normal size is CR although it is still there.
  EXPECT_EQ(assessRecistPair(22.0, 15.0, 14.0, 9.5, true).category, RC::CompleteResponse);
  EXPECT_EQ(assessRecistPair(22.0, 15.0, 14.0, 10.0, true).category, RC::PartialResponse); // -33 %, not < 10 mm
  EXPECT_EQ(assessRecistPair(22.0, 15.0, 40.0, 15.0, true).category, RC::StableDisease);   // long axis ignored
}

TEST(Recist, SeriesUsesNadirAndBaselineAndNewLesions) {
  // Baseline 60 mm, nadir 40 mm, then 47 mm: +17.5 % over the nadir → SD (and -21.7 % vs baseline).
  // Then 48 mm: +20 %, +8 mm over the nadir → PD although still below baseline.
  std::vector<TimePointObservation> s{{"b", {lesionObs("a", 40, 20), lesionObs("n", 25, 20, true)}},
                                      {"f1", {lesionObs("a", 25, 15), lesionObs("n", 20, 15, true)}},
                                      {"f2", {lesionObs("a", 32, 15), lesionObs("n", 20, 15, true)}},
                                      {"f3", {lesionObs("a", 33, 15), lesionObs("n", 20, 15, true)}}};
  auto r = assessRecist(s);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].category, RC::Baseline);
  EXPECT_DOUBLE_EQ(r[0].sum, 60.0); // 40 long + 20 node short
  EXPECT_EQ(r[1].category, RC::PartialResponse);
  EXPECT_DOUBLE_EQ(r[1].sum, 40.0);
  EXPECT_EQ(r[2].category, RC::StableDisease);
  EXPECT_DOUBLE_EQ(r[2].nadirSum, 40.0);
  EXPECT_EQ(r[3].category, RC::ProgressiveDisease);
  EXPECT_NEAR(*r[3].changeFromNadirPercent, 20.0, 1e-9);
  EXPECT_NEAR(r[3].changeFromNadir, 8.0, 1e-9);

  s[1].newLesions = true;
  EXPECT_EQ(assessRecist(s)[1].category, RC::ProgressiveDisease);
  EXPECT_NE(assessRecist(s)[1].reason.find("new lesion"), std::string::npos);
}

TEST(Recist, CompleteResponseNeedsNodesBelowTenMillimetres) {
  LesionObservation gone = lesionObs("a", 0, 0);
  gone.present = false;
  std::vector<TimePointObservation> s{{"b", {lesionObs("a", 30, 20), lesionObs("n", 25, 18, true)}},
                                      {"f1", {gone, lesionObs("n", 12, 9.9, true)}},
                                      {"f2", {gone, lesionObs("n", 12, 10.5, true)}}};
  auto r = assessRecist(s);
  EXPECT_EQ(r[1].category, RC::CompleteResponse) << r[1].reason;
  EXPECT_EQ(r[2].category, RC::PartialResponse) << r[2].reason; // 10.5 of 48 baseline: -78 %, node not normal
}

TEST(Recist, MissingTargetIsNotEvaluableAndBoneIsNonTarget) {
  std::vector<TimePointObservation> s{{"b", {lesionObs("a", 30, 20), lesionObs("bone", 30, 20, false, true)}},
                                      {"f1", {lesionObs("bone", 80, 60, false, true)}}};
  auto r = assessRecist(s);
  EXPECT_EQ(r[0].lesionIds, std::vector<std::string>{"a"});
  EXPECT_EQ(r[1].category, RC::NotEvaluable);
  EXPECT_THROW((void)assessRecist({}), InputError);
  std::vector<TimePointObservation> dup{{"b", {lesionObs("a", 30, 20), lesionObs("a", 10, 5)}}};
  EXPECT_THROW((void)assessRecist(dup), InputError);
}

TEST(Recist, NonTargetLesionsAreNotSummed) {
  LesionObservation nonTarget = lesionObs("n", 40, 30);
  nonTarget.target = false;
  std::vector<TimePointObservation> s{{"b", {lesionObs("a", 30, 20), nonTarget}}, {"f1", {lesionObs("a", 20, 15), nonTarget}}};
  s[1].lesions[1].longAxisMm = 60; // a non-target growing does not enter the sum
  const auto r = assessRecist(s);
  EXPECT_EQ(r[0].lesionIds, std::vector<std::string>{"a"});
  EXPECT_DOUBLE_EQ(r[0].sum, 30.0);
  EXPECT_DOUBLE_EQ(r[1].sum, 20.0);
  EXPECT_EQ(r[1].category, RC::PartialResponse);
}

LesionObservation boneObs(double longMm, double shortMm, double calcified, double lyticMl, double meanHu) {
  LesionObservation l = lesionObs("L4", longMm, shortMm, false, true);
  l.calcifiedFraction = calcified;
  l.lyticVolumeMl = lyticMl;
  l.meanHu = meanHu;
  l.volumeMl = 7.0;
  return l;
}

TEST(MdAnderson, SclerosisIsResponseAndGrowthIsProgression) {
  std::vector<TimePointObservation> s{{"b", {boneObs(30, 20, 0.02, 6.8, 40)}},
                                      {"f1", {boneObs(30, 20, 0.11, 6.2, 80)}},  // +9 points: not yet
                                      {"f2", {boneObs(30, 20, 0.12, 6.0, 90)}},  // +10 points: sclerosis → PR
                                      {"f3", {boneObs(30, 20, 0.50, 0.3, 300)}}, // 4 % lytic left → CR
                                      {"f4", {boneObs(34, 22.1, 0.50, 0.3, 300)}}}; // SPD 751.4 vs 600: +25.2 % → PD
  auto r = assessMdAnderson(s);
  EXPECT_EQ(r[1].category, RC::StableDisease) << r[1].reason;
  EXPECT_EQ(r[2].category, RC::PartialResponse) << r[2].reason;
  EXPECT_NE(r[2].reason.find("sclerosis"), std::string::npos);
  EXPECT_EQ(r[3].category, RC::CompleteResponse) << r[3].reason;
  EXPECT_EQ(r[4].category, RC::ProgressiveDisease) << r[4].reason;
  // SPD exactly -50 % with no density data: PR by size; exactly +25 %: PD.
  std::vector<TimePointObservation> size{{"b", {lesionObs("x", 20, 20, false, true)}},
                                         {"f1", {lesionObs("x", 20, 10, false, true)}},
                                         {"f2", {lesionObs("x", 25, 10, false, true)}}};
  auto q = assessMdAnderson(size);
  EXPECT_EQ(q[1].category, RC::PartialResponse) << q[1].reason;
  EXPECT_EQ(q[2].category, RC::ProgressiveDisease) << q[2].reason; // 250 vs nadir 200
  size[1].newBoneLesions = true;
  EXPECT_EQ(assessMdAnderson(size)[1].category, RC::ProgressiveDisease);
}

TEST(InverseChoi, DensityIncreaseOrSizeDecreaseIsPartialResponse) {
  std::vector<TimePointObservation> s{{"b", {boneObs(30, 20, 0.0, 6.8, 40)}},
                                      {"f1", {boneObs(30, 20, 0.0, 6.8, 45.9)}}, // +14.75 %
                                      {"f2", {boneObs(30, 20, 0.0, 6.8, 46)}},   // +15 %
                                      {"f3", {boneObs(27, 20, 0.0, 6.8, 40)}},   // -10 %
                                      {"f4", {boneObs(30, 20, 0.0, 6.8, 40)}},   // +11 % over nadir 27
                                      {"f5", {boneObs(33, 20, 0.0, 6.8, 60)}}};  // +22 % but density +50 %
  auto r = assessInverseChoi(s);
  EXPECT_EQ(r[1].category, RC::StableDisease) << r[1].reason;
  EXPECT_EQ(r[2].category, RC::PartialResponse) << r[2].reason;
  EXPECT_EQ(r[3].category, RC::PartialResponse) << r[3].reason;
  EXPECT_EQ(r[4].category, RC::ProgressiveDisease) << r[4].reason;
  EXPECT_EQ(r[5].category, RC::PartialResponse) << r[5].reason;
  std::vector<TimePointObservation> negative{{"b", {boneObs(30, 20, 0, 6.8, -20)}}, {"f", {boneObs(30, 20, 0, 6.8, 10)}}};
  const auto n = assessInverseChoi(negative);
  EXPECT_EQ(n[1].category, RC::StableDisease);
  EXPECT_NE(n[1].reason.find("not evaluable"), std::string::npos) << n[1].reason;
}

// A patient without bone lesions: the bone criteria do not apply (NA), which is not "not evaluable"
// (NE: lesions there, a figure missing); a new bone lesion is still PD.
TEST(BoneCriteria, NoBoneLesionAtBaselineIsNotApplicable) {
  std::vector<TimePointObservation> s{{"b", {lesionObs("mass", 30, 20)}}, {"f1", {lesionObs("mass", 28, 19)}}};
  for (const auto& r : {assessMdAnderson(s), assessInverseChoi(s)}) {
    EXPECT_EQ(r[0].category, RC::NotApplicable) << r[0].criteria << ": " << r[0].reason;
    EXPECT_EQ(r[1].category, RC::NotApplicable) << r[1].criteria << ": " << r[1].reason;
    EXPECT_EQ(categoryAbbreviation(r[1].category), "NA");
    EXPECT_EQ(categoryName(r[1].category), "not applicable");
  }
  EXPECT_EQ(assessRecist(s)[1].category, RC::StableDisease);
  s[1].newBoneLesions = true;
  EXPECT_EQ(assessMdAnderson(s)[1].category, RC::ProgressiveDisease);
  EXPECT_EQ(assessInverseChoi(s)[1].category, RC::ProgressiveDisease);
}

TEST(Recist, NoTargetLesionAtBaselineIsNotApplicable) {
  std::vector<TimePointObservation> s{{"b", {lesionObs("bone", 30, 20, false, true)}},
                                      {"f1", {lesionObs("bone", 30, 20, false, true)}}};
  const auto r = assessRecist(s);
  EXPECT_EQ(r[0].category, RC::NotApplicable) << r[0].reason;
  EXPECT_EQ(r[1].category, RC::NotApplicable) << r[1].reason;
}

// Every baseline → follow-up pair of the DLT validation set (Cai et al., deep lesion tracker):
// the per-lesion category must equal the one the annotated long axes imply. The expected category
// is recomputed here in exact integer arithmetic on tenths of a millimetre (the data's precision).
TEST(RecistDlt, EveryPairMatchesItsDiameters) {
  LESIONKIT_REQUIRE_TEST_DATA(path, "JimmyCai91+DLT/data/valid.json");
  std::ifstream in(path);
  const nlohmann::json data = nlohmann::json::parse(in);
  ASSERT_EQ(data.size(), 906u);
  std::map<RC, int> counts;
  int agree = 0;
  for (const auto& [key, pairJson] : data.items()) {
    const auto source = pairJson.at("source recist diameter").get<std::vector<double>>();
    const auto target = pairJson.at("target recist diameter").get<std::vector<double>>();
    ASSERT_EQ(source.size(), 2u) << key;
    const long b = std::lround(source[0] * 10.0), f = std::lround(target[0] * 10.0);
    RC expected = RC::StableDisease;
    if (f == 0) expected = RC::CompleteResponse;
    else if (5 * (f - b) >= b && f - b >= 50) expected = RC::ProgressiveDisease;
    else if (10 * f <= 7 * b) expected = RC::PartialResponse;
    const ResponseAssessment a = assessRecistPair(source[0], source[1], target[0], target[1]);
    EXPECT_EQ(a.category, expected) << "pair " << key << ": " << a.reason;
    agree += a.category == expected;
    ++counts[a.category];
  }
  EXPECT_EQ(agree, 906);
  // The distribution the diameters imply (documented in docs/followup.md).
  EXPECT_EQ(counts[RC::ProgressiveDisease], 102);
  EXPECT_EQ(counts[RC::PartialResponse], 43);
  EXPECT_EQ(counts[RC::StableDisease], 761);
  RecordProperty("agreement", agree);
}

} // namespace
} // namespace lesion::longitudinal
