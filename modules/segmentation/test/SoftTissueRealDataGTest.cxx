// Real expert contours (IBSI data sets, skipped when $LESIONKIT_TEST_DATA is absent): the soft-
// tissue sarcoma STS_002 on CT and on MR T1, and the IBSI CT radiomics phantom's GTV (a lung
// tumour). Each case is initialised as a reader would: (a) a click at the interior point farthest
// from the expert border, (b) the expert mask's largest axial diameter as a RECIST line.
// These load real NIfTI volumes and take a few seconds in all (suite name ends in RealData).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "SegmentationTestUtil.h"
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
};

struct Outcome {
  double dice{0};
  double volumeErrorPercent{0};
};

Outcome runCase(const std::filesystem::path& root, const Case& c, bool recist) {
  const Volume image = dicomio::readVolumeFile(root / c.image);
  const LabelMap expert = dicomio::readLabelMapFile(root / c.mask);
  EXPECT_TRUE(expert.geometry.sameGrid(image.geometry, 1e-3)) << c.name;
  SoftTissueInit init;
  if (recist) {
    const auto [from, to] = test::largestAxialDiameter(expert);
    init = SoftTissueInit::fromRecist(from, to);
    std::printf("[%s] RECIST line %s : %s (LPS mm, %.1f mm)\n", c.name, formatPoint(from).c_str(),
                formatPoint(to).c_str(), distance(from, to));
  } else {
    init = SoftTissueInit::fromSeeds({test::deepestInteriorPoint(expert)});
    std::printf("[%s] seed %s (LPS mm)\n", c.name, formatPoint(init.seeds.front()).c_str());
  }
  const auto start = std::chrono::steady_clock::now();
  // Stage timings on request (LESIONKIT_SEG_TIMING=1), to see where the time goes.
  Progress progress;
  if (std::getenv("LESIONKIT_SEG_TIMING"))
    progress = Progress([start](double f, std::string_view stage) {
      std::printf("  %5.2f s %3.0f %% %.*s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                  100 * f, int(stage.size()), stage.data());
    });
  const SegmentationResult r = segmentSoftTissueMass(image, init, {}, progress);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double expertMl = test::volumeMl(expert);
  Outcome o{test::dice(r.labels, expert), 100.0 * (r.volumeMl - expertMl) / expertMl};
  const auto& m = r.diagnostics.intensity;
  std::printf("[%s, %s] Dice %.3f, volume %.2f mL vs expert %.2f mL (%+.1f %%), interval %.4g..%.4g %s, "
              "seed depth %.1f mm, erosion %.1f mm, split off %d (%.1f mL), prior contact %.2f, %.2f s\n",
              c.name, recist ? "RECIST line" : "seed", o.dice, r.volumeMl, expertMl, o.volumeErrorPercent, m.lower,
              m.upper, m.unit.c_str(), r.diagnostics.seedDepthMm, r.diagnostics.neckErosionMm,
              r.diagnostics.componentsSplitOff, r.diagnostics.leakRemovedMl, r.diagnostics.priorContactFraction,
              seconds);
  return o;
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
  EXPECT_GE(seed.dice, c.minDiceSeed);
  EXPECT_GE(recist.dice, c.minDiceRecist);
  EXPECT_LE(std::abs(seed.volumeErrorPercent), c.maxVolumeErrorPercentSeed);
  EXPECT_LE(std::abs(recist.volumeErrorPercent), c.maxVolumeErrorPercentRecist);
}

INSTANTIATE_TEST_SUITE_P(
    Ibsi, SoftTissueRealData,
    ::testing::Values(
        // Goal met (Dice >= 0.80): reached 0.884 / 0.889, volume +3 % / +9.5 %.
        Case{"STS_002_CT", "ibsi_validation/nifti/STS_002/CT_image.nii.gz", "ibsi_validation/nifti/STS_002/CT_mask.nii.gz",
             0.85, 0.85, 10, 15},
        // Goal met (Dice >= 0.75): reached 0.892 / 0.881, volume -9.8 % / -14.1 %.
        Case{"STS_002_MR_T1", "ibsi_validation/nifti/STS_002/MR_T1_image.nii.gz",
             "ibsi_validation/nifti/STS_002/MR_T1_mask.nii.gz", 0.86, 0.85, 15, 20},
        // Goal NOT met: a lung tumour GTV with low-density parts and a broad mediastinal contact,
        // not a soft-tissue mass in fat; reached 0.340 (seed) / 0.612 (RECIST line).
        Case{"IBSI_CT_phantom_GTV", "ibsi_1_ct_radiomics_phantom/nifti/image/phantom.nii.gz",
             "ibsi_1_ct_radiomics_phantom/nifti/mask/mask.nii.gz", 0.30, 0.57, 85, 30}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

} // namespace
} // namespace lesion::segmentation
