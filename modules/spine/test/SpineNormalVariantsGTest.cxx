// Issue 6: normal variants must not be called lytic lesions (and a lesion at S1's endplate must not
// be trimmed away as disc: the last test). The phantom (1 mm) gets a Schmorl node in L1, a basivertebral vein channel
// in L2 and a focus of fatty marrow in L3, each large enough to pass the size rules (>= 0.3 mL), plus a soft-tissue
// ball in L5 of the fatty focus's size as the control that the search would call such a region a lesion; L4 keeps its
// real lesion.
#include <algorithm>
#include <iostream>
#include <limits>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "SpineTestUtil.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/phantom/PhantomModel.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {
namespace {

/// Where a truth vertebral body lies: its centroid, posterior wall and superior endplate (mm).
struct TruthBody {
  std::uint16_t label{0};
  Vec3 centroid{};
  double posteriorWallY{-std::numeric_limits<double>::infinity()};
  double superiorEndplateZ{-std::numeric_limits<double>::infinity()};
};

TruthBody truthBody(const LabelMap& truth, const std::string& level) {
  TruthBody b;
  for (int l = 0; l < phantom::kLevelCount; ++l)
    if (level == phantom::levelName(l))
      b.label = std::uint16_t(phantom::labels::FirstVertebralBody + l);
  const auto& g = truth.geometry;
  std::size_t n = 0;
  for (std::size_t q = 0; q < truth.voxels.size(); ++q)
    if (truth.voxels[q] == b.label) {
      b.centroid = b.centroid + g.indexToPoint(q % g.size[0], (q / g.size[0]) % g.size[1], q / (g.size[0] * g.size[1]));
      ++n;
    }
  b.centroid = b.centroid / double(std::max<std::size_t>(n, 1));
  // Walls along the lines through the centroid (the body is convex there).
  for (std::size_t q = 0; q < truth.voxels.size(); ++q) {
    if (truth.voxels[q] != b.label)
      continue;
    const Vec3 p = g.indexToPoint(q % g.size[0], (q / g.size[0]) % g.size[1], q / (g.size[0] * g.size[1]));
    if (std::abs(p.x - b.centroid.x) < 1.0 && std::abs(p.z - b.centroid.z) < 1.0)
      b.posteriorWallY = std::max(b.posteriorWallY, p.y);
    if (std::abs(p.x - b.centroid.x) < 1.0 && std::abs(p.y - b.centroid.y) < 1.0)
      b.superiorEndplateZ = std::max(b.superiorEndplateZ, p.z);
  }
  return b;
}

double volumeMl(const LabelMap& m) {
  return double(test::countVoxels(m, [](std::uint16_t v) { return v != 0; })) * m.geometry.voxelVolumeMm3() / 1000.0;
}

/// The project phantom's baseline on 1 mm slices (the grid on which small lesions are judged).
phantom::PhantomStudy phantomAtOneMillimetre(phantom::PhantomOptions& o) {
  o.timePoints = 1;
  o.threads = 2;
  o.sliceThicknessMm = 1.0;
  return phantom::generatePhantomStudy(o);
}

TEST(SpinePhantom, NormalVariantsAreNotCalledLesions) {
  phantom::PhantomOptions o;
  phantom::PhantomStudy study = phantomAtOneMillimetre(o);
  Volume& ct = study.timePoints[0].image;
  const LabelMap& truth = study.timePoints[0].labels;
  const double noiseSd = o.noiseSd;
  auto inBody = [&](const TruthBody& b) {
    return [&truth, label = b.label](std::size_t q) { return truth.voxels[q] == label; };
  };

  // Schmorl node: disc material (80 HU) herniated 4 mm deep through L1's upper endplate, 14 mm wide.
  const TruthBody l1 = truthBody(truth, "L1");
  const LabelMap schmorl = test::insertSimulatedLesion(ct, {l1.centroid.x, l1.centroid.y, l1.superiorEndplateZ},
                                                       {7.0, 7.0, 4.0}, 80.0, noiseSd, inBody(l1), 21);
  // Basivertebral vein channel: a 6 mm wide channel running 18 mm forward from L2's posterior wall
  // at mid-height (blood, 45 HU).
  const TruthBody l2 = truthBody(truth, "L2");
  const LabelMap vein = test::insertSimulatedLesion(ct, {l2.centroid.x, l2.posteriorWallY - 9.0, l2.centroid.z},
                                                    {3.0, 9.0, 3.0}, 45.0, noiseSd, inBody(l2), 22);
  // Focal fatty marrow: a 12 mm ball of fat (-80 HU) in the front half of L3.
  const TruthBody l3 = truthBody(truth, "L3");
  const LabelMap fat = test::insertSimulatedLesion(ct, l3.centroid + Vec3{3.0, -5.0, 0.0}, {6.0, 6.0, 6.0}, -80.0,
                                                   noiseSd, inBody(l3), 23);
  // Control: the same ball as soft tissue (40 HU) in L5 is a lesion.
  const TruthBody l5 = truthBody(truth, "L5");
  const LabelMap control = test::insertSimulatedLesion(ct, l5.centroid + Vec3{3.0, -5.0, 0.0}, {6.0, 6.0, 6.0}, 40.0,
                                                       noiseSd, inBody(l5), 24);
  std::cout << "inserted: Schmorl node L1 " << volumeMl(schmorl) << " mL, vein channel L2 " << volumeMl(vein)
            << " mL, fatty marrow L3 " << volumeMl(fat) << " mL, soft-tissue control L5 " << volumeMl(control)
            << " mL\n";
  // Each variant passes the size rule: what rejects it must be the rule for that variant.
  for (const LabelMap* m : {&schmorl, &vein, &fat, &control})
    EXPECT_GE(volumeMl(*m), 0.3);

  const SpineResult spine = segmentSpine(ct);
  const LyticResult lytic = detectLyticLesions(ct, spine);
  bool controlFound = false, l4Found = false;
  for (const LyticLesion& c : lytic.candidates) {
    std::cout << "candidate " << c.level << " " << c.lyticVolumeMl << " mL at " << c.meanHu << " HU, confidence "
              << c.confidence << ", labelled " << c.labelled << ": " << c.reason << "\n";
    // Listed variants are rejected by their own rule, not by chance (size, confidence).
    for (const auto& [level, rule] : {std::pair{"L1", "Schmorl"}, {"L2", "basivertebral"}, {"L3", "fatty marrow"}})
      if (c.level == level)
        EXPECT_NE(c.reason.find(rule), std::string::npos) << c.level << ": " << c.reason;
    if (!c.labelled || c.kind != "lytic-bone")
      continue;
    EXPECT_TRUE(c.level == "L4" || c.level == "L5")
        << "normal variant called a lesion in " << c.level << ": " << c.reason;
    controlFound |= c.level == "L5";
    l4Found |= c.level == "L4";
  }
  EXPECT_TRUE(controlFound) << "the soft-tissue ball in L5 (the control) was not labelled";
  EXPECT_TRUE(l4Found) << "the phantom's L4 lesion was not labelled";
}

// A lytic lesion that destroys the front of S1's upper endplate must not be taken for the front of
// the L5/S1 disc wedge: in front of the S1 body's centre, the wedge trim removes each column's
// voxels down to its highest bony (>= 130 HU) voxel, and a column through such a lesion has none
// until the bone under the lesion.
TEST(SpinePhantom, LyticLesionAtTheFirstSacralUpperEndplateIsKept) {
  phantom::PhantomOptions o;
  phantom::PhantomStudy study = phantomAtOneMillimetre(o);
  Volume& ct = study.timePoints[0].image;
  const LabelMap& truth = study.timePoints[0].labels;
  // A 16 x 14 x 14 mm soft-tissue lesion (35 HU) in the front half of S1, reaching 2 mm above its
  // upper endplate (only S1 voxels are replaced): the endplate over it is gone.
  const TruthBody s1 = truthBody(truth, "S1");
  const LabelMap lesion = test::insertSimulatedLesion(
      ct, {s1.centroid.x, s1.centroid.y - 6.0, s1.superiorEndplateZ - 5.0}, {8.0, 7.0, 7.0}, 35.0, o.noiseSd,
      [&](std::size_t q) { return truth.voxels[q] == s1.label; }, 31);
  const double truthMl = volumeMl(lesion);

  const SpineResult spine = segmentSpine(ct);
  const std::uint16_t s1Label = labelOfLevel("S1");
  // The S1 body keeps its front, lesion included (truth: the body with the lesion inside it).
  const double bodyDice = test::dice(
      spine.bodies, [&](std::uint16_t v) { return v == s1Label; }, truth,
      [&](std::uint16_t v) { return v == s1.label; });
  // Of the lesion, and of the truth body in front of its centroid, the part in our S1 body.
  std::size_t lesionVoxels = 0, lesionInBody = 0, front = 0, frontInBody = 0;
  const auto& g = truth.geometry;
  for (std::size_t q = 0; q < truth.voxels.size(); ++q) {
    const bool ours = spine.bodies.voxels[q] == s1Label;
    lesionVoxels += lesion.voxels[q] != 0;
    lesionInBody += lesion.voxels[q] && ours;
    if (truth.voxels[q] == s1.label &&
        g.indexToPoint(q % g.size[0], (q / g.size[0]) % g.size[1], q / (g.size[0] * g.size[1])).y < s1.centroid.y) {
      ++front;
      frontInBody += ours;
    }
  }
  const double lesionInBodyFraction = double(lesionInBody) / double(lesionVoxels);
  const double frontInBodyFraction = double(frontInBody) / double(front);
  const LyticResult lytic = detectLyticLesions(ct, spine);
  LabelMap found(ct.geometry, 0);
  const LyticLesion* s1Lesion = nullptr;
  for (const LyticLesion& c : lytic.candidates) {
    std::cout << "candidate " << c.level << " " << c.volumeMl << " mL (lytic " << c.lyticVolumeMl << ") at " << c.meanHu
              << " HU, confidence " << c.confidence << ", labelled " << c.labelled << ": " << c.reason << "\n";
    if (!c.labelled)
      continue;
    EXPECT_TRUE(c.level == "L4" || c.level == "S1") << "lesion labelled in " << c.level;
    if (c.level != "S1")
      continue;
    s1Lesion = &c;
    for (std::size_t q = 0; q < found.voxels.size(); ++q)
      found.voxels[q] = lytic.lesions.voxels[q] == c.id ? 1 : found.voxels[q];
  }
  const double lesionDice = test::dice(
      found, [](std::uint16_t v) { return v != 0; }, lesion, [](std::uint16_t v) { return v != 0; });
  std::cout << "S1 endplate lesion: truth " << truthMl << " mL, in the S1 body " << lesionInBodyFraction
            << ", S1 front in the body " << frontInBodyFraction << ", S1 body Dice " << bodyDice << ", found "
            << (s1Lesion ? s1Lesion->volumeMl : 0.0) << " mL, Dice " << lesionDice << "\n";
  // Measured: 0.945 of the lesion in the S1 body (its top slice, at the endplate's level, is
  // trimmed), 0.994 of S1's front, S1 body Dice 0.953 (0.949 without the lesion), found 1.51 mL vs
  // 1.59 mL (-5 %), Dice 0.970, confidence 0.86. Before the trim's endplate floor: 0.37 of the
  // lesion and 0.934 of the front in the body, body Dice 0.938, not even a candidate.
  EXPECT_GE(lesionInBodyFraction, 0.90);
  EXPECT_GE(frontInBodyFraction, 0.95);
  EXPECT_GE(bodyDice, 0.94);
  ASSERT_NE(s1Lesion, nullptr) << "the S1 endplate lesion was not labelled";
  EXPECT_GE(lesionDice, 0.90);
  EXPECT_NEAR(s1Lesion->volumeMl, truthMl, 0.10 * truthMl);
  EXPECT_EQ(s1Lesion->kind, "lytic-bone");
}

} // namespace
} // namespace lesion::spine
