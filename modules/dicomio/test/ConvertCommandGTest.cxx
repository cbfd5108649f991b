// `lesionkit convert` run as a user would (skipped when the binary or the real data is absent).
#include <fstream>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
namespace fs = std::filesystem;

TEST(ConvertCommand, GeTiltedCtBecomesNiftiWithSidecar) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(ge, "neurolabusc+dcm_qa_ct/In/GE");
  test::ScratchFolder dir;
  const fs::path out = dir / "ge.nii"; // uncompressed: fast
  const auto r = test::runProcess({"lesionkit", "convert", ge.string(), "-o", out.string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("gantry tilt"), std::string::npos) << r.err;                        // warnings reach the log
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"ge.json", "ge.nii"})); // no temporaries left

  std::ifstream in(dir / "ge.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_NEAR(j.at("gantryTiltDeg").get<double>(), 18.5, 0.05);
  EXPECT_EQ(j.at("coordinateSystem"), "LPS");
  EXPECT_EQ(j.at("sopInstanceUids").size(), 28u);
  EXPECT_TRUE(j.at("resampled").get<bool>());
  // Resampled in float, rounded to whole HU, so written as int16.
  EXPECT_EQ(j.at("voxelType"), "int16");
  EXPECT_FALSE(j.contains("voxelTypeNote"));
  EXPECT_GE(j.at("warnings").size(), 3u);
  EXPECT_EQ(j.at("seriesInstanceUid"), "1.2.826.0.1.3680043.9.4245.3115138630835728997848661150714813892");

  // The file holds what loadVolume gives, and the sidecar states its geometry.
  const Volume written = dicomio::readVolumeFile(out);
  const dicomio::LoadedVolume loaded = dicomio::loadVolume(ge);
  EXPECT_TRUE(written.geometry.sameGrid(loaded.volume.geometry, 1e-4));
  EXPECT_EQ(written.voxels, loaded.volume.voxels); // whole HU after resampling: int16 on disk, exact
  const auto& origin = j.at("geometry").at("originMm");
  EXPECT_NEAR(origin[2].get<double>(), written.geometry.origin.z, 1e-6);
  EXPECT_EQ(j.at("geometry").at("size")[2].get<std::size_t>(), written.geometry.size[2]);
}

// The GE series has 4 mm sections, then 7 mm ones: the sidecar had no thickness, and RECIST took
// twice the 1.08 mm resampled spacing, calling a 13 mm lesion measurable. The largest thickness,
// 7 mm, stands (threshold 14 mm), with a warning naming both.
TEST(ConvertCommand, GeMixedSliceThicknessGivesRecistTheLargestWithAWarning) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(ge, "neurolabusc+dcm_qa_ct/In/GE");
  test::ScratchFolder dir;
  const fs::path out = dir / "ge.nii";
  auto r = test::runProcess({"lesionkit", "convert", ge.string(), "-o", out.string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string warning = "mixed Slice Thickness: 4 mm on 14 slices, 7 mm on 14 slices; the largest, 7 mm, is "
                              "used for RECIST measurability";
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  std::ifstream in(dir / "ge.json");
  const nlohmann::json sidecar = nlohmann::json::parse(in);
  EXPECT_EQ(sidecar.at("sliceThicknessMm"), 7.0);
  EXPECT_NE(sidecar.at("warnings").dump().find(warning), std::string::npos) << sidecar.at("warnings");

  // A 12.2 x 4.9 mm lesion on one slice: long axis about 13 mm, below twice 7 mm.
  const ImageGeometry grid = dicomio::readVolumeFile(out).geometry;
  LabelMap mask(grid);
  for (std::size_t k = 60; k < 61; ++k)
    for (std::size_t j = 250; j < 260; ++j)
      for (std::size_t i = 240; i < 265; ++i)
        mask.voxels[grid.linearIndex(i, j, k)] = 1;
  dicomio::writeLabelMapFile(mask, dir / "mask.nrrd");
  r = test::runProcess({"lesionkit", "measure", out.string(), "--mask", (dir / "mask.nrrd").string(), "-o",
                        (dir / "report.json").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream reportIn(dir / "report.json");
  const nlohmann::json report = nlohmann::json::parse(reportIn);
  EXPECT_EQ(report.at("settings").at("sliceThicknessMm"), 7.0);
  EXPECT_EQ(report.at("settings").at("sliceThicknessSource"), "dicom");
  const nlohmann::json& measurability = report.at("lesions").at(0).at("measurability");
  EXPECT_EQ(measurability.at("thresholdMm"), 14.0);
  EXPECT_EQ(measurability.at("measurable"), false) << measurability.at("reason");
}

TEST(ConvertCommand, SiemensMosaicIsRefusedNamingTheFile) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(mosaic, "neurolabusc+dcm_qa_ts/In/1.dcm");
  test::ScratchFolder dir;
  const auto r = test::runProcess({"lesionkit", "convert", mosaic.string(), "-o", (dir / "m.nrrd").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err; // was written as one 384x384 slice (dcm2niix: 64x64x35)
  EXPECT_NE(r.err.find("'" + mosaic.string() +
                       "': a Siemens mosaic (Image Type MOSAIC): the slices of a volume "
                       "tiled in one 384x384 image"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
}

TEST(ConvertCommand, MonaiGapIsRefusedByDefaultAndConvertedOnlyWhenAskedFor) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(monai, "Project-MONAI+MONAI/tests/testing_data/CT_DICOM");
  test::ScratchFolder dir;
  const fs::path out = dir / "monai.nrrd";
  auto r = test::runProcess({"lesionkit", "convert", monai.string(), "-o", out.string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("in '" + monai.string() + "': a gap of 202.50 mm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--uneven-spacing resample-across-gaps"), std::string::npos) << r.err;
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
  r = test::runProcess({"lesionkit", "convert", monai.string(), "-o", out.string(), "--uneven-spacing", "refuse"});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("expected evenly spaced slices, found: missing slices"), std::string::npos) << r.err;
  r = test::runProcess(
      {"lesionkit", "convert", monai.string(), "-o", out.string(), "--uneven-spacing", "resample-across-gaps"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(dicomio::readVolumeFile(out).geometry.size[2], 165u);
}

TEST(ConvertCommand, AFolderOfManySeriesAsksForSeries) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(pydicom, "robyoung+dicom-test-files/data/pydicom");
  test::ScratchFolder dir;
  const auto r = test::runProcess({"lesionkit", "convert", pydicom.string(), "-o", (dir / "x.nrrd").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("holds 10 series, none of which forms a volume"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("choose one with --series UID (`lesionkit series " + pydicom.string()), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("emri_small.dcm"), std::string::npos) << r.err; // not one arbitrary series' problem
}

TEST(ConvertCommand, BadInputAndUsageGiveDocumentedExitCodes) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  { std::ofstream(dir / "notes.txt") << "no DICOM here"; }
  auto r = test::runProcess({"lesionkit", "convert", dir.path().string(), "-o", (dir / "x.nrrd").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("expected DICOM images"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.nrrd"));
  r = test::runProcess({"lesionkit", "convert", dir.path().string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  r = test::runProcess({"lesionkit", "convert", dir.path().string(), "-o", (dir / "x.png").string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  // Converting a volume onto itself would replace the input: refused, the file untouched.
  ImageGeometry g;
  g.size = {3, 3, 3};
  dicomio::writeVolumeFile(Volume(g, 7.0f), dir / "v.nrrd", true);
  r = test::runProcess({"lesionkit", "convert", (dir / "v.nrrd").string(), "-o", (dir / "v.nrrd").string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("is the input"), std::string::npos) << r.err;
  EXPECT_EQ(dicomio::readVolumeFile(dir / "v.nrrd").voxels, std::vector<float>(27, 7.0f));
}

// Through the lesionkit binary, not in-process: DCMTK's JPEG-LS codec and GDCM's CharLS once
// shared function names, and which one DCMTK's calls reached depended on the binary's library
// load order (lesionkit aborted on MR1_JLSL while the test binaries decoded it).
TEST(ConvertCommand, JpegLsFilesConvertToTheUncompressedReferencesVoxels) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(wg04, "robyoung+dicom-test-files/data/WG04");
  test::ScratchFolder dir;
  for (const std::string image : {"CT1", "CT2", "MR1"}) {
    const fs::path ref = dir / (image + "_UNC.nii");
    auto r = test::runProcess({"lesionkit", "convert", (wg04 / "REF" / (image + "_UNC")).string(), "-o", ref.string()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const Volume expected = dicomio::readVolumeFile(ref);
    for (const std::string codec : {"JLSL", "JLSN"}) {
      const fs::path out = dir / (image + "_" + codec + ".nii");
      r = test::runProcess(
          {"lesionkit", "convert", (wg04 / codec / (image + "_" + codec)).string(), "-o", out.string()});
      ASSERT_EQ(r.exitCode, 0) << image << " " << codec << ": " << r.err;
      const Volume got = dicomio::readVolumeFile(out);
      ASSERT_EQ(got.voxels.size(), expected.voxels.size());
      // Lossless: identical. Near-lossless: |error| <= NEAR (4 stored values) times the rescale
      // slope (1 in these files), outside the reference's padding (written as the sidecar's
      // paddingValue): the lossy codec moves the padding's stored value too, so it is not padding
      // there any more.
      const double padding = nlohmann::json::parse(std::ifstream(dir / (image + "_UNC.json")))
                                 .value("paddingValue", std::numeric_limits<double>::quiet_NaN());
      double worst = 0.0;
      for (std::size_t i = 0; i < got.voxels.size(); ++i)
        if (codec == "JLSL" || double(expected.voxels[i]) != padding)
          worst = std::max(worst, double(std::abs(got.voxels[i] - expected.voxels[i])));
      if (codec == "JLSL")
        EXPECT_EQ(worst, 0.0) << image;
      else
        EXPECT_LE(worst, 4.0) << image;
    }
  }
}

// ct.nrrd and ct.nii.gz would share the sidecar ct.json (the dcm2niix convention): the second conversion
// would give the first file its metadata. The sidecar names its file, and a sidecar of another existing
// image is never replaced.
TEST(ConvertCommand, TwoFormatsOfOneNameDoNotShareASidecar) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(ct, "QIICR+dcmqi/data/segmentations/ct-3slice");
  test::ScratchFolder dir;
  const auto convert = [&](const std::string& name) {
    return test::runProcess({"lesionkit", "convert", ct.string(), "-o", (dir / name).string()});
  };
  const auto sidecar = [&] {
    std::ifstream in(dir / "ct.json");
    return nlohmann::json::parse(in);
  };
  auto r = convert("ct.nii.gz");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(sidecar().at("volumeFile"), "ct.nii.gz");
  r = convert("ct.nrrd");
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("its sidecar '" + (dir / "ct.json").string() + "' already describes '" +
                       (dir / "ct.nii.gz").string() + "'"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"ct.json", "ct.nii.gz"}));
  EXPECT_EQ(sidecar().at("volumeFile"), "ct.nii.gz");
  // Converting to the same file again replaces its own sidecar, as before.
  r = convert("ct.nii.gz");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  // A sidecar without the record (an older convert, or dcm2niix's) is another image's when one of that name exists.
  nlohmann::json old = sidecar();
  old.erase("volumeFile");
  std::ofstream(dir / "ct.json") << old.dump(2);
  r = convert("ct.nrrd");
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_FALSE(sidecar().contains("volumeFile"));
  // Once that image is gone, its sidecar may be replaced.
  fs::remove(dir / "ct.nii.gz");
  r = convert("ct.nrrd");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(sidecar().at("volumeFile"), "ct.nrrd");
  // An output named in upper case has the sidecar NAME.json too (it was CT2.NII.GZ.json).
  r = convert("CT2.NII.GZ");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "CT2.json"));
}
