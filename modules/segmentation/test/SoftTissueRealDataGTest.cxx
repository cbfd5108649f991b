// Real expert contours (IBSI data sets, skipped when $LESIONKIT_TEST_DATA is absent): the soft-
// tissue sarcoma STS_002 on CT and on MR T1, and the IBSI CT radiomics phantom's GTV (a lung
// tumour). Each case is initialised as a reader would: (a) a click at the interior point farthest
// from the expert border, (b) the expert mask's largest axial diameter as a RECIST line.
// These load real NIfTI volumes and take a few seconds in all (suite name ends in RealData).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "SegmentationTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::segmentation {
namespace {

struct Case {
  const char* name;
  const char* image;
  const char* mask;
  // Asserted bounds: what the pipeline reached when this test was written (docs/segmentation.md),
  // less a margin of about 0.03 Dice / 5 volume-% against platform differences.
  double minDiceSeed;
  double minDiceRecist;
  double maxVolumeErrorPercentSeed;
  double maxVolumeErrorPercentRecist;
  double goalDice{0.0}; ///< the issue's goal when it is not met yet: the gap is printed
};

/// A real case (under theibsi+data_sets) with the goal and no bounds yet.
constexpr Case realCase(const char* name, const char* image, const char* mask, double goalDice) {
  return Case{name, image, mask, 0, 0, 0, 0, goalDice};
}

constexpr Case kStsCt = realCase("STS_002_CT", "ibsi_validation/nifti/STS_002/CT_image.nii.gz",
                                 "ibsi_validation/nifti/STS_002/CT_mask.nii.gz", 0.80);
constexpr Case kStsMr = realCase("STS_002_MR_T1", "ibsi_validation/nifti/STS_002/MR_T1_image.nii.gz",
                                 "ibsi_validation/nifti/STS_002/MR_T1_mask.nii.gz", 0.75);
constexpr Case kGtv = realCase("IBSI_CT_phantom_GTV", "ibsi_1_ct_radiomics_phantom/nifti/image/phantom.nii.gz",
                               "ibsi_1_ct_radiomics_phantom/nifti/mask/mask.nii.gz", 0.80);

/// `c` with the Dice and volume bounds a test asserts.
constexpr Case withBounds(Case c, double minDiceSeed, double minDiceRecist, double maxVolumeErrorPercentSeed,
                          double maxVolumeErrorPercentRecist) {
  c.minDiceSeed = minDiceSeed;
  c.minDiceRecist = minDiceRecist;
  c.maxVolumeErrorPercentSeed = maxVolumeErrorPercentSeed;
  c.maxVolumeErrorPercentRecist = maxVolumeErrorPercentRecist;
  return c;
}

struct Outcome {
  double dice{0};
  double volumeErrorPercent{0};
};

/// Segments `image` from `init` and compares with the expert mask; `what` names the run in the log.
Outcome segmentAndCompare(const Case& c, const Volume& image, const LabelMap& expert, const SoftTissueInit& init,
                          const std::string& what, const SoftTissueOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  // Stage timings on request (LESIONKIT_SEG_TIMING=1), to see where the time goes.
  Progress progress;
  if (std::getenv("LESIONKIT_SEG_TIMING"))
    progress = Progress([start](double f, std::string_view stage) {
      std::printf("  %5.2f s %3.0f %% %.*s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                  100 * f, int(stage.size()), stage.data());
    });
  const SegmentationResult r = segmentSoftTissueMass(image, init, options, progress);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The mask on request (LESIONKIT_SEG_DUMP=folder), to look at where it disagrees.
  if (const char* dump = std::getenv("LESIONKIT_SEG_DUMP"))
    dicomio::writeLabelMapFile(r.labels, std::filesystem::path(dump) /
                                             fmt::format("{}_{}.nii.gz", c.name, what));
  const double expertMl = test::volumeMl(expert);
  Outcome o{test::dice(r.labels, expert), 100.0 * (r.volumeMl - expertMl) / expertMl};
  const auto& m = r.diagnostics.intensity;
  std::printf("[%s, %s] Dice %.3f, volume %.2f mL vs expert %.2f mL (%+.1f %%), interval %.4g..%.4g %s, "
              "seed depth %.1f mm, erosion %.1f mm, split off %d (%.1f mL), prior contact %.2f, %s (spread %.2f, "
              "noise %.2f HU on the 2 mm average), bright-neighbour cut %s (%.1f mL), organ slices %.1f mL, "
              "rim shell %.2f%s, %.2f s\n",
              c.name, what.c_str(), o.dice, r.volumeMl, expertMl, o.volumeErrorPercent, m.lower, m.upper,
              m.unit.c_str(), r.diagnostics.seedDepthMm, r.diagnostics.neckErosionMm, r.diagnostics.componentsSplitOff,
              r.diagnostics.leakRemovedMl, r.diagnostics.priorContactFraction,
              r.diagnostics.twoClassModel ? "two-class" : "one-class", r.diagnostics.contextSpreadHu,
              r.diagnostics.contextNoiseHu,
              r.diagnostics.brightNeighbourCutHu ? fmt::format("{:.1f} HU", *r.diagnostics.brightNeighbourCutHu).c_str()
                                                 : "none",
              r.diagnostics.brightNeighbourRemovedMl, r.diagnostics.openSlicesRemovedMl,
              r.diagnostics.enclosingRimShellFraction,
              r.diagnostics.enclosingRimHu
                  ? fmt::format(" (rim grown, median {:.1f})", *r.diagnostics.enclosingRimHu).c_str()
                  : "",
              seconds);
  return o;
}

/// A case's image and expert mask, read from the data root.
struct CaseData {
  Volume image;
  LabelMap expert;
};

CaseData loadCase(const std::filesystem::path& root, const Case& c) {
  CaseData data{dicomio::readVolumeFile(root / c.image), dicomio::readLabelMapFile(root / c.mask)};
  EXPECT_TRUE(data.expert.geometry.sameGrid(data.image.geometry, 1e-3)) << c.name;
  return data;
}

Outcome runCase(const std::filesystem::path& root, const Case& c, bool recist) {
  const auto [image, expert] = loadCase(root, c);
  if (recist) {
    const auto [from, to] = test::largestAxialDiameter(expert);
    std::printf("[%s] RECIST line %s : %s (LPS mm, %.1f mm)\n", c.name, formatPoint(from).c_str(),
                formatPoint(to).c_str(), distance(from, to));
    return segmentAndCompare(c, image, expert, SoftTissueInit::fromRecist(from, to), "recist");
  }
  const Vec3 seed = test::deepestInteriorPoint(expert);
  std::printf("[%s] seed %s (LPS mm)\n", c.name, formatPoint(seed).c_str());
  return segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({seed}), "seed");
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class SoftTissueRealData : public ::testing::TestWithParam<Case> {};

TEST_P(SoftTissueRealData, SeedAndRecistLineAgainstExpertContour) {
  LESIONKIT_REQUIRE_TEST_DATA(root, "theibsi+data_sets");
  const Case& c = GetParam();
  const Outcome seed = runCase(root, c, false);
  const Outcome recist = runCase(root, c, true);
  RecordProperty("dice_seed", std::to_string(seed.dice));
  RecordProperty("dice_recist", std::to_string(recist.dice));
  RecordProperty("volume_error_percent_seed", std::to_string(seed.volumeErrorPercent));
  RecordProperty("volume_error_percent_recist", std::to_string(recist.volumeErrorPercent));
  for (const auto& [what, o] : {std::pair{"seed", seed}, std::pair{"RECIST", recist}})
    if (o.dice < c.goalDice) std::printf("gap: %s %s Dice %.3f, goal >= %.2f\n", c.name, what, o.dice, c.goalDice);
  EXPECT_GE(seed.dice, c.minDiceSeed);
  EXPECT_GE(recist.dice, c.minDiceRecist);
  EXPECT_LE(std::abs(seed.volumeErrorPercent), c.maxVolumeErrorPercentSeed);
  EXPECT_LE(std::abs(recist.volumeErrorPercent), c.maxVolumeErrorPercentRecist);
}

INSTANTIATE_TEST_SUITE_P(
    Ibsi, SoftTissueRealData,
    ::testing::Values(
        // Goal met (Dice >= 0.80): reached 0.887 / 0.889, volume +7.3 % / +9.5 % (seed: +3.0 % with
        // the 4 mm seed ball as the model, which moved Dice by up to 0.33 for 3 mm seed moves).
        withBounds(kStsCt, 0.85, 0.85, 10, 15),
        // Goal met (Dice >= 0.75): reached 0.886 / 0.881, volume -11.9 % / -14.1 % (seed 0.892 / -9.8 %
        // before the click's model came from the lesion sample, which made clicks elsewhere in
        // the mass work: SoftTissueClickAnywhereRealData).
        withBounds(kStsMr, 0.86, 0.85, 15, 20),
        // Goal met from a click and from the RECIST line: reached 0.840 (seed, volume -19.8 %; 0.830 /
        // -22.8 % before the rim's neck split took its depth from the core's deepest voxel: the
        // core's enclosing rim grown at the level of the grown rim's histogram mode, the liver cut
        // at the rim's own upper bound and its slices removed, the rim's border that the neck
        // opening drops within its own radius given back and its bound kept on the denoised image
        // at the border, one layer of partial volume with aerated lung and one of the rim's bright
        // texture added at the border; 0.792 / -28.8 % with the rim's level from the 3 mm shell,
        // 0.763 / -33.7 % before those layers, 0.676 / -48 % before the give-back,
        // 0.604 / -54 % with the cut at the midpoint towards the organ, 0.473 / -69 % core only,
        // 0.340 / -79.5 % with the 4 mm seed ball as the model) / 0.804 (RECIST line,
        // volume -4.5 %: the liver cut at the samples' own upper bound, not inside the rim, and a
        // split cell dropped only when its body reaches the prior's limit, not a vessel on it;
        // the four variants of the line 0.802-0.812; 0.794 / -8.5 % before, 0.772 and 0.762 for
        // two variants; after the liver's slices the neck opening keeps 0.5 x the depth and gives
        // back what it drops within its radius; 0.756 / -5.7 % with a 0.25 opening instead, 0.743 /
        // -8.1 % before the partial-volume layer). The deepest point lies in the tumour's hypodense
        // core;
        // from the RECIST line the region runs through the diaphragm into the liver (cut off by
        // the bright-neighbour cut since 0.612 / +21 %, its slices below the tumour removed as
        // open slices since 0.683 / -8.4 %, which take most of it since the cut moved to the
        // samples' own bound) and into atelectatic lung; the
        // expert contour is cut flat at its lowest slice and holds lung-density parts
        // (docs/segmentation.md, "Why the IBSI CT phantom GTV fails").
        withBounds(kGtv, 0.81, 0.78, 26, 10)),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// Issue 5: a click in a tumour's necrotic core (IBSI CT phantom GTV: core 10-20 HU inside a
// 50-100 HU rim). The core's region is enclosed by brighter soft tissue, so the rim is grown too
// (SoftTissueOptions::enclosingRimFraction). The tumour is 103 mm across, over the default 100 mm
// size limit (SoftTissueRealData above, Dice 0.840 from a click with the defaults). Here a reader
// sets the limit to the lesion (110 mm): Dice 0.822, volume -11.5 % with the rim against 0.483 /
// -68 % without it (0.825 / -12.0 % before the rim's neck split took its depth from the core's
// deepest voxel; 0.794 / -20.5 % with the rim's level from the 3 mm shell instead of the grown
// rim; 0.766 / -26 % before the partial-volume layer at the lung border and the
// layer of the rim's bright texture; 0.689 / -43 % before the neck opening gave back the rim's
// border within its own radius and the border kept the rim's bound on the denoised image,
// 0.604 / -54 % when the liver was cut at the midpoint towards its mode, which took the rim's
// brighter part too); the rest is the lung-density top of the expert contour, the rim's brightest
// voxels deeper than one layer (above the interval and the cut), chest wall and atelectasis at
// the border. Goal 0.80 met.
TEST(SoftTissueNecroticCoreRealData, SeedInTheCoreOfATumourWithABrighterRim) {
  LESIONKIT_REQUIRE_TEST_DATA(root, "theibsi+data_sets");
  const Case& c = kGtv;
  const auto [image, expert] = loadCase(root, c);
  const Vec3 seed = test::deepestInteriorPoint(expert);
  SoftTissueOptions options;
  options.maxDiameterMm = 110.0;
  const Outcome rim = segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({seed}), "seed, 110 mm", options);
  options.enclosingRimFraction = 0.0;
  const Outcome core =
      segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({seed}), "seed, 110 mm, core only", options);
  if (rim.dice < c.goalDice) std::printf("gap: %s seed in the core Dice %.3f, goal >= %.2f\n", c.name, rim.dice, c.goalDice);
  // Reached 0.822 / -11.5 % (core only 0.483 / -68.1 %).
  EXPECT_GE(rim.dice, 0.80);
  EXPECT_LE(std::abs(rim.volumeErrorPercent), 16.0);
  EXPECT_GT(rim.dice, core.dice + 0.10);
}

// A reader does not draw the expert's largest axial diameter to the voxel: the GTV's RECIST line
// one slice up and down, with its ends 3 mm inwards, and with its ends moved 3 mm along y in
// opposite directions. Reached 0.802 / 0.805 / 0.812 / 0.807 (the line itself 0.804); 0.792 /
// 0.793 / 0.772 / 0.762 before the liver was cut at the samples' own bound and split cells were
// dropped by their body only (docs/segmentation.md, "RECIST: the organ cut at the lesion's own
// bound"). Asserted 0.78 each (about 0.03 below), the gap to 0.80 printed.
TEST(SoftTissueRecistVariantsRealData, LinesAReaderMightDraw) {
  LESIONKIT_REQUIRE_TEST_DATA(root, "theibsi+data_sets");
  const Case c = withBounds(kGtv, 0, 0.78, 0, 0);
  const auto [image, expert] = loadCase(root, c);
  const auto [from, to] = test::largestAxialDiameter(expert);
  const Vec3 slice = normalized(image.geometry.direction.column(2)) * image.geometry.spacing.z;
  const Vec3 inwards = normalized(to - from) * 3.0;
  const Vec3 y{0.0, 3.0, 0.0};
  const std::vector<std::tuple<std::string, Vec3, Vec3>> lines{
      {"recist one slice up", from + slice, to + slice},
      {"recist one slice down", from - slice, to - slice},
      {"recist ends 3 mm inwards", from + inwards, to - inwards},
      {"recist ends moved 3 mm", from + y, to - y}};
  for (const auto& [what, a, b] : lines) {
    const Outcome o = segmentAndCompare(c, image, expert, SoftTissueInit::fromRecist(a, b), what);
    if (o.dice < c.goalDice)
      std::printf("gap: %s %s Dice %.3f, goal >= %.2f\n", c.name, what.c_str(), o.dice, c.goalDice);
    EXPECT_GE(o.dice, c.minDiceRecist) << what;
  }
}

// Soft-tissue issue: a seed moved by 3 mm in any direction changes Dice by less than 0.03. Met on
// both: STS_002 MR T1 (worst change 0.015; 0.006 before an MR click's model came from the lesion
// sample) and STS_002 CT (0.002). On CT the homogeneity decision and the one-class intensity
// model use the lesion sample grown from the seed in 1 mm shells (up to 10 mm), not the 4 mm seed
// ball: with the ball alone this textured sarcoma looked homogeneous
// from +3 mm along y or z, the two-class path took its darker parts for a neighbouring class and
// Dice fell from 0.884 to 0.55-0.63 (and to 0.80 along -z through a narrow one-class interval).
// Met on the IBSI GTV (a click in the necrotic core of a 103 mm tumour): worst change 0.028 (Dice
// 0.812-0.840 against 0.840), asserted < 0.04. It was 0.066 (0.764-0.842 against 0.830) while the
// rim's neck split took its radii from the click's own depth (-y reached the 110 mm sphere and its
// split in the wider one removed more). With the rim's level from the 3 mm shell
// (which lies in the core-to-rim gradient, so the level followed the click) it was 0.124; with the
// shell threshold at 0.5 instead of 0.4, 0.243 (+3 mm along x grew the core only).
struct ShiftCase {
  Case c;
  double maxDiceChange;
};

void PrintTo(const ShiftCase& s, std::ostream* os) { *os << s.c.name; }

class SoftTissueSeedShiftRealData : public ::testing::TestWithParam<ShiftCase> {};

TEST_P(SoftTissueSeedShiftRealData, SeedMovedThreeMillimetresAlongEachAxis) {
  LESIONKIT_REQUIRE_TEST_DATA(root, "theibsi+data_sets");
  const Case& c = GetParam().c;
  const auto [image, expert] = loadCase(root, c);
  const Vec3 seed = test::deepestInteriorPoint(expert);
  const double d0 = segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({seed}), "seed").dice;
  double worst = 0.0;
  for (const Vec3& shift : {Vec3{3, 0, 0}, Vec3{-3, 0, 0}, Vec3{0, 3, 0}, Vec3{0, -3, 0}, Vec3{0, 0, 3}, Vec3{0, 0, -3}}) {
    SCOPED_TRACE(formatPoint(shift));
    Outcome o;
    EXPECT_NO_THROW(o = segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({seed + shift}),
                                          "seed moved " + formatPoint(shift)));
    worst = std::max(worst, std::abs(o.dice - d0));
    EXPECT_LT(std::abs(o.dice - d0), GetParam().maxDiceChange);
  }
  std::printf("[%s] worst Dice change for a 3 mm seed move: %.3f (goal < 0.03)\n", c.name, worst);
  if (worst >= 0.03) std::printf("gap: %s seed-move Dice change %.3f, goal < 0.03\n", c.name, worst);
  RecordProperty("worst_dice_change", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(Ibsi, SoftTissueSeedShiftRealData,
                         ::testing::Values(ShiftCase{kStsCt, 0.03}, ShiftCase{kStsMr, 0.03}, ShiftCase{kGtv, 0.04}),
                         [](const ::testing::TestParamInfo<ShiftCase>& info) {
                           return std::string(info.param.c.name);
                         });

// A reader clicks anywhere in the mass, not at its deepest point: eight clicks spread over the
// interior at least half as deep as the deepest point. A click either gives a mask or is refused
// (exit 3, ProcessingError); both are counted, and the Dice of each mask is printed. Asserted:
// what the pipeline reached (docs/segmentation.md, "Clicks anywhere in the mass"); the goal
// (every click Dice >= 0.80 on CT, 0.75 on MR) is printed as a gap where it is not met.
struct ClickAnywhereCase {
  Case c;
  std::size_t minSegmented; ///< clicks that must give a mask (of 8)
  double minMedianDice;     ///< over the masks given
  double minLowestDice;     ///< the worst mask given
};

void PrintTo(const ClickAnywhereCase& s, std::ostream* os) { *os << s.c.name; }

class SoftTissueClickAnywhereRealData : public ::testing::TestWithParam<ClickAnywhereCase> {};

TEST_P(SoftTissueClickAnywhereRealData, ClicksSpreadOverTheInterior) {
  LESIONKIT_REQUIRE_TEST_DATA(root, "theibsi+data_sets");
  const Case& c = GetParam().c;
  const auto [image, expert] = loadCase(root, c);
  std::vector<double> dices;
  std::size_t clicks = 0;
  for (const Vec3& click : test::deepInteriorPoints(expert, 0.5, 8)) {
    ++clicks;
    try {
      dices.push_back(
          segmentAndCompare(c, image, expert, SoftTissueInit::fromSeeds({click}), "click " + formatPoint(click)).dice);
    } catch (const ProcessingError& e) {
      std::printf("[%s, click %s] refused: %s\n", c.name, formatPoint(click).c_str(), e.what());
    }
  }
  std::sort(dices.begin(), dices.end());
  const double median = dices.empty() ? 0.0 : dices[(dices.size() - 1) / 2];
  const double worst = dices.empty() ? 0.0 : dices.front();
  std::printf("[%s] clicks anywhere: %zu of %zu segmented, Dice median %.3f, lowest %.3f\n", c.name, dices.size(),
              clicks, median, worst);
  if (dices.size() < clicks || worst < c.goalDice)
    std::printf("gap: %s clicks anywhere: %zu of %zu segmented, lowest Dice %.3f, goal every click >= %.2f\n", c.name,
                dices.size(), clicks, worst, c.goalDice);
  RecordProperty("segmented", std::to_string(dices.size()));
  RecordProperty("median_dice", std::to_string(median));
  EXPECT_GE(dices.size(), GetParam().minSegmented);
  EXPECT_GE(median, GetParam().minMedianDice);
  EXPECT_GE(worst, GetParam().minLowestDice);
}

INSTANTIATE_TEST_SUITE_P(Ibsi, SoftTissueClickAnywhereRealData,
                         ::testing::Values(ClickAnywhereCase{kStsCt, 8, 0.85, 0.83},
                                           ClickAnywhereCase{kStsMr, 8, 0.86, 0.84},
                                           ClickAnywhereCase{kGtv, 6, 0.75, 0.55}),
                         [](const ::testing::TestParamInfo<ClickAnywhereCase>& info) {
                           return std::string(info.param.c.name);
                         });

} // namespace
} // namespace lesion::segmentation
