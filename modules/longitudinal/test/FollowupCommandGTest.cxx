// `lesionkit followup` as a user runs it: files in, a complete output folder out, documented
// exit codes for bad input.
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <itkCompositeTransform.h>
#include <itkTransformFactoryBase.h>
#include <itkTransformFileReader.h>
#include <itkTxtTransformIOFactory.h>
#include <nlohmann/json.hpp>

#include "SyntheticScene.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/testing/CroppedLabelMap.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::longitudinal {
namespace {

using namespace lesion::longitudinal::test;

/// The scene's soft-tissue mass (blob 6) as label 3 on `g`.
LabelMap massLesionMap(const ImageGeometry& g) {
  LabelMap lesions(g, 0);
  const Blob mass = sceneBlobs()[6];
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (inside(g.indexToPoint(i, j, k), mass) >= 0.5)
          lesions.at(i, j, k) = 3;
  return lesions;
}

TEST(FollowupCommand, WritesTimelineTablesMasksTransformsAndChangeMaps) {
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(72, 64, 48, {1.5, 1.5, 2.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion(), 0.6), dir / "ct1.nrrd", true);
  dicomio::writeLabelMapFile(massLesionMap(g), dir / "lesions.nrrd");

  const auto out = dir / "out";
  const lesion::test::ProcessResult r = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct1.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--lesion", "3:soft-tissue:mass", "--soft-tissue-method",
       "intensity-gated", "-o", out.string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("RECIST 1.1: PR"), std::string::npos) << r.out;
  const std::vector<std::string> files = lesion::test::listFiles(out);
  for (const char* expected :
       {"timeline.json", "measurements.csv", "measurements-baseline.json", "measurements-follow-up-1.json",
        "labels/baseline.nrrd", "labels/follow-up-1.nrrd", "transforms/follow-up-1.tfm",
        "transforms/follow-up-1-T003.tfm", "changemaps/follow-up-1-T003.nrrd", ".lesionkit-output"})
    EXPECT_NE(std::find(files.begin(), files.end(), expected), files.end()) << expected;
  EXPECT_EQ(files.size(), 13u); // those 10 and their 3 folders: nothing half-written left behind

  std::ifstream in(out / "timeline.json");
  const nlohmann::json timeline = nlohmann::json::parse(in);
  const auto& lesion = timeline.at("timepoints").at(1).at("lesions").at(0);
  EXPECT_EQ(lesion.at("trackingId"), "T003");
  EXPECT_EQ(lesion.at("maskMethod"), "intensity-gated");
  EXPECT_LT(lesion.at("changeFromBaseline").at("volumePercent").get<double>(), -70.0); // 0.6³ = 0.216
  EXPECT_EQ(timeline.at("response").at("RECIST 1.1").at(1).at("category"), "PR");
  // Default calcification threshold (auto) without reference labels: the 130 HU floor, and every
  // time point says why, in the timeline and in its measurement report.
  for (const auto& tp : timeline.at("timepoints")) {
    EXPECT_EQ(tp.at("calcificationThreshold").at("basis"), "fallback");
    EXPECT_EQ(tp.at("calcificationThreshold").at("hu"), 130.0);
    ASSERT_FALSE(tp.at("notes").empty());
    EXPECT_NE(tp.at("notes").back().get<std::string>().find("no unaffected vertebra"), std::string::npos);
  }
  // NRRDs without a convert sidecar: which scan is unknown, said once in the baseline's notes (the
  // patient, order and duplicate checks could not be made), and nothing is made up.
  const auto& baselineNotes = timeline.at("timepoints").at(0).at("notes");
  ASSERT_EQ(baselineNotes.size(), 2u);
  EXPECT_NE(baselineNotes.at(0).get<std::string>().find("carry no patient, study date or series"), std::string::npos)
      << baselineNotes.dump();
  EXPECT_EQ(timeline.at("timepoints").at(1).at("notes").size(), 1u);
  for (const char* unknown : {"studyDate", "patientId", "seriesInstanceUid"})
    EXPECT_FALSE(timeline.at("timepoints").at(1).contains(unknown)) << unknown;
  std::ifstream reportFile(out / "measurements-follow-up-1.json");
  const nlohmann::json report = nlohmann::json::parse(reportFile);
  EXPECT_NE(report.dump().find("no unaffected vertebra"), std::string::npos);
  EXPECT_EQ(report.at("input").at("maskPath"), "labels/follow-up-1.nrrd"); // the tracked mask measured
  std::ifstream csv(out / "measurements.csv");
  std::string header, row0, row1;
  std::getline(csv, header);
  std::getline(csv, row0);
  std::getline(csv, row1);
  EXPECT_EQ(row0.rfind("baseline,3,", 0), 0u) << row0;
  EXPECT_EQ(row1.rfind("follow-up-1,3,", 0), 0u) << row1;
  EXPECT_NE(row0.find((dir / "lesions.nrrd").string()), std::string::npos) << row0;
  EXPECT_NE(row1.find(",labels/follow-up-1.nrrd"), std::string::npos) << row1;
  EXPECT_NE(header.find("calcification_threshold_hu"), std::string::npos) << header;
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
  const auto threshold = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct1.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--calcification-threshold-hu", "high", "-o", bad.string()});
  EXPECT_EQ(threshold.exitCode, 1) << threshold.err;
  EXPECT_NE(threshold.err.find("expected auto or a number"), std::string::npos) << threshold.err;
  // Re-segmenting the baseline only makes sense when the follow-ups are re-segmented.
  const auto baselineMask = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct1.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--baseline-mask", "resegment", "--soft-tissue-method",
       "mapped-mask", "-o", bad.string()});
  EXPECT_EQ(baselineMask.exitCode, 1) << baselineMask.err;
  EXPECT_NE(baselineMask.err.find("--baseline-mask resegment"), std::string::npos) << baselineMask.err;
}

TEST(FollowupCommand, AnOutputFolderHoldingTheInputsOrOtherFilesIsNeverReplaced) {
  // The output folder is replaced as a whole; both are refused before anything is read.
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(24, 24, 12);
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeLabelMapFile(LabelMap(g, 1), dir / "lesions.nrrd");
  auto followup = [&](const std::filesystem::path& out) {
    return lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup",
                                     (dir / "ct0.nrrd").string(), "--lesions", (dir / "lesions.nrrd").string(), "-o",
                                     out.string()});
  };
  auto r = followup(dir.path());
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("holds the input"), std::string::npos) << r.err;
  // A timeline.json of the user's does not make the folder an earlier follow-up output.
  std::filesystem::create_directories(dir / "mine");
  std::ofstream(dir / "mine" / "notes.txt") << "keep";
  std::ofstream(dir / "mine" / "timeline.json") << "{}";
  r = followup(dir / "mine");
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("holds other files ('notes.txt')"), std::string::npos) << r.err;
  EXPECT_EQ(lesion::test::listFiles(dir.path()),
            (std::vector<std::string>{"ct0.nrrd", "lesions.nrrd", "mine", "mine/notes.txt", "mine/timeline.json"}));
}

TEST(FollowupCommand, NegativeMarginsAndVoxelSizesAreUsageErrors) {
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(24, 24, 12);
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeLabelMapFile(LabelMap(g, 1), dir / "lesions.nrrd");
  for (const std::string option : {"--growth-margin-mm", "--local-margin-mm", "--global-voxel-size-mm"}) {
    const auto r = lesion::test::runProcess(
        {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct0.nrrd").string(),
         "--lesions", (dir / "lesions.nrrd").string(), option, "-5", "-o", (dir / "out").string()});
    EXPECT_EQ(r.exitCode, 1) << option << ": " << r.err;
    EXPECT_NE(r.err.find(option + ": expected 0 to "), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  }
}

TEST(FollowupCommand, AScanTooSmallToRegisterIsBadInputNamingIt) {
  // 12 x 12 x 4 voxels used to end in ITK's "A spacing of 0 is not allowed" (exit 3).
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(24, 24, 12);
  const ImageGeometry tiny = sceneGrid(12, 12, 4);
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(tiny), dir / "tiny.nrrd", true);
  dicomio::writeLabelMapFile(LabelMap(g, 1), dir / "lesions.nrrd");
  dicomio::writeLabelMapFile(LabelMap(tiny, 1), dir / "tiny-lesions.nrrd");
  const std::vector<std::pair<std::string, std::string>> cases{{"ct0.nrrd", "tiny.nrrd"}, {"tiny.nrrd", "ct0.nrrd"}};
  for (const auto& [baseline, followup] : cases) {
    const std::string lesions = baseline == "tiny.nrrd" ? "tiny-lesions.nrrd" : "lesions.nrrd";
    const auto r = lesion::test::runProcess(
        {"lesionkit", "followup", "--baseline", (dir / baseline).string(), "--followup", (dir / followup).string(),
         "--lesions", (dir / lesions).string(), "--auto-reference", "none", "-o", (dir / "out").string()});
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_NE(r.err.find("'" + (dir / "tiny.nrrd").string() + "'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(12 x 12 x 4 voxels) is too small to register"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  }
}

TEST(FollowupCommand, AReferenceMapOffTheBaselineGridIsBadInputNamingIt) {
  // It used to say "the reference label map is not on the baseline volume's grid" under the
  // baseline's and the lesions' names only.
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(24, 24, 12);
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeLabelMapFile(LabelMap(g, 1), dir / "lesions.nrrd");
  // Another lattice (1.5 mm voxels along x): a crop on the baseline's lattice would be placed into it.
  dicomio::writeLabelMapFile(LabelMap(sceneGrid(20, 24, 12, {1.5, 2.0, 2.5}), 1), dir / "reference.nrrd");
  const auto r = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct0.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--reference", (dir / "reference.nrrd").string(),
       "--reference-label", "1", "-o", (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("reference label map '" + (dir / "reference.nrrd").string() + "' (20x24x12 voxels"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("is not on the grid of baseline '" + (dir / "ct0.nrrd").string() + "' (24x24x12 voxels"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

// A lesion map LesionKit made keeps its record through the follow-up: `spine --lesions` (AUTOMATIC)
// is AUTOMATIC in labels/baseline.nrrd (with the version that made it) and in the tracked
// follow-up, so `report --mask out/labels/baseline.nrrd` says what made it.
TEST(FollowupCommand, TheLesionMapsRecordOfWhatMadeItIsPassedOn) {
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(72, 64, 48, {1.5, 1.5, 2.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion(), 0.6), dir / "ct1.nrrd", true);
  dicomio::writeLabelMapFile(massLesionMap(g), dir / "lesions.nrrd", {"AUTOMATIC", "0.7"});
  const auto r = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                           "--followup", (dir / "ct1.nrrd").string(), "--lesions",
                                           (dir / "lesions.nrrd").string(), "--soft-tissue-method", "intensity-gated",
                                           "--auto-reference", "none", "-o", (dir / "out").string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  dicomio::LabelMapOrigin origin;
  (void)dicomio::readLabelMapFile(dir / "out" / "labels" / "baseline.nrrd", &origin);
  EXPECT_EQ(origin.algorithmType, "AUTOMATIC");
  EXPECT_EQ(origin.version, "0.7");
  (void)dicomio::readLabelMapFile(dir / "out" / "labels" / "follow-up-1.nrrd", &origin);
  EXPECT_EQ(origin.algorithmType, "AUTOMATIC");
  EXPECT_NE(origin.version, "0.7");

  // Edited after LesionKit wrote it (header kept): no longer LesionKit's, and the baseline's notes say why.
  LabelMap edited = massLesionMap(g);
  *std::find(edited.voxels.begin(), edited.voxels.end(), 3) = 0; // one voxel of the mass erased
  dicomio::writeLabelMapFile(edited, dir / "edited.nrrd");
  lesion::test::replaceNrrdVoxelsKeepingHeader(dir / "lesions.nrrd", dir / "edited.nrrd");
  const auto e = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                           "--followup", (dir / "ct1.nrrd").string(), "--lesions",
                                           (dir / "lesions.nrrd").string(), "--soft-tissue-method", "intensity-gated",
                                           "--auto-reference", "none", "-o", (dir / "edited").string(), "-q"});
  ASSERT_EQ(e.exitCode, 0) << e.err;
  (void)dicomio::readLabelMapFile(dir / "edited" / "labels" / "baseline.nrrd", &origin);
  EXPECT_FALSE(origin.byLesionKit());
  (void)dicomio::readLabelMapFile(dir / "edited" / "labels" / "follow-up-1.nrrd", &origin);
  EXPECT_EQ(origin.algorithmType, "SEMIAUTOMATIC") << "tracked by LesionKit from a reader's map";
  std::ifstream in(dir / "edited" / "timeline.json");
  const std::string notes = nlohmann::json::parse(in).at("timepoints").at(0).at("notes").dump();
  EXPECT_NE(notes.find("changed after LesionKit wrote it"), std::string::npos) << notes;
}

TEST(FollowupCommand, ALesionMapCroppedOnTheBaselineLatticeIsPlacedIntoItsGrid) {
  // 3D Slicer's label map of a segmentation is cropped to the segments; it was refused. Given as the
  // reference too, it is read and placed once (it was placed twice, with a second note).
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(72, 64, 48, {1.5, 1.5, 2.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion(), 0.6), dir / "ct1.nrrd", true);
  const LabelMap lesions = massLesionMap(g);
  const LabelMap cropped = lesion::test::cropToLabels(lesions, 2);
  dicomio::writeLabelMapFile(cropped, dir / "cropped.nrrd");
  const Vec3 offset = g.pointToIndex(cropped.geometry.origin);
  const auto r = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                           "--followup", (dir / "ct1.nrrd").string(), "--lesions",
                                           (dir / "cropped.nrrd").string(), "--reference",
                                           (dir / "cropped.nrrd").string(), "--soft-tissue-method", "intensity-gated",
                                           "--auto-reference", "none", "-o", (dir / "out").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // A warning: once, on stderr (it was printed twice on stdout, as a warning and as a note of the baseline,
  // and the reference, the same map, was read and placed again).
  lesion::test::expectWarnedOnceOnStderr(r,
                                         fmt::format("lesion map '{}' ({}x{}x{} voxels) lies on the voxel lattice of "
                                                     "baseline",
                                                     (dir / "cropped.nrrd").string(), cropped.geometry.size[0],
                                                     cropped.geometry.size[1], cropped.geometry.size[2]));
  lesion::test::expectWarnedOnceOnStderr(
      r, fmt::format("at offset ({:.0f}, {:.0f}, {:.0f}) voxels", offset.x, offset.y, offset.z));
  dicomio::LabelMapOrigin origin{"AUTOMATIC", "x"};
  const LabelMap baseline = dicomio::readLabelMapFile(dir / "out" / "labels" / "baseline.nrrd", &origin);
  EXPECT_TRUE(baseline.geometry.sameGrid(g));
  EXPECT_EQ(baseline.voxels, lesions.voxels);
  EXPECT_FALSE(origin.byLesionKit()) << "the user's lesion map is not passed off as LesionKit's";
  // The follow-up's map is LesionKit's tracking: recorded, so a SEG written from it says so.
  (void)dicomio::readLabelMapFile(dir / "out" / "labels" / "follow-up-1.nrrd", &origin);
  EXPECT_EQ(origin.algorithmType, "SEMIAUTOMATIC");
  EXPECT_FALSE(origin.version.empty());
  // The note stays with the results, not only on the screen: the baseline's notes in the timeline.
  std::ifstream in(dir / "out" / "timeline.json");
  const nlohmann::json notes = nlohmann::json::parse(in).at("timepoints").at(0).at("notes");
  const auto placed = std::find_if(notes.begin(), notes.end(), [&](const nlohmann::json& note) {
    return note.get<std::string>().find("lies on the voxel lattice of baseline") != std::string::npos;
  });
  ASSERT_NE(placed, notes.end()) << notes.dump();
  EXPECT_NE(placed->get<std::string>().find((dir / "cropped.nrrd").string()), std::string::npos) << *placed;
  EXPECT_EQ(std::count_if(notes.begin(), notes.end(),
                          [](const nlohmann::json& note) {
                            return note.get<std::string>().find("placed into the baseline's grid") != std::string::npos;
                          }),
            1)
      << notes.dump();
}

// `measure` and `followup` judge RECIST measurability of the same scan from the same slice
// thickness: a NRRD's convert sidecar says 12 mm slices every 5 mm, so the mass (long axis 17 mm:
// >= 10 mm, 2 x the spacing) is under 2 x 12 = 24 mm: non-measurable, and no RECIST target at baseline.
TEST(FollowupCommand, MeasurabilityUsesTheScansSliceThicknessAsMeasureDoes) {
  lesion::test::ScratchFolder dir("lesionkit-followup");
  const ImageGeometry g = sceneGrid(72, 64, 20, {1.5, 1.5, 5.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  std::ofstream(dir / "ct0.json") << R"({"sliceThicknessMm": 12.0})";              // what lesionkit convert records
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion()), dir / "ct1.nrrd", true); // no sidecar: the spacing
  dicomio::writeLabelMapFile(massLesionMap(g), dir / "lesions.nrrd");

  const auto measured =
      lesion::test::runProcess({"lesionkit", "measure", (dir / "ct0.nrrd").string(), "--mask",
                                (dir / "lesions.nrrd").string(), "-o", (dir / "m.json").string(), "-q"});
  ASSERT_EQ(measured.exitCode, 0) << measured.err;
  std::ifstream measureFile(dir / "m.json");
  const nlohmann::json measure = nlohmann::json::parse(measureFile);
  ASSERT_EQ(measure.at("settings").at("sliceThicknessSource"), "dicom");
  const nlohmann::json& byMeasure = measure.at("lesions").at(0).at("measurability");
  ASSERT_GE(measure.at("lesions").at(0).at("recist").at("longAxisMm").get<double>(), 10.0);
  ASSERT_FALSE(byMeasure.at("measurable").get<bool>()) << byMeasure.dump();

  const auto r = lesion::test::runProcess({"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(),
                                           "--followup", (dir / "ct1.nrrd").string(), "--lesions",
                                           (dir / "lesions.nrrd").string(), "--soft-tissue-method", "mapped-mask",
                                           "--auto-reference", "none", "-o", (dir / "out").string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream baselineFile(dir / "out" / "measurements-baseline.json");
  const nlohmann::json baseline = nlohmann::json::parse(baselineFile);
  EXPECT_EQ(baseline.at("settings").at("sliceThicknessSource"), "dicom");
  EXPECT_EQ(baseline.at("lesions").at(0).at("measurability"), byMeasure);
  std::ifstream timelineFile(dir / "out" / "timeline.json");
  const nlohmann::json timeline = nlohmann::json::parse(timelineFile);
  const nlohmann::json& tps = timeline.at("timepoints");
  EXPECT_DOUBLE_EQ(tps.at(0).at("sliceThicknessMm").get<double>(), 12.0);
  EXPECT_EQ(tps.at(0).at("sliceThicknessSource"), "dicom");
  EXPECT_DOUBLE_EQ(tps.at(1).at("sliceThicknessMm").get<double>(), 5.0); // each scan its own
  EXPECT_EQ(tps.at(1).at("sliceThicknessSource"), "spacing");
  EXPECT_EQ(timeline.at("response").at("RECIST 1.1").at(0).at("category"), "NA"); // no measurable target
  EXPECT_TRUE(timeline.at("response").at("RECIST 1.1").at(0).at("lesions").empty());
}

/// A transform file read with ITK's reader: the transform kinds in the file and the point map.
struct ItkPointMap {
  std::vector<std::string> kinds;
  std::function<Vec3(const Vec3&)> map;
};

ItkPointMap readItkTransform(const std::filesystem::path& file) {
  itk::TransformFactoryBase::RegisterDefaultTransforms();
  itk::TxtTransformIOFactory::RegisterOneFactory(); // .tfm text files
  const auto reader = itk::TransformFileReaderTemplate<double>::New();
  reader->SetFileName(file.string());
  reader->Update();
  ItkPointMap result;
  using Base = itk::TransformBaseTemplate<double>;
  const Base::Pointer first = reader->GetTransformList()->front();
  for (const Base::Pointer& t : *reader->GetTransformList()) {
    result.kinds.push_back(t->GetNameOfClass());
    if (const auto* composite = dynamic_cast<const itk::CompositeTransform<double, 3>*>(t.GetPointer()))
      for (unsigned n = 0; n < composite->GetNumberOfTransforms(); ++n)
        result.kinds.push_back(composite->GetNthTransformConstPointer(n)->GetNameOfClass());
  }
  using Transform3 = itk::Transform<double, 3, 3>;
  const Transform3::Pointer transform = dynamic_cast<Transform3*>(first.GetPointer());
  if (!transform) throw std::runtime_error(file.string() + ": not a 3D transform");
  result.map = [transform](const Vec3& p) {
    const auto q = transform->TransformPoint(Transform3::InputPointType(std::array<double, 3>{p.x, p.y, p.z}.data()));
    return Vec3{q[0], q[1], q[2]};
  };
  return result;
}

TEST(FollowupCommand, BSplineLevelIsReportedAndWrittenAsAnItkCompositeTransform) {
  lesion::test::ScratchFolder dir("lesionkit-followup-bspline");
  const ImageGeometry g = sceneGrid(72, 64, 48, {1.5, 1.5, 2.0});
  dicomio::writeVolumeFile(sceneVolume(g), dir / "ct0.nrrd", true);
  dicomio::writeVolumeFile(sceneVolume(g, knownMotion()), dir / "ct1.nrrd", true);
  dicomio::writeLabelMapFile(massLesionMap(g), dir / "lesions.nrrd");
  const auto out = dir / "out";
  const lesion::test::ProcessResult r = lesion::test::runProcess(
      {"lesionkit", "followup", "--baseline", (dir / "ct0.nrrd").string(), "--followup", (dir / "ct1.nrrd").string(),
       "--lesions", (dir / "lesions.nrrd").string(), "--lesion", "3:soft-tissue:mass", "--soft-tissue-method",
       "mapped-mask", "--soft-tissue-registration", "bspline", "--no-change-maps", "-o", out.string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream in(out / "timeline.json");
  const nlohmann::json timeline = nlohmann::json::parse(in);
  const auto& d = timeline.at("timepoints").at(1).at("lesions").at(0).at("deformableRegistration");
  EXPECT_EQ(d.at("method"), "bspline");
  EXPECT_EQ(d.at("controlPoints"), nlohmann::json::array({6, 6, 6}));
  EXPECT_LT(d.at("finalMetricValue").get<double>(), 0.0);
  // A rigid motion only, noise-free: there is nothing to deform, and what the B-spline finds
  // (sub-voxel shifts that trade interpolation blur, measured up to 5 mm) does not lower the
  // metric over the whole region, so the rigid transform is kept and a note says why.
  const auto& lesion = timeline.at("timepoints").at(1).at("lesions").at(0);
  if (d.at("used").get<bool>()) {
    EXPECT_LT(d.at("maxDisplacementMm").get<double>(), 2.0);
  } else {
    EXPECT_GE(d.at("finalMetricValue").get<double>(), d.at("rigidMetricValue").get<double>());
    EXPECT_NE(lesion.at("notes").dump().find("B-spline level did not improve"), std::string::npos) << lesion.dump();
  }
  std::cout << "[ measured ] rigid pair: B-spline used " << d.at("used") << ", metric " << d.at("rigidMetricValue")
            << " -> " << d.at("finalMetricValue") << ", max displacement " << d.at("maxDisplacementMm") << " mm, "
            << d.at("seconds") << " s\n";
  std::ifstream tfm(out / "transforms/follow-up-1-T003-bspline.tfm");
  ASSERT_TRUE(tfm.good());
  std::string line, text;
  std::size_t bsplineParameters = 0;
  bool inBSpline = false;
  while (std::getline(tfm, line)) {
    text += line + '\n';
    if (line.rfind("Transform: ", 0) == 0) inBSpline = line == "Transform: BSplineTransform_double_3_3";
    if (inBSpline && line.rfind("Parameters: ", 0) == 0) {
      std::istringstream values(line.substr(12));
      double v = 0.0;
      while (values >> v) ++bsplineParameters;
    }
  }
  EXPECT_NE(text.find("Transform: CompositeTransform_double_3_3\n#Transform 1\nTransform: AffineTransform_double_3_3"),
            std::string::npos)
      << text.substr(0, 300);
  EXPECT_EQ(bsplineParameters, 3u * 6 * 6 * 6);

  // What Slicer and elastix users do with it: ITK reads it back as [affine, B-spline] (the
  // B-spline applied first); outside the B-spline's domain it is the lesion's rigid transform,
  // at the mass it differs from it by the displacement, at most the largest one reported.
  const ItkPointMap composite = readItkTransform(out / "transforms/follow-up-1-T003-bspline.tfm");
  const ItkPointMap rigid = readItkTransform(out / "transforms/follow-up-1-T003.tfm");
  EXPECT_EQ(composite.kinds, (std::vector<std::string>{"CompositeTransform", "AffineTransform", "BSplineTransform"}));
  const Vec3 corner = g.indexToPoint(0, 0, 0);
  EXPECT_LT(distance(composite.map(corner), rigid.map(corner)), 1e-9);
  const double shift = distance(composite.map(sceneBlobs()[6].centre), rigid.map(sceneBlobs()[6].centre));
  std::cout << "[ measured ] ITK reads the .tfm back: at the mass centre the B-spline moves the point " << shift
            << " mm (largest displacement reported " << d.at("maxDisplacementMm") << " mm)\n";
  EXPECT_LE(shift, d.at("maxDisplacementMm").get<double>() + 0.5);
}

} // namespace
} // namespace lesion::longitudinal
