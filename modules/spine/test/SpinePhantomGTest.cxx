// Spine segmentation, heights and lytic lesions on the LesionKit phantom (analytic truth): one
// baseline CT of T12..S1 at 1 x 1 x 1 mm (1 mm slices keep the partial-volume bias of an endplate
// below half a millimetre), generated once for the suite; plus a small L3-L5 grid for anchoring.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <utility>

#include <gtest/gtest.h>

#include "SpineTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/spine/BoneFocusDetection.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {
namespace {

struct PhantomCase {
  phantom::PhantomStudy study;
  SpineResult spine;
  LyticResult lytic;
  double spineSeconds{0}, lyticSeconds{0};
};

const PhantomCase& phantomCase() {
  static const std::unique_ptr<PhantomCase> c = [] {
    auto pc = std::make_unique<PhantomCase>();
    phantom::PhantomOptions o;
    o.timePoints = 1;
    o.threads = 2;
    o.sliceThicknessMm = 1.0;
    pc->study = phantom::generatePhantomStudy(o);
    const Volume& ct = pc->study.timePoints[0].image;
    const auto t0 = std::chrono::steady_clock::now();
    pc->spine = segmentSpine(ct);
    const auto t1 = std::chrono::steady_clock::now();
    pc->lytic = detectLyticLesions(ct, pc->spine);
    const auto t2 = std::chrono::steady_clock::now();
    pc->spineSeconds = std::chrono::duration<double>(t1 - t0).count();
    pc->lyticSeconds = std::chrono::duration<double>(t2 - t1).count();
    if (const char* dbg = std::getenv("LESIONKIT_SPINE_DEBUG")) { // inspect the maps by eye
      dicomio::writeVolumeFile(ct, std::string(dbg) + "/phantom-ct.nrrd");
      dicomio::writeLabelMapFile(pc->spine.bodies, std::string(dbg) + "/phantom-bodies.nrrd");
      dicomio::writeLabelMapFile(pc->spine.vertebrae, std::string(dbg) + "/phantom-vertebrae.nrrd");
      dicomio::writeLabelMapFile(pc->lytic.components, std::string(dbg) + "/phantom-lytic.nrrd");
      dicomio::writeLabelMapFile(pc->study.timePoints[0].labels, std::string(dbg) + "/phantom-truth.nrrd");
    }
    return pc;
  }();
  return *c;
}

const VertebraMeasurement* findLevel(const SpineResult& r, const std::string& level) {
  for (const auto& v : r.levels)
    if (v.level == level) return &v;
  return nullptr;
}

/// Truth envelope of a body: its label plus the lesion voxels inside the body solid (the truth
/// label map gives those to the lesion; our body envelope keeps them).
LabelMap truthEnvelope(const phantom::PhantomTimePoint& tp, int level) {
  const phantom::VertebralBody& b = tp.anatomy.bodies[std::size_t(level)];
  const std::uint16_t label = std::uint16_t(11 + level);
  LabelMap out(tp.labels.geometry, 0);
  const auto& g = tp.labels.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t p = g.linearIndex(i, j, k);
        const std::uint16_t v = tp.labels.voxels[p];
        bool inside = v == label;
        if (!inside && (v == 1 || v == 3)) {
          const Vec3 q = g.indexToPoint(i, j, k); // baseline: scanner frame = model frame
          const double ex = (q.x - b.centre.x) / b.semiAxisLrMm, ey = (q.y - b.centre.y) / b.semiAxisApMm;
          inside = ex * ex + ey * ey <= 1.0 && q.z >= b.bottomZ && q.z <= b.topZAt(q.y);
        }
        out.voxels[p] = inside ? 1 : 0;
      }
  return out;
}

// The checks share one generated phantom; ctest runs every TEST in its own process, so they
// are one TEST to generate it once.
void checkLevelsAndBodies(const PhantomCase& pc) {
  std::cout << "segmentSpine " << pc.spineSeconds << " s, detectLyticLesions " << pc.lyticSeconds << " s, anchor "
            << anchorName(pc.spine.anchor) << ", lowest rib-bearing " << pc.spine.lowestRibBearingLevel << ", discs "
            << pc.spine.discCount << "\n";
  for (const auto& w : pc.spine.warnings) std::cout << "warning: " << w << "\n";
  // No pelvis in the phantom: the levels come from the 11th/12th ribs at T12.
  EXPECT_EQ(pc.spine.anchor, LevelAnchor::LowestRib);
  EXPECT_EQ(pc.spine.lowestRibBearingLevel, "T12");
  EXPECT_EQ(pc.spine.discCount, 6u);
  const char* names[] = {"T12", "L1", "L2", "L3", "L4", "L5", "S1"};
  ASSERT_EQ(pc.spine.levels.size(), 7u);
  for (int n = 0; n < 7; ++n) {
    EXPECT_EQ(pc.spine.levels[std::size_t(n)].level, names[n]); // top down
    const std::uint16_t ours = labelOfLevel(names[n]);
    const LabelMap truth = truthEnvelope(pc.study.timePoints[0], n);
    const double diceBody = test::dice(pc.spine.bodies, [&](std::uint16_t v) { return v == ours; }, truth,
                                       [](std::uint16_t v) { return v != 0; });
    std::cout << names[n] << " body Dice " << diceBody << "\n";
    EXPECT_GE(diceBody, 0.92) << names[n]; // measured 0.94..0.96
  }
}

void checkHeightsAndGenantGrade(const PhantomCase& pc) {
  for (const phantom::VertebraTruth& t : pc.study.timePoints[0].truth.vertebrae) {
    const VertebraMeasurement* m = findLevel(pc.spine, t.level);
    ASSERT_NE(m, nullptr) << t.level;
    std::cout << t.level << " heights " << m->anteriorHeightMm << " / " << m->middleHeightMm << " / " << m->posteriorHeightMm
              << " mm (truth " << t.anteriorHeightMm << " / " << t.middleHeightMm << " / " << t.posteriorHeightMm
              << "), loss " << m->heightLossRatio << ", grade " << m->genantGrade << ", trabecular " << m->meanTrabecularHu
              << " HU, body " << m->bodyVolumeMl << " mL\n";
    EXPECT_NEAR(m->anteriorHeightMm, t.anteriorHeightMm, 1.0) << t.level;
    EXPECT_NEAR(m->middleHeightMm, t.middleHeightMm, 1.0) << t.level;
    EXPECT_NEAR(m->posteriorHeightMm, t.posteriorHeightMm, 1.0) << t.level;
    if (t.level != "L4") EXPECT_EQ(m->genantGrade, 0) << t.level;
  }
  // L4: anterior 21 mm against 28 mm neighbours = 25 % loss, the Genant 1/2 border.
  const VertebraMeasurement* l4 = findLevel(pc.spine, "L4");
  ASSERT_NE(l4, nullptr);
  EXPECT_NEAR(l4->heightLossRatio, 0.25, 0.04);
  EXPECT_TRUE(l4->genantGrade == 1 || l4->genantGrade == 2) << l4->genantGrade;
  EXPECT_NEAR(l4->referenceHeightMm, 28.0, 1.0);
}

void checkLyticLesion(const PhantomCase& pc) {
  const LabelMap& truth = pc.study.timePoints[0].labels;
  for (const LyticLesion& c : pc.lytic.candidates)
    std::cout << "candidate " << c.id << " " << c.level << " confidence " << c.confidence << ", " << c.volumeMl
              << " mL (lytic " << c.lyticVolumeMl << ", soft tissue " << c.softTissueVolumeMl << ", sclerotic "
              << c.scleroticVolumeMl << "), breach " << c.corticalBreach << " (" << c.breachAreaMm2 << " mm2): " << c.reason
              << "\n";
  std::size_t labelled = 0;
  for (const LyticLesion& c : pc.lytic.candidates) {
    if (!c.labelled) continue;
    ++labelled;
    EXPECT_EQ(c.level, "L4"); // nothing on the normal vertebrae
    EXPECT_TRUE(c.corticalBreach);
    EXPECT_GT(c.softTissueVolumeMl, 0.0);
    EXPECT_EQ(c.kind, "lytic-bone");
  }
  EXPECT_EQ(labelled, 1u);
  const double d = test::dice(pc.lytic.lesions, [](std::uint16_t v) { return v != 0; }, truth,
                              [](std::uint16_t v) { return v == 1 || v == 3; });
  const phantom::LesionTruth& lt = pc.study.timePoints[0].truth.lesions.at(0);
  const double ours = double(test::countVoxels(pc.lytic.lesions, [](std::uint16_t v) { return v != 0; })) *
                      truth.geometry.voxelVolumeMm3() / 1000.0;
  std::cout << "lesion Dice " << d << ", volume " << ours << " mL vs truth " << lt.volumeMl << " mL ("
            << 100.0 * (ours - lt.volumeMl) / lt.volumeMl << " %)\n";
  EXPECT_GE(d, 0.85);
  EXPECT_LE(std::abs(ours - lt.volumeMl) / lt.volumeMl, 0.10);
}

/// detectBoneFoci on the whole phantom: every labelled focus must lie in L4 (the lytic lesion).
void checkSkeletonFoci(const PhantomCase& pc) {
  const Volume& ct = pc.study.timePoints[0].image;
  const auto t0 = std::chrono::steady_clock::now();
  const BoneFocusResult foci = detectBoneFoci(ct, &pc.spine);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t labelled = 0, elsewhere = 0;
  for (const BoneFocus& f : foci.candidates) {
    if (!f.labelled)
      continue;
    ++labelled;
    std::cout << "focus " << f.id << " " << f.kind << " in " << f.bone << " " << f.level << " at "
              << formatPoint(f.centroid) << ": " << f.reason << "\n";
    if (f.level != "L4")
      ++elsewhere;
  }
  std::cout << "detectBoneFoci " << seconds << " s: " << foci.candidates.size() << " candidates, " << labelled
            << " labelled, " << elsewhere << " outside L4; bone " << foci.boneVolumeMl << " mL, interior "
            << foci.interiorVolumeMl << " mL\n";
  EXPECT_EQ(elsewhere, 0u);
}

TEST(SpinePhantom, LevelsHeightsAndLyticLesion) {
  const PhantomCase& pc = phantomCase();
  {
    SCOPED_TRACE("every body labelled with its level");
    checkLevelsAndBodies(pc);
  }
  {
    SCOPED_TRACE("heights within 1 mm, Genant grade");
    checkHeightsAndGenantGrade(pc);
  }
  {
    SCOPED_TRACE("L4 lytic lesion, soft-tissue part, no false candidate");
    checkLyticLesion(pc);
  }
  {
    SCOPED_TRACE("skeleton-wide foci: none on the normal vertebrae and ribs");
    checkSkeletonFoci(pc);
  }
}

TEST(SpinePhantom, CalcifiedFollowUpLesionHasScleroticParts) {
  // Second time point (sclerotic rim + a calcified nodule) on a small grid around L4.
  phantom::PhantomOptions o;
  o.timePoints = 2;
  o.threads = 2;
  o.sliceThicknessMm = 1.0;
  o.zFromMm = 50.0;
  o.zToMm = 125.0;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& tp = study.timePoints[1];
  SpineOptions options;
  options.anchorLevel = "L4";
  options.anchorSeed = tp.truth.vertebrae.at(4).centre;
  const SpineResult spine = segmentSpine(tp.image, options);
  LyticOptions lyticOptions;
  lyticOptions.levels = {"L4"};
  const LyticResult lytic = detectLyticLesions(tp.image, spine, lyticOptions);
  const phantom::LesionTruth& truth = tp.truth.lesions.at(0);
  const LyticLesion* found = nullptr;
  for (const LyticLesion& c : lytic.candidates)
    if (c.labelled) found = &c;
  ASSERT_NE(found, nullptr);
  const double d = test::dice(lytic.lesions, [](std::uint16_t v) { return v != 0; }, tp.labels,
                              [](std::uint16_t v) { return v == 1 || v == 3; });
  const double dScl = test::dice(lytic.components, [](std::uint16_t v) { return v == component::Sclerotic; }, tp.labels,
                                 [](std::uint16_t v) { return v == 3; });
  std::cout << "follow-up: lesion " << found->volumeMl << " mL (truth " << truth.volumeMl << "), sclerotic "
            << found->scleroticVolumeMl << " mL (truth calcified " << truth.calcifiedVolumeMl << "), Dice " << d
            << ", sclerotic Dice " << dScl << "\n";
  // Measured: Dice 0.87, sclerotic Dice 0.79, sclerotic volume 1.55 of 2.29 mL, whole lesion 5.46
  // of 6.98 mL (the rim next to the cortex and beyond the breach is partly missed).
  EXPECT_GE(d, 0.82);
  EXPECT_GE(dScl, 0.70);
  EXPECT_GT(found->scleroticVolumeMl, 0.5 * truth.calcifiedVolumeMl);
  EXPECT_LT(found->scleroticVolumeMl, 1.2 * truth.calcifiedVolumeMl);
}

TEST(SpinePhantom, DoubleObliqueGridGivesTheAxialHeights) {
  // `lesionkit phantom --orientation oblique`: the axial frame rotated 12 deg about y and 8 deg about
  // x, 1 x 1 x 2 mm. The bodies stand along the model's z, tilted ~14 deg against the slice axis:
  // heights are measured along each body's own axes (the column axis from the neighbouring
  // bodies), so they match the truth as on an axial grid of the same spacing. Before (slice axis,
  // corrected by the body's tilt): errors up to 3.3 mm, L4 loss 0.20.
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.threads = 2;
  o.orientation = phantom::Orientation::Oblique;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& tp = study.timePoints[0];
  const SpineResult r = segmentSpine(tp.image);
  const char* names[] = {"T12", "L1", "L2", "L3", "L4", "L5", "S1"};
  ASSERT_EQ(r.levels.size(), 7u);
  for (int n = 0; n < 7; ++n) EXPECT_EQ(r.levels[std::size_t(n)].level, names[n]);
  double worst = 0;
  for (const phantom::VertebraTruth& t : tp.truth.vertebrae) {
    const VertebraMeasurement* m = findLevel(r, t.level);
    ASSERT_NE(m, nullptr) << t.level;
    std::cout << "oblique " << t.level << " heights " << m->anteriorHeightMm << " / " << m->middleHeightMm << " / "
              << m->posteriorHeightMm << " mm (truth " << t.anteriorHeightMm << " / " << t.middleHeightMm << " / "
              << t.posteriorHeightMm << "), loss " << m->heightLossRatio << ", grade " << m->genantGrade << "\n";
    for (const auto& [ours, truth] : {std::pair{m->anteriorHeightMm, t.anteriorHeightMm}, std::pair{m->middleHeightMm, t.middleHeightMm},
                                      std::pair{m->posteriorHeightMm, t.posteriorHeightMm}}) {
      worst = std::max(worst, std::abs(ours - truth));
      // Goal 1 mm (reached on the 1 mm axial grid); 2 mm slices leave up to ~2 mm of endplate
      // partial volume on the axial grid too (L3, L5 +2.0 mm): measured here at most 2.2 mm.
      EXPECT_NEAR(ours, truth, 2.5) << t.level;
    }
    if (t.level != "L4") EXPECT_EQ(m->genantGrade, 0) << t.level;
  }
  const VertebraMeasurement* l4 = findLevel(r, "L4");
  ASSERT_NE(l4, nullptr);
  std::cout << "oblique: largest height error " << worst << " mm (goal 1 mm, gap " << std::max(0.0, worst - 1.0) << " mm), L4 loss " << l4->heightLossRatio << " (truth 0.25, gap "
            << l4->heightLossRatio - 0.25 << ")\n";
  EXPECT_NEAR(l4->heightLossRatio, 0.25, 0.02);
  EXPECT_TRUE(l4->genantGrade == 1 || l4->genantGrade == 2) << l4->genantGrade;
}

/// The found body (its label in `bodies`) holding most voxels of each truth body T12..S1 (0 if none).
std::vector<std::uint16_t> foundBodyOfEachTruthBody(const LabelMap& bodies, const LabelMap& truth) {
  std::vector<std::vector<std::size_t>> counts(7, std::vector<std::size_t>(51, 0));
  for (std::size_t p = 0; p < truth.voxels.size(); ++p) {
    const int t = int(truth.voxels[p]) - 11;
    if (t >= 0 && t < 7 && bodies.voxels[p] <= 50)
      ++counts[std::size_t(t)][bodies.voxels[p]];
  }
  std::vector<std::uint16_t> found(7, 0);
  for (std::size_t t = 0; t < 7; ++t)
    for (std::uint16_t label = 1; label <= 50; ++label)
      if (counts[t][label] > counts[t][found[t]])
        found[t] = label;
  return found;
}

TEST(SpinePhantom, SixMillimetreSlicesCountTheTrueLevels) {
  // On 6 mm slices a 9-10 mm disc falls across two slices whose endplate cortices outweigh it: the
  // L1/L2, L2/L3 and L5/S1 discs are not found. L5 and S1 merged (62 mm) are as tall as a fused
  // sacrum; counted as the sacrum, the true L5 was named S1 and the L4 lesion "in L5".
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.threads = 2;
  o.sliceThicknessMm = 6.0;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& tp = study.timePoints[0];
  const SpineResult r = segmentSpine(tp.image);
  for (const auto& w : r.warnings)
    std::cout << "warning: " << w << "\n";
  const char* names[] = {"T12", "L1", "L2", "L3", "L4", "L5", "S1"};
  const std::vector<std::uint16_t> found = foundBodyOfEachTruthBody(r.bodies, tp.labels);
  for (std::size_t t = 0; t < 7; ++t) {
    ASSERT_NE(found[t], 0) << names[t] << " not found";
    // A body holding several (merged across missed discs) carries the highest of their levels.
    const std::size_t highest = std::size_t(std::find(found.begin(), found.end(), found[t]) - found.begin());
    const std::string level = levelOfLabel(found[t]);
    std::cout << "truth " << names[t] << " in found " << level
              << (levelIsDoubtful(r.levels, level) ? " (doubtful)" : "") << "\n";
    EXPECT_EQ(level, names[highest]) << "truth " << names[t];
    if (highest != t || (t + 1 < 7 && found[t + 1] == found[t]))
      EXPECT_TRUE(levelIsDoubtful(r.levels, level)) << level << " holds several bodies";
  }
  const LyticResult lytic = detectLyticLesions(tp.image, r);
  std::size_t labelled = 0;
  for (const LyticLesion& c : lytic.candidates)
    if (c.labelled) {
      ++labelled;
      EXPECT_EQ(c.level, "L4");
    }
  EXPECT_EQ(labelled, 1u);
}

TEST(SpinePhantom, SixMillimetreSlicesWithoutRibsLeaveEveryLevelDoubtful) {
  // Cropped below the ribs, nothing tells L5 and S1 merged (66 mm) from a fused sacrum: the count
  // up from it stands (one level low), but no level is printed as certain.
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.threads = 2;
  o.sliceThicknessMm = 6.0;
  o.zFromMm = -4.0; // the default bottom margin below S1
  o.zToMm = 222.0;  // 5 mm of T12, below its ribs
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const SpineResult r = segmentSpine(study.timePoints[0].image);
  for (const auto& w : r.warnings)
    std::cout << "warning: " << w << "\n";
  EXPECT_EQ(r.anchor, LevelAnchor::Sacrum);
  ASSERT_FALSE(r.levels.empty());
  for (const VertebraMeasurement& v : r.levels) {
    std::cout << v.level << (v.levelDoubtful ? " (doubtful)" : "") << "\n";
    EXPECT_TRUE(v.levelDoubtful) << v.level;
  }
}

TEST(SpinePhantom, SmallGridNeedsAnAnchorAndAcceptsTheUsersLevel) {
  // L3-L5 only: neither ribs nor the bottom of the column are in view.
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.threads = 2;
  o.pixelSizeMm = 1.5;
  o.zFromMm = 40.0;
  o.zToMm = 140.0;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& tp = study.timePoints[0];
  EXPECT_THROW((void)segmentSpine(tp.image), NoLevelAnchorError);
  SpineOptions options;
  options.anchorLevel = "L4";
  options.anchorSeed = tp.truth.vertebrae.at(4).centre;
  const SpineResult r = segmentSpine(tp.image, options);
  EXPECT_EQ(r.anchor, LevelAnchor::UserSeed);
  for (const char* level : {"L3", "L4", "L5"}) {
    const VertebraMeasurement* m = findLevel(r, level);
    ASSERT_NE(m, nullptr) << level;
    const std::uint16_t truthLabel = std::uint16_t(level == std::string("L3") ? 14 : level == std::string("L4") ? 15 : 16);
    // Centroid of our body within 3 mm of the truth centre (the L4 envelope holds the lesion too).
    EXPECT_LT(distance(m->bodyCentroid, tp.truth.vertebrae.at(std::size_t(truthLabel - 11)).centre), 3.0) << level;
  }
  EXPECT_THROW(
      {
        SpineOptions bad;
        bad.anchorLevel = "L9";
        bad.anchorSeed = Vec3{};
        (void)segmentSpine(tp.image, bad);
      },
      UsageError);
}

} // namespace
} // namespace lesion::spine
