// Synthetic DICOM series written with DCMTK in the test: known positions/orientations, shuffled
// instance numbers, a localizer, duplicates, a missing slice, a tilted stack, .dcm.gz.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/DicomSeries.h"
#include "lesion/dicomio/DicomSeriesReader.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
using namespace lesion::dicomio;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

struct SliceSpec {
  Vec3 ipp{};
  std::array<double, 6> iop{1, 0, 0, 0, 1, 0};
  int instanceNumber{1};
  int tag{0}; ///< encoded in the pixels: HU = 1000*tag + 10*row + column
  std::string seriesUid{"1.2.826.0.1.3680043.9.9999.1"};
  std::string imageType{"ORIGINAL\\PRIMARY\\AXIAL"};
  std::string sopClass{UID_CTImageStorage};
  int rows{4};
  int columns{5};
  double rowSpacing{0.6};    ///< PixelSpacing[0]: between rows
  double columnSpacing{0.5}; ///< PixelSpacing[1]: between columns
  std::optional<int> echo{};
  std::optional<int> acquisition{};
  std::optional<int> paddingStored{};
  std::optional<double> gantryTiltTag{};
  std::string rescaleSlope{"1"};
  std::optional<int> lastPixelStored{}; ///< overrides the stored value of the last pixel
  std::string sliceThickness{"99"};     ///< empty: no Slice Thickness tag
  std::string characterSet{};           ///< Specific Character Set; empty: none
  std::string patientName{};            ///< raw bytes in that character set; empty: none
  std::string seriesDescription{};      ///< raw bytes in that character set; empty: none
};

/// Writes one CT slice: stored = HU + 1024, Rescale Intercept -1024.
void writeSlice(const fs::path& path, const SliceSpec& s) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  char uid[100];
  ds->putAndInsertString(DCM_SOPClassUID, s.sopClass.c_str());
  ds->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.9.9999.0");
  ds->putAndInsertString(DCM_SeriesInstanceUID, s.seriesUid.c_str());
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertString(DCM_PatientID, "SYNTH01");
  if (!s.characterSet.empty())
    ds->putAndInsertString(DCM_SpecificCharacterSet, s.characterSet.c_str());
  if (!s.patientName.empty())
    ds->putAndInsertString(DCM_PatientName, s.patientName.c_str());
  if (!s.seriesDescription.empty())
    ds->putAndInsertString(DCM_SeriesDescription, s.seriesDescription.c_str());
  ds->putAndInsertString(DCM_ImageType, s.imageType.c_str());
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(s.instanceNumber).c_str());
  if (s.echo)
    ds->putAndInsertString(DCM_EchoNumbers, std::to_string(*s.echo).c_str());
  if (s.acquisition)
    ds->putAndInsertString(DCM_AcquisitionNumber, std::to_string(*s.acquisition).c_str());
  const std::string ipp = fmt::format("{:.6f}\\{:.6f}\\{:.6f}", s.ipp.x, s.ipp.y, s.ipp.z);
  ds->putAndInsertString(DCM_ImagePositionPatient, ipp.c_str());
  const auto& o = s.iop;
  const std::string iop =
      fmt::format("{:.8f}\\{:.8f}\\{:.8f}\\{:.8f}\\{:.8f}\\{:.8f}", o[0], o[1], o[2], o[3], o[4], o[5]);
  ds->putAndInsertString(DCM_ImageOrientationPatient, iop.c_str());
  ds->putAndInsertString(DCM_PixelSpacing, fmt::format("{:.8f}\\{:.8f}", s.rowSpacing, s.columnSpacing).c_str());
  if (!s.sliceThickness.empty()) // 99 by default: deliberately wrong, spacing must come from positions
    ds->putAndInsertString(DCM_SliceThickness, s.sliceThickness.c_str());
  ds->putAndInsertString(DCM_RescaleSlope, s.rescaleSlope.c_str());
  ds->putAndInsertString(DCM_RescaleIntercept, "-1024");
  ds->putAndInsertUint16(DCM_Rows, Uint16(s.rows));
  ds->putAndInsertUint16(DCM_Columns, Uint16(s.columns));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 16);
  ds->putAndInsertUint16(DCM_HighBit, 15);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (s.paddingStored)
    ds->putAndInsertUint16(DCM_PixelPaddingValue, Uint16(*s.paddingStored));
  if (s.gantryTiltTag)
    ds->putAndInsertString(DCM_GantryDetectorTilt, fmt::format("{}", *s.gantryTiltTag).c_str());
  std::vector<Uint16> pixels(std::size_t(s.rows * s.columns));
  for (int j = 0; j < s.rows; ++j)
    for (int i = 0; i < s.columns; ++i)
      pixels[std::size_t(j * s.columns + i)] = Uint16(1024 + 1000 * s.tag + 10 * j + i);
  if (s.paddingStored)
    pixels[0] = Uint16(*s.paddingStored);
  if (s.lastPixelStored)
    pixels.back() = Uint16(*s.lastPixelStored);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  const OFCondition status = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  ASSERT_TRUE(status.good()) << status.text();
}

double expectedHu(int tag, std::size_t row, std::size_t column) {
  return 1000.0 * tag + 10.0 * double(row) + double(column);
}

/// Five axial slices 2.5 mm apart, written in shuffled file/instance order.
void writeAxialStack(const fs::path& dir, const std::vector<double>& zs,
                     const std::array<double, 6>& iop = {1, 0, 0, 0, 1, 0}) {
  const std::vector<int> shuffled = {3, 0, 4, 1, 2, 5, 6, 7};
  for (std::size_t n = 0; n < zs.size(); ++n) {
    const std::size_t k = std::size_t(shuffled[n % shuffled.size()]) % zs.size();
    SliceSpec s;
    s.ipp = {-10.0, 20.0, zs[n]};
    s.iop = iop;
    s.tag = int(n);
    s.instanceNumber = int(7 * (k + 1) % 11); // unrelated to position
    writeSlice(dir / fmt::format("IM{:02d}.dcm", k * 3 + n), s);
  }
}

} // namespace

TEST(DicomScan, ReadsHeaderFieldsAndSkipsNonDicomFiles) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0});
  fs::create_directories(dir / "sub");
  { std::ofstream(dir / "sub" / "notes.txt") << "not a DICOM file\n"; }
  { std::ofstream(dir / "empty.dcm"); }
  { // a gzip-compressed file that is no DICOM inside (the name says NIfTI)
    gzFile gz = gzopen((dir / "converted.nii.gz").c_str(), "wb");
    gzwrite(gz, "not a DICOM data set", 20);
    gzclose(gz);
  }
  const DicomScanResult scan = scanDicomFolder(dir.path());
  ASSERT_EQ(scan.instances.size(), 3u);
  ASSERT_EQ(scan.skipped.size(), 3u);
  for (const SkippedFile& s : scan.skipped)
    EXPECT_NE(s.reason.find(s.path.string()), std::string::npos) << s.reason;
  // A text file says what it is not, not which DCMTK stream state it ended in.
  const auto notes = std::find_if(scan.skipped.begin(), scan.skipped.end(),
                                  [](const SkippedFile& s) { return s.path.filename() == "notes.txt"; });
  ASSERT_NE(notes, scan.skipped.end());
  EXPECT_NE(notes->reason.find("is not a DICOM file (no DICM preamble"), std::string::npos) << notes->reason;
  EXPECT_EQ(notes->reason.find("premature end of stream"), std::string::npos) << notes->reason;
  // A converted volume next to the DICOM files is named by its format (a gzip stream error before).
  const auto nifti = std::find_if(scan.skipped.begin(), scan.skipped.end(),
                                  [](const SkippedFile& s) { return s.path.filename() == "converted.nii.gz"; });
  ASSERT_NE(nifti, scan.skipped.end());
  EXPECT_NE(nifti->reason.find("converted.nii.gz' is a NIfTI volume, not a DICOM file"), std::string::npos)
      << nifti->reason;
  const DicomInstance& d = scan.instances.front();
  EXPECT_EQ(d.modality, "CT");
  EXPECT_EQ(d.patientId, "SYNTH01");
  EXPECT_EQ(d.rows, 4);
  EXPECT_EQ(d.columns, 5);
  EXPECT_EQ(d.transferSyntaxUid, UID_LittleEndianExplicitTransferSyntax);
  ASSERT_EQ(d.imageType.size(), 3u);
  EXPECT_EQ(d.imageType[2], "AXIAL");
  ASSERT_TRUE(d.frames.front().pixelSpacing);
  EXPECT_DOUBLE_EQ((*d.frames.front().pixelSpacing)[0], 0.6);
  EXPECT_DOUBLE_EQ(d.frames.front().rescaleIntercept, -1024.0);
  EXPECT_TRUE(d.hasPixelData);
  EXPECT_THROW((void)scanDicomFolder(dir / "missing"), InputError);
}

TEST(DicomSeries, OrdersSlicesByPositionNotInstanceNumberAndSkipsTheLocalizer) {
  test::ScratchFolder dir;
  const std::vector<double> zs = {5.0, -2.5, 7.5, 0.0, 2.5}; // tag n sits at zs[n]
  writeAxialStack(dir.path(), zs);
  SliceSpec loc; // same UID, sagittal localizer
  loc.iop = {0, 1, 0, 0, 0, -1};
  loc.imageType = "ORIGINAL\\PRIMARY\\LOCALIZER";
  loc.rows = 6;
  loc.columns = 6;
  writeSlice(dir / "LOC.dcm", loc);

  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].id, "1.2.826.0.1.3680043.9.9999.1");
  EXPECT_EQ(series[0].slices.size(), 5u);
  EXPECT_TRUE(series[0].specialKind.empty());
  EXPECT_EQ(series[1].id, "1.2.826.0.1.3680043.9.9999.1#2");
  EXPECT_EQ(series[1].specialKind, "localizer");
  EXPECT_EQ(&selectDicomSeries(series), &series[0]);

  const LoadedVolume v = loadVolume(dir.path());
  const ImageGeometry& g = v.volume.geometry;
  ASSERT_EQ(g.size[0], 5u);
  ASSERT_EQ(g.size[1], 4u);
  ASSERT_EQ(g.size[2], 5u);
  EXPECT_NEAR(g.spacing.x, 0.5, 1e-9);
  EXPECT_NEAR(g.spacing.y, 0.6, 1e-9);
  EXPECT_NEAR(g.spacing.z, 2.5, 1e-6); // not the (wrong) Slice Thickness 99
  EXPECT_NEAR(distance(g.origin, Vec3{-10, 20, -2.5}), 0.0, 1e-6);
  EXPECT_FALSE(v.resampled);
  EXPECT_TRUE(v.warnings.empty()) << v.warnings.front();
  EXPECT_EQ(v.sopInstanceUids.size(), 5u);
  EXPECT_EQ(v.otherSeries.size(), 1u);
  // Slice k holds the slice written at the k-th lowest z; rows/columns not swapped.
  const std::vector<int> tagAtK = {1, 3, 4, 0, 2};
  for (std::size_t k = 0; k < 5; ++k)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t i = 0; i < 5; ++i)
        ASSERT_FLOAT_EQ(v.volume.at(i, j, k), float(expectedHu(tagAtK[k], j, i)));
}

// RECIST wants the reconstructed thickness, not the spacing: the loader passes on the value all
// slices share; when they differ the largest (twice it is the conservative threshold) with a warning
// naming the values (it gave none, and RECIST fell back on a 1 mm spacing for 4 and 7 mm slices);
// none when one slice lacks it.
TEST(DicomSeries, SliceThicknessIsTheSlicesValueNotTheSpacingAndTheLargestWhenTheyDiffer) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0}); // Slice Thickness 99, 2.5 mm apart
  const LoadedVolume shared = loadVolume(dir.path());
  EXPECT_NEAR(shared.volume.geometry.spacing.z, 2.5, 1e-6);
  ASSERT_TRUE(shared.sliceThicknessMm);
  EXPECT_DOUBLE_EQ(*shared.sliceThicknessMm, 99.0);
  EXPECT_TRUE(shared.warnings.empty());
  SliceSpec odd;
  odd.ipp = {-10.0, 20.0, 7.5};
  odd.tag = 3;
  odd.sliceThickness = "3";
  writeSlice(dir / "ODD.dcm", odd);
  const LoadedVolume mixed = loadVolume(dir.path());
  EXPECT_EQ(mixed.volume.geometry.size[2], 4u);
  ASSERT_TRUE(mixed.sliceThicknessMm);
  EXPECT_DOUBLE_EQ(*mixed.sliceThicknessMm, 99.0);
  EXPECT_EQ(mixed.warnings, std::vector<std::string>{"mixed Slice Thickness: 3 mm on 1 slice, 99 mm on 3 slices; the "
                                                     "largest, 99 mm, is used for RECIST measurability (a lesion "
                                                     "must reach twice it)"});
  odd.sliceThickness = "";
  writeSlice(dir / "ODD.dcm", odd);
  const LoadedVolume lacking = loadVolume(dir.path());
  EXPECT_EQ(lacking.volume.geometry.size[2], 4u);
  EXPECT_FALSE(lacking.sliceThicknessMm) << "no Slice Thickness on one slice";
}

TEST(DicomSeries, NormalPointingFeetFirstStartsAtTheHighestSlice) {
  test::ScratchFolder dir;
  // Column cosine -y: normal = row × column = -z, so the stack runs from high z to low z.
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0}, {1, 0, 0, 0, -1, 0});
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_NEAR(v.volume.geometry.origin.z, 5.0, 1e-6);
  EXPECT_NEAR(v.volume.geometry.direction(2, 2), -1.0, 1e-9);
  EXPECT_NEAR(v.volume.geometry.spacing.z, 2.5, 1e-6);
  EXPECT_FLOAT_EQ(v.volume.at(0, 0, 0), float(expectedHu(2, 0, 0)));
}

TEST(DicomSeries, DuplicatePositionsAreReportedNotStacked) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 2.5});
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 1u);
  ASSERT_EQ(series[0].duplicatePositions.size(), 1u);
  EXPECT_EQ(series[0].duplicatePositions[0].files.size(), 2u);
  EXPECT_NEAR(series[0].duplicatePositions[0].positionMm.z, 2.5, 1e-9);
  EXPECT_EQ(series[0].distinctPositionCount(), 3u);
  const LoadedVolume v = readDicomSeries(series[0]);
  EXPECT_EQ(v.volume.geometry.size[2], 3u);
  EXPECT_NEAR(v.volume.geometry.spacing.z, 2.5, 1e-6);
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(v.warnings.front().find("share position"), std::string::npos) << v.warnings.front();
}

TEST(DicomSeries, EchoesAndRepeatedAcquisitionsSplitButPerSliceAcquisitionNumbersDoNot) {
  test::ScratchFolder dir;
  for (int echo = 1; echo <= 2; ++echo)
    for (int k = 0; k < 3; ++k) {
      SliceSpec s;
      s.seriesUid = "1.2.3.echo";
      s.echo = echo;
      s.ipp = {0, 0, 3.0 * k};
      writeSlice(dir / fmt::format("e{}_{}.dcm", echo, k), s);
    }
  for (int acq = 1; acq <= 2; ++acq)
    for (int k = 0; k < 3; ++k) {
      SliceSpec s;
      s.seriesUid = "1.2.3.repeat";
      s.acquisition = acq;
      s.ipp = {0, 0, 3.0 * k};
      writeSlice(dir / fmt::format("r{}_{}.dcm", acq, k), s);
    }
  for (int k = 0; k < 4; ++k) { // CT style: every slice its own acquisition number
    SliceSpec s;
    s.seriesUid = "1.2.3.ct";
    s.acquisition = 10 + k;
    s.ipp = {0, 0, 3.0 * k};
    writeSlice(dir / fmt::format("c{}.dcm", k), s);
  }
  SliceSpec sc;
  sc.seriesUid = "1.2.3.sc";
  sc.sopClass = UID_SecondaryCaptureImageStorage;
  writeSlice(dir / "sc.dcm", sc);
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  std::vector<std::string> ids;
  for (const auto& s : series) {
    ids.push_back(s.id);
    EXPECT_TRUE(s.duplicatePositions.empty()) << s.summary();
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"1.2.3.ct", "1.2.3.echo", "1.2.3.echo#2", "1.2.3.repeat", "1.2.3.repeat#2",
                                           "1.2.3.sc"}));
  EXPECT_EQ(series[0].slices.size(), 4u);
  EXPECT_NE(series[2].splitReason.find("echo 2"), std::string::npos) << series[2].splitReason;
  EXPECT_NE(series[4].splitReason.find("acquisition 2"), std::string::npos) << series[4].splitReason;
  EXPECT_EQ(series[5].specialKind, "secondary capture");
  EXPECT_EQ(selectDicomSeries(series).id, "1.2.3.ct");
  EXPECT_EQ(selectDicomSeries(series, "1.2.3.echo").id, "1.2.3.echo");
  EXPECT_EQ(selectDicomSeries(series, "1.2.3.echo#2").id, "1.2.3.echo#2");
  EXPECT_THROW((void)selectDicomSeries(series, "9.9.9"), InputError);
}

TEST(DicomSeries, MissingSliceIsReportedWithPositionsAndInterpolatedOrRefused) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 10.0, 12.5}); // 7.5 missing
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 1u);
  const SliceStackGeometry g = analyzeSliceStack(series[0]);
  ASSERT_EQ(g.gaps.size(), 1u);
  EXPECT_NEAR(g.gaps[0].fromMm, 5.0, 1e-6);
  EXPECT_NEAR(g.gaps[0].toMm, 10.0, 1e-6);
  EXPECT_EQ(g.gaps[0].missingSlices, 1);
  EXPECT_TRUE(g.unevenSpacing);
  EXPECT_NEAR(g.tiltDeg, 0.0, 1e-9);

  LoadOptions refuse;
  refuse.unevenSpacing = SpacingHandling::Refuse;
  try {
    (void)readDicomSeries(series[0], refuse);
    FAIL() << "uneven spacing accepted";
  } catch (const DicomError& e) {
    EXPECT_NE(std::string(e.what()).find("(-10.0, 20.0, 5.0) and (-10.0, 20.0, 10.0)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("expected evenly spaced slices, found: missing slices: about 1 between"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(g.wideGaps.empty()); // one missing slice is filled in by default
  const LoadedVolume v = readDicomSeries(series[0]);
  EXPECT_TRUE(v.resampled);
  ASSERT_EQ(v.volume.geometry.size[2], 6u);
  EXPECT_NEAR(v.volume.geometry.spacing.z, 2.5, 1e-6);
  // The filled slice (z = 7.5) is the mean of its neighbours (tags 2 at z=5 and 3 at z=10).
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_NEAR(v.volume.at(i, j, 3), 0.5 * (expectedHu(2, j, i) + expectedHu(3, j, i)), 1e-3);
      EXPECT_NEAR(v.volume.at(i, j, 4), expectedHu(3, j, i), 1e-3);
    }
}

TEST(DicomSeries, AGapFarBeyondTheStepIsRefusedByDefaultNamingItAndTheOverride) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 30.0, 32.5}); // 25 mm: 10 x the step, 9 slices missing
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 1u);
  const SliceStackGeometry g = analyzeSliceStack(series[0]);
  ASSERT_EQ(g.wideGaps.size(), 1u);
  EXPECT_EQ(g.wideGaps[0].missingSlices, 9);
  try {
    (void)loadVolume(dir.path());
    FAIL() << "a 25 mm gap between 2.5 mm slices was interpolated";
  } catch (const DicomError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("in '" + dir.path().string() + "'"), std::string::npos) << text;
    EXPECT_NE(text.find("a gap of 25.00 mm between the slices at (-10.0, 20.0, 5.0) and (-10.0, 20.0, 30.0)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("10 x the series' usual 2.50 mm step"), std::string::npos) << text;
    EXPECT_NE(text.find("--uneven-spacing resample-across-gaps"), std::string::npos) << text;
  }
  LoadOptions fillGaps;
  fillGaps.unevenSpacing = SpacingHandling::ResampleAcrossWideGaps;
  const LoadedVolume v = loadVolume(dir.path(), fillGaps);
  EXPECT_TRUE(v.resampled);
  EXPECT_EQ(v.volume.geometry.size[2], 14u);
}

TEST(DicomSeries, WideGapRuleNeedsBothTheStepFactorAndTheMillimetres) {
  EXPECT_FALSE(isTooWideToInterpolate(7.0, 4.0));   // GE: 4 mm then 7 mm sections
  EXPECT_FALSE(isTooWideToInterpolate(9.0, 0.5));   // 17 thin slices missing, but under 10 mm
  EXPECT_FALSE(isTooWideToInterpolate(20.0, 5.0));  // three missing 5 mm slices
  EXPECT_TRUE(isTooWideToInterpolate(25.0, 5.0));   // more than 4 x the step and 10 mm
  EXPECT_TRUE(isTooWideToInterpolate(202.5, 1.25)); // MONAI
}

TEST(DicomLoader, SeveralVolumesInAFolderAreNotGuessedBetween) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0});
  // A localizer does not form a volume: the CT is the only candidate and is loaded.
  SliceSpec localizer;
  localizer.seriesUid = "1.2.826.0.1.3680043.9.9999.7";
  localizer.imageType = "ORIGINAL\\PRIMARY\\LOCALIZER";
  writeSlice(dir / "scout.dcm", localizer);
  EXPECT_EQ(loadVolume(dir.path()).seriesInstanceUid, "1.2.826.0.1.3680043.9.9999.1");
  // A second volume: refused, both listed, until --series says which.
  for (int k = 0; k < 4; ++k) {
    SliceSpec s;
    s.seriesUid = "1.2.826.0.1.3680043.9.9999.2";
    s.ipp = {-10.0, 20.0, 1.0 * k};
    s.instanceNumber = k + 1;
    writeSlice(dir / fmt::format("second{}.dcm", k), s);
  }
  try {
    (void)loadVolume(dir.path());
    FAIL() << "one of two volumes was picked";
  } catch (const InputError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("holds 3 series, 2 of which form volumes"), std::string::npos) << text;
    EXPECT_NE(text.find("1.2.826.0.1.3680043.9.9999.1  CT"), std::string::npos) << text;
    EXPECT_NE(text.find("1.2.826.0.1.3680043.9.9999.2  CT"), std::string::npos) << text;
    EXPECT_EQ(text.find("9999.7  CT"), std::string::npos) << text; // the localizer is no candidate
    EXPECT_NE(text.find("choose one with --series"), std::string::npos) << text;
  }
  LoadOptions second;
  second.seriesInstanceUid = "1.2.826.0.1.3680043.9.9999.2";
  EXPECT_EQ(loadVolume(dir.path(), second).volume.geometry.size[2], 4u);
}

TEST(DicomLoader, ALabelMapGivenAsTheImageIsRefusedOrWarnedAboutAsAsked) {
  test::ScratchFolder dir;
  ImageGeometry g;
  g.size = {4, 4, 4};
  Volume labels(g, 0.0f);
  labels.at(1, 1, 1) = 1.0f;
  labels.at(2, 2, 2) = 3.0f;
  writeVolumeFile(labels, dir / "labels.nrrd");
  EXPECT_EQ(labelMapLikeValues(labels), "values 0, 1 and 3 only");
  EXPECT_NO_THROW((void)loadVolume(dir / "labels.nrrd")); // default: accepted (convert, spine...)
  LoadOptions refuse;
  refuse.labelMaps = LabelMapCheck::Refuse;
  try {
    (void)loadVolume(dir / "labels.nrrd", refuse);
    FAIL() << "a label map was accepted as an image";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("labels.nrrd' looks like a label map (values 0, 1 and 3 only), not an image"),
              std::string::npos)
        << e.what();
  }
  LoadOptions warn;
  warn.labelMaps = LabelMapCheck::Warn;
  const LoadedVolume warned = loadVolume(dir / "labels.nrrd", warn);
  ASSERT_EQ(warned.warnings.size(), 1u);
  EXPECT_NE(warned.warnings[0].find("looks like a label map"), std::string::npos);

  // Two values are never an image, whatever they are; many values, or negative ones, are.
  Volume twoValues(g, -1000.0f);
  twoValues.at(0, 0, 0) = 40.0f;
  EXPECT_EQ(labelMapLikeValues(twoValues), "values -1000 and 40 only");
  Volume ct(g, -1000.0f);
  for (std::size_t i = 0; i < ct.voxels.size(); ++i)
    ct.voxels[i] = float(i % 20) * 7.0f - 50.0f;
  EXPECT_FALSE(labelMapLikeValues(ct));
  Volume fewNegative(g, -1000.0f);
  fewNegative.at(0, 0, 0) = 40.0f;
  fewNegative.at(1, 0, 0) = 400.0f;
  EXPECT_FALSE(labelMapLikeValues(fewNegative));
}

namespace {

/// One .dcm file of `folder`.
fs::path aSliceOf(const fs::path& folder) {
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().extension() == ".dcm")
      return e.path();
  return {};
}

/// The first 200 bytes of `file`: the preamble and a little meta header, as an interrupted copy leaves.
std::string slicePrefix(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes(200, '\0');
  in.read(bytes.data(), std::streamsize(bytes.size()));
  bytes.resize(std::size_t(in.gcount()));
  return bytes;
}

} // namespace

TEST(DicomLoader, ATruncatedSliceIsNamedAsDamagedNotOnlyAsAGap) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 7.5, 10.0});
  { std::ofstream(dir / "notes.txt") << "not a DICOM file\n"; } // skipped, but not damaged
  const std::string victim = aSliceOf(dir.path()).string();
  std::ofstream(victim, std::ios::binary | std::ios::trunc) << slicePrefix(victim); // preamble and a little meta
  const LoadedVolume v = loadVolume(dir.path());
  ASSERT_EQ(v.skippedFiles.size(), 2u);
  std::string warnings;
  for (const std::string& w : v.warnings)
    warnings += w + '\n';
  EXPECT_NE(warnings.find("1 damaged DICOM file(s) left out, a slice may be missing: '" + victim + "'\n"),
            std::string::npos)
      << warnings;
  EXPECT_EQ(warnings.find("notes.txt"), std::string::npos) << warnings;
}

TEST(DicomLoader, ASliceFileCutToAFewBytesIsNamedAsDamaged) {
  // An interrupted copy leaves IM0003.dcm empty (or shorter than the preamble): as damaged as a
  // file cut after its header, not an ordinary non-DICOM file.
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 7.5, 10.0});
  std::ofstream(dir / "empty.txt").close(); // skipped, but not damaged
  std::ofstream(dir / "IM0099.dcm").close();
  const LoadedVolume v = loadVolume(dir.path());
  std::string warnings, reasons;
  for (const std::string& w : v.warnings)
    warnings += w + '\n';
  for (const std::string& s : v.skippedFiles)
    reasons += s + '\n';
  EXPECT_NE(
      warnings.find("1 damaged DICOM file(s) left out, a slice may be missing: '" + (dir / "IM0099.dcm").string()),
      std::string::npos)
      << warnings;
  EXPECT_NE(reasons.find("is a truncated DICOM file: 0 bytes"), std::string::npos) << reasons;
}

TEST(DicomLoader, FilesInTheStagingFolderOfAKilledWriteAreSkippedUnread) {
  // A killed staged write leaves its hidden .NAME.part-PID-N/ folder: its files, half written,
  // are not slices of the series around it (nor damaged ones); a folder the user names is read.
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 7.5, 10.0});
  const LoadedVolume clean = loadVolume(dir.path());
  const fs::path staging = dir / ".CT.part-4242-8";
  fs::create_directories(staging);
  const fs::path leftover = staging / "IM0003.dcm";
  std::ofstream(leftover, std::ios::binary) << slicePrefix(aSliceOf(dir.path()));
  const LoadedVolume v = loadVolume(dir.path());
  for (const std::string& w : v.warnings)
    EXPECT_EQ(w.find("damaged"), std::string::npos) << w;
  EXPECT_EQ(v.warnings, clean.warnings);
  EXPECT_EQ(v.sopInstanceUids, clean.sopInstanceUids);
  EXPECT_EQ(v.volume.voxels, clean.volume.voxels);
  ASSERT_EQ(v.skippedFiles.size(), 1u);
  EXPECT_NE(v.skippedFiles[0].find(leftover.string() + "' is an unfinished temporary file"), std::string::npos)
      << v.skippedFiles[0];
  const DicomScanResult named = scanDicomFolder(staging); // named by the user: read (and found damaged)
  ASSERT_EQ(named.skipped.size(), 1u);
  EXPECT_EQ(named.skipped[0].reason.find("unfinished temporary file"), std::string::npos) << named.skipped[0].reason;
  EXPECT_TRUE(named.skipped[0].damaged) << named.skipped[0].reason;
}

TEST(DicomLoader, ALeftoverTemporaryFileOfAKilledWriteIsNotADamagedSlice) {
  // A killed `lesionkit pull` (or any atomic write) leaves half a slice under the hidden
  // temporary name beside the folder's complete series: ignored as the archive indexer does.
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 7.5, 10.0});
  const LoadedVolume clean = loadVolume(dir.path());
  const fs::path leftover = dir / ".IM0003.part-4242-7.dcm";
  std::ofstream(leftover, std::ios::binary) << slicePrefix(aSliceOf(dir.path())); // preamble and a little meta
  const LoadedVolume v = loadVolume(dir.path());
  for (const std::string& w : v.warnings)
    EXPECT_EQ(w.find("damaged"), std::string::npos) << w;
  EXPECT_EQ(v.warnings, clean.warnings);
  EXPECT_EQ(v.seriesInstanceUid, clean.seriesInstanceUid);
  EXPECT_EQ(v.sopInstanceUids, clean.sopInstanceUids);
  EXPECT_EQ(v.volume.geometry.size, clean.volume.geometry.size);
  EXPECT_EQ(v.volume.voxels, clean.volume.voxels);
  ASSERT_EQ(v.skippedFiles.size(), 1u);
  EXPECT_NE(v.skippedFiles[0].find(leftover.string() + ": "), std::string::npos) << v.skippedFiles[0];
  EXPECT_NE(v.skippedFiles[0].find("unfinished temporary file of an interrupted LesionKit write"), std::string::npos)
      << v.skippedFiles[0];
}

// Steps of 2 and 3 mm: the smallest step (2 mm) does not divide the 5 mm stack, so the grid
// ended at 4 mm and the last acquired slice was lost. The step is shortened to 5/3 mm instead:
// the first and last grid planes are the acquired ones, nothing extrapolated.
TEST(DicomSeries, ResampledGridEndsOnTheLastAcquiredSlice) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.0, 5.0}); // tags 0, 1, 2 by position
  const LoadedVolume v = loadVolume(dir.path());
  ASSERT_TRUE(v.resampled);
  const ImageGeometry& g = v.volume.geometry;
  ASSERT_EQ(g.size[2], 4u);
  EXPECT_NEAR(g.spacing.z, 5.0 / 3.0, 1e-9);
  EXPECT_NEAR(g.indexToPoint(0, 0, 3).z, 5.0, 1e-9);
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t i = 0; i < 5; ++i) {
      ASSERT_FLOAT_EQ(v.volume.at(i, j, 0), float(expectedHu(0, j, i)));
      ASSERT_FLOAT_EQ(v.volume.at(i, j, 3), float(expectedHu(2, j, i)));
      // 1.667 mm: 5/6 of the way from the 0 mm slice to the 2 mm one, rounded to whole HU.
      ASSERT_FLOAT_EQ(v.volume.at(i, j, 1), std::round(float(expectedHu(0, j, i)) + 1000.0f * 5.0f / 6.0f));
    }
  EXPECT_NE(v.warnings.back().find("3 acquired slices -> 4 slices of 1.667 mm"), std::string::npos)
      << v.warnings.back();
}

TEST(DicomSeries, OneTinyStepDoesNotBlowTheVolumeUp) {
  test::ScratchFolder dir;
  // 0.05 mm once, then 20 mm steps: the smallest step would give 1201 slices for 5 acquired.
  writeAxialStack(dir.path(), {0.0, 0.05, 20.0, 40.0, 60.0});
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_TRUE(v.resampled);
  // Bounded by max(4 × 5, 256) slices.
  ASSERT_LE(v.volume.geometry.size[2], 256u);
  EXPECT_GE(v.volume.geometry.size[2], 255u);
  EXPECT_NEAR(v.volume.geometry.spacing.z * double(v.volume.geometry.size[2] - 1), 60.0, 1e-6);
  EXPECT_TRUE(std::any_of(v.warnings.begin(), v.warnings.end(),
                          [](const std::string& w) { return w.find("step enlarged") != std::string::npos; }));
}

namespace {
/// Four 5x6 slices tilted 15 deg about x, stacked 3 mm along z (not along their normal), with a
/// row spacing that makes the shear one row per slice.
constexpr double kTiltDeg = 15.0, kTiltStepMm = 3.0;
void writeTiltedStack(const fs::path& dir) {
  const double tilt = kTiltDeg * kPi / 180.0;
  for (int k = 0; k < 4; ++k) {
    SliceSpec s;
    s.iop = {1, 0, 0, 0, std::cos(tilt), -std::sin(tilt)};
    s.ipp = {0.0, 0.0, kTiltStepMm * k};
    s.tag = k;
    s.rowSpacing = kTiltStepMm * std::sin(tilt);
    s.rows = 6;
    s.instanceNumber = 4 - k;
    writeSlice(dir / fmt::format("t{}.dcm", k), s);
  }
}
} // namespace

TEST(DicomSeries, GantryTiltIsMeasuredAndResampledOntoAnOrthogonalGrid) {
  test::ScratchFolder dir;
  const double tilt = kTiltDeg * kPi / 180.0;
  const double step = kTiltStepMm;
  const double rowSpacing = step * std::sin(tilt); // one row of shear per slice
  writeTiltedStack(dir.path());
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 1u);
  const SliceStackGeometry g = analyzeSliceStack(series[0]);
  EXPECT_NEAR(g.tiltDeg, 15.0, 1e-4);
  EXPECT_FALSE(g.unevenSpacing);

  const LoadedVolume v = readDicomSeries(series[0]);
  EXPECT_NEAR(v.tiltDeg, 15.0, 1e-4);
  EXPECT_TRUE(v.resampled);
  EXPECT_NE(v.warnings.front().find("gantry tilt"), std::string::npos);
  const ImageGeometry& og = v.volume.geometry;
  EXPECT_NO_THROW(og.validate("tilt-corrected volume")); // orthonormal
  ASSERT_EQ(og.size[2], 4u);
  EXPECT_NEAR(og.spacing.z, step * std::cos(tilt), 1e-6);
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t j = 0; j < 6; ++j)
      for (std::size_t i = 0; i < 5; ++i) {
        // Output voxel (i,j,k) sits where acquired slice k has row j+k.
        const float expected = (j + k < 6) ? float(expectedHu(int(k), j + k, i)) : v.paddingValue;
        ASSERT_NEAR(v.volume.at(i, j, k), expected, 1e-2) << i << "," << j << "," << k;
        if (j + k < 6) {
          const Vec3 acquired = Vec3{0, 0, step * double(k)} + Vec3{1, 0, 0} * (0.5 * double(i)) +
                                Vec3{0, std::cos(tilt), -std::sin(tilt)} * (rowSpacing * double(j + k));
          ASSERT_NEAR(distance(og.indexToPoint(i, j, k), acquired), 0.0, 1e-6);
        }
      }

  LoadOptions sheared;
  sheared.tilt = TiltHandling::KeepSheared;
  const LoadedVolume s = readDicomSeries(series[0], sheared);
  EXPECT_FALSE(s.resampled);
  EXPECT_NEAR(s.volume.geometry.spacing.z, step, 1e-6);
  EXPECT_NEAR(distance(s.volume.geometry.direction.column(2), Vec3{0, 0, 1}), 0.0, 1e-9);
  EXPECT_FLOAT_EQ(s.volume.at(2, 3, 1), float(expectedHu(1, 3, 2)));
  // Through the folder load every command uses (convert --tilt keep-sheared): the grid check lets
  // the kept tilt lean (it refused every such series as "not orthogonal").
  const LoadedVolume folder = loadVolume(dir.path(), sheared);
  EXPECT_FALSE(folder.resampled);
  EXPECT_TRUE(folder.volume.geometry.sameGrid(s.volume.geometry));
}

// NIfTI cannot hold a sheared grid (ITK's writer orthonormalised it and moved every slice, silently):
// convert refuses it as a usage error before decoding a pixel, and writes it as NRRD.
TEST(DicomLoader, ATiltKeptShearedIsRefusedAsNiftiBeforeDecodingAndWrittenAsNrrd) {
  test::ScratchFolder dir;
  writeTiltedStack(dir.path());
  LoadOptions sheared;
  sheared.tilt = TiltHandling::KeepSheared;
  sheared.checkGrid = [](const ImageGeometry& g) {
    EXPECT_FALSE(g.hasOrthonormalAxes());
    throw UsageError("refused");
  };
  EXPECT_THROW((void)loadVolume(dir.path(), sheared), UsageError);
  sheared.tilt = TiltHandling::Resample;
  sheared.checkGrid = [](const ImageGeometry& g) { EXPECT_TRUE(g.hasOrthonormalAxes()); };
  EXPECT_NO_THROW((void)loadVolume(dir.path(), sheared));

  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder out;
  for (const std::string name : {"ct.nii.gz", "ct.nii"}) { // .nii: the int16 file mapped before decoding
    const auto r = test::runProcess(
        {"lesionkit", "convert", dir.path().string(), "-o", (out / name).string(), "--tilt", "keep-sheared"});
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_NE(r.err.find("'" + (out / name).string() +
                         "': NIfTI cannot hold this grid: its slices are stacked "
                         "15.00 deg off their normal"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("write .nrrd"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(test::listFiles(out.path()).empty());
  auto r = test::runProcess(
      {"lesionkit", "convert", dir.path().string(), "-o", (out / "ct.nrrd").string(), "--tilt", "keep-sheared"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = test::runProcess({"lesionkit", "convert", dir.path().string(), "-o", (out / "resampled.nii.gz").string()});
  EXPECT_EQ(r.exitCode, 0) << r.err; // resampled onto an orthogonal grid: NIfTI holds it
  EXPECT_EQ(test::listFiles(out.path()),
            (std::vector<std::string>{"ct.json", "ct.nrrd", "resampled.json", "resampled.nii.gz"}));
}

// Names in a European archive's ISO 8859-1 ("Müller") were kept as raw bytes: not UTF-8, so
// `convert` failed writing its sidecar (JSON) and `series --json` likewise. They are read as
// UTF-8: converted from the declared character set, or read as ISO 8859-1 when none is declared.
TEST(DicomLoader, ALatin1PatientNameIsReadAsUtf8) {
  const std::string latin1 = "M\xFCller^Hans", utf8 = "M\xC3\xBCller^Hans";
  test::ScratchFolder declared, undeclared; // ISO_IR 100, and no Specific Character Set at all
  for (const auto& [dir, charset] : {std::pair{&declared, "ISO_IR 100"}, std::pair{&undeclared, ""}})
    for (int k = 0; k < 3; ++k) {
      SliceSpec s;
      s.ipp = {0, 0, 2.0 * k};
      s.instanceNumber = k + 1;
      s.characterSet = charset;
      s.patientName = latin1;
      writeSlice(*dir / fmt::format("s{}.dcm", k), s);
    }
  for (const test::ScratchFolder* dir : {&declared, &undeclared}) {
    EXPECT_EQ(readDicomHeader(*dir / "s0.dcm").patientName, utf8) << dir->path();
    EXPECT_EQ(loadVolume(dir->path()).patientName, utf8) << dir->path();
  }
  LESIONKIT_REQUIRE_BINARY();
  for (const test::ScratchFolder* dir : {&declared, &undeclared}) {
    test::ScratchFolder out;
    auto r = test::runProcess({"lesionkit", "convert", dir->path().string(), "-o", (out / "ct.nrrd").string()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::ifstream in(out / "ct.json");
    EXPECT_EQ(nlohmann::json::parse(in).at("patientName"), utf8);
    r = test::runProcess({"lesionkit", "series", dir->path().string(), "--json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
  }
}

/// The Patient's Name read from a slice that declares `charset` and holds the bytes `raw`.
std::string patientNameReadFrom(const test::ScratchFolder& dir, const std::string& charset, const std::string& raw,
                                const std::string& seriesDescription = {}) {
  SliceSpec s;
  s.characterSet = charset;
  s.patientName = raw;
  s.seriesDescription = seriesDescription;
  writeSlice(dir / "s0.dcm", s);
  return readDicomHeader(dir / "s0.dcm").patientName;
}

// Every conversion failed without a word on Debian: LesionKit asked DCMTK to drop illegal
// characters, which glibc's iconv (DCMTK's there) cannot do, so names in ISO_IR 144 (Cyrillic)
// or 126 (Greek) were read as ISO 8859-1, and every ISO_IR 100 file warned that it could not be
// converted. Japanese kept only its romanised group (DCMTK names its sets as GNU libiconv does,
// not glibc): PS3.5 Annex H's examples H.3.1 and H.3.2, as pydicom reads them. Converted, without
// a warning.
TEST(DicomLoader, NamesInOtherCharacterSetsAreConvertedToUtf8) {
  struct Case {
    std::string charset, raw, expected;
  };
  const std::string kanjiAndHiragana = "\u5C71\u7530^\u592A\u90CE=\u3084\u307E\u3060^\u305F\u308D\u3046";
  const std::vector<Case> cases = {
      {"ISO_IR 144", "\xB8\xD2\xD0\xDD\xDE\xD2^\xB8\xD2\xD0\xDD",
       "\u0418\u0432\u0430\u043D\u043E\u0432^\u0418\u0432\u0430\u043D"},
      {"ISO_IR 126", "\xC4\xE9\xEF\xED\xF5\xF3\xE9\xEF\xF2^\xC3\xE9\xFE\xF1\xE3\xEF\xF2",
       "\u0394\u03B9\u03BF\u03BD\u03C5\u03C3\u03B9\u03BF\u03C2^\u0393\u03B9\u03CE\u03C1\u03B3\u03BF\u03C2"},
      {"ISO_IR 100", "M\xFCller^Hans", "M\u00FCller^Hans"},
      {"\\ISO 2022 IR 87", "Yamada^Tarou=\x1B$B;3ED\x1B(B^\x1B$BB@O:\x1B(B=\x1B$B$d$^$@\x1B(B^\x1B$B$?$m$&\x1B(B",
       "Yamada^Tarou=" + kanjiAndHiragana},
      {"ISO 2022 IR 13\\ISO 2022 IR 87",
       "\xD4\xCF\xC0\xDE^\xC0\xDB\xB3=\x1B$B;3ED\x1B(J^\x1B$BB@O:\x1B(J=\x1B$B$d$^$@\x1B(J^\x1B$B$?$m$&\x1B(J",
       "\uFF94\uFF8F\uFF80\uFF9E^\uFF80\uFF9B\uFF73=" + kanjiAndHiragana}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.charset);
    test::ScratchFolder dir;
    EXPECT_EQ(patientNameReadFrom(dir, c.charset, c.raw), c.expected);
  }
  LESIONKIT_REQUIRE_BINARY();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.charset);
    test::ScratchFolder dir;
    (void)patientNameReadFrom(dir, c.charset, c.raw);
    const auto r = test::runProcess({"lesionkit", "series", dir.path().string(), "--json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find(c.expected), std::string::npos) << r.out;
  }
}

// What cannot be converted still becomes valid UTF-8 (JSON writers refuse anything else): an
// escape sequence outside the declared Japanese sets (Korean's ESC $ ) C) keeps the name's
// alphabetic group, not escape sequences; undeclared bytes that only look like UTF-8 (a lead byte
// above F4) are read as ISO 8859-1.
TEST(DicomLoader, NamesThatCannotBeConvertedStayValidUtf8) {
  struct Case {
    std::string charset, raw, expected;
  };
  const std::vector<Case> cases = {{"\\ISO 2022 IR 87", "Yamada^Tarou=\x1B$)C\xBB\xB3", "Yamada^Tarou"},
                                   {"\\ISO 2022 IR 87", "Yamada^Tarou=\x8ER\x93\x63", "Yamada^Tarou"}, // Shift-JIS
                                   {"\\ISO 2022 IR 87", "Yamada^Tarou=\x1B$B\x7F\x7F\x1B(B", "Yamada^Tarou"},
                                   {"", "Test^\xF6\xB1\xB2\xB3", "Test^\xC3\xB6\xC2\xB1\xC2\xB2\xC2\xB3"},
                                   {"ISO_IR 192", "CESU^\xED\xA0\xBD", "CESU^\xC3\xAD\xC2\xA0\xC2\xBD"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.charset);
    test::ScratchFolder dir;
    const std::string name = patientNameReadFrom(dir, c.charset, c.raw);
    EXPECT_EQ(name, c.expected);
    EXPECT_NO_THROW((void)nlohmann::json(name).dump());
  }
}

// glibc's iconv stops at the first character it cannot convert, and DCMTK's conversion of the
// whole dataset with it: one undefined byte (0xAE in ISO 8859-7) in the Series Description left
// every later element, the Patient's Name among them, unconverted (read as ISO 8859-1). Elements
// are converted one by one; the undefined byte is left out of its own.
TEST(DicomLoader, AnUnconvertibleCharacterSpoilsNoOtherElement) {
  test::ScratchFolder dir;
  const std::string name = patientNameReadFrom(dir, "ISO_IR 126", "\xC4\xE9\xEF^\xC3\xE9\xFE", "\xC4\xE9\xEF\xAE");
  EXPECT_EQ(name, "\u0394\u03B9\u03BF^\u0393\u03B9\u03CE");
  EXPECT_EQ(readDicomHeader(dir / "s0.dcm").seriesDescription, "\u0394\u03B9\u03BF");
}

// A Siemens mosaic tiles a volume's slices in one image: it was written as one 384x384 slice without
// a word. Refused before decoding, naming the file and dcm2niix.
TEST(DicomLoader, ASiemensMosaicIsRefusedNamingTheFileNotReadAsOneSlice) {
  test::ScratchFolder dir;
  SliceSpec s;
  s.imageType = "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC";
  s.rows = 8;
  s.columns = 8;
  writeSlice(dir / "mosaic.dcm", s);
  for (const fs::path& input : {dir.path(), dir / "mosaic.dcm"}) {
    try {
      (void)loadVolume(input);
      ADD_FAILURE() << "mosaic loaded from " << input;
    } catch (const DicomError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + (dir / "mosaic.dcm").string() +
                                           "': a Siemens mosaic (Image Type MOSAIC): the slices of a volume tiled in "
                                           "one 8x8 image"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("convert it with dcm2niix first"), std::string::npos) << e.what();
    }
  }
}

TEST(DicomSeries, TiltTagWithoutGeometricTiltIsNotCorrected) {
  test::ScratchFolder dir;
  for (int k = 0; k < 3; ++k) {
    SliceSpec s;
    s.ipp = {0, 0, 2.0 * k};
    s.gantryTiltTag = 12.0; // recorded, but the scanner already stored untilted slices
    writeSlice(dir / fmt::format("g{}.dcm", k), s);
  }
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_FALSE(v.resampled);
  EXPECT_EQ(v.tiltDeg, 0.0);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_NE(v.warnings[0].find("no tilt correction needed"), std::string::npos) << v.warnings[0];
}

TEST(DicomSeries, PaddingValueBecomesTheSeriesMinimum) {
  test::ScratchFolder dir;
  for (int k = 0; k < 2; ++k) {
    SliceSpec s;
    s.ipp = {0, 0, 1.0 * k};
    s.tag = k + 1;
    s.paddingStored = 0; // pixel (0,0) is padding
    writeSlice(dir / fmt::format("p{}.dcm", k), s);
  }
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_FLOAT_EQ(v.paddingValue, float(expectedHu(1, 0, 1)));
  EXPECT_FLOAT_EQ(v.volume.at(0, 0, 0), v.paddingValue);
  EXPECT_FLOAT_EQ(v.volume.at(0, 0, 1), v.paddingValue);
  EXPECT_FLOAT_EQ(v.volume.at(1, 0, 1), float(expectedHu(2, 0, 1)));
}

TEST(DicomSeries, Int16StorageHoldsTheFloatValuesExactlyOrFallsBackSayingWhy) {
  LoadOptions asInt16;
  asInt16.storage = VoxelStorage::Int16WhenExact;
  // Plain CT with padding: the same voxels, geometry and padding value as the float load.
  {
    test::ScratchFolder dir;
    for (int k = 0; k < 3; ++k) {
      SliceSpec s;
      s.ipp = {-10.0, 20.0, 1.5 * k};
      s.tag = k - 1; // -1000 HU and below on the first slice
      s.paddingStored = 0;
      writeSlice(dir / fmt::format("p{}.dcm", k), s);
    }
    const LoadedVolume f = loadVolume(dir.path());
    const LoadedVolume i = loadVolume(dir.path(), asInt16);
    ASSERT_TRUE(i.hasInt16Voxels()) << i.voxelStorageNote;
    EXPECT_TRUE(i.volume.empty());
    EXPECT_TRUE(i.voxelStorageNote.empty());
    EXPECT_TRUE(i.geometry().sameGrid(f.volume.geometry, 1e-9));
    EXPECT_FLOAT_EQ(i.paddingValue, f.paddingValue);
    EXPECT_FLOAT_EQ(i.paddingValue, float(expectedHu(-1, 0, 1)));
    ASSERT_EQ(i.volumeInt16.voxels.size(), f.volume.voxels.size());
    for (std::size_t n = 0; n < f.volume.voxels.size(); ++n)
      ASSERT_EQ(float(i.volumeInt16.voxels[n]), f.volume.voxels[n]) << "voxel " << n;
    // Written from the int16 buffer, read back as float: the same numbers.
    writeVolumeFile(i.volumeInt16, dir / "ct.nii");
    EXPECT_EQ(readVolumeFile(dir / "ct.nii").voxels, f.volume.voxels);
  }
  // A value beyond int16 (stored 65535 - 1024 = 64511 HU): float, equal to the float load.
  {
    test::ScratchFolder dir;
    for (int k = 0; k < 2; ++k) {
      SliceSpec s;
      s.ipp = {0, 0, 1.0 * k};
      if (k == 1)
        s.lastPixelStored = 65535;
      writeSlice(dir / fmt::format("o{}.dcm", k), s);
    }
    const LoadedVolume i = loadVolume(dir.path(), asInt16);
    EXPECT_FALSE(i.hasInt16Voxels());
    EXPECT_NE(i.voxelStorageNote.find("int16 range"), std::string::npos) << i.voxelStorageNote;
    EXPECT_EQ(i.volume.voxels, loadVolume(dir.path()).volume.voxels);
    EXPECT_FLOAT_EQ(i.volume.at(4, 3, 1), 64511.0f);
  }
  // Fractional Rescale Slope, and a stack that needs resampling: float, saying why.
  {
    test::ScratchFolder dir;
    for (int k = 0; k < 2; ++k) {
      SliceSpec s;
      s.ipp = {0, 0, 1.0 * k};
      s.rescaleSlope = "0.5";
      writeSlice(dir / fmt::format("s{}.dcm", k), s);
    }
    const LoadedVolume i = loadVolume(dir.path(), asInt16);
    EXPECT_FALSE(i.hasInt16Voxels());
    EXPECT_NE(i.voxelStorageNote.find("Rescale Slope"), std::string::npos) << i.voxelStorageNote;
  }
  {
    test::ScratchFolder dir;
    writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 10.0}); // 7.5 missing
    const LoadedVolume i = loadVolume(dir.path(), asInt16);
    EXPECT_FALSE(i.hasInt16Voxels());
    EXPECT_TRUE(i.resampled);
    EXPECT_NE(i.voxelStorageNote.find("resampled"), std::string::npos) << i.voxelStorageNote;
  }
}

TEST(DicomScan, GzippedFilesAreReadInMemory) {
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5});
  // Compress one slice to .dcm.gz.
  fs::path plain;
  for (const auto& e : fs::directory_iterator(dir.path()))
    plain = e.path();
  ASSERT_EQ(plain.extension(), ".dcm");
  std::ifstream in(plain, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  gzFile gz = gzopen((plain.string() + ".gz").c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(gz);
  fs::remove(plain);
  { std::ofstream(dir / "broken.dcm.gz") << "not gzip"; }
  const DicomScanResult scan = scanDicomFolder(dir.path());
  ASSERT_EQ(scan.instances.size(), 2u);
  ASSERT_EQ(scan.skipped.size(), 1u);
  EXPECT_NE(scan.skipped[0].reason.find("broken.dcm.gz"), std::string::npos);
  const auto gzIt =
      std::find_if(scan.instances.begin(), scan.instances.end(), [](const DicomInstance& d) { return d.gzipped; });
  ASSERT_NE(gzIt, scan.instances.end());
  const std::vector<float> pixels = decodeDicomFrame(*gzIt);
  ASSERT_EQ(pixels.size(), 20u);
  const int tag = gzIt->frames.front().imagePositionPatient->z > 1.0 ? 1 : 0;
  EXPECT_FLOAT_EQ(pixels[7], float(expectedHu(tag, 1, 2)));
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_EQ(v.volume.geometry.size[2], 2u);
}

TEST(DicomLoader, VolumeFilesAndBadPathsGoThroughTheSameEntryPoint) {
  test::ScratchFolder dir;
  EXPECT_THROW((void)loadVolume(dir / "nothing-here"), InputError);
  { std::ofstream(dir / "readme.txt") << "hello"; }
  try {
    (void)loadVolume(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("expected DICOM images"), std::string::npos) << e.what();
  }
  writeAxialStack(dir.path(), {0.0, 1.0, 2.0});
  const LoadedVolume fromDicom = loadVolume(dir.path());
  ASSERT_EQ(fromDicom.skippedFiles.size(), 1u);
  const fs::path nrrd = dir / "v.nrrd";
  writeVolumeFile(fromDicom.volume, nrrd);
  const LoadedVolume fromFile = loadVolume(nrrd);
  EXPECT_TRUE(fromFile.volume.geometry.sameGrid(fromDicom.volume.geometry, 1e-5));
  EXPECT_EQ(fromFile.volume.voxels, fromDicom.volume.voxels);
  EXPECT_TRUE(fromFile.seriesInstanceUid.empty());
  EXPECT_TRUE(fromDicom.sliceThicknessMm);
  EXPECT_FALSE(fromFile.sliceThicknessMm); // NRRD has no Slice Thickness: the spacing stands in
}

TEST(DicomScan, DicomdirReferencesToMissingFilesAreListedAndTheImagesStillLoad) {
  if (std::system("command -v dcmmkdir > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "dcmmkdir (Debian dcmtk) not installed";
  test::ScratchFolder dir;
  fs::create_directories(dir / "IMAGES");
  const std::vector<double> zs{0.0, 2.5, 5.0, 7.5, 10.0};
  for (std::size_t n = 0; n < zs.size(); ++n) {
    SliceSpec s;
    s.ipp = {-10.0, 20.0, zs[n]};
    s.tag = int(n);
    s.instanceNumber = int(n + 1);
    const fs::path file = dir / "IMAGES" / fmt::format("IM{}", n); // DICOM file IDs: no extension
    writeSlice(file, s);
    DcmFileFormat f; // the DICOMDIR's patient record needs a name
    ASSERT_TRUE(f.loadFile(file.c_str()).good());
    f.getDataset()->putAndInsertString(DCM_PatientName, "SYNTH^DICOMDIR");
    f.loadAllDataIntoMemory();
    ASSERT_TRUE(f.saveFile(file.c_str(), EXS_LittleEndianExplicit).good());
  }
  const std::string make =
      fmt::format("cd '{}' && dcmmkdir --invent --recurse IMAGES > dcmmkdir.log 2>&1", dir.path().string());
  ASSERT_EQ(std::system(make.c_str()), 0) << "dcmmkdir failed: " << std::ifstream(dir / "dcmmkdir.log").rdbuf();
  fs::remove(dir / "dcmmkdir.log");
  ASSERT_TRUE(fs::exists(dir / "DICOMDIR"));
  fs::remove(dir / "IMAGES" / "IM2"); // the media lost a middle image

  const DicomScanResult scan = scanDicomFolder(dir.path());
  EXPECT_EQ(scan.instances.size(), 4u);
  const auto missing = std::find_if(scan.skipped.begin(), scan.skipped.end(),
                                    [](const SkippedFile& s) { return s.path.filename() == "IM2"; });
  ASSERT_NE(missing, scan.skipped.end()) << "the DICOMDIR's reference to the missing image is not reported";
  EXPECT_NE(missing->reason.find("DICOMDIR"), std::string::npos) << missing->reason;
  EXPECT_NE(missing->reason.find("does not exist"), std::string::npos) << missing->reason;
  // The images still load, the gap where IM2 was reported and filled.
  const LoadedVolume loaded = loadVolume(dir.path());
  EXPECT_EQ(loaded.volume.geometry.size[2], 5u);
  EXPECT_TRUE(std::any_of(loaded.warnings.begin(), loaded.warnings.end(), [](const std::string& w) {
    return w.find("missing") != std::string::npos || w.find("gap") != std::string::npos;
  })) << "no warning about the missing slice";
}

namespace {
/// The message of the error loading `folder` throws; empty when it loads.
std::string loadError(const fs::path& folder) {
  try {
    (void)loadVolume(folder);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}
} // namespace

TEST(DicomLoader, NanOrZeroInNumbersThatPlaceOrScaleThePixelsIsRefusedNamingTheFile) {
  // DCMTK parses "nan": a NaN orientation passed the orthonormality check (comparisons with NaN
  // are false) and aborted the process in ITK; a NaN Rescale Slope made every voxel NaN and a 0
  // slope every voxel -1024, both loaded without a word.
  struct Case {
    std::string what;
    std::function<void(SliceSpec&)> spoil;
  };
  const std::vector<Case> cases = {
      {"Image Orientation (Patient) holds a value that is not a finite number (nan\\0\\0\\0\\1\\0)",
       [](SliceSpec& s) { s.iop[0] = std::numeric_limits<double>::quiet_NaN(); }},
      {"Rescale Slope holds a value that is not a finite number of at most 7.9e+28 in magnitude (nan)",
       [](SliceSpec& s) { s.rescaleSlope = "nan"; }},
      {"Rescale Slope holds a value that is not a finite number of at most 7.9e+28 in magnitude (1e+300)",
       [](SliceSpec& s) { s.rescaleSlope = "1e300"; }},
      {"Rescale Slope is 0: every pixel would have the value of the Rescale Intercept (-1024)",
       [](SliceSpec& s) { s.rescaleSlope = "0"; }},
  };
  for (const Case& c : cases) {
    test::ScratchFolder dir;
    for (int k = 0; k < 4; ++k) {
      SliceSpec s;
      s.ipp = {0.0, 0.0, 2.5 * k};
      c.spoil(s);
      writeSlice(dir / fmt::format("IM{}.dcm", k), s);
    }
    const std::string message = loadError(dir.path());
    EXPECT_NE(message.find("'" + (dir / "IM0.dcm").string() + "': " + c.what), std::string::npos) << message;
  }
}

TEST(DicomLoader, PixelDataLongerThanTheHeaderSaysIsRefusedNotReadAsNoise) {
  // One slice claiming Bits Allocated 8 over its 16-bit pixel data was read as 8-bit noise.
  test::ScratchFolder dir;
  writeAxialStack(dir.path(), {0.0, 2.5, 5.0, 7.5, 10.0});
  const fs::path victim = aSliceOf(dir.path());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(victim.c_str()).good());
  file.getDataset()->putAndInsertUint16(DCM_BitsAllocated, 8);
  file.getDataset()->putAndInsertUint16(DCM_BitsStored, 8);
  file.getDataset()->putAndInsertUint16(DCM_HighBit, 7);
  ASSERT_TRUE(file.saveFile(victim.c_str(), EXS_LittleEndianExplicit).good());
  EXPECT_EQ(loadError(dir.path()), "'" + victim.string() +
                                       "': expected 20 bytes of pixel data (1 frames of 5x4, 8 bits), found 40 (Rows, "
                                       "Columns, Bits Allocated or Number of Frames do not match the pixel data)");
}

TEST(DicomLoader, RowsAndColumnsBeyondThePixelDataAreRefusedBeforeAnythingIsAllocated) {
  // 65535 x 65535 pixels over 64 slices of 5 x 4: a 1.1 TB volume was allocated first and the
  // command ended in "out of memory" (exit 3), naming no file.
  test::ScratchFolder dir;
  std::vector<double> zs;
  for (int k = 0; k < 64; ++k)
    zs.push_back(2.5 * k);
  writeAxialStack(dir.path(), zs);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(entry.path().c_str()).good());
    file.getDataset()->putAndInsertUint16(DCM_Rows, 65535);
    file.getDataset()->putAndInsertUint16(DCM_Columns, 65535);
    ASSERT_TRUE(file.saveFile(entry.path().c_str(), EXS_LittleEndianExplicit).good());
  }
  const std::string message = loadError(dir.path());
  EXPECT_NE(message.find("\n  '" + (dir / "IM01.dcm").string() +
                         "': expected 8589672450 bytes of pixel data (1 frames of 65535x65535, 16 bits), found 40 "
                         "(truncated file?)"),
            std::string::npos)
      << message;
}

TEST(DicomSeries, ASliceOfAnotherPixelSpacingIsSplitOffNotStackedAtTheFirstSlicesScale) {
  // It was stacked with the others at the first slice's spacing, without a word.
  test::ScratchFolder dir;
  for (int k = 0; k < 5; ++k) {
    SliceSpec s;
    s.ipp = {0.0, 0.0, 2.5 * k};
    s.tag = k;
    if (k == 2)
      s.rowSpacing = 0.7;
    writeSlice(dir / fmt::format("IM{}.dcm", k), s);
  }
  const auto series = splitDicomSeries(scanDicomFolder(dir.path()).instances);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].slices.size() + series[1].slices.size(), 5u);
  const DicomSeries& odd = series[0].slices.size() == 1 ? series[0] : series[1];
  EXPECT_NE(odd.splitReason.find("pixel spacing 0.7\\0.5 mm"), std::string::npos) << odd.splitReason;
  const LoadedVolume v = loadVolume(dir.path());
  EXPECT_NEAR(v.volume.geometry.spacing.y, 0.6, 1e-9);
  ASSERT_EQ(v.otherSeries.size(), 1u);
  // The slice left out is named with the reason, not only felt as a gap ("missing slices").
  std::string said;
  for (const std::string& w : v.warnings)
    said += w + "\n";
  EXPECT_NE(said.find("'" + (dir / "IM2.dcm").string() + "' of 1 slice(s) of the loaded series left out"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("pixel spacing 0.7\\0.5 mm"), std::string::npos) << said;
}

TEST(DicomLoader, AGridNoScanHasIsRefusedAsFromAVolumeFile) {
  // Pixel Spacing 1e30 was loaded (and converted) while every command refuses such a volume file.
  test::ScratchFolder dir;
  for (int k = 0; k < 4; ++k) {
    SliceSpec s;
    s.ipp = {0.0, 0.0, 2.5 * k};
    s.rowSpacing = s.columnSpacing = 1e30;
    writeSlice(dir / fmt::format("IM{}.dcm", k), s);
  }
  EXPECT_NE(
      loadError(dir.path()).find("'" + dir.path().string() + "': voxel spacing 1e+30 x 1e+30 x 2.5 mm is outside"),
      std::string::npos)
      << loadError(dir.path());
}
