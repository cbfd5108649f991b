// `lesionkit report` run as a user runs it, and `lesionkit measure` taking the SEG it wrote as mask.
#include <fstream>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "DicomTestUtil.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/DicomSr.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/testing/CroppedLabelMap.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {
namespace {

void writeStudy(const std::filesystem::path& volumePath, const std::filesystem::path& maskPath, double scale = 1.0,
                float calcifiedHu = 700.0f, bool withAir = true) {
  ImageGeometry g;
  g.size = {48, 44, 16};
  g.spacing = {0.9, 0.9, 2.0};
  g.origin = {-20.0, -20.0, 10.0};
  Volume volume(g, 35.0f);
  LabelMap labels(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 16) / (9 * scale), b = (double(j) - 18) / (7 * scale), c = (double(k) - 8) / 4;
        if (a * a + b * b + c * c <= 1.0) {
          labels.at(i, j, k) = 1;
          volume.at(i, j, k) = 50.0f;
        }
        if (withAir && j < 2)
          volume.at(i, j, k) = -1000.0f; // air in front of the body: auto reads it as HU
        if (i >= 32 && i < 42 && j >= 28 && j < 38 && k >= 5 && k < 10) {
          labels.at(i, j, k) = 3;
          volume.at(i, j, k) = (i + j) % 3 == 0 ? calcifiedHu : 30.0f;
        }
      }
  dicomio::writeVolumeFile(volume, volumePath, true);
  dicomio::writeLabelMapFile(labels, maskPath);
}

TEST(ReportCommand, WritesEveryOutputAndTheSegMeasuresLikeTheMask) {
  test::ScratchFolder dir;
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  const auto r = test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                                   "--lesion", "1:soft-tissue:axilla", "--lesion", "3:lytic-bone:L4", "--timepoint",
                                   "follow-up-1", "-o", (dir / "out").string()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(test::listFiles(dir / "out"),
            (std::vector<std::string>{".lesionkit-output", "meshes", "meshes/lesion-1.stl", "meshes/lesion-1.vtp",
                                      "meshes/lesion-3.stl", "meshes/lesion-3.vtp", "qc", "qc/lesion-1-axial.png",
                                      "qc/lesion-1-coronal.png", "qc/lesion-1-sagittal.png", "qc/lesion-3-axial.png",
                                      "qc/lesion-3-coronal.png", "qc/lesion-3-sagittal.png", "report.html",
                                      "report.json", "seg.dcm", "sr.dcm", "table.csv"}));
  expectValidDicom(dir / "out" / "seg.dcm");
  expectValidDicom(dir / "out" / "sr.dcm");
  const SrDocument sr = readDicomSr(dir / "out" / "sr.dcm");
  ASSERT_EQ(sr.groups.size(), 2u);
  EXPECT_EQ(sr.groups[1].trackingId, "L4");
  EXPECT_EQ(sr.groups[1].timePoint, "follow-up-1");

  // The SEG is accepted wherever a label map is: measure with it gives the mask's figures.
  const auto fromMask = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                          (dir / "mask.nrrd").string(), "-o", (dir / "a.json").string()});
  const auto fromSeg = test::runProcess({"lesionkit", "measure", (dir / "ct.nrrd").string(), "--mask",
                                         (dir / "out" / "seg.dcm").string(), "-o", (dir / "b.json").string()});
  ASSERT_EQ(fromMask.exitCode, 0) << fromMask.err;
  ASSERT_EQ(fromSeg.exitCode, 0) << fromSeg.err;
  nlohmann::json a, b;
  std::ifstream(dir / "a.json") >> a;
  std::ifstream(dir / "b.json") >> b;
  ASSERT_EQ(a["lesions"].size(), 2u);
  ASSERT_EQ(b["lesions"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a["lesions"][i]["label"], b["lesions"][i]["label"]);
    EXPECT_EQ(a["lesions"][i]["voxelCount"], b["lesions"][i]["voxelCount"]);
    EXPECT_EQ(a["lesions"][i]["recist"]["longAxisMm"], b["lesions"][i]["recist"]["longAxisMm"]);
  }

  // From the measurement report instead of VOLUME --mask.
  const auto again = test::runProcess({"lesionkit", "report", "--measurements", (dir / "out" / "report.json").string(),
                                       "-o", (dir / "out2").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(again.exitCode, 0) << again.err;
  const SrDocument sr2 = readDicomSr(dir / "out2" / "sr.dcm");
  ASSERT_EQ(sr2.groups.size(), 2u);
  EXPECT_EQ(sr2.groups[1].trackingUid, sr.groups[1].trackingUid) << "tracking UID stable across runs";
  EXPECT_EQ(sr2.groups[1].timePoint, "follow-up-1");
}

TEST(ReportCommand, AMaskCroppedOnTheVolumesLatticeIsPlacedIntoItsGrid) {
  // 3D Slicer's label map of a segmentation is cropped to the segments; it was refused.
  test::ScratchFolder dir;
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  const LabelMap mask = dicomio::readLabelMapFile(dir / "mask.nrrd");
  dicomio::writeLabelMapFile(test::cropToLabels(mask, 1), dir / "cropped.nrrd");
  const auto r =
      test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "cropped.nrrd").string(),
                        "-o", (dir / "out").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  // Label 1 (an ellipsoid from i = 7, j = 11, k = 4) comes first; the box starts one voxel before.
  test::expectWarnedOnceOnStderr(r, "at offset (6, 10, 3) voxels: placed into the volume's grid");
  // The SEG (frames on the labelled slices only) holds the mask's voxels, not shifted.
  EXPECT_EQ(loadLabelMap(dir / "out" / "seg.dcm", &mask.geometry).voxels, mask.voxels);
  nlohmann::json report;
  std::ifstream(dir / "out" / "report.json") >> report;
  EXPECT_NE(report["input"]["warnings"].dump().find("placed into the volume's grid"), std::string::npos);
}

/// The text of `tag` in DICOM file `path` (empty when absent or empty).
std::string dicomText(const std::filesystem::path& path, const DcmTagKey& tag) {
  DcmFileFormat file;
  OFString value;
  if (file.loadFile(path.c_str()).good())
    file.getDataset()->findAndGetOFStringArray(tag, value);
  return value.c_str();
}

/// Patient's Name, Sex, Birth Date, Accession Number, Study ID and Study Time of a DICOM file.
std::vector<std::string> patientAndStudyTexts(const std::filesystem::path& path) {
  std::vector<std::string> texts;
  for (const DcmTagKey& tag :
       {DCM_PatientName, DCM_PatientSex, DCM_PatientBirthDate, DCM_AccessionNumber, DCM_StudyID, DCM_StudyTime})
    texts.push_back(dicomText(path, tag));
  return texts;
}

/// `report ct.nrrd --mask mask.nrrd` (no meshes or pictures) next to a convert sidecar ct.json describing
/// `volumeFile`, of patient PAT-7, study ...11, series ...12 and frame of reference ...13, plus `extra` fields.
test::ProcessResult reportWithSidecar(const test::ScratchFolder& dir, const std::string& volumeFile,
                                      const nlohmann::json& extra = nlohmann::json::object()) {
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  nlohmann::json sidecar = {{"conversionSoftware", "lesionkit convert"},
                            {"volumeFile", volumeFile},
                            {"patientId", "PAT-7"},
                            {"studyInstanceUid", "1.2.826.0.1.3680043.2.1125.1.11"},
                            {"studyDate", "20240115"},
                            {"seriesInstanceUid", "1.2.826.0.1.3680043.2.1125.1.12"},
                            {"frameOfReferenceUid", "1.2.826.0.1.3680043.2.1125.1.13"},
                            {"modality", "CT"}};
  sidecar.update(extra);
  std::ofstream(dir / "ct.json") << sidecar.dump(2);
  return test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                           "-o", (dir / "out").string(), "--no-meshes", "--no-pictures"});
}

std::string textOf(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

/// The SEG and SR in `out` are valid and carry `attribute` as `expected`.
void expectInSegAndSr(const std::filesystem::path& out, const DcmTagKey& attribute, const std::string& expected) {
  for (const char* object : {"seg.dcm", "sr.dcm"}) {
    SCOPED_TRACE(object);
    expectValidDicom(out / object);
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile((out / object).c_str()).good());
    EXPECT_EQ(textOf(*file.getDataset(), attribute), expected);
  }
}

// A NRRD from `lesionkit convert` knows its patient, study and frame of reference (sidecar): the SEG
// and SR must say them, or a PACS files them under no patient in a new study, apart from the CT. The
// sidecar's Slice Thickness judges RECIST measurability, as for the DICOM series.
TEST(ReportCommand, ConvertedVolumeKeepsPatientStudyAndFrameOfReference) {
  test::ScratchFolder dir;
  const auto r = reportWithSidecar(dir, "ct.nrrd",
                                   {{"patientName", "Doe^Jane"},
                                    {"patientSex", "F"},
                                    {"patientBirthDate", "19560301"},
                                    {"accessionNumber", "ACC-42"},
                                    {"studyId", "7"},
                                    {"studyTime", "104607"},
                                     {"sliceThicknessMm", 7.5}});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  expectValidDicom(dir / "out" / "seg.dcm");
  expectValidDicom(dir / "out" / "sr.dcm");
  const std::vector<std::string> identity = {"Doe^Jane", "F", "19560301", "ACC-42", "7", "104607"};
  EXPECT_EQ(patientAndStudyTexts(dir / "out" / "seg.dcm"), identity);
  EXPECT_EQ(patientAndStudyTexts(dir / "out" / "sr.dcm"), identity);
  const SegmentationImage seg = readDicomSeg(dir / "out" / "seg.dcm");
  EXPECT_EQ(seg.frameOfReferenceUid, "1.2.826.0.1.3680043.2.1125.1.13");
  EXPECT_EQ(seg.studyInstanceUid, "1.2.826.0.1.3680043.2.1125.1.11");
  const SrDocument sr = readDicomSr(dir / "out" / "sr.dcm");
  EXPECT_EQ(sr.patientId, "PAT-7");
  EXPECT_EQ(sr.studyInstanceUid, "1.2.826.0.1.3680043.2.1125.1.11");
  nlohmann::json report;
  std::ifstream(dir / "out" / "report.json") >> report;
  EXPECT_EQ(report["settings"]["sliceThicknessSource"], "dicom") << report["settings"].dump();
  EXPECT_DOUBLE_EQ(report["lesions"][0]["measurability"]["sliceThicknessMm"].get<double>(), 7.5);
  // Tracking UIDs are the patient's: the same as a report from the DICOM series would give.
  ASSERT_FALSE(sr.groups.empty());
  EXPECT_EQ(sr.groups[0].trackingUid, derivedTrackingUid("PAT-7", sr.groups[0].trackingId));
}

// ct.json next to ct.nrrd that says it describes ct.nii.gz (another conversion) is not ct.nrrd's: its
// patient and study are not put into ct.nrrd's SEG and SR, and one warning says why.
TEST(ReportCommand, ASidecarOfAnotherFileOfTheSameNameIsNotUsed) {
  test::ScratchFolder dir;
  std::ofstream(dir / "ct.nii.gz") << "the image ct.json describes";
  const auto r = reportWithSidecar(dir, "ct.nii.gz");
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const std::string warning = "sidecar '" + (dir / "ct.json").string() + "' describes 'ct.nii.gz', not 'ct.nrrd'";
  const std::size_t first = r.err.find(warning);
  EXPECT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning, first + 1), std::string::npos) << "said once: " << r.err;
  const SrDocument sr = readDicomSr(dir / "out" / "sr.dcm");
  EXPECT_EQ(sr.patientId, "");
  EXPECT_NE(sr.studyInstanceUid, "1.2.826.0.1.3680043.2.1125.1.11");
  EXPECT_NE(readDicomSeg(dir / "out" / "seg.dcm").frameOfReferenceUid, "1.2.826.0.1.3680043.2.1125.1.13");
}

// A name outside ASCII ("Müller", UTF-8 in LesionKit) goes into the SEG and SR as UTF-8 (ISO_IR 192);
// dcmiod refused it ("Invalid character"), checking against ASCII whatever the SEG declared.
TEST(ReportCommand, ANameOutsideAsciiIsWrittenInUtf8) {
  test::ScratchFolder dir;
  const std::string name = "M\xC3\xBCller^Hans";
  const auto r = reportWithSidecar(dir, "ct.nrrd", {{"patientName", name}});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  expectInSegAndSr(dir / "out", DCM_PatientName, name);
  expectInSegAndSr(dir / "out", DCM_SpecificCharacterSet, "ISO_IR 192");
}

// An image renamed with its sidecar (ct.nrrd and ct.json, once patient1.nrrd and patient1.json): the
// file the sidecar names is not there, so it still describes this one (review: the rename dropped
// the slice thickness, the identity in SEG/SR and followup's patient checks) — when it records this
// image's grid (writeStudy's, as convert writes it; NIfTI-precision rounding allowed). A sidecar
// recording another grid is left over from a deleted image: not used, saying so.
TEST(ReportCommand, ASidecarRenamedWithItsImageIsStillUsed) {
  const nlohmann::json sameGrid = {{"size", {48, 44, 16}},
                                   {"spacingMm", {0.9, 0.9, 2.0}},
                                   {"originMm", {-20.0, -20.0, 10.000001}},
                                   {"directionColumns", {{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}}}};
  test::ScratchFolder dir;
  auto r = reportWithSidecar(dir, "patient1.nrrd", {{"geometry", sameGrid}});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("describes 'patient1.nrrd', which is not there: taken as the sidecar of"), std::string::npos)
      << r.err;
  EXPECT_EQ(readDicomSr(dir / "out" / "sr.dcm").patientId, "PAT-7");
  EXPECT_EQ(readDicomSeg(dir / "out" / "seg.dcm").frameOfReferenceUid, "1.2.826.0.1.3680043.2.1125.1.13");

  nlohmann::json otherGrid = sameGrid;
  otherGrid["size"][2] = 40;
  test::ScratchFolder leftOver;
  r = reportWithSidecar(leftOver, "patient1.nrrd", {{"geometry", otherGrid}});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("describes 'patient1.nrrd', which is not there, on another grid than '" +
                       (leftOver / "ct.nrrd").string() + "' (left over from a deleted image?)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(readDicomSr(leftOver / "out" / "sr.dcm").patientId, "");
}

// convert records the patient and study identity its DICOM source carried, and report carries it into the SEG
// and SR of the NRRD, as from the DICOM folder itself; what the source left empty (here the birth date) stays empty.
TEST(ReportCommand, ConvertThenReportKeepsThePatientAndStudyTheSourceCarried) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  test::ScratchFolder dir;
  const auto converted =
      test::runProcess({"lesionkit", "convert", (folder / "ct-3slice").string(), "-o", (dir / "ct.nrrd").string()});
  ASSERT_EQ(converted.exitCode, 0) << converted.err;
  const auto fromNrrd = test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask",
                                          (folder / "liver_seg.nrrd").string(), "-o", (dir / "nrrd").string(),
                                          "--no-meshes", "--no-pictures"});
  ASSERT_EQ(fromNrrd.exitCode, 0) << fromNrrd.out << fromNrrd.err;
  const std::filesystem::path source = folder / "ct-3slice" / "01.dcm";
  const std::vector<std::string> identity = patientAndStudyTexts(source);
  EXPECT_EQ(identity, (std::vector<std::string>{"JANCT000", "M", "", "03086212", "1", "104607"}));
  for (const char* object : {"seg.dcm", "sr.dcm"}) {
    EXPECT_EQ(patientAndStudyTexts(dir / "nrrd" / object), identity) << object;
    EXPECT_EQ(dicomText(dir / "nrrd" / object, DCM_PatientID), dicomText(source, DCM_PatientID)) << object;
    expectValidDicom(dir / "nrrd" / object);
  }
}

TEST(ReportCommand, FollowUpWithPreviousReportAndSegAsMask) {
  test::ScratchFolder dir;
  writeStudy(dir / "base.nrrd", dir / "base-mask.nrrd", 1.0, 120.0f);
  writeStudy(dir / "fu.nrrd", dir / "fu-mask.nrrd", 0.7, 900.0f); // smaller, calcifying
  const auto base = test::runProcess({"lesionkit", "report", (dir / "base.nrrd").string(), "--mask",
                                      (dir / "base-mask.nrrd").string(), "--lesion", "1:soft-tissue:axilla", "--lesion",
                                      "3:lytic-bone:L4", "-o", (dir / "base").string(), "--no-meshes"});
  ASSERT_EQ(base.exitCode, 0) << base.err;
  // The follow-up names its lesions like the baseline: they are matched by name.
  const auto fu = test::runProcess({"lesionkit", "report", (dir / "fu.nrrd").string(), "--mask",
                                    (dir / "fu-mask.nrrd").string(), "--lesion", "1:soft-tissue:axilla", "--lesion",
                                    "3:lytic-bone:L4", "--previous", (dir / "base" / "report.json").string(),
                                    "--timepoint", "follow-up-1", "-o", (dir / "fu").string(), "--no-meshes"});
  ASSERT_EQ(fu.exitCode, 0) << fu.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "fu" / "qc" / "lesion-1-followup.png"));
  EXPECT_TRUE(std::filesystem::exists(dir / "fu" / "qc" / "lesion-3-followup.png"));
  std::ifstream in(dir / "fu" / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t tables = 0, plots = 0;
  for (auto p = html.find("class=\"lesion-table\""); p != std::string::npos; p = html.find("class=\"lesion-table\"", p + 1)) ++tables;
  for (auto p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++plots;
  EXPECT_EQ(tables, 2u);
  EXPECT_EQ(plots, 5u); // axilla: long axis, volume; L4: long axis, volume, calcified volume
  // Same tracking UID at both time points.
  EXPECT_EQ(readDicomSr(dir / "base" / "sr.dcm").groups[1].trackingUid, readDicomSr(dir / "fu" / "sr.dcm").groups[1].trackingUid);

  // A SEG as mask brings its lesion names and kinds along.
  const auto fromSeg = test::runProcess({"lesionkit", "report", (dir / "base.nrrd").string(), "--mask",
                                         (dir / "base" / "seg.dcm").string(), "-o", (dir / "again").string(),
                                         "--no-meshes", "--no-pictures"});
  ASSERT_EQ(fromSeg.exitCode, 0) << fromSeg.err;
  const SegmentationImage seg = readDicomSeg(dir / "again" / "seg.dcm");
  ASSERT_EQ(seg.segments.size(), 2u);
  EXPECT_EQ(seg.segments[1].trackingId, "L4");
  EXPECT_EQ(seg.segments[1].segmentDescription, "LesionKit label 3: lytic-bone");
}

/// A mass LesionKit can segment from a seed: a 24 mm sphere at 45 HU in fat (-100 HU), air in front.
void writeMassInFat(const std::filesystem::path& volumePath) {
  ImageGeometry g;
  g.size = {48, 48, 24};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {-23.5, -23.5, -23.0};
  Volume v(g);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 p = g.indexToPoint(i, j, k);
        v.at(i, j, k) = norm(p) <= 12.0 ? 45.0f + float((i + 2 * j + 3 * k) % 7) : (p.y < -20.0 ? -1000.0f : -100.0f);
      }
  dicomio::writeVolumeFile(v, volumePath, true);
}

// `measure --seed` named its mask by the seeds, which `report --measurements` took for a file name ("DICOM
// SEG 'the mask segmented from --seed ...': no such file"). With --mask-output the report names the saved mask,
// which reloads (LesionKit's, semi-automatic); without it, the error says why there is nothing to reload.
TEST(ReportCommand, AReportOfMeasureSeedReloadsItsSavedMaskOrSaysWhyNot) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  writeMassInFat(dir / "ct.nrrd");
  const std::string ct = (dir / "ct.nrrd").string();
  const auto measure = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {"lesionkit", "measure", ct, "--seed", "1,1,0", "--no-mesh"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::runProcess(argv);
  };
  const auto reportOf = [&](const char* json, const char* out) {
    return test::runProcess({"lesionkit", "report", "--measurements", (dir / json).string(), "-o", (dir / out).string(),
                             "--no-meshes", "--no-pictures"});
  };
  ASSERT_EQ(measure({"-o", (dir / "unsaved.json").string()}).exitCode, 0);
  auto r = reportOf("unsaved.json", "out1");
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("measurement report '" + (dir / "unsaved.json").string() +
                       "': its mask is the mask segmented from --seed (1.0, 1.0, 0.0), which `lesionkit measure` "
                       "saved to no file: measure again with --mask-output"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out1"));

  const auto saved = measure({"--mask-output", (dir / "mass.nrrd").string(), "-o", (dir / "saved.json").string()});
  ASSERT_EQ(saved.exitCode, 0) << saved.err;
  EXPECT_NE(saved.out.find("wrote " + (dir / "saved.json").string() + " and " + (dir / "mass.nrrd").string()),
            std::string::npos)
      << saved.out;
  nlohmann::json measured, reported;
  std::ifstream(dir / "saved.json") >> measured;
  EXPECT_EQ(measured["input"]["maskPath"], (dir / "mass.nrrd").string());
  r = reportOf("saved.json", "out2");
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SEMIAUTOMATIC by LesionKit"), std::string::npos) << r.out;
  std::ifstream(dir / "out2" / "report.json") >> reported;
  ASSERT_EQ(reported["lesions"].size(), 1u);
  EXPECT_EQ(reported["lesions"][0]["voxelCount"], measured["lesions"][0]["voxelCount"]);

  // Measured from the study's folder with relative names into a subfolder, reported from elsewhere
  // (review: the relative name was looked up below the report's folder again and not found).
  std::filesystem::create_directories(dir / "mo");
  const auto relative =
      test::runProcess({"/bin/sh", "-c",
                        "cd '" + dir.path().string() + "' && '" + (test::binaryDir() / "lesionkit").string() +
                            "' measure ct.nrrd --seed 1,1,0 --no-mesh --mask-output mo/mass.nrrd "
                            "-o mo/saved.json"});
  ASSERT_EQ(relative.exitCode, 0) << relative.err;
  r = reportOf("mo/saved.json", "out3");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  // The folder moved with its report: the mask of that name beside the report is used, saying so.
  std::filesystem::rename(dir / "mo", dir / "moved");
  r = reportOf("moved/saved.json", "out4");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("'" + (dir / "moved" / "mass.nrrd").string() + "' is used"), std::string::npos) << r.err;

  // A mask given as --mask is a file already; --mask-output writes only a segmented one.
  r = test::runProcess({"lesionkit", "measure", ct, "--mask", (dir / "mass.nrrd").string(), "--mask-output",
                        (dir / "again.nrrd").string(), "-o", (dir / "m.json").string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("--mask-output"), std::string::npos) << r.err;
}

// The SEG says what made its segments: LesionKit (SEMIAUTOMATIC) for a mask `lesionkit segment`
// wrote, MANUAL without an algorithm for any other mask (e.g. a reader's), a SEG's own algorithm
// when the mask is a SEG, and what the user states with --segment-algorithm-type/-name.
TEST(ReportCommand, TheSegSaysWhatMadeTheMask) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  writeMassInFat(dir / "ct.nrrd");
  const std::string ct = (dir / "ct.nrrd").string();
  const auto segmented =
      test::runProcess({"lesionkit", "segment", ct, "--seed", "1,1,0", "-o", (dir / "ours.nrrd").string(), "-q"});
  ASSERT_EQ(segmented.exitCode, 0) << segmented.err;
  // The same voxels, drawn elsewhere: a plain label map without LesionKit's record.
  dicomio::writeLabelMapFile(dicomio::readLabelMapFile(dir / "ours.nrrd"), dir / "drawn.nrrd");

  struct Made {
    std::string type, name;
  };
  const auto segOf = [&](const std::string& mask, const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{
        "lesionkit",   "report",       ct, "--mask", mask, "--lesion", "1:soft-tissue:mass", "-o", (dir / out).string(),
        "--no-meshes", "--no-pictures"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto r = test::runProcess(argv);
    EXPECT_EQ(r.exitCode, 0) << out << ": " << r.err;
    if (r.exitCode != 0)
      return Made{};
    const auto path = dir / out / "seg.dcm";
    expectValidDicom(path);
    EXPECT_EQ(readDicomSr(dir / out / "sr.dcm").groups.size(), 1u) << out; // the SR still refers to it
    const SegmentationImage seg = readDicomSeg(path);
    EXPECT_EQ(seg.segments.size(), 1u) << out;
    return seg.segments.empty() ? Made{} : Made{seg.segments[0].algorithmType, seg.segments[0].algorithmName};
  };
  const auto expectMade = [](const Made& made, const std::string& type, const std::string& name,
                             const std::string& what) {
    EXPECT_EQ(made.type, type) << what;
    EXPECT_EQ(made.name, name) << what;
  };
  expectMade(segOf((dir / "ours.nrrd").string(), "ours"), "SEMIAUTOMATIC", "LesionKit", "a mask of lesionkit segment");
  expectMade(segOf((dir / "drawn.nrrd").string(), "drawn"), "MANUAL", "", "a mask without LesionKit's record");
  expectMade(segOf((dir / "ours" / "seg.dcm").string(), "ours-seg"), "SEMIAUTOMATIC", "LesionKit", "our SEG as mask");
  expectMade(segOf((dir / "drawn" / "seg.dcm").string(), "drawn-seg"), "MANUAL", "", "a MANUAL SEG as mask");
  expectMade(segOf((dir / "drawn.nrrd").string(), "stated",
                   {"--segment-algorithm-type", "automatic", "--segment-algorithm-name", "nnU-Net 2.4"}),
             "AUTOMATIC", "nnU-Net 2.4", "stated by the user");
  expectMade(segOf((dir / "ours.nrrd").string(), "stated-manual", {"--segment-algorithm-type", "manual"}), "MANUAL", "",
             "a segment mask the reader corrected by hand");

  // DICOM requires a name unless MANUAL; a name needs a type that has one.
  for (const std::vector<std::string>& wrong :
       {std::vector<std::string>{"--segment-algorithm-type", "semiautomatic"},
        std::vector<std::string>{"--segment-algorithm-name", "nnU-Net"},
        std::vector<std::string>{"--segment-algorithm-type", "manual", "--segment-algorithm-name", "nnU-Net"},
        std::vector<std::string>{"--segment-algorithm-type", "automatic", "--segment-algorithm-name",
                                 std::string(65, 'x')}}) {
    std::vector<std::string> argv{
        "lesionkit", "report", ct, "--mask", (dir / "drawn.nrrd").string(), "-o", (dir / "wrong").string()};
    argv.insert(argv.end(), wrong.begin(), wrong.end());
    const auto r = test::runProcess(argv);
    EXPECT_EQ(r.exitCode, 1) << wrong.front() << ": " << r.err;
    EXPECT_NE(r.err.find("--segment-algorithm-"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "wrong"));
  }
}

namespace {

/// A copy of SEG `from` at `to` whose segments lack `tag` (another tool's SEG that leaves it out).
void copySegWithoutSegmentAttribute(const std::filesystem::path& from, const std::filesystem::path& to,
                                    const DcmTagKey& tag) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(from.c_str()).good()) << from;
  file.loadAllDataIntoMemory();
  DcmItem* item = nullptr;
  for (unsigned long i = 0; file.getDataset()->findAndGetSequenceItem(DCM_SegmentSequence, item, i).good() && item; ++i)
    item->findAndDeleteElement(tag);
  ASSERT_TRUE(file.saveFile(to.c_str(), EXS_LittleEndianExplicit).good()) << to;
}

/// `lesionkit report` of the mass in fat (dir/ct.nrrd) with `mask` into dir/out: the run, its report.json
/// warnings and its SEG's algorithm (type and name of the first segment).
struct ReportRun {
  test::ProcessResult run;
  std::string warnings;
  std::string type, name;
};
ReportRun reportOf(const std::filesystem::path& dir, const std::filesystem::path& mask, const std::string& out,
                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{
      "lesionkit",          "report", (dir / "ct.nrrd").string(), "--mask",      mask.string(),  "--lesion",
      "1:soft-tissue:mass", "-o",     (dir / out).string(),       "--no-meshes", "--no-pictures"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ReportRun r{test::runProcess(argv), {}, {}, {}};
  if (r.run.exitCode != 0)
    return r;
  std::ifstream in(dir / out / "report.json");
  r.warnings = nlohmann::json::parse(in).at("input").at("warnings").dump();
  const SegmentationImage seg = readDicomSeg(dir / out / "seg.dcm");
  if (!seg.segments.empty()) {
    r.type = seg.segments[0].algorithmType;
    r.name = seg.segments[0].algorithmName;
  }
  return r;
}

/// dir/ct.nrrd (a mass in fat) and dir/ours.nrrd, its `lesionkit segment` mask.
void writeMassAndItsSegmentMask(const std::filesystem::path& dir) {
  writeMassInFat(dir / "ct.nrrd");
  const auto r = test::runProcess({"lesionkit", "segment", (dir / "ct.nrrd").string(), "--seed", "1,1,0", "-o",
                                   (dir / "ours.nrrd").string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
}

} // namespace

// Another tool's SEG that gives its segments a type but no Segment Algorithm Name (DICOM requires
// one), or no type at all: the new SEG calls them MANUAL, and the warning names the input and what
// it lacks; a type the user states needs no such warning.
TEST(ReportCommand, ASegMaskWithoutAlgorithmNameOrTypeIsCalledManualWithAWarningNamingIt) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  writeMassAndItsSegmentMask(dir.path());
  const ReportRun ours = reportOf(dir.path(), dir / "ours.nrrd", "ours");
  ASSERT_EQ(ours.run.exitCode, 0) << ours.run.err;
  copySegWithoutSegmentAttribute(dir / "ours" / "seg.dcm", dir / "unnamed.dcm", DCM_SegmentAlgorithmName);
  copySegWithoutSegmentAttribute(dir / "ours" / "seg.dcm", dir / "untyped.dcm", DCM_SegmentAlgorithmType);

  const ReportRun unnamed = reportOf(dir.path(), dir / "unnamed.dcm", "unnamed");
  ASSERT_EQ(unnamed.run.exitCode, 0) << unnamed.run.err;
  EXPECT_EQ(unnamed.type, "MANUAL");
  EXPECT_EQ(unnamed.name, "");
  const std::string said = unnamed.run.out + unnamed.warnings;
  EXPECT_NE(said.find("mask '" + (dir / "unnamed.dcm").string() +
                      "': its segment has Segment Algorithm Type SEMIAUTOMATIC but no Segment Algorithm Name"),
            std::string::npos)
      << said;
  EXPECT_NE(unnamed.warnings.find("--segment-algorithm-type"), std::string::npos) << unnamed.warnings;

  const ReportRun untyped = reportOf(dir.path(), dir / "untyped.dcm", "untyped");
  ASSERT_EQ(untyped.run.exitCode, 0) << untyped.run.err;
  EXPECT_EQ(untyped.type, "MANUAL");
  EXPECT_NE(untyped.warnings.find("its segment has no Segment Algorithm Type"), std::string::npos) << untyped.warnings;
  EXPECT_EQ(untyped.warnings.find("not all made the same way"), std::string::npos) << untyped.warnings;

  const ReportRun stated = reportOf(dir.path(), dir / "untyped.dcm", "stated",
                                    {"--segment-algorithm-type", "automatic", "--segment-algorithm-name", "X"});
  ASSERT_EQ(stated.run.exitCode, 0) << stated.run.err;
  EXPECT_EQ(stated.type, "AUTOMATIC");
  EXPECT_EQ(stated.name, "X");
  EXPECT_EQ((stated.run.out + stated.warnings).find("MANUAL"), std::string::npos) << stated.run.out << stated.warnings;
}

// A `lesionkit segment` mask a reader edited with a tool that keeps the NRRD header (pynrrd,
// SimpleITK) is no longer LesionKit's: the SEG says MANUAL, and the report says why.
TEST(ReportCommand, AnEditedLesionKitMaskIsCalledManualWithAWarning) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  writeMassAndItsSegmentMask(dir.path());
  LabelMap half = dicomio::readLabelMapFile(dir / "ours.nrrd");
  for (std::size_t i = 0; i < half.voxels.size() / 2; ++i)
    half.voxels[i] = 0; // the slices on one side erased
  ASSERT_NE(half.voxels, dicomio::readLabelMapFile(dir / "ours.nrrd").voxels);
  dicomio::writeLabelMapFile(half, dir / "half.nrrd");
  test::replaceNrrdVoxelsKeepingHeader(dir / "ours.nrrd", dir / "half.nrrd");

  const ReportRun edited = reportOf(dir.path(), dir / "ours.nrrd", "edited");
  ASSERT_EQ(edited.run.exitCode, 0) << edited.run.err;
  EXPECT_EQ(edited.type, "MANUAL");
  EXPECT_EQ(edited.name, "");
  EXPECT_NE(edited.warnings.find("changed after LesionKit wrote it"), std::string::npos) << edited.warnings;
  test::expectWarnedOnceOnStderr(edited.run, "label map '" + (dir / "ours.nrrd").string() + "'");
}

// --intensity-unit follows the rule of measure and followup: a file without air is not CT unless the user
// says so; a --measurements report keeps its unit unless one is chosen.
TEST(ReportCommand, IntensityUnitFollowsTheSharedRule) {
  test::ScratchFolder dir;
  writeStudy(dir / "mr.nrrd", dir / "mask.nrrd", 1.0, 700.0f, false);
  auto unitOf = [&](std::vector<std::string> arguments, const std::string& out) {
    arguments.insert(arguments.end(), {"-o", (dir / out).string(), "--no-meshes", "--no-pictures"});
    const auto r = test::runProcess(arguments);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    nlohmann::json j;
    std::ifstream(dir / out / "report.json") >> j;
    return j["settings"]["intensityUnit"].get<std::string>();
  };
  const std::string volume = (dir / "mr.nrrd").string(), mask = (dir / "mask.nrrd").string();
  EXPECT_EQ(unitOf({"lesionkit", "report", volume, "--mask", mask}, "auto"), "arbitrary");
  EXPECT_EQ(unitOf({"lesionkit", "report", volume, "--mask", mask, "--intensity-unit", "HU"}, "hu"), "HU");
  const std::string huReport = (dir / "hu" / "report.json").string();
  EXPECT_EQ(unitOf({"lesionkit", "report", "--measurements", huReport}, "kept"), "HU");
  EXPECT_EQ(unitOf({"lesionkit", "report", "--measurements", huReport, "--intensity-unit", "arbitrary"}, "chosen"),
            "arbitrary");
}

TEST(ReportCommand, BadInputLeavesNoOutputFolder) {
  test::ScratchFolder dir;
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  const auto r = test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask",
                                   (dir / "ct.nrrd").string() + ".missing", "-o", (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  const auto usage = test::runProcess({"lesionkit", "report", "-o", (dir / "out").string()});
  EXPECT_EQ(usage.exitCode, 1) << usage.err;
}

TEST(ReportCommand, AFolderHoldingTheInputsOrOtherFilesIsNeverReplaced) {
  // The output folder is replaced as a whole: the study folder itself would lose the CT.
  test::ScratchFolder dir;
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  auto r = test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                             "-o", dir.path().string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("holds the input"), std::string::npos) << r.err;
  // A folder of the user's that happens to hold a report.json is not an earlier report.
  std::filesystem::create_directories(dir / "mine" / "sub");
  std::ofstream(dir / "mine" / "report.json") << "{}";
  std::ofstream(dir / "mine" / "notes.txt") << "keep";
  std::ofstream(dir / "mine" / "sub" / "thesis.docx") << "keep";
  r = test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(), "-o",
                        (dir / "mine").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("'" + (dir / "mine").string() + "' exists and holds other files ('notes.txt')"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(test::listFiles(dir.path()),
            (std::vector<std::string>{"ct.nrrd", "mask.nrrd", "mine", "mine/notes.txt", "mine/report.json", "mine/sub",
                                      "mine/sub/thesis.docx"}));
}

TEST(ReportCommand, AnEarlierReportIsReplacedAnotherCommandsOutputIsNot) {
  test::ScratchFolder dir;
  writeStudy(dir / "ct.nrrd", dir / "mask.nrrd");
  auto report = [&](const std::filesystem::path& out, const std::string& timepoint) {
    return test::runProcess({"lesionkit", "report", (dir / "ct.nrrd").string(), "--mask", (dir / "mask.nrrd").string(),
                             "--timepoint", timepoint, "--no-pictures", "--no-meshes", "-o", out.string()});
  };
  ASSERT_EQ(report(dir / "out", "first").exitCode, 0);
  const auto again = report(dir / "out", "second");
  EXPECT_EQ(again.exitCode, 0) << again.err;
  std::ifstream in(dir / "out" / "report.json");
  EXPECT_EQ(nlohmann::json::parse(in).at("timepoint"), "second");
  // A follow-up output (as lesionkit followup records it) holds a timeline, not a report.
  std::filesystem::create_directories(dir / "followup");
  std::ofstream(dir / "followup" / "timeline.json") << "{}";
  std::ofstream(dir / "followup" / ".lesionkit-output") << "lesionkit output of: followup\ntimeline.json\n";
  const auto refused = report(dir / "followup", "third");
  EXPECT_EQ(refused.exitCode, 2) << refused.err;
  EXPECT_NE(refused.err.find("is an output of lesionkit followup, not of lesionkit report"), std::string::npos)
      << refused.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "followup" / "timeline.json"));
}

// Canon Enhanced MR (one .dcm.gz holding 520 frames: 13 diffusion time points of 40 slices).
constexpr const char* kCanonEnhancedSeries = "1.2.392.200036.9116.4.2.9143.2234.8001";

/// Loads part `series` of the DICOM `folder` and writes a 10x10x4 voxel box label map on its grid to `mask`.
dicomio::LoadedVolume writeBoxMaskOnSeries(const std::filesystem::path& folder, const std::string& series,
                                           const std::filesystem::path& mask) {
  dicomio::LoadOptions options;
  options.seriesInstanceUid = series;
  dicomio::LoadedVolume loaded = dicomio::loadVolume(folder, options);
  LabelMap labels(loaded.volume.geometry, 0);
  const auto& size = labels.geometry.size;
  for (std::size_t k = size[2] / 2 - 2; k < size[2] / 2 + 2; ++k)
    for (std::size_t j = size[1] / 2 - 5; j < size[1] / 2 + 5; ++j)
      for (std::size_t i = size[0] / 2 - 5; i < size[0] / 2 + 5; ++i)
        labels.at(i, j, k) = 1;
  dicomio::writeLabelMapFile(labels, mask);
  return loaded;
}

TEST(ReportCommand, FindsTheSourceSeriesInDcmGzFilesAsTheLoaderDoes) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "neurolabusc+dcm_qa_canon_61/In");
  test::ScratchFolder dir;
  const dicomio::LoadedVolume source = writeBoxMaskOnSeries(folder, kCanonEnhancedSeries, dir / "mask.nii.gz");
  const auto r =
      test::runProcess({"lesionkit", "report", folder.string(), "--series", kCanonEnhancedSeries, "--mask",
                        (dir / "mask.nii.gz").string(), "-o", (dir / "out").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const SegmentationImage seg = readDicomSeg(dir / "out" / "seg.dcm");
  EXPECT_EQ(seg.studyInstanceUid, source.studyInstanceUid);
  EXPECT_EQ(seg.frameOfReferenceUid, source.frameOfReferenceUid);
  EXPECT_EQ(readDicomSr(dir / "out" / "sr.dcm").patientId, source.patientId);
}

/// Item `index` of sequence `tag` in `item`, or nullptr.
DcmItem* itemOf(DcmItem* item, const DcmTagKey& tag, long index = 0) {
  DcmItem* found = nullptr;
  return item && item->findAndGetSequenceItem(tag, found, index).good() ? found : nullptr;
}

TEST(ReportCommand, TheSegOfAMultiframeSourceReferencesItsInstanceAndTheFramesOfTheLoadedPart) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "neurolabusc+dcm_qa_canon_61/In");
  test::ScratchFolder dir;
  const std::string part = std::string(kCanonEnhancedSeries) + "#3"; // the third of 13 time points
  writeBoxMaskOnSeries(folder, part, dir / "mask.nii.gz");
  const auto r =
      test::runProcess({"lesionkit", "report", folder.string(), "--series", part, "--mask",
                        (dir / "mask.nii.gz").string(), "-o", (dir / "out").string(), "--no-meshes", "--no-pictures"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("reference none"), std::string::npos) << r.err;
  expectValidDicom(dir / "out" / "seg.dcm");
  const dicomio::DicomInstance source = dicomio::readDicomHeader(folder / "enh" / "8000.dcm.gz");
  ASSERT_EQ(source.frames.size(), 520u);

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile((dir / "out" / "seg.dcm").c_str()).good());
  DcmDataset* seg = file.getDataset();
  DcmItem* series = itemOf(seg, DCM_ReferencedSeriesSequence);
  ASSERT_NE(series, nullptr) << "ReferencedSeriesSequence";
  EXPECT_EQ(textOf(*series, DCM_SeriesInstanceUID), kCanonEnhancedSeries);
  DcmItem* instance = itemOf(series, DCM_ReferencedInstanceSequence);
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(textOf(*instance, DCM_ReferencedSOPInstanceUID), source.sopInstanceUid);
  EXPECT_EQ(itemOf(series, DCM_ReferencedInstanceSequence, 1), nullptr) << "the one source file, listed once";

  std::size_t frames = 0;
  for (DcmItem* perFrame = nullptr; (perFrame = itemOf(seg, DCM_PerFrameFunctionalGroupsSequence, long(frames)));
       ++frames) {
    SCOPED_TRACE("SEG frame " + std::to_string(frames + 1));
    DcmItem* ref = itemOf(itemOf(perFrame, DCM_DerivationImageSequence), DCM_SourceImageSequence);
    ASSERT_NE(ref, nullptr) << "DerivationImageSequence / SourceImageSequence";
    EXPECT_EQ(textOf(*ref, DCM_ReferencedSOPInstanceUID), source.sopInstanceUid);
    Sint32 frameNumber = 0;
    ASSERT_TRUE(ref->findAndGetSint32(DCM_ReferencedFrameNumber, frameNumber).good()) << "ReferencedFrameNumber";
    ASSERT_GE(frameNumber, 1);
    ASSERT_LE(frameNumber, 520);
    const dicomio::DicomFrameGeometry& sourceFrame = source.frames[std::size_t(frameNumber - 1)];
    EXPECT_EQ(sourceFrame.temporalPositionIndex, 3L) << "a frame of the loaded time point";
    Float64 segZ = 0;
    ASSERT_TRUE(
        itemOf(perFrame, DCM_PlanePositionSequence)->findAndGetFloat64(DCM_ImagePositionPatient, segZ, 2).good());
    ASSERT_TRUE(sourceFrame.imagePositionPatient.has_value());
    EXPECT_NEAR(sourceFrame.imagePositionPatient->z, segZ, 1e-3) << "the frame on the SEG frame's plane";
  }
  EXPECT_EQ(frames, 4u) << "the box covers 4 slices";
}

TEST(ReportCommand, AStudyIdLongerThanDicomAllowsIsCutTo16CharactersWithAWarning) {
  LESIONKIT_REQUIRE_TEST_DATA(data, "theibsi+data_sets/ibsi_validation");
  test::ScratchFolder dir;
  // The CT's Study ID is 'IBSI_1_STS_002_CT': 17 characters, VR SH allows 16.
  const auto r = test::runProcess({"lesionkit", "report", (data / "dicom/STS_002/CT/image").string(), "--mask",
                                   (data / "nifti/STS_002/CT_mask.nii.gz").string(), "-o", (dir / "out").string(),
                                   "--no-meshes", "--no-pictures"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("Study ID 'IBSI_1_STS_002_CT' of the source is longer than DICOM allows"), std::string::npos)
      << r.err;
  expectInSegAndSr(dir / "out", DCM_StudyID, "IBSI_1_STS_002_C");
}

// The same from a convert sidecar, which records the source's values as they were; Accession Number
// (also VR SH) likewise.
TEST(ReportCommand, OverlongStudyIdAndAccessionNumberOfASidecarAreCutTo16Characters) {
  test::ScratchFolder dir;
  const auto r = reportWithSidecar(dir, "ct.nrrd",
                                   {{"studyId", "IBSI_1_STS_002_CT"}, {"accessionNumber", "ACC-0123456789ABCDEF"}});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("Accession Number 'ACC-0123456789ABCDEF' of the source is longer than DICOM allows"),
            std::string::npos)
      << r.err;
  expectInSegAndSr(dir / "out", DCM_StudyID, "IBSI_1_STS_002_C");
  expectInSegAndSr(dir / "out", DCM_AccessionNumber, "ACC-0123456789AB");
}

} // namespace
} // namespace lesion::reporting
