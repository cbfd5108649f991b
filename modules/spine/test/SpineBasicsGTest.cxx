#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"
namespace lesion::spine {
namespace {
TEST(SpineLevels, TotalSegmentatorNumbering) {
  EXPECT_EQ(labelOfLevel("S1"), 26);
  EXPECT_EQ(labelOfLevel("L4"), 28);
  EXPECT_EQ(labelOfLevel("T11"), 33);
  EXPECT_EQ(labelOfLevel("C1"), 50);
  EXPECT_EQ(levelOfLabel(32), "T12");
  EXPECT_EQ(levelOfLabel(25), "");
  EXPECT_EQ(levelAbove("S1", 1), "L5");
  EXPECT_EQ(levelAbove("L1", 1), "T12");
  EXPECT_EQ(levelAbove("S1", -1), "");
  EXPECT_THROW((void)labelOfLevel("L6"), UsageError);
}

VertebraMeasurement bodyOf(const std::string& level, double heightMm, double volumeMl, bool complete = true) {
  VertebraMeasurement v;
  v.level = level;
  v.anteriorHeightMm = v.middleHeightMm = v.posteriorHeightMm = heightMm;
  v.bodyVolumeMl = volumeMl;
  v.complete = complete;
  return v;
}

TEST(SpineLevels, BodiesMergedAcrossAMissedDiscAreImplausible) {
  // As segmentSpine gave on 6 mm slices of the phantom while L5 and S1 merged passed for the
  // sacrum: "L4" is three bodies and two discs.
  std::vector<VertebraMeasurement> levels{bodyOf("L3", 30.0, 33.5), bodyOf("L4", 102.0, 127.8),
                                          bodyOf("L5", 24.0, 39.4), bodyOf("S1", 30.0, 42.7)};
  EXPECT_EQ(implausibleBodySize(levels, 0), "");
  EXPECT_NE(implausibleBodySize(levels, 1).find("102 mm tall"), std::string::npos) << implausibleBodySize(levels, 1);
  EXPECT_EQ(implausibleBodySize(levels, 3), "") << "S1 is cut to L5's height, not judged";
  // Normal variation (7 mm slices: L3 35-42 mm and 48.7 mL among 28 mm, 31-41 mL) is plausible.
  levels = {bodyOf("T12", 28.0, 31.3), bodyOf("L1", 28.0, 32.4), bodyOf("L2", 28.0, 35.3), bodyOf("L3", 35.0, 48.7),
            bodyOf("L4", 21.0, 38.8),  bodyOf("L5", 28.0, 41.4), bodyOf("S1", 28.0, 39.6)};
  for (std::size_t n = 0; n < levels.size(); ++n)
    EXPECT_EQ(implausibleBodySize(levels, n), "") << levels[n].level;
  // Merged sideways (leaked) without being taller: the volume gives it away.
  levels[1].bodyVolumeMl = 80.0;
  EXPECT_NE(implausibleBodySize(levels, 1).find("80 mL"), std::string::npos) << implausibleBodySize(levels, 1);
  // No basis: a single complete neighbour.
  levels = {bodyOf("L3", 30.0, 33.5, false), bodyOf("L4", 102.0, 127.8), bodyOf("L5", 30.0, 39.4)};
  EXPECT_EQ(implausibleBodySize(levels, 1), "");
}

TEST(SpineLevels, MergedBodiesAreNeitherReferenceNorGraded) {
  // A 102 mm "L4" (three bodies merged across missed discs): graded against it, L3 and L5 read
  // grade 3. The reference looks up to two levels past it instead.
  std::vector<VertebraMeasurement> levels{bodyOf("L2", 30.0, 34.0), bodyOf("L3", 30.0, 33.5),
                                          bodyOf("L4", 102.0, 127.8), bodyOf("L5", 28.0, 39.4),
                                          bodyOf("S1", 30.0, 42.7)};
  gradeHeightLoss(levels);
  EXPECT_NEAR(levels[1].referenceHeightMm, 29.0, 1e-9) << "L3 against L2 and L5";
  EXPECT_NEAR(levels[3].referenceHeightMm, 30.0, 1e-9) << "L5 against L3 (S1 is never a reference)";
  EXPECT_EQ(levels[1].genantGrade, 0);
  EXPECT_EQ(levels[3].genantGrade, 0);
  EXPECT_EQ(levels[2].genantGrade, 0) << "the merged body is not graded";
  // A real collapse next to plausible bodies is still graded (19.5 of 30 mm: 35 % loss).
  levels = {bodyOf("L2", 30.0, 34.0), bodyOf("L3", 30.0, 33.5), bodyOf("L4", 30.0, 35.0), bodyOf("L5", 30.0, 39.4)};
  levels[2].anteriorHeightMm = 19.5;
  gradeHeightLoss(levels);
  EXPECT_NEAR(levels[2].heightLossRatio, 0.35, 1e-9);
  EXPECT_EQ(levels[2].genantGrade, 2);
}
TEST(SpineLevels, LevelsCountedAcrossMergedBodiesAreDoubtful) {
  // Counted up from S1: the merged "L4" and everything above it may be named off; L5 and S1 not.
  std::vector<VertebraMeasurement> levels{bodyOf("L2", 30.0, 34.0), bodyOf("L3", 30.0, 33.5),
                                          bodyOf("L4", 102.0, 127.8), bodyOf("L5", 28.0, 39.4),
                                          bodyOf("S1", 30.0, 42.7)};
  markDoubtfulLevels(levels, "S1");
  const auto doubtful = [&] {
    std::string names;
    for (const auto& v : levels)
      if (v.levelDoubtful)
        names += v.level + " ";
    return names;
  };
  EXPECT_EQ(doubtful(), "L2 L3 L4 ");
  EXPECT_TRUE(levelIsDoubtful(levels, "L3"));
  EXPECT_FALSE(levelIsDoubtful(levels, "L5"));
  EXPECT_FALSE(levelIsDoubtful(levels, "T12")) << "a level not in the list";
  // Counted down from the lowest ribs (T12, no sacrum in view): the merged body and those below it.
  levels = {bodyOf("T11", 26.0, 30.0), bodyOf("T12", 27.0, 31.0), bodyOf("L1", 28.0, 33.0),
            bodyOf("L2", 84.0, 100.0), bodyOf("L3", 30.0, 34.0),  bodyOf("L4", 30.0, 35.0)};
  markDoubtfulLevels(levels, "T12");
  EXPECT_EQ(doubtful(), "L2 L3 L4 ");
  // No merged body: nothing is doubtful.
  levels = {bodyOf("L3", 30.0, 33.5), bodyOf("L4", 30.0, 35.0), bodyOf("L5", 28.0, 39.4), bodyOf("S1", 30.0, 42.7)};
  markDoubtfulLevels(levels, "S1");
  EXPECT_EQ(doubtful(), "");
}

TEST(SpineLevels, SacrumAndCutBodiesAreMarkedNotGraded) {
  // A grade 0 would read "no fracture": the sacrum and a body cut by the scan are not graded at all.
  std::vector<VertebraMeasurement> levels{bodyOf("T12", 24.0, 39.0, false), bodyOf("L1", 28.0, 50.0),
                                          bodyOf("L2", 29.0, 49.0), bodyOf("S1", 30.0, 40.0)};
  levels[0].anteriorHeightMm = 18.0; // 0.37 loss: grade 2 if it were graded
  levels[3].anteriorHeightMm = 19.0;
  gradeHeightLoss(levels);
  EXPECT_FALSE(levels[0].graded);
  EXPECT_GT(levels[0].heightLossRatio, 0.25);
  EXPECT_EQ(levels[0].genantGrade, 0);
  EXPECT_TRUE(levels[1].graded);
  EXPECT_TRUE(levels[2].graded);
  EXPECT_FALSE(levels[3].graded);
}

TEST(SpineLevels, OnlyCutOrOversizedBodiesAreNoSpine) {
  // The GE head CT: skull bone found as two "bodies", both cut by the scan edge.
  std::vector<VertebraMeasurement> head{bodyOf("T11", 62.6, 161.4, false), bodyOf("T12", 12.2, 21.1, false)};
  const std::string why = implausibleSpine(head);
  EXPECT_NE(why.find("no complete vertebral body"), std::string::npos) << why;
  EXPECT_NE(why.find("T11 161.4 mL"), std::string::npos) << why;
  // Complete but far beyond an adult body (300 mL, 90 mm tall): no spine either.
  EXPECT_NE(implausibleSpine({bodyOf("L1", 90.0, 300.0), bodyOf("L2", 12.0, 21.0, false)}), "");
  // TotalSegmentator's example CT (T12 cut, lumbar bodies up to 59 mL) and the 6 mm phantom with
  // one merged body are spines.
  EXPECT_EQ(implausibleSpine({bodyOf("T12", 25.0, 39.2, false), bodyOf("L1", 27.2, 51.6), bodyOf("L4", 28.4, 58.7),
                              bodyOf("S1", 25.5, 40.3)}),
            "");
  EXPECT_EQ(implausibleSpine({bodyOf("L3", 30.0, 33.5), bodyOf("L4", 102.0, 127.8), bodyOf("L5", 24.0, 39.4)}), "");
}

// A seed off the scan (a manifest's point in RAS, or on another scan) is bad input, said before
// the spine is labelled, not "no lytic lesion found at the seed" after it.
TEST(LyticSeed, OffTheScanIsBadInputNamingTheSeed) {
  ImageGeometry g;
  g.size = {20, 20, 10};
  g.spacing = {1.0, 1.0, 2.0};
  const Volume ct(g, 40.0f);
  try {
    (void)segmentLyticLesion(ct, {Vec3{5, 5, 1900}});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the seed (5.0, 5.0, 1900.0) (LPS mm) lies outside the scan"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace lesion::spine
