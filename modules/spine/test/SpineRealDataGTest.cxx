// Spine segmentation on real CT: TotalSegmentator's example CT (3 mm, thorax-abdomen) against that
// tool's vertebra labels; simulated lytic lesions inserted into its real vertebrae; BLDS bone
// lesion boxes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "SpineTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/longitudinal/Resampling.h"
#include "lesion/spine/BoneFocusDetection.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"
#include "lesion/testing/TestHarness.h"

#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

namespace lesion::spine {
namespace {

constexpr const char* kTotalSegDir = "wasserth+TotalSegmentator/tests/reference_files";

TEST(SpineTotalSegmentator, VertebraeAgainstReferenceLabels) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  const Volume ct = dicomio::loadVolume(dir / "example_ct.nii.gz").volume;
  const LabelMap reference = dicomio::readLabelMapFile(dir / "spine_report/example_ct_report/totalseg.nii.gz");
  const LabelMap referenceBodies = dicomio::readLabelMapFile(dir / "spine_report/example_ct_report/totalseg_vertebrae_body.nii.gz");
  ASSERT_TRUE(ct.geometry.sameGrid(reference.geometry, 1e-3));
  const auto t0 = std::chrono::steady_clock::now();
  const SpineResult spine = segmentSpine(ct);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "segmentSpine " << seconds << " s, anchor " << anchorName(spine.anchor) << "\n";
  for (const auto& w : spine.warnings) std::cout << "warning: " << w << "\n";
  if (const char* dbg = std::getenv("LESIONKIT_SPINE_DEBUG")) {
    dicomio::writeLabelMapFile(spine.bodies, std::string(dbg) + "/ts-bodies.nrrd");
    dicomio::writeLabelMapFile(spine.vertebrae, std::string(dbg) + "/ts-vertebrae.nrrd");
    dicomio::writeVolumeFile(ct, std::string(dbg) + "/ts-ct.nrrd");
    dicomio::writeLabelMapFile(reference, std::string(dbg) + "/ts-ref.nrrd");
    std::ofstream line(std::string(dbg) + "/ts-centre-line.txt"); // one continuous index i j k per slice
    for (const Vec3& c : spine.centreLine) line << formatPoint(ct.geometry.pointToIndex(c)) << "\n";
  }
  EXPECT_EQ(spine.anchor, LevelAnchor::Sacrum);
  std::vector<std::string> levels;
  for (const auto& v : spine.levels) levels.push_back(v.level);
  // T11 is cut by the top of the scan (76 reference voxels): not found as a body.
  EXPECT_EQ(levels, (std::vector<std::string>{"T12", "L1", "L2", "L3", "L4", "L5", "S1"}));
  // The rest of the sacrum below the first sacral segment and beyond its body laterally.
  const std::size_t rest = test::countVoxels(spine.vertebrae, [](std::uint16_t x) { return x == kSacrumRestLabel; });
  std::cout << "rest of the sacrum (label 25): " << rest << " voxels\n";
  EXPECT_GT(rest, 0u);
  for (const auto& v : spine.levels) {
    const std::uint16_t l = v.label;
    const double d = test::dice(spine.vertebrae, [&](std::uint16_t x) { return x == l; }, reference,
                                [&](std::uint16_t x) { return x == l; });
    // Body Dice: our body vs the reference body voxels inside the reference vertebra of that level.
    std::size_t both = 0, ours = 0, theirs = 0;
    for (std::size_t p = 0; p < ct.voxels.size(); ++p) {
      const bool a = spine.bodies.voxels[p] == l, b = referenceBodies.voxels[p] == 1 && reference.voxels[p] == l;
      ours += a; theirs += b; both += a && b;
    }
    std::cout << fmt::format("{:>4} vertebra Dice {:.3f} body Dice {:.3f} vol {:.1f} mL body {:.1f} mL trab {:.0f} HU "
                             "heights {:.1f}/{:.1f}/{:.1f} mm loss {:.2f} grade {} complete {}\n",
                             v.level, d, ours + theirs ? 2.0 * double(both) / double(ours + theirs) : 1.0, v.vertebraVolumeMl,
                             v.bodyVolumeMl, v.meanTrabecularHu, v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm,
                             v.heightLossRatio, v.genantGrade, v.complete);
    // Goal 0.85 per vertebra. Measured: T12 0.873, L1 0.885, L2 0.914, L3 0.906, L4 0.923,
    // L5 0.877 (0.881 before L5 was searched about the column above: its body 0.821 -> 0.842);
    // S1 0.851 (0.852 before that; 0.802 before its body was squared off behind, the front of the disc
    // wedge trimmed, S1 clipped to its body's band and L5/S1 given equal step costs for their arches;
    // 0.678 before the S1 body was searched again around the lumbar column's lateral line, 0.513
    // while our S1 was the whole sacrum): like theirs, our 26 is the first sacral segment without
    // the alae (the rest is 25, their "sacrum", absent from this file). S1 has the least margin:
    // one column of voxels at the band's edges is worth +-0.01.
    const double reached = v.level == "S1"    ? 0.85
                           : v.level == "L5"  ? 0.87
                           : v.level == "T12" ? 0.865
                           : v.level == "L1"  ? 0.88
                                              : 0.90;
    std::cout << fmt::format("{:>4} vertebra Dice {:.3f} (goal 0.85, gap {:+.3f}; asserted >= {:.3f})\n", v.level, d, d - 0.85,
                             reached);
    EXPECT_GE(d, reached) << v.level;
    if (v.level != "S1" && v.complete) {
      // The same measurement on TotalSegmentator's body of that level, along our axis.
      LabelMap theirBody(ct.geometry, 0);
      for (std::size_t p = 0; p < ct.voxels.size(); ++p)
        if (referenceBodies.voxels[p] == 1 && reference.voxels[p] == l)
          theirBody.voxels[p] = l;
      const VertebraMeasurement r = measureVertebralBody(ct, theirBody, l, v.axisDirection);
      std::cout << fmt::format("{:>4} heights ours {:.1f}/{:.1f}/{:.1f} theirs {:.1f}/{:.1f}/{:.1f} mm\n", v.level,
                               v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm, r.anteriorHeightMm,
                               r.middleHeightMm, r.posteriorHeightMm);
      // Within 4 mm of theirs (about one 3 mm slice plus partial volume); measured at most 3.0 mm
      // (L5 posterior). Before the T12/L1 disc plane followed the column's tilt, L1's posterior
      // height read 37.3 mm against their 27.9 mm.
      EXPECT_NEAR(v.anteriorHeightMm, r.anteriorHeightMm, 4.0) << v.level;
      EXPECT_NEAR(v.middleHeightMm, r.middleHeightMm, 4.0) << v.level;
      EXPECT_NEAR(v.posteriorHeightMm, r.posteriorHeightMm, 4.0) << v.level;
      EXPECT_GT(v.anteriorHeightMm, 18.0) << v.level;
      EXPECT_LT(v.anteriorHeightMm, 40.0) << v.level;
      EXPECT_GT(v.posteriorHeightMm, 18.0) << v.level;
      EXPECT_LT(v.posteriorHeightMm, 40.0) << v.level;
    }
  }
}

/// Centroid (LPS) and lateral half-width of the reference body of `label`.
struct BodyRef {
  Vec3 centroid{};
  double halfWidthMm{0};
  std::size_t voxels{0};
};
BodyRef referenceBody(const LabelMap& vertebrae, const LabelMap& bodies, std::uint16_t label) {
  BodyRef r;
  double xmin = 1e9, xmax = -1e9;
  const auto& g = vertebrae.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t p = g.linearIndex(i, j, k);
        if (vertebrae.voxels[p] != label || bodies.voxels[p] != 1) continue;
        const Vec3 q = g.indexToPoint(i, j, k);
        r.centroid += q;
        ++r.voxels;
        xmin = std::min(xmin, q.x);
        xmax = std::max(xmax, q.x);
      }
  r.centroid = r.centroid / double(r.voxels);
  r.halfWidthMm = 0.5 * (xmax - xmin);
  return r;
}

TEST(SpineTotalSegmentator, SimulatedLyticLesionsInRealVertebrae) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  Volume ct = dicomio::loadVolume(dir / "example_ct.nii.gz").volume;
  const LabelMap reference = dicomio::readLabelMapFile(dir / "spine_report/example_ct_report/totalseg.nii.gz");
  const LabelMap referenceBodies = dicomio::readLabelMapFile(dir / "spine_report/example_ct_report/totalseg_vertebrae_body.nii.gz");
  const double noiseSd = test::estimateNoiseSd(ct);
  std::cout << "estimated noise SD " << noiseSd << " HU\n";
  // Lesion A: inside the L3 body. Lesion B: in the left half of L1, breaching its lateral cortex
  // (the part outside the bone replaces soft tissue and fat: a soft-tissue component).
  const std::uint16_t l3 = labelOfLevel("L3"), l1 = labelOfLevel("L1");
  const BodyRef bodyL3 = referenceBody(reference, referenceBodies, l3);
  const BodyRef bodyL1 = referenceBody(reference, referenceBodies, l1);
  const LabelMap truthA = test::insertSimulatedLesion(
      ct, bodyL3.centroid, {11.0, 8.0, 8.0}, 35.0, noiseSd,
      [&](std::size_t p) { return reference.voxels[p] == l3 && referenceBodies.voxels[p] == 1; }, 11);
  const Vec3 centreB = bodyL1.centroid + Vec3{0.75 * bodyL1.halfWidthMm, 0, 0};
  const LabelMap truthB = test::insertSimulatedLesion(
      ct, centreB, {13.0, 9.0, 9.0}, 35.0, noiseSd,
      [&](std::size_t p) {
        // Everything of the ellipsoid but other vertebrae: the cortex it crosses is destroyed.
        return reference.voxels[p] == l1 || reference.voxels[p] == 0;
      }, 12);
  const SpineResult spine = segmentSpine(ct);
  const LyticResult lytic = detectLyticLesions(ct, spine);
  for (const LyticLesion& c : lytic.candidates)
    std::cout << "candidate " << c.id << " " << c.level << " conf " << c.confidence << " vol " << c.volumeMl << " lytic "
              << c.lyticVolumeMl << " soft " << c.softTissueVolumeMl << " scl " << c.scleroticVolumeMl << " breach "
              << c.corticalBreach << " " << c.breachAreaMm2 << " labelled " << c.labelled << " " << c.reason << "\n";
  if (const char* dbg = std::getenv("LESIONKIT_SPINE_DEBUG")) {
    dicomio::writeVolumeFile(ct, std::string(dbg) + "/sim-ct.nrrd");
    dicomio::writeLabelMapFile(lytic.components, std::string(dbg) + "/sim-lytic.nrrd");
  }
  // The same through `lesionkit segment --kind lytic --seed` (the seed in lesion A).
  if (std::filesystem::exists(lesion::test::binaryDir() / "lesionkit")) {
    const lesion::test::ScratchFolder scratch("spine-lytic");
    dicomio::writeVolumeFile(ct, scratch / "ct.nrrd");
    const Vec3 seed = bodyL3.centroid;
    std::cout.flush(); // or the child process inherits the unwritten buffer
    const auto r = lesion::test::runProcess({"lesionkit", "segment", (scratch / "ct.nrrd").string(), "--kind", "lytic", "--seed",
                                             fmt::format("{},{},{}", seed.x, seed.y, seed.z), "-o", (scratch / "a.nrrd").string()});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    if (r.exitCode == 0) {
      const LabelMap a = dicomio::readLabelMapFile(scratch / "a.nrrd");
      EXPECT_GE(test::dice(a, [](std::uint16_t v) { return v == 1; }, truthA, [](std::uint16_t v) { return v != 0; }), 0.85);
    }
  }
  for (const auto& [name, truth, level] : {std::tuple{"A (L3, intraosseous)", &truthA, "L3"}, std::tuple{"B (L1, breaching)", &truthB, "L1"}}) {
    std::uint16_t id = 0;
    for (const LyticLesion& c : lytic.candidates)
      if (c.labelled && c.level == level && c.kind == "lytic-bone") id = std::uint16_t(c.id);
    const double d = test::dice(lytic.lesions, [&](std::uint16_t v) { return v != 0 && v == id; }, *truth,
                                [](std::uint16_t v) { return v != 0; });
    const double vTruth = double(test::countVoxels(*truth, [](std::uint16_t v) { return v != 0; }));
    const double vOurs = double(test::countVoxels(lytic.lesions, [&](std::uint16_t v) { return v != 0 && v == id; }));
    const double volumeError = (vOurs - vTruth) / vTruth;
    std::cout << "lesion " << name << " Dice " << d << " volume error " << volumeError << " truth "
              << vTruth * ct.geometry.voxelVolumeMm3() / 1000 << " mL\n";
    // Goals Dice >= 0.80 and volume error <= 15 %; measured A 0.94 / +8 %, B 0.81 / 0 %
    // (3 mm voxels: one voxel layer is ~30 % of these volumes).
    EXPECT_GE(d, level == std::string("L3") ? 0.90 : 0.80) << name;
    EXPECT_LE(std::abs(volumeError), 0.15) << name;
  }
  // No lesion on the untouched vertebrae.
  for (const LyticLesion& c : lytic.candidates)
    if (c.labelled && c.kind == "lytic-bone") EXPECT_TRUE(c.level == "L3" || c.level == "L1") << c.level << ": " << c.reason;
  for (const LyticLesion& c : lytic.candidates)
    if (c.labelled && c.level == "L1" && c.kind == "lytic-bone") {
      EXPECT_TRUE(c.corticalBreach);
      EXPECT_GT(c.softTissueVolumeMl, 0.5);
    }
}

// The same untouched CT on a finer grid (issue 6): trilinear resampling of the 3 mm scan to 1 mm
// plus 10 HU of voxel noise, like the benchmark workload (0.8 x 0.8 x 1.12 mm, cubic). The lesion
// rules must not label what the 3 mm original does not: before the endplate band and the contrast
// shell were set in mm, the finer grids labelled the front of the canal, the sacroiliac side of S1
// and a faint lateral region of L4.
TEST(SpineTotalSegmentator, NoLesionLabelledOnAFinerGridOfTheUntouchedCt) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  const Volume coarse = dicomio::loadVolume(dir / "example_ct.nii.gz").volume;
  ImageGeometry fine = coarse.geometry;
  fine.spacing = {1.0, 1.0, 1.0};
  Vec3 firstCentre{};
  for (std::size_t a = 0; a < 3; ++a) {
    const double extent = double(coarse.geometry.size[a]) * coarse.geometry.spacing[a];
    fine.size[a] = std::size_t(std::floor(extent / fine.spacing[a]));
    // The first fine voxel centre half a fine voxel inside the first coarse voxel's face.
    firstCentre[a] = -0.5 + 0.5 * fine.spacing[a] / coarse.geometry.spacing[a];
  }
  fine.origin = coarse.geometry.indexToPoint(firstCentre);
  const SpineResult coarseSpine = segmentSpine(coarse);
  const auto t0 = std::chrono::steady_clock::now();
  Volume ct = longitudinal::sampleFollowupOnGrid(coarse, RigidTransform{}, fine, -1024.0f);
  std::mt19937 rng(6);
  std::normal_distribution<float> noise(0.0f, 10.0f);
  for (float& v : ct.voxels) v += noise(rng);
  if (const char* dbg = std::getenv("LESIONKIT_SPINE_DEBUG")) dicomio::writeVolumeFile(ct, std::string(dbg) + "/fine-ct.nrrd");
  const SpineResult spine = segmentSpine(ct);
  const LyticResult lytic = detectLyticLesions(ct, spine);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format("{} x {} x {} at 1 mm: {:.1f} s, {} vertebrae, {} discs\n", fine.size[0], fine.size[1], fine.size[2],
                           seconds, spine.levels.size(), spine.discCount);
  for (const Vec3& c : spine.discCentres) std::cout << "disc at " << formatPoint(c) << "\n";
  for (const LyticLesion& c : lytic.candidates)
    std::cout << fmt::format("candidate {} {:.2f} mL at {} conf {:.2f} labelled {}: {}\n", c.level, c.lyticVolumeMl,
                             formatPoint(c.centroid), c.confidence, c.labelled, c.reason);
  for (const auto& v : spine.levels)
    std::cout << fmt::format("{} body {} {:.1f} mL heights {:.1f}/{:.1f}/{:.1f} grade {}\n", v.level, formatPoint(v.bodyCentroid),
                             v.bodyVolumeMl, v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm, v.genantGrade);
  std::vector<std::string> levels;
  for (const auto& v : spine.levels) levels.push_back(v.level);
  EXPECT_EQ(levels, (std::vector<std::string>{"T12", "L1", "L2", "L3", "L4", "L5", "S1"}));
  // The discs of the 3 mm original, no more: the disc profile reads the CT at a fixed physical
  // resolution, takes valleys by contrast, drops a "disc" that splits a body into two short halves,
  // and the centre line is as stiff per mm on both grids (before: 9 discs here, 8 on the
  // 0.8 x 0.8 x 1.12 mm benchmark copy, false Genant grades 2-3).
  EXPECT_EQ(spine.discCount, coarseSpine.discCount);
  for (const Vec3& c : spine.discCentres) {
    double nearest = 1e9;
    for (const Vec3& o : coarseSpine.discCentres) nearest = std::min(nearest, std::abs(c.z - o.z));
    EXPECT_LE(nearest, 4.0) << "disc at " << formatPoint(c) << " has no disc of the 3 mm CT within 4 mm";
  }
  // Body heights: the 3 mm original grades nothing. Reached here: no grade 3; gap: grades 1-2
  // where the body envelope of this interpolated grid misses an edge of the body (the
  // partial-volumed anterior-inferior corner of L5, the posterior wall of L2).
  for (const auto& v : spine.levels) {
    if (v.genantGrade > 0) std::cout << fmt::format("gap (goal: grade 0): {} graded {}\n", v.level, v.genantGrade);
    EXPECT_LE(v.genantGrade, 2) << v.level;
  }
  // Nothing labelled (the rules before this test labelled six regions: the front of the canal in
  // T12, L3, L4 and L5, two at the left sacroiliac side of S1; and until the centre line was made
  // as stiff as at 3 mm, T12's envelope took in the canal here, 5.3 mL at 11 HU).
  for (const LyticLesion& c : lytic.candidates) EXPECT_FALSE(c.labelled) << c.level << ": " << c.reason;
}

// Skeleton-wide foci on TotalSegmentator's example CT (3 mm, thorax-abdomen, no known bone
// lesion): how many foci it proposes on normal bone.
TEST(SpineTotalSegmentator, SkeletonFociOnNormalBone) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  const Volume ct = dicomio::loadVolume(dir / "example_ct.nii.gz").volume;
  const SpineResult spine = segmentSpine(ct);
  const auto t0 = std::chrono::steady_clock::now();
  const BoneFocusResult foci = detectBoneFoci(ct, &spine);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t labelled = 0;
  for (const BoneFocus& f : foci.candidates) {
    if (!f.labelled)
      continue;
    ++labelled;
    const Vec3 extent = f.boundsMax - f.boundsMin;
    std::cout << fmt::format("focus {} {} at {}: extent {:.1f} x {:.1f} x {:.1f} mm, confidence {:.2f} ({})\n", f.id,
                             f.kind, formatPoint(f.centroid), extent.x, extent.y, extent.z, f.confidence, f.reason);
  }
  std::cout << fmt::format("detectBoneFoci {:.2f} s: bone {:.0f} mL, interior {:.0f} mL, {} candidates, {} labelled\n",
                           seconds, foci.boneVolumeMl, foci.interiorVolumeMl, foci.candidates.size(), labelled);
  EXPECT_GT(foci.interiorVolumeMl, 100.0);
  // Measured: 0 labelled of 91 candidates (before the background-SD rule, contrast medium in the
  // left renal pelvis was labelled: 1.86 mL at 1295 HU, its enhanced parenchyma passing for bone).
  EXPECT_EQ(labelled, 0u);
}

// BLDS: 96 mm CT patches (1 mm) with bone lesion boxes ("osteoma": sclerotic) in LPS mm, in
// vertebrae, ribs, scapula and pelvis. Two detectors: the vertebral one (detectLyticLesions with
// sclerotic foci, on the spine anchored at the patch centre) looks only in the vertebral bodies it
// finds; the skeleton-wide one (detectBoneFoci) in every bone. Counts the boxes holding a
// candidate centre of each and prints each focus's extent against its box; see docs/spine.md.
TEST(SpineBlds, BoneLesionBoxes) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, "hugboom+BLDS/testdata");
  std::ifstream csv(dir / "image_bone_lesions.csv");
  std::string line;
  std::getline(csv, line); // header: image_path,class,x,y,z,width,height,depth
  struct Box {
    std::string image;
    Vec3 centre, size;
  };
  std::vector<Box> boxes;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    ASSERT_EQ(f.size(), 8u) << line;
    boxes.push_back({f[0],
                     {std::stod(f[2]), std::stod(f[3]), std::stod(f[4])},
                     {std::stod(f[5]), std::stod(f[6]), std::stod(f[7])}});
  }
  ASSERT_EQ(boxes.size(), 7u);
  auto inBox = [](const Vec3& p, const Box& b) {
    const Vec3 d = p - b.centre;
    return std::abs(d.x) <= 0.5 * b.size.x && std::abs(d.y) <= 0.5 * b.size.y && std::abs(d.z) <= 0.5 * b.size.z;
  };
  int proposed = 0, labelled = 0, fociInBox = 0, fociLabelledInBox = 0, fociElsewhere = 0;
  double fociSeconds = 0;
  std::string previousImage;
  for (const Box& box : boxes) {
    if (box.image == previousImage)
      continue; // one run per patch, for all its boxes
    previousImage = box.image;
    const Volume ct = dicomio::loadVolume(dir / box.image).volume;
    std::vector<const Box*> here;
    for (const Box& b : boxes)
      if (b.image == box.image) {
        here.push_back(&b);
        const Vec3 idx = ct.geometry.pointToIndex(b.centre);
        EXPECT_TRUE(ct.geometry.containsIndex(std::lround(idx.x), std::lround(idx.y), std::lround(idx.z))) << b.image;
      }
    // A patch shows one or two vertebrae of unknown level: the anchor names the one at the patch
    // centre "L3" only so that the spine can be labelled; levels are not checked here.
    SpineOptions options;
    options.anchorLevel = "L3";
    options.anchorSeed = ct.geometry.indexToPoint(Vec3{47.5, 47.5, 47.5});
    std::vector<std::string> outcome(here.size(), "no vertebral candidate in the box");
    std::unique_ptr<SpineResult> spineOfPatch; // null when the spine could not be segmented
    try {
      spineOfPatch = std::make_unique<SpineResult>(segmentSpine(ct, options));
      const SpineResult& spine = *spineOfPatch;
      LyticOptions lyticOptions;
      lyticOptions.scleroticFoci = true; // the BLDS lesions are sclerotic
      const LyticResult lesions = detectLyticLesions(ct, spine, lyticOptions);
      for (std::size_t n = 0; n < here.size(); ++n) {
        bool anyHit = false, labelledHit = false;
        for (const LyticLesion& c : lesions.candidates) {
          if (!inBox(c.centroid, *here[n]))
            continue;
          anyHit = true;
          labelledHit = labelledHit || c.labelled;
          const Vec3 extent = c.boundsMax - c.boundsMin;
          outcome[n] = fmt::format("vertebral {} {} {:.2f} mL, extent {:.1f} x {:.1f} x {:.1f} mm ({})",
                                   c.labelled ? "labelled" : "candidate", c.kind, c.volumeMl, extent.x, extent.y,
                                   extent.z, c.reason);
        }
        proposed += anyHit ? 1 : 0;
        labelled += labelledHit ? 1 : 0;
      }
    } catch (const Error& e) {
      std::fill(outcome.begin(), outcome.end(), std::string("spine not segmented: ") + e.what());
    }
    const auto t0 = std::chrono::steady_clock::now();
    const BoneFocusResult foci = detectBoneFoci(ct, spineOfPatch.get());
    fociSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (std::size_t n = 0; n < here.size(); ++n) {
      const Box& b = *here[n];
      std::cout << b.image << " box " << formatPoint(b.centre)
                << fmt::format(" size {:.1f} x {:.1f} x {:.1f} mm: ", b.size.x, b.size.y, b.size.z) << outcome[n]
                << "\n";
      bool any = false, anyLabelled = false;
      for (const BoneFocus& f : foci.candidates) {
        if (!inBox(f.centroid, b))
          continue;
        any = true;
        anyLabelled = anyLabelled || f.labelled;
        const Vec3 extent = f.boundsMax - f.boundsMin;
        std::cout << fmt::format(
            "  skeleton {} {} at {}: extent {:.1f} x {:.1f} x {:.1f} mm vs box {:.1f} x {:.1f} x {:.1f}, "
            "confidence {:.2f} ({})\n",
            f.labelled ? "labelled" : "candidate", f.kind, formatPoint(f.centroid), extent.x, extent.y, extent.z,
            b.size.x, b.size.y, b.size.z, f.confidence, f.reason);
      }
      fociInBox += any ? 1 : 0;
      fociLabelledInBox += anyLabelled ? 1 : 0;
    }
    for (const BoneFocus& f : foci.candidates) {
      const bool inSomeBox = std::any_of(here.begin(), here.end(), [&](const Box* b) { return inBox(f.centroid, *b); });
      if (!f.labelled || inSomeBox)
        continue;
      ++fociElsewhere;
      const Vec3 extent = f.boundsMax - f.boundsMin;
      std::cout << fmt::format(
          "  {} outside the boxes: {} at {}, extent {:.1f} x {:.1f} x {:.1f} mm, confidence {:.2f} ({})\n", box.image,
          f.kind, formatPoint(f.centroid), extent.x, extent.y, extent.z, f.confidence, f.reason);
    }
  }
  std::cout << "BLDS: " << boxes.size() << " lesions; vertebral detector: " << proposed
            << " with a candidate in the box, " << labelled << " labelled; skeleton-wide foci: " << fociInBox
            << " boxes with a focus centre, " << fociLabelledInBox << " labelled, " << fociElsewhere
            << " labelled foci outside the boxes, " << fmt::format("{:.2f}", fociSeconds) << " s (goal: all 7)\n";
  // Vertebral detector: the T-spine focus of 2.nii.gz is proposed (centroid in its box) but
  // rejected as a pedicle base; nothing is labelled inside a box.
  EXPECT_GE(proposed, 1);
  // Skeleton-wide detector (goal: all 7). Measured: 1 box (2.nii.gz: a 0.10 mL focus, 8 x 5 x 6 mm,
  // 752 HU vs 394 HU, in the 18.8 x 24.7 x 25.0 mm box), 4 labelled foci outside the boxes (dense
  // posterior-element bone at 740-930 HU in 3 patches). The other boxes are no local outliers: their
  // interior reads -130..+200 HU against the median of the interior bone around them (docs/spine.md).
  EXPECT_GE(fociLabelledInBox, 1);
  EXPECT_LE(fociElsewhere, 4);
}

// `lesionkit spine --whole-skeleton`: a simulated sclerotic focus (8 mm ball at 700 HU) in the body
// at the centre of a 1 mm BLDS patch (T-spine, anchored "L3" as in SpineBlds) is listed under
// boneFoci and labelled in the lesion map. (On the 3 mm example CT the vertebral bodies are not
// closed at 200 HU, so their marrow is not searched: see docs/spine.md.)
TEST(SpineCommand, WholeSkeletonFocusOnRealCt) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, "hugboom+BLDS/testdata");
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-whole-skeleton");
  Volume ct = dicomio::loadVolume(dir / "2.nii.gz").volume;
  SpineOptions options;
  options.anchorLevel = "L3";
  options.anchorSeed = ct.geometry.indexToPoint(Vec3{47.5, 47.5, 47.5});
  const SpineResult spine = segmentSpine(ct, options);
  const VertebraMeasurement* l3 = nullptr;
  for (const auto& v : spine.levels)
    if (v.level == "L3")
      l3 = &v;
  ASSERT_NE(l3, nullptr);
  const Vec3 centre = l3->bodyCentroid;
  (void)test::insertSimulatedLesion(
      ct, centre, {4.0, 4.0, 4.0}, 700.0, 20.0, [](std::size_t) { return true; }, 11);
  dicomio::writeVolumeFile(ct, scratch / "ct.nrrd");
  const auto r = lesion::test::runProcess(
      {"lesionkit", "spine", (scratch / "ct.nrrd").string(), "-o", (scratch / "vertebrae.nrrd").string(), "--json",
       (scratch / "spine.json").string(), "--level", "L3", "--seed",
       fmt::format("{},{},{}", options.anchorSeed->x, options.anchorSeed->y, options.anchorSeed->z), "--whole-skeleton",
       "--lesions", (scratch / "lesions.nrrd").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::cout << r.out;
  std::ifstream in(scratch / "spine.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.contains("boneFoci"));
  int id = 0;
  for (const auto& f : j.at("boneFoci").at("foci")) {
    const Vec3 c{f.at("centroidMm")[0], f.at("centroidMm")[1], f.at("centroidMm")[2]};
    if (!f.at("labelled").get<bool>() || norm(c - centre) > 1.5)
      continue; // one voxel diagonal
    EXPECT_EQ(f.at("kind"), "sclerotic-bone");
    EXPECT_EQ(f.at("bone"), "vertebra");
    EXPECT_EQ(f.at("level"), "L3");
    id = f.at("label");
  }
  ASSERT_GT(id, 0) << "the simulated focus is not labelled";
  const LabelMap lesions = dicomio::readLabelMapFile(scratch / "lesions.nrrd");
  const Vec3 idx = lesions.geometry.pointToIndex(centre);
  EXPECT_EQ(
      lesions.at(std::size_t(std::lround(idx.x)), std::size_t(std::lround(idx.y)), std::size_t(std::lround(idx.z))),
      id);
}

TEST(SpineCommand, LabelsAndJsonOnRealCt) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-command");
  const auto r = lesion::test::runProcess({"lesionkit", "spine", (dir / "example_ct.nii.gz").string(), "-o",
                                           (scratch / "vertebrae.nrrd").string(), "--json", (scratch / "spine.json").string(),
                                           "--auto", "--lesions", (scratch / "lesions.nrrd").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream in(scratch / "spine.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("levelAnchor"), "sacrum");
  ASSERT_EQ(j.at("vertebrae").size(), 7u);
  EXPECT_EQ(j.at("vertebrae").at(4).at("level"), "L4");
  EXPECT_EQ(j.at("vertebrae").at(4).at("label"), 28);
  EXPECT_TRUE(j.at("vertebrae").at(4).contains("anteriorHeightMm"));
  for (const auto& l : j.at("lesions")) EXPECT_FALSE(l.at("labelled").get<bool>()) << l.dump(); // an untouched spine
  const LabelMap v = dicomio::readLabelMapFile(scratch / "vertebrae.nrrd");
  EXPECT_GT(test::countVoxels(v, [](std::uint16_t x) { return x == 28; }), 1000u);
  // Usage errors: an unknown level, a level without a seed.
  auto bad = lesion::test::runProcess({"lesionkit", "spine", (dir / "example_ct.nii.gz").string(), "-o",
                                       (scratch / "x.nrrd").string(), "--level", "L9", "--seed", "0,0,0"});
  EXPECT_EQ(bad.exitCode, 1) << bad.err;
  bad = lesion::test::runProcess({"lesionkit", "spine", (dir / "example_ct.nii.gz").string(), "-o", (scratch / "x.nrrd").string(),
                                  "--level", "L4"});
  EXPECT_EQ(bad.exitCode, 1) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(scratch / "x.nrrd"));
  // The sacrum and T12 (cut by the scan edge) are not graded: null, not grade 0 ("no fracture").
  for (const auto& v : j.at("vertebrae")) {
    if (v.at("level") == "S1" || !v.at("complete").get<bool>())
      EXPECT_TRUE(v.at("genantGrade").is_null()) << v.dump();
    else
      EXPECT_TRUE(v.at("genantGrade").is_number_integer()) << v.dump();
  }
  EXPECT_NE(r.out.find("not graded"), std::string::npos) << r.out;
}

/// Runs `lesionkit spine VOLUME -o scratch/vertebrae.nrrd` and checks that it is refused with
/// `exitCode`, naming why (`expected` in the error), and writes nothing.
void expectSpineRefused(const std::filesystem::path& volume, const lesion::test::ScratchFolder& scratch, int exitCode,
                        const std::string& expected) {
  const auto r =
      lesion::test::runProcess({"lesionkit", "spine", volume.string(), "-o", (scratch / "vertebrae.nrrd").string()});
  EXPECT_EQ(r.exitCode, exitCode) << r.out << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(scratch / "vertebrae.nrrd"));
}

// A spine in values that are not HU (the example CT shifted to non-negative values, as an MR or raw
// stored values would be) is refused before bone is looked for by HU thresholds: before, brain MR
// got "vertebrae" with a trabecular density of 1024.
TEST(SpineCommand, RefusesAVolumeNotInHounsfieldUnits) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, kTotalSegDir);
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-not-hu");
  Volume ct = dicomio::loadVolume(dir / "example_ct.nii.gz").volume;
  for (float& v : ct.voxels)
    v = std::max(0.0f, v + 1024.0f);
  dicomio::writeVolumeFile(ct, scratch / "mr-like.nrrd");
  expectSpineRefused(scratch / "mr-like.nrrd", scratch, 2, "do not look like HU");
}

// An MR series (the phantom's T1-like DICOM series) is refused by its Modality, also by segment --kind lytic.
TEST(SpineCommand, RefusesAnMrSeries) {
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-mr-series");
  const auto made = lesion::test::runProcess({"lesionkit", "phantom", (scratch / "ph").string(), "--contrast", "mr",
                                              "--time-points", "1", "--voxel-size", "2", "--slice-thickness", "3"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  const std::filesystem::path mr = scratch / "ph" / "LKPHANTOM01" / "20240115" / "MR_01";
  expectSpineRefused(mr, scratch, 2, "the series is MR");
  // segment --kind lytic labels the spine first: refused the same way.
  const auto lytic = lesion::test::runProcess(
      {"lesionkit", "segment", mr.string(), "--kind", "lytic", "-o", (scratch / "lytic.nrrd").string()});
  EXPECT_EQ(lytic.exitCode, 2) << lytic.err;
  EXPECT_NE(lytic.err.find("the series is MR"), std::string::npos) << lytic.err;
  EXPECT_FALSE(std::filesystem::exists(scratch / "lytic.nrrd"));
}

// A synthetic head in air: scalp, a 1200 HU skull shell 6-10 mm thick, brain. In HU, so not refused
// for its values; its bone is no vertebral column.
TEST(SpineCommand, RefusesASyntheticHeadCtAsNoSpine) {
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-synthetic-head");
  ImageGeometry g;
  g.size = {170, 200, 150};
  g.spacing = {1.0, 1.0, 1.0};
  Volume head(g, -1000.0f);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double r = std::sqrt(std::pow((double(i) - 85.0) / 75.0, 2) + std::pow((double(j) - 100.0) / 90.0, 2) +
                                   std::pow((double(k) - 68.0) / 70.0, 2));
        head.at(i, j, k) = r < 0.92 ? 35.0f : r < 1.0 ? 1200.0f : r < 1.07 ? 40.0f : -1000.0f;
      }
  dicomio::writeVolumeFile(head, scratch / "head.nrrd", true);
  expectSpineRefused(scratch / "head.nrrd", scratch, 3, "no spine found");
}

// A head CT (GE, BodyPartExamined HEAD): skull bone was labelled "T11 161 mL, trab HU 633; T12" with exit 0.
TEST(SpineCommand, RefusesAHeadCtAsNoSpine) {
  LESIONKIT_REQUIRE_TEST_DATA(dir, "neurolabusc+dcm_qa_ct/In/GE");
  if (!std::filesystem::exists(lesion::test::binaryDir() / "lesionkit"))
    GTEST_SKIP() << "lesionkit binary not built in " << lesion::test::binaryDir() << ": build target lesionkit";
  const lesion::test::ScratchFolder scratch("spine-head-ct");
  expectSpineRefused(dir, scratch, 3, "no spine found");
}

} // namespace
} // namespace lesion::spine
