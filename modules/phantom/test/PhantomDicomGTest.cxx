// Written phantom studies read back: DICOM by DCMTK and by ITK/GDCM (geometry identical to the
// in-memory volume), DICOM conformance by dciodvfy, label maps, truth.json, atomic output.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <itkGDCMImageIO.h>
#include <itkImageSeriesReader.h>

#include "lesion/core/Error.h"
#include "lesion/core/ItkBridge.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;
using namespace lesion::phantom;

namespace {

/// A small study (3 slices at 2 mm pixels around the L4 lesion): fast to write and check.
PhantomOptions tinyOptions(int timePoints) {
  const PhantomAnatomy a = buildPhantomAnatomy(defaultTimePointState(0));
  PhantomOptions o;
  o.timePoints = timePoints;
  o.pixelSizeMm = 2.0;
  o.sliceThicknessMm = 3.0;
  o.zFromMm = a.lyticLesion.centre.z - 3.0;
  o.zToMm = a.lyticLesion.centre.z + 3.0;
  return o;
}

std::vector<fs::path> dicomFiles(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().extension() == ".dcm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<double> numbers(DcmDataset* ds, const DcmTagKey& tag) {
  std::vector<double> v;
  Float64 x = 0;
  for (unsigned long i = 0; ds->findAndGetFloat64(tag, x, i).good(); ++i) v.push_back(x);
  return v;
}

std::string text(DcmDataset* ds, const DcmTagKey& tag) {
  OFString s;
  ds->findAndGetOFStringArray(tag, s);
  return s.c_str();
}

/// Lines of dciodvfy output that report an error, or a skip reason.
std::string dciodvfyErrors(const fs::path& file, int* warnings) {
  const std::string program = LESIONKIT_DCIODVFY;
  const auto r = test::runProcess({program, file.string()});
  std::string errors;
  std::istringstream all(r.out + "\n" + r.err);
  std::string line;
  while (std::getline(all, line)) {
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
    if (line.rfind("Warning", 0) == 0) ++*warnings;
  }
  return errors;
}

bool haveDciodvfy() {
  const std::string program = LESIONKIT_DCIODVFY;
  return !program.empty() && program.find("NOTFOUND") == std::string::npos && fs::exists(program);
}

} // namespace

TEST(PhantomDicom, WrittenStudyReadsBackWithDcmtkAndItk) {
  const PhantomStudy study = generatePhantomStudy(tinyOptions(2));
  test::ScratchFolder dir;
  const fs::path out = dir / "phantom";
  const PhantomOutputFiles files = writePhantomStudy(study, out);
  ASSERT_EQ(files.seriesFolders.size(), 2u);
  EXPECT_TRUE(fs::exists(out / "LKPHANTOM01" / "truth.json"));
  std::string previousDate;
  for (std::size_t t = 0; t < 2; ++t) {
    const PhantomTimePoint& tp = study.timePoints[t];
    const ImageGeometry& g = tp.image.geometry;
    const fs::path series = out / files.seriesFolders[t];
    EXPECT_EQ(series, out / "LKPHANTOM01" / tp.truth.studyDate / "CT_01");
    const auto names = dicomFiles(series);
    ASSERT_EQ(names.size(), g.size[2]);

    // DCMTK: attributes, geometry and stored values of the last slice.
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(names.back().c_str()).good());
    DcmDataset* ds = ff.getDataset();
    EXPECT_EQ(text(ds, DCM_SOPClassUID), UID_CTImageStorage);
    EXPECT_EQ(text(ds, DCM_Modality), "CT");
    EXPECT_EQ(text(ds, DCM_StudyInstanceUID), files.series[t].studyInstanceUid);
    EXPECT_EQ(text(ds, DCM_FrameOfReferenceUID), files.series[t].frameOfReferenceUid);
    const std::string date = text(ds, DCM_StudyDate);
    EXPECT_GT(date, previousDate) << "study dates increase";
    previousDate = date;
    Uint16 rows = 0, cols = 0;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, cols);
    EXPECT_EQ(cols, g.size[0]);
    EXPECT_EQ(rows, g.size[1]);
    const auto ipp = numbers(ds, DCM_ImagePositionPatient);
    const Vec3 expected = g.indexToPoint(0, 0, g.size[2] - 1);
    ASSERT_EQ(ipp.size(), 3u);
    for (std::size_t a = 0; a < 3; ++a) EXPECT_NEAR(ipp[a], expected[a], 1e-4);
    const auto iop = numbers(ds, DCM_ImageOrientationPatient);
    ASSERT_EQ(iop.size(), 6u);
    EXPECT_NEAR(iop[0], 1.0, 1e-9);
    EXPECT_NEAR(iop[4], 1.0, 1e-9);
    const auto spacing = numbers(ds, DCM_PixelSpacing);
    ASSERT_EQ(spacing.size(), 2u);
    EXPECT_DOUBLE_EQ(spacing[0], 2.0);
    EXPECT_DOUBLE_EQ(numbers(ds, DCM_SliceThickness).at(0), 3.0);
    EXPECT_DOUBLE_EQ(numbers(ds, DCM_RescaleIntercept).at(0), -1024.0);
    const Uint16* pixels = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(ds->findAndGetUint16Array(DCM_PixelData, pixels, &count).good());
    ASSERT_EQ(count, g.size[0] * g.size[1]);
    const std::size_t k = g.size[2] - 1;
    for (std::size_t i = 0; i < count; i += 97) {
      EXPECT_EQ(static_cast<std::int16_t>(pixels[i]) - 1024, tp.image.voxels[count * k + i]);
    }

    // ITK + GDCM: same grid and same HU as the in-memory volume.
    using ImageType = itk::Image<float, 3>;
    auto reader = itk::ImageSeriesReader<ImageType>::New();
    reader->SetImageIO(itk::GDCMImageIO::New());
    std::vector<std::string> fileNames;
    for (const auto& n : names) fileNames.push_back(n.string());
    reader->SetFileNames(fileNames);
    reader->Update();
    const Volume itk = itkbridge::fromItk<float>(reader->GetOutput());
    EXPECT_TRUE(itk.geometry.sameGrid(g, 1e-4)) << formatPoint(itk.geometry.origin) << " vs " << formatPoint(g.origin);
    EXPECT_EQ(itk.voxels, tp.image.voxels);

    // Truth label maps next to the DICOM, same grid and labels as in memory.
    ASSERT_EQ(files.labelMaps[t].size(), 2u);
    for (const auto& m : files.labelMaps[t]) {
      const LabelMap labels = dicomio::readLabelMapFile(out / m);
      EXPECT_TRUE(labels.geometry.sameGrid(g, 1e-3)) << m;
      EXPECT_EQ(labels.voxels, tp.labels.voxels) << m;
    }
  }

  // truth.json holds the in-memory truth.
  std::ifstream in(out / files.truthJson);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["format"], "lesionkit-phantom-truth");
  ASSERT_EQ(j["timePoints"].size(), 2u);
  const auto& lytic = j["timePoints"][1]["lesions"][0];
  const LesionTruth& truth = study.timePoints[1].truth.lesions[0];
  EXPECT_EQ(lytic["id"], "l4-lytic");
  EXPECT_DOUBLE_EQ(lytic["volumeMl"].get<double>(), truth.volumeMl);
  EXPECT_DOUBLE_EQ(lytic["calcifiedVolumeMl"].get<double>(), truth.calcifiedVolumeMl);
  EXPECT_DOUBLE_EQ(lytic["recist"]["longAxisMm"].get<double>(), truth.longAxisMm);
  EXPECT_DOUBLE_EQ(lytic["seedMm"][2].get<double>(), truth.seed.z);
  EXPECT_DOUBLE_EQ(j["timePoints"][1]["transformFromBaseline"]["translationMm"][0].get<double>(),
                   study.timePoints[1].truth.transformFromBaseline.translation.x);
  EXPECT_EQ(j["timePoints"][0]["vertebrae"][4]["level"], "L4");
  EXPECT_EQ(j["labels"]["15"], "L4 vertebral body (lesion excluded)");
  // Nothing half-written is left next to the output.
  for (const auto& e : fs::directory_iterator(dir.path())) EXPECT_EQ(e.path().filename(), "phantom");
}

TEST(PhantomDicom, DciodvfyReportsNoErrorsForCtAndMr) {
  if (!haveDciodvfy()) GTEST_SKIP() << "dciodvfy (Debian dicom3tools) not found";
  for (const Contrast contrast : {Contrast::CT, Contrast::MR}) {
    PhantomOptions o = tinyOptions(1);
    o.contrast = contrast;
    const PhantomStudy study = generatePhantomStudy(o);
    test::ScratchFolder dir;
    const PhantomOutputFiles files = writePhantomStudy(study, dir / "out");
    const auto names = dicomFiles(dir / "out" / files.seriesFolders[0]);
    ASSERT_FALSE(names.empty());
    int warnings = 0;
    EXPECT_EQ(dciodvfyErrors(names.front(), &warnings), "") << (contrast == Contrast::CT ? "CT" : "MR");
    std::cout << "dciodvfy " << (contrast == Contrast::CT ? "CT" : "MR") << ": 0 errors, " << warnings << " warnings" << std::endl;
    if (contrast == Contrast::MR) {
      DcmFileFormat ff;
      ASSERT_TRUE(ff.loadFile(names.front().c_str()).good());
      EXPECT_EQ(text(ff.getDataset(), DCM_SOPClassUID), UID_MRImageStorage);
    }
  }
}

// A non-ASCII patient ID was written as UTF-8 bytes under ISO_IR 100, so every reader (LesionKit's
// own index included) decoded "A/B \u00fc" as Latin-1 "A/B \u00c3\u00bc" and found no such patient.
TEST(PhantomDicom, NonAsciiPatientIdReadsBackAsGiven) {
  PhantomOptions o = tinyOptions(1);
  o.patientId = "A/B \xC3\xBC"; // "A/B ü" in UTF-8
  o.validate();
  test::ScratchFolder dir;
  const PhantomOutputFiles files = writePhantomStudy(generatePhantomStudy(o), dir / "out");
  const auto names = dicomFiles(dir / "out" / files.seriesFolders[0]);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(dicomio::readDicomHeader(names.front()).patientId, "A/B \xC3\xBC");
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(names.front().c_str()).good());
  EXPECT_EQ(text(ff.getDataset(), DCM_SpecificCharacterSet), "ISO_IR 192");
  if (haveDciodvfy()) {
    int warnings = 0;
    EXPECT_EQ(dciodvfyErrors(names.front(), &warnings), "");
  }
}

TEST(PhantomDicom, GantryTiltGivesTiltedOrientationAndPositionsAlongZ) {
  PhantomOptions o = tinyOptions(1);
  o.gantryTiltDegrees = 15.0;
  const PhantomStudy study = generatePhantomStudy(o);
  test::ScratchFolder dir;
  const PhantomOutputFiles files = writePhantomStudy(study, dir / "out");
  const auto names = dicomFiles(dir / "out" / files.seriesFolders[0]);
  ASSERT_GE(names.size(), 2u);
  std::vector<std::vector<double>> positions;
  for (const auto& n : names) {
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(n.c_str()).good());
    const auto iop = numbers(ff.getDataset(), DCM_ImageOrientationPatient);
    const double c = std::cos(15.0 * 3.14159265358979 / 180), s = std::sin(15.0 * 3.14159265358979 / 180);
    const std::vector<double> expected{1, 0, 0, 0, c, s};
    for (std::size_t a = 0; a < 6; ++a) EXPECT_NEAR(iop[a], expected[a], 1e-6);
    EXPECT_DOUBLE_EQ(numbers(ff.getDataset(), DCM_GantryDetectorTilt).at(0), 15.0);
    positions.push_back(numbers(ff.getDataset(), DCM_ImagePositionPatient));
  }
  // Tilted CT: slice positions differ only in z (table movement), by the slice spacing.
  EXPECT_NEAR(positions[1][0] - positions[0][0], 0.0, 1e-6);
  EXPECT_NEAR(positions[1][1] - positions[0][1], 0.0, 1e-6);
  EXPECT_NEAR(positions[1][2] - positions[0][2], 3.0, 1e-6);
  // The in-memory grid is the exact sheared one; label map files use the tilt-corrected axial grid.
  const ImageGeometry& sheared = study.timePoints[0].image.geometry;
  const Vec3 p = sheared.indexToPoint(0, 0, 1);
  for (std::size_t a = 0; a < 3; ++a) EXPECT_NEAR(p[a], positions[1][a], 1e-4);
  PhantomOptions axial = o;
  axial.gantryTiltDegrees = 0.0;
  const LabelMap labels = dicomio::readLabelMapFile(dir / "out" / files.labelMaps[0][0]);
  EXPECT_TRUE(labels.geometry.sameGrid(phantomGrid(axial), 1e-3));
  EXPECT_EQ(labels.voxels, study.timePoints[0].tiltCorrectedLabels.voxels);
  EXPECT_GT(std::count(labels.voxels.begin(), labels.voxels.end(), labels::LyticLesion), 100);
  if (haveDciodvfy()) {
    int warnings = 0;
    EXPECT_EQ(dciodvfyErrors(names.front(), &warnings), "");
  }
}

TEST(PhantomDicom, ObliqueOrientationIsOrthonormalAndCoversTheLesion) {
  PhantomOptions o = tinyOptions(1);
  o.orientation = Orientation::Oblique;
  o.zFromMm -= 12;
  o.zToMm += 12;
  o.pixelSizeMm = 3.0;
  const PhantomStudy study = generatePhantomStudy(o);
  const ImageGeometry& g = study.timePoints[0].image.geometry;
  EXPECT_NO_THROW(g.validate("oblique grid"));
  // ITK/GDCM reads the oblique series onto the same grid.
  test::ScratchFolder dir;
  const PhantomOutputFiles files = writePhantomStudy(study, dir / "out");
  std::vector<std::string> names;
  for (const auto& n : dicomFiles(dir / "out" / files.seriesFolders[0])) names.push_back(n.string());
  auto reader = itk::ImageSeriesReader<itk::Image<float, 3>>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(names);
  reader->Update();
  const Volume itk = itkbridge::fromItk<float>(reader->GetOutput());
  EXPECT_TRUE(itk.geometry.sameGrid(g, 1e-4)) << formatPoint(itk.geometry.origin) << " vs " << formatPoint(g.origin);
  EXPECT_EQ(itk.voxels, study.timePoints[0].image.voxels);
  EXPECT_GT(std::abs(g.direction(2, 0)), 0.1) << "rows leave the axial plane";
  const Vec3 seed = study.timePoints[0].truth.lesions[0].seed;
  const Vec3 idx = g.pointToIndex(seed);
  ASSERT_TRUE(g.containsIndex(std::lround(idx.x), std::lround(idx.y), std::lround(idx.z)));
  EXPECT_EQ(study.timePoints[0].labels.at(std::size_t(std::lround(idx.x)), std::size_t(std::lround(idx.y)),
                                          std::size_t(std::lround(idx.z))),
            labels::LyticLesion);
}

TEST(PhantomDicom, UnwritableOutputThrowsAndLeavesNothing) {
  const PhantomStudy study = generatePhantomStudy(tinyOptions(1));
  test::ScratchFolder dir;
  { std::ofstream(dir / "file.txt") << "not a folder"; }
  EXPECT_THROW(writePhantomStudy(study, dir / "file.txt" / "out"), InputError);
  EXPECT_EQ(test::listFiles(dir.path()), std::vector<std::string>{"file.txt"});
  // A folder with other files is never replaced; an earlier phantom output is.
  EXPECT_THROW(writePhantomStudy(study, dir.path()), InputError);
  EXPECT_EQ(test::listFiles(dir.path()), std::vector<std::string>{"file.txt"});
  (void)writePhantomStudy(study, dir / "again");
  const auto before = test::listFiles(dir / "again");
  EXPECT_NO_THROW((void)writePhantomStudy(study, dir / "again"));
  EXPECT_EQ(test::listFiles(dir / "again"), before);
  // A user's file inside an earlier output (its patient folder) makes it the user's: kept.
  fs::path patient;
  for (const auto& entry : fs::directory_iterator(dir / "again"))
    if (entry.is_directory())
      patient = entry.path();
  ASSERT_FALSE(patient.empty());
  { std::ofstream(patient / "notes.txt") << "mine"; }
  EXPECT_THROW(writePhantomStudy(study, dir / "again"), InputError);
  EXPECT_TRUE(fs::exists(patient / "notes.txt"));
}
