// `lesionkit measure` run as a user runs it: files in, report/CSV/summary/return values out,
// documented exit codes on bad input.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/testing/CroppedLabelMap.h"
#include "lesion/testing/TestHarness.h"

namespace lesion {
namespace {

/// An oblique-grid CT with a 15 mm radius soft-tissue sphere (label 1) and a small box (label 2).
void writePhantom(const std::filesystem::path& volumePath, const std::filesystem::path& maskPath) {
  ImageGeometry g;
  g.size = {50, 50, 30};
  g.spacing = {0.8, 0.8, 1.25};
  g.origin = {-30.0, -40.0, 100.0};
  g.direction = Mat3::rotation(normalized(Vec3{1.0, 0.0, 0.2}), 0.2);
  Volume volume(g, -900.0f);
  LabelMap labels(g, 0);
  const Vec3 centre = g.indexToPoint(25, 25, 15);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        if (distance(g.indexToPoint(i, j, k), centre) <= 15.0) {
          labels.at(i, j, k) = 1;
          volume.at(i, j, k) = 40.0f;
        } else if (i < 6 && j < 6 && k < 4) {
          labels.at(i, j, k) = 2;
          volume.at(i, j, k) = 200.0f;
        }
      }
  dicomio::writeVolumeFile(volume, volumePath, true);
  dicomio::writeLabelMapFile(labels, maskPath);
}

test::ProcessResult checkReport(const std::filesystem::path& json, const std::filesystem::path& csv) {
  return test::runProcess(
      {LESIONKIT_PYTHON3, LESIONKIT_CHECK_REPORT, LESIONKIT_REPORT_SCHEMA, json.string(), csv.string()});
}

TEST(MeasureCommand, WritesValidReportTableSummaryAndReturnValues) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  const auto result =
      test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                        "--lesion", "1:soft-tissue:axilla", "--label", "2", "-o", (dir / "report.json").string(),
                        "--csv", (dir / "table.csv").string(), "--returnparameterfile", (dir / "return.txt").string()});
  ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("\"axilla\""), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("RECIST 1.1: long axis"), std::string::npos) << result.out;

  const auto check = checkReport(dir / "report.json", dir / "table.csv");
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;

  std::ifstream in(dir / "report.json");
  const auto json = nlohmann::json::parse(in);
  ASSERT_EQ(json["lesions"].size(), 2u);
  EXPECT_EQ(json["lesions"][0]["label"], 2); // --label first, then the --lesion labels
  EXPECT_EQ(json["lesions"][1]["name"], "axilla");
  const auto& sphere = json["lesions"][1];
  const double analyticMl = 4.0 / 3.0 * M_PI * 15.0 * 15.0 * 15.0 / 1000.0;
  EXPECT_NEAR(sphere["volumes"]["voxelVolumeMl"].get<double>(), analyticMl, 0.02 * analyticMl);
  EXPECT_NEAR(sphere["recist"]["longAxisMm"].get<double>(), 30.0, std::sqrt(0.8 * 0.8 * 2 + 1.25 * 1.25));
  EXPECT_NEAR(sphere["maxDiameter3dMm"].get<double>(), 30.0, std::sqrt(0.8 * 0.8 * 2 + 1.25 * 1.25));
  EXPECT_EQ(json["settings"]["intensityUnit"], "HU");
  EXPECT_EQ(json["input"]["maskPath"], (dir / "mask.nrrd").string());

  std::ifstream returns(dir / "return.txt");
  std::stringstream text;
  text << returns.rdbuf();
  for (const char* name : {"volumeMl = ", "longAxisMm = ", "shortAxisMm = ", "maxDiameter3dMm = "})
    EXPECT_NE(text.str().find(name), std::string::npos) << name << " missing from\n" << text.str();
}

TEST(MeasureCommand, TheSummaryOfASeedRunNamesTheSegmentedMask) {
  // It read "1 lesion measured in segmented from --seed".
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  const Vec3 centre = dicomio::readLabelMapFile(dir / "mask.nrrd").geometry.indexToPoint(25, 25, 15); // the sphere
  const auto result =
      test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--seed",
                        fmt::format("{},{},{}", centre.x, centre.y, centre.z), "-o", (dir / "report.json").string()});
  ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
  const std::string segmented = "the mask segmented from --seed " + formatPoint(centre);
  EXPECT_EQ(result.out.rfind("1 lesion measured in " + segmented + "\n", 0), 0u) << result.out;
  std::ifstream in(dir / "report.json");
  EXPECT_EQ(nlohmann::json::parse(in)["input"]["maskPath"], segmented);
}

TEST(MeasureCommand, ALabelOtherThanOneWithSeedsIsAWrongArgumentFoundBeforeSegmenting) {
  // --seed --label 2 segmented the mass, then exited 2 ("bad input") finding no label 2 in it.
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  const Vec3 centre = dicomio::readLabelMapFile(dir / "mask.nrrd").geometry.indexToPoint(25, 25, 15); // the sphere
  const auto measure = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{"lesionkit",
                                  "measure",
                                  (dir / "ct.nrrd").string(),
                                  "--seed",
                                  fmt::format("{},{},{}", centre.x, centre.y, centre.z),
                                  "-o",
                                  (dir / "report.json").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::runProcess(argv);
  };
  const auto label2 = measure({"--label", "2"});
  EXPECT_EQ(label2.exitCode, 1) << label2.err;
  EXPECT_NE(label2.err.find("--label 2: the mask segmented from --seed holds label 1 only; give --label 1, or leave "
                            "--label out"),
            std::string::npos)
      << label2.err;
  const auto lesion2 = measure({"--lesion", "2:soft-tissue:axilla"});
  EXPECT_EQ(lesion2.exitCode, 1) << lesion2.err;
  EXPECT_NE(lesion2.err.find("--lesion with label 2: "), std::string::npos) << lesion2.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "report.json"));
  for (const char* label : {"0", "1"}) { // 0: what 3D Slicer passes
    const auto ok = measure({"--label", label});
    ASSERT_EQ(ok.exitCode, 0) << label << ": " << ok.err;
    std::ifstream in(dir / "report.json");
    const auto lesions = nlohmann::json::parse(in)["lesions"];
    ASSERT_EQ(lesions.size(), 1u) << label;
    EXPECT_EQ(lesions[0]["label"], 1) << label;
  }
}

TEST(MeasureCommand, MaskOnAnotherGridIsBadInputNamingBothFiles) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  LabelMap other(ImageGeometry{{10, 10, 10}, {1, 1, 1}, {}, {}}, 1);
  dicomio::writeLabelMapFile(other, dir / "other.nrrd");
  const auto result = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                        (dir / "other.nrrd").string(), "-o", (dir / "report.json").string()});
  EXPECT_EQ(result.exitCode, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("other.nrrd"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("ct.nrrd"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "report.json"));
}

TEST(MeasureCommand, AMaskCroppedOnTheVolumesLatticeIsPlacedIntoItsGrid) {
  // 3D Slicer writes a segmentation's label map cropped to the segments: same lattice, origin a
  // whole number of voxels in. It was refused as "not on the grid of volume".
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  LabelMap sphere = dicomio::readLabelMapFile(dir / "mask.nrrd");
  std::replace(sphere.voxels.begin(), sphere.voxels.end(), std::uint16_t{2}, std::uint16_t{0});
  dicomio::writeLabelMapFile(sphere, dir / "sphere.nrrd");
  const LabelMap cropped = test::cropToLabels(sphere, 2);
  dicomio::writeLabelMapFile(cropped, dir / "cropped.nrrd");
  const Vec3 offset = sphere.geometry.pointToIndex(cropped.geometry.origin);
  const auto measure = [&](const char* mask, const char* report) {
    return test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", (dir / mask).string(), "-o",
                             (dir / report).string()});
  };
  const auto full = measure("sphere.nrrd", "full.json");
  ASSERT_EQ(full.exitCode, 0) << full.err;
  auto result = measure("cropped.nrrd", "cropped.json");
  ASSERT_EQ(result.exitCode, 0) << result.err;
  test::expectWarnedOnceOnStderr(result, fmt::format("at offset ({:.0f}, {:.0f}, {:.0f}) voxels: placed into the "
                                                     "volume's grid",
                                                     offset.x, offset.y, offset.z));
  std::ifstream fullIn(dir / "full.json"), croppedIn(dir / "cropped.json");
  const auto fullJson = nlohmann::json::parse(fullIn), croppedJson = nlohmann::json::parse(croppedIn);
  EXPECT_EQ(croppedJson["lesions"], fullJson["lesions"]); // voxel for voxel the same lesion

  // Moved to start 3 voxels before the volume along i: the margin's 2 columns are background, the
  // third holds the sphere's first labelled voxels.
  LabelMap shifted = cropped;
  shifted.geometry.origin = sphere.geometry.indexToPoint(Vec3{-3, offset.y, offset.z});
  dicomio::writeLabelMapFile(shifted, dir / "shifted.nrrd");
  std::size_t outside = 0;
  for (std::size_t k = 0; k < cropped.geometry.size[2]; ++k)
    for (std::size_t j = 0; j < cropped.geometry.size[1]; ++j)
      for (std::size_t i = 0; i < 3; ++i)
        outside += cropped.at(i, j, k) != 0;
  ASSERT_GT(outside, 0u);
  result = measure("shifted.nrrd", "shifted.json");
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find(fmt::format("mask '{}'", (dir / "shifted.nrrd").string())), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(fmt::format("volume '{}'", (dir / "ct.nrrd").string())), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(fmt::format("but {} of its labelled voxels fall outside the volume", outside)),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "shifted.json"));

  // Half a voxel off the lattice: still refused as before.
  shifted.geometry.origin = sphere.geometry.indexToPoint(Vec3{offset.x + 0.5, offset.y, offset.z});
  dicomio::writeLabelMapFile(shifted, dir / "shifted.nrrd");
  result = measure("shifted.nrrd", "shifted.json");
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find("is not on the grid of volume"), std::string::npos) << result.err;
}

TEST(MeasureCommand, MaskWithAFlippedAxisShowsTheAxesAndACsvOverTheMaskOrTheReportIsRefused) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  // Same size, spacing and origin as the CT: only the axes tell the two grids apart.
  LabelMap flipped = dicomio::readLabelMapFile(dir / "mask.nrrd");
  for (std::size_t r = 0; r < 3; ++r)
    flipped.geometry.direction(r, 1) = -flipped.geometry.direction(r, 1);
  dicomio::writeLabelMapFile(flipped, dir / "flipped.nrrd");
  auto result = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                  (dir / "flipped.nrrd").string(), "-o", (dir / "report.json").string()});
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find(", axes ("), std::string::npos) << result.err;
  const std::string mask = (dir / "mask.nrrd").string();
  std::ifstream in(mask, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(in)), {});
  result = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", mask, "-o",
                             (dir / "report.json").string(), "--csv", mask});
  EXPECT_EQ(result.exitCode, 1) << result.err;
  EXPECT_NE(result.err.find("--csv '" + mask + "' is the input"), std::string::npos) << result.err;
  std::ifstream again(mask, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), {}), before);
  // The table written over the report: refused too.
  result = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", mask, "-o",
                             (dir / "report.json").string(), "--csv", (dir / "report.json").string()});
  EXPECT_EQ(result.exitCode, 1) << result.err;
  EXPECT_NE(result.err.find("--output and --csv both name"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "report.json"));
}

TEST(MeasureCommand, AFolderAsMaskIsNamedAsAFolder) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  std::filesystem::create_directories(dir / "segs");
  const auto result = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                        (dir / "segs").string(), "-o", (dir / "report.json").string()});
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find("'" + (dir / "segs").string() + "' is a folder"), std::string::npos) << result.err;
}

TEST(MeasureCommand, UsageErrorsAndMissingLabel) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  const std::vector<std::string> base{"lesionkit",
                                      "measure",
                                      (dir / "ct.nrrd").string(),
                                      "--mask",
                                      (dir / "mask.nrrd").string(),
                                      "-o",
                                      (dir / "report.json").string()};
  auto withArgs = [&](std::vector<std::string> extra) {
    auto argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::runProcess(argv);
  };
  const auto badKind = withArgs({"--lesion", "1:tumour"});
  EXPECT_EQ(badKind.exitCode, 1) << badKind.err;
  EXPECT_NE(badKind.err.find("tumour"), std::string::npos) << badKind.err;
  const auto missing = withArgs({"--label", "9"});
  EXPECT_EQ(missing.exitCode, 2) << missing.err;
  EXPECT_NE(missing.err.find("label 9"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "report.json"));
  const auto xml = test::runProcess({"lesionkit", "measure", "--xml"});
  EXPECT_EQ(xml.exitCode, 0);
  EXPECT_NE(xml.out.find("<name>longAxisMm</name>"), std::string::npos) << xml.out;
}

/// The first and second time point folders of a `lesionkit phantom` output.
std::pair<std::filesystem::path, std::filesystem::path> phantomTimePoints(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> dates;
  for (const auto& e : std::filesystem::directory_iterator(root / "LKPHANTOM01"))
    if (e.is_directory())
      dates.push_back(e.path());
  std::sort(dates.begin(), dates.end());
  return {dates.at(0), dates.at(1)};
}

std::string fileText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A SEG brings its lesions (names, LesionKit kinds) and is measured only on its own frame of
// reference: another scan's coordinates are other places, so that mask is refused, naming both.
TEST(MeasureCommand, ADicomSegBringsItsLesionsAndAnotherFrameOfReferenceIsRefused) {
  test::ScratchFolder dir;
  ASSERT_EQ(test::runProcess({"lesionkit", "phantom", (dir / "ph").string(), "--time-points", "2", "--voxel-size", "2",
                              "--slice-thickness", "4"})
                .exitCode,
            0);
  const auto [baseline, followup] = phantomTimePoints(dir / "ph");
  const auto report =
      test::runProcess({"lesionkit", "report", (baseline / "CT_01").string(), "--mask",
                        (baseline / "truth-labels.nrrd").string(), "--lesion", "1:lytic-bone:L4", "--lesion",
                        "2:soft-tissue:axilla", "-o", (dir / "out").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(report.exitCode, 0) << report.err;
  const std::string seg = (dir / "out" / "seg.dcm").string();
  const auto measureWithSeg = [&](const std::filesystem::path& volume) {
    return test::runProcess(
        {"lesionkit", "measure", volume.string(), "--mask", seg, "--no-mesh", "-o", (dir / "m.json").string()});
  };

  const auto same = measureWithSeg(baseline / "CT_01");
  ASSERT_EQ(same.exitCode, 0) << same.err;
  EXPECT_EQ(same.out.find("warning"), std::string::npos) << same.out;
  const auto json = nlohmann::json::parse(fileText(dir / "m.json"));
  ASSERT_EQ(json["lesions"].size(), 2u);
  EXPECT_EQ(json["lesions"][0]["name"], "L4");
  EXPECT_EQ(json["lesions"][0]["kind"], "lytic-bone");
  EXPECT_EQ(json["lesions"][1]["name"], "axilla");
  EXPECT_EQ(json["lesions"][1]["kind"], "soft-tissue");

  // The follow-up scan, as DICOM and as NRRD with its convert sidecar: refused, both named.
  ASSERT_EQ(test::runProcess({"lesionkit", "convert", (followup / "CT_01").string(), "-o", (dir / "fu.nrrd").string()})
                .exitCode,
            0);
  for (const std::filesystem::path& volume : {followup / "CT_01", dir / "fu.nrrd"}) {
    const auto other = measureWithSeg(volume);
    EXPECT_EQ(other.exitCode, 2) << other.out << other.err;
    EXPECT_NE(other.err.find(seg), std::string::npos) << other.err;
    EXPECT_NE(other.err.find(volume.string()), std::string::npos) << other.err;
    EXPECT_NE(other.err.find("frame of reference"), std::string::npos) << other.err;
  }
  // Without the sidecar nothing says which scan the NRRD is: measured, with a warning.
  std::filesystem::copy_file(dir / "fu.nrrd", dir / "bare.nrrd");
  const auto bare = measureWithSeg(dir / "bare.nrrd");
  EXPECT_EQ(bare.exitCode, 0) << bare.err;
  test::expectWarnedOnceOnStderr(bare, "the frame of reference of volume");
  EXPECT_NE(fileText(dir / "m.json").find("frame of reference of volume"), std::string::npos);
}

// Slicer passes every parameter; an untouched slice thickness arrives as its default 0 ("not set").
TEST(MeasureCommand, SliceThicknessZeroMeansTheSliceSpacingAndNegativeIsRefused) {
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  const auto run = [&](const std::string& thickness) {
    return test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                             "--label", "1", "--slice-thickness-mm", thickness, "-o", (dir / "report.json").string()});
  };
  const auto unset = run("0");
  ASSERT_EQ(unset.exitCode, 0) << unset.err;
  std::ifstream in(dir / "report.json");
  const auto json = nlohmann::json::parse(in);
  EXPECT_DOUBLE_EQ(json["lesions"][0]["measurability"]["sliceThicknessMm"].get<double>(), 1.25); // the slice spacing
  EXPECT_TRUE(json["settings"]["sliceThicknessMm"].is_null());
  EXPECT_EQ(json["settings"]["sliceThicknessSource"], "spacing"); // NRRD: no Slice Thickness to read
  EXPECT_EQ(run("-1").exitCode, 1);
  const auto xml = test::runProcess({"lesionkit", "measure", "--xml"});
  const auto at = xml.out.find("<name>sliceThicknessMm</name>");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(xml.out.substr(at, xml.out.find("</float>", at) - at).find("<default>0</default>"), std::string::npos);
}

TEST(MeasureCommand, TheCalcificationThresholdIsDescribedAsTheFloorItIs) {
  // --help and the Slicer description said voxels "at or above it count as calcified", but a
  // soft-tissue lesion's own noise raises it (222 HU on the IBSI sarcoma STS_002).
  test::ScratchFolder dir;
  writePhantom(dir / "ct.nrrd", dir / "mask.nrrd");
  Volume ct = dicomio::readVolumeFile(dir / "ct.nrrd");
  const LabelMap labels = dicomio::readLabelMapFile(dir / "mask.nrrd");
  std::mt19937 random(2);
  std::normal_distribution<float> noise(60.0f, 45.0f); // STS_002's soft tissue
  for (std::size_t v = 0; v < ct.voxels.size(); ++v)
    if (labels.voxels[v] == 1)
      ct.voxels[v] = noise(random);
  dicomio::writeVolumeFile(ct, dir / "noisy.nrrd", true);
  const auto r = test::runProcess({"lesionkit", "measure", (dir / "noisy.nrrd").string(), "--mask",
                                   (dir / "mask.nrrd").string(), "--label", "1", "-o", (dir / "report.json").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream in(dir / "report.json");
  EXPECT_GT(nlohmann::json::parse(in)["lesions"][0]["calcification"]["thresholdHu"].get<double>(), 200.0);

  const std::string raised = "in any other lesion it is raised to the lesion's own soft-tissue level";
  const auto xml = test::runProcess({"lesionkit", "measure", "--xml"});
  const auto at = xml.out.find("<name>calcificationThresholdHu</name>");
  ASSERT_NE(at, std::string::npos);
  const std::string description = xml.out.substr(at, xml.out.find("</float>", at) - at);
  EXPECT_NE(description.find("the lowest value counted as calcified"), std::string::npos) << description;
  EXPECT_NE(description.find(raised), std::string::npos) << description;
  const auto help = test::runProcess({"lesionkit", "measure", "--help"});
  EXPECT_NE(help.out.find("the lowest value counted as calcified"), std::string::npos) << help.out;
}

// RECIST's "2 x slice thickness" means the reconstructed thickness: a DICOM series whose Slice
// Thickness (20 mm) is not its spacing (4 mm) is measured with it and says so; the option still wins.
TEST(MeasureCommand, ADicomSeriesIsMeasuredWithItsSliceThicknessNotItsSpacing) {
  test::ScratchFolder dir;
  ASSERT_EQ(test::runProcess({"lesionkit", "phantom", (dir / "ph").string(), "--time-points", "2", "--voxel-size", "2",
                              "--slice-thickness", "4"})
                .exitCode,
            0);
  const std::filesystem::path study = phantomTimePoints(dir / "ph").first;
  for (const auto& e : std::filesystem::directory_iterator(study / "CT_01")) {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(e.path().c_str()).good()) << e.path();
    file.loadAllDataIntoMemory(); // the pixels are read lazily: saving over the file would truncate them
    file.getDataset()->putAndInsertString(DCM_SliceThickness, "20");
    ASSERT_TRUE(file.saveFile(e.path().c_str()).good()) << e.path();
  }
  const auto measure = [&](const std::string& thickness) { // 0: not set
    const auto run =
        test::runProcess({"lesionkit", "measure", (study / "CT_01").string(), "--mask",
                          (study / "truth-labels.nrrd").string(), "--label", "2", "--slice-thickness-mm", thickness,
                          "--no-mesh", "-o", (dir / "m.json").string(), "--csv", (dir / "m.csv").string()});
    EXPECT_EQ(run.exitCode, 0) << run.err;
    return nlohmann::json::parse(fileText(dir / "m.json"));
  };

  const auto fromDicom = measure("0");
  const auto check = checkReport(dir / "m.json", dir / "m.csv");
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  EXPECT_DOUBLE_EQ(fromDicom["input"]["geometry"]["spacingMm"][2].get<double>(), 4.0);
  EXPECT_EQ(fromDicom["settings"]["sliceThicknessSource"], "dicom");
  EXPECT_DOUBLE_EQ(fromDicom["settings"]["sliceThicknessMm"].get<double>(), 20.0);
  const auto& measurability = fromDicom["lesions"][0]["measurability"];
  EXPECT_DOUBLE_EQ(measurability["sliceThicknessMm"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(measurability["thresholdMm"].get<double>(), 40.0); // 2 x 20 mm, not max(10, 2 x 4)
  // `report --measurements` reads the series' thickness again rather than taking it as an option.
  const auto report = test::runProcess({"lesionkit", "report", "--measurements", (dir / "m.json").string(), "-o",
                                        (dir / "rep").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(report.exitCode, 0) << report.err;
  EXPECT_EQ(nlohmann::json::parse(fileText(dir / "rep" / "report.json"))["settings"]["sliceThicknessSource"], "dicom");

  // The Agatston sum runs over every reconstructed slice: each stands for its spacing, whatever
  // the thickness (scaled by 20 mm it counted the vertebrae's bone 5 times over).
  const auto agatston = [&](const std::string& thickness) {
    const auto run = test::runProcess({"lesionkit", "measure", (study / "CT_01").string(), "--mask",
                                       (study / "truth-labels.nrrd").string(), "--label", "11", "--slice-thickness-mm",
                                       thickness, "--no-mesh", "-o", (dir / "a.json").string()});
    EXPECT_EQ(run.exitCode, 0) << run.err;
    return nlohmann::json::parse(fileText(dir / "a.json"))["lesions"][0]["calcification"]["agatstonScore"]
        .get<double>();
  };
  const double scoreAtSpacing = agatston("4");
  EXPECT_GT(scoreAtSpacing, 1000.0);
  EXPECT_DOUBLE_EQ(agatston("0"), scoreAtSpacing);

  const auto fromOption = measure("5");
  EXPECT_EQ(fromOption["settings"]["sliceThicknessSource"], "option");
  EXPECT_DOUBLE_EQ(fromOption["lesions"][0]["measurability"]["sliceThicknessMm"].get<double>(), 5.0);

  // Converted to NRRD, the series keeps its thickness through the convert sidecar.
  ASSERT_EQ(
      test::runProcess({"lesionkit", "convert", (study / "CT_01").string(), "-o", (dir / "ct.nrrd").string()}).exitCode,
      0);
  const auto fromSidecar = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                             (study / "truth-labels.nrrd").string(), "--label", "2", "--no-mesh", "-o",
                                             (dir / "n.json").string()});
  ASSERT_EQ(fromSidecar.exitCode, 0) << fromSidecar.err;
  const auto converted = nlohmann::json::parse(fileText(dir / "n.json"));
  EXPECT_EQ(converted["settings"]["sliceThicknessSource"], "dicom");
  EXPECT_DOUBLE_EQ(converted["lesions"][0]["measurability"]["sliceThicknessMm"].get<double>(), 20.0);
  // A report or table named after its volume would replace that sidecar (and the scan's identity
  // with it): refused before any work, the sidecar untouched.
  const std::string sidecar = fileText(dir / "ct.json");
  for (const char* option : {"-o", "--csv"}) {
    std::vector<std::string> argv{"lesionkit",
                                  "measure",
                                  (dir / "ct.nrrd").string(),
                                  "--mask",
                                  (study / "truth-labels.nrrd").string(),
                                  "--label",
                                  "2",
                                  "--no-mesh"};
    if (std::string(option) == "--csv")
      argv.insert(argv.end(), {"-o", (dir / "m.json").string()});
    argv.insert(argv.end(), {option, (dir / "ct.json").string()});
    const auto overSidecar = test::runProcess(argv);
    EXPECT_EQ(overSidecar.exitCode, 1) << option << ": " << overSidecar.err;
    EXPECT_NE(overSidecar.err.find("is the convert sidecar of the input '" + (dir / "ct.nrrd").string() + "'"),
              std::string::npos)
        << overSidecar.err;
    EXPECT_EQ(fileText(dir / "ct.json"), sidecar) << option;
  }
  // A report named after an input that has no convert sidecar (the mask) is the report of an
  // earlier run: written again, twice.
  std::filesystem::copy_file(study / "truth-labels.nrrd", dir / "truth.nrrd");
  for (int run = 0; run < 2; ++run) {
    const auto again =
        test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask", (dir / "truth.nrrd").string(),
                          "--label", "2", "--no-mesh", "-o", (dir / "truth.json").string()});
    EXPECT_EQ(again.exitCode, 0) << run << ": " << again.err;
  }
}

// What a seed run and a NRRD's sidecar said was printed but missing from the report: the
// segmentation's warnings, the series (from the sidecar) and the note on a renamed sidecar.
TEST(MeasureCommand, TheReportKeepsTheSegmentationsAndTheSidecarsWarningsAndTheSeries) {
  test::ScratchFolder dir;
  ASSERT_EQ(test::runProcess({"lesionkit", "phantom", (dir / "ph").string(), "--time-points", "2"}).exitCode, 0);
  const std::filesystem::path study = phantomTimePoints(dir / "ph").first;
  ASSERT_EQ(
      test::runProcess({"lesionkit", "convert", (study / "CT_01").string(), "-o", (dir / "ct.nrrd").string()}).exitCode,
      0);
  const std::string series = nlohmann::json::parse(fileText(dir / "ct.json"))["seriesInstanceUid"].get<std::string>();
  ASSERT_FALSE(series.empty());
  const auto truth = nlohmann::json::parse(fileText(dir / "ph" / "LKPHANTOM01" / "truth.json"));
  std::string seed;
  for (const auto& lesion : truth["timePoints"][0]["lesions"])
    if (lesion["id"] == "axillary-mass")
      seed = fmt::format("{},{},{}", lesion["seedMm"][0].get<double>(), lesion["seedMm"][1].get<double>(),
                         lesion["seedMm"][2].get<double>());
  ASSERT_FALSE(seed.empty());
  const auto input = [&](const std::string& volume) {
    const auto run = test::runProcess({"lesionkit", "measure", (dir / volume).string(), "--seed", seed, "--no-mesh",
                                       "-o", (dir / "m.json").string()});
    EXPECT_EQ(run.exitCode, 0) << run.err;
    return nlohmann::json::parse(fileText(dir / "m.json"))["input"];
  };
  const auto joined = [](const nlohmann::json& warnings) {
    std::string text;
    for (const auto& w : warnings)
      text += w.get<std::string>() + "\n";
    return text;
  };
  auto json = input("ct.nrrd");
  EXPECT_EQ(json["seriesInstanceUid"], series);
  EXPECT_NE(joined(json["warnings"]).find("soft-tissue segmentation: cut off 1 neighbouring structure"),
            std::string::npos)
      << json["warnings"];
  // Renamed with its sidecar: the sidecar is used, and the report says so as stderr did.
  std::filesystem::rename(dir / "ct.nrrd", dir / "moved.nrrd");
  std::filesystem::rename(dir / "ct.json", dir / "moved.json");
  json = input("moved.nrrd");
  EXPECT_EQ(json["seriesInstanceUid"], series);
  EXPECT_NE(joined(json["warnings"]).find("taken as the sidecar of"), std::string::npos) << json["warnings"];
}

// Real data: dcmqi's ct-3slice has Slice Thickness 1.25 mm on slices 1 mm apart.
TEST(MeasureCommand, RealCtSeriesIsMeasuredWithItsDicomSliceThickness) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  test::ScratchFolder dir;
  const auto run =
      test::runProcess({"lesionkit", "measure", (folder / "ct-3slice").string(), "--mask",
                        (folder / "liver_seg.nrrd").string(), "--no-mesh", "-o", (dir / "m.json").string()});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  const auto json = nlohmann::json::parse(fileText(dir / "m.json"));
  EXPECT_NEAR(json["input"]["geometry"]["spacingMm"][2].get<double>(), 1.0, 1e-6);
  EXPECT_EQ(json["settings"]["sliceThicknessSource"], "dicom");
  ASSERT_FALSE(json["lesions"].empty());
  EXPECT_DOUBLE_EQ(json["lesions"][0]["measurability"]["sliceThicknessMm"].get<double>(), 1.25);
}

} // namespace
} // namespace lesion
