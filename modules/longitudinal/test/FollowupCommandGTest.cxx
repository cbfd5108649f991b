// `lesionkit followup` as a user runs it: files in, a complete output folder out, documented
// exit codes for bad input.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "SyntheticScene.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::longitudinal {
namespace {

using namespace lesion::longitudinal::test;

TEST(FollowupCommand, WritesTimelineTablesMasksTransformsAndChangeMaps) {
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(72, 64, 48, {1.5, 1.5, 2.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion(), 0.6), dir / "ct1.nrrd", true);
  LabelMap lesions(g, 0);
  const Blob mass = sceneBlobs()[6];
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (inside(g.indexToPoint(i, j, k), mass) >= 0.5) lesions.at(i, j, k) = 3;
  dicomio::writeLabelMapFile(lesions, dir / "lesions.nrrd");

  const auto out = dir / "out";
  const lesion::test::ProcessResult r = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct1.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--lesion", "3:soft-tissue:mass", "--soft-tissue-method",
       "intensity-gated", "-o", out.string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("RECIST 1.1: PR"), std::string::npos) << r.out;
  const std::vector<std::string> files = lesion::test::listFiles(out);
  for (const char* expected : {"timeline.json", "measurements.csv", "measurements-baseline.json",
                               "measurements-follow-up-1.json", "labels/baseline.nrrd", "labels/follow-up-1.nrrd",
                               "transforms/follow-up-1.tfm", "transforms/follow-up-1-T003.tfm",
                               "changemaps/follow-up-1-T003.nrrd"})
    EXPECT_NE(std::find(files.begin(), files.end(), expected), files.end()) << expected;
  EXPECT_EQ(files.size(), 12u); // those 9 and their 3 folders: nothing half-written left behind

  std::ifstream in(out / "timeline.json");
  const nlohmann::json timeline = nlohmann::json::parse(in);
  const auto& lesion = timeline.at("timepoints").at(1).at("lesions").at(0);
  EXPECT_EQ(lesion.at("trackingId"), "T003");
  EXPECT_EQ(lesion.at("maskMethod"), "intensity-gated");
  EXPECT_LT(lesion.at("changeFromBaseline").at("volumePercent").get<double>(), -70.0); // 0.6³ = 0.216
  EXPECT_EQ(timeline.at("response").at("RECIST 1.1").at(1).at("category"), "PR");
  std::ifstream csv(out / "measurements.csv");
  std::string header, row0, row1;
  std::getline(csv, header);
  std::getline(csv, row0);
  std::getline(csv, row1);
  EXPECT_EQ(row0.rfind("baseline,3,", 0), 0u) << row0;
  EXPECT_EQ(row1.rfind("follow-up-1,3,", 0), 0u) << row1;
  const LabelMap tracked = dicomio::readLabelMapFile(out / "labels/follow-up-1.nrrd");
  EXPECT_TRUE(tracked.geometry.sameGrid(g));

  // Bad input: a missing follow-up is exit code 2 and leaves no output folder behind.
  const auto bad = dir / "bad";
  const auto missing = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                                  "--followup", (dir / "nope.nrrd").string(), "--lesions",
                                                  (dir / "lesions.nrrd").string(), "-o", bad.string(), "-q"});
  EXPECT_EQ(missing.exitCode, 2) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(bad));
  // Usage: an anchor needs the reference map.
  const auto usage = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                                "--followup", (dir / "ct1.nrrd").string(), "--lesions",
                                                (dir / "lesions.nrrd").string(), "--anchor", "3:15", "-o", bad.string()});
  EXPECT_EQ(usage.exitCode, 1) << usage.err;
}

} // namespace
} // namespace lesion::longitudinal
