// DICOM SEG: round trips (mask -> SEG -> mask identical), validation with dciodvfy, structure with
// dcmdump, and reading dcmqi's SEG objects against its NRRD label maps.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include "DicomTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {
namespace {

LabelMap makeLesions(const Mat3& direction = Mat3::identity()) {
  ImageGeometry g;
  g.size = {40, 30, 12};
  g.spacing = {0.8, 0.7, 2.5};
  g.origin = {-20.0, 15.5, 100.25};
  g.direction = direction;
  LabelMap labels(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 12) / 7, b = (double(j) - 12) / 6, c = (double(k) - 5) / 3;
        if (a * a + b * b + c * c <= 1.0) labels.at(i, j, k) = 1;
        if (i >= 28 && i < 35 && j >= 5 && j < 9 && k >= 2 && k < 4) labels.at(i, j, k) = 2;
        if (i >= 25 && i < 38 && j >= 20 && j < 27 && k == 9) labels.at(i, j, k) = 5; // gap in label values
      }
  return labels;
}

std::vector<SegmentInfo> threeSegments() {
  return {{1, "soft-tissue", "axilla", "", ""}, {2, "lytic-bone", "L4", "", ""}, {5, "lymph-node", "", "node A", ""}};
}

TEST(DicomSeg, RoundTripFromNrrdIsIdenticalAndCarriesCodes) {
  test::ScratchFolder scratch;
  const LabelMap labels = makeLesions();
  DicomSourceInfo source; // NRRD input: standalone SEG
  source.patientId = "P1";
  const DicomObjectInfo info = writeDicomSeg(labels, threeSegments(), source, scratch / "seg.dcm");
  EXPECT_EQ(info.segmentNumbers, (std::vector<std::uint16_t>{1, 2, 3}));
  EXPECT_EQ(info.frameCount, 7u + 2u + 1u);

  const LabelMap back = loadLabelMap(scratch / "seg.dcm", &labels.geometry);
  ASSERT_TRUE(back.geometry.sameGrid(labels.geometry));
  EXPECT_EQ(back.voxels, labels.voxels);

  const SegmentationImage seg = readDicomSeg(scratch / "seg.dcm");
  ASSERT_EQ(seg.segments.size(), 3u);
  EXPECT_EQ(seg.sopInstanceUid, info.sopInstanceUid);
  EXPECT_EQ(seg.segments[0].label, 1);
  EXPECT_EQ(seg.segments[2].label, 5);
  EXPECT_EQ(seg.segments[0].segmentLabel, "axilla");
  EXPECT_EQ(seg.segments[0].category, (CodedConcept{"49755003", "SCT", ""}));
  EXPECT_EQ(seg.segments[0].type, (CodedConcept{"4147007", "SCT", ""}));
  EXPECT_EQ(seg.segments[1].type, (CodedConcept{"52988006", "SCT", ""}));
  EXPECT_EQ(seg.segments[1].anatomicRegion, (CodedConcept{"272673000", "SCT", ""}));
  EXPECT_EQ(seg.segments[2].anatomicRegion, (CodedConcept{"59441001", "SCT", ""}));
  EXPECT_EQ(seg.segments[1].trackingId, "L4");
  EXPECT_EQ(seg.segments[2].trackingId, "node A");
  EXPECT_EQ(seg.segments[1].trackingUid, derivedTrackingUid("P1", "L4"));
  EXPECT_EQ(seg.overlappingVoxels, 0u);
  // Without a reference grid: the grid spanned by the frames (slices 2..9).
  EXPECT_EQ(seg.labels.geometry.size[2], 8u);
  EXPECT_NEAR(distance(seg.labels.geometry.origin, labels.geometry.indexToPoint(0, 0, 2)), 0.0, 1e-6);
}

TEST(DicomSeg, RoundTripObliqueGrid) {
  test::ScratchFolder scratch;
  const Mat3 r = Mat3::rotation(normalized(Vec3{0.3, -0.5, 1.0}), 0.4);
  const LabelMap labels = makeLesions(r);
  const DicomObjectInfo info = writeDicomSeg(labels, threeSegments(), {}, scratch / "oblique.dcm");
  const LabelMap back = loadLabelMap(info.path, &labels.geometry);
  EXPECT_EQ(back.voxels, labels.voxels);
  const SegmentationImage seg = readDicomSeg(info.path);
  for (std::size_t c = 0; c < 9; ++c) EXPECT_NEAR(seg.labels.geometry.direction.m[c], r.m[c], 1e-9);
}

TEST(DicomSeg, TrackingUidIsStableAcrossTimePoints) {
  EXPECT_EQ(derivedTrackingUid("P1", "L4"), derivedTrackingUid("P1", "L4"));
  EXPECT_NE(derivedTrackingUid("P1", "L4"), derivedTrackingUid("P2", "L4"));
  EXPECT_NE(derivedTrackingUid("P1", "L4"), derivedTrackingUid("P1", "L5"));
  const std::string uid = derivedTrackingUid("P1", "L4");
  EXPECT_EQ(uid.rfind("2.25.", 0), 0u);
  EXPECT_LE(uid.size(), 64u);
}

TEST(DicomSeg, PassesDciodvfyAndDumpShowsStructure) {
  test::ScratchFolder scratch;
  const LabelMap labels = makeLesions();
  DicomSourceInfo source;
  source.patientId = "P1";
  source.patientName = "Test^Patient";
  writeDicomSeg(labels, threeSegments(), source, scratch / "seg.dcm");
  expectValidDicom(scratch / "seg.dcm");
  const std::string dump = dcmdump(scratch / "seg.dcm");
  if (dump.empty()) GTEST_SKIP() << "dcmdump not available";
  for (const char* expected :
       {"=SegmentationStorage", "(0062,0001) CS [BINARY]", "(0062,0020) UT [L4]", "(0062,0021) UI [2.25.",
        "(0008,0100) SH [49755003]", "(0008,0100) SH [4147007]", "(0020,9113) SQ", "(0020,9116) SQ", "(0028,9110) SQ",
        "(0028,0008) IS [10]", "(0062,000b) US 3"})
    EXPECT_NE(dump.find(expected), std::string::npos) << expected;
}

TEST(DicomSeg, SaysWhatMadeItsSegmentsAndClaimsNoAlgorithmForAManualMask) {
  test::ScratchFolder scratch;
  const LabelMap labels = makeLesions();
  DicomSourceInfo source;
  source.patientId = "P1";
  struct Case {
    const char* file;
    SegmentAlgorithm algorithm;
    const char* type;
    const char* name;
    const char* description;
  };
  for (const Case& c :
       {Case{"manual.dcm", {}, "MANUAL", "", "Lesion segmentation"},
        Case{"ours.dcm", lesionKitAlgorithm(), "SEMIAUTOMATIC", "LesionKit", "Lesion segmentation by LesionKit"},
        Case{"theirs.dcm",
             {SegmentAlgorithmType::Automatic, "nnU-Net 2.4"},
             "AUTOMATIC",
             "nnU-Net 2.4",
             "Lesion segmentation by nnU-Net 2.4"}}) {
    DicomSegOptions options;
    options.algorithm = c.algorithm;
    options.algorithmVersion = "0.9";
    writeDicomSeg(labels, threeSegments(), source, scratch / c.file, options);
    const SegmentationImage seg = readDicomSeg(scratch / c.file);
    ASSERT_EQ(seg.segments.size(), 3u);
    for (const SegmentRecord& r : seg.segments) {
      EXPECT_EQ(r.algorithmType, c.type) << c.file;
      EXPECT_EQ(r.algorithmName, c.name) << c.file;
    }
    expectValidDicom(scratch / c.file);
    // Read with DCMTK (no dcmdump needed, so the checks cannot be skipped).
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile((scratch / c.file).c_str()).good()) << c.file;
    OFString description;
    EXPECT_TRUE(file.getDataset()->findAndGetOFString(DCM_ContentDescription, description).good()) << c.file;
    EXPECT_EQ(std::string(description.c_str()), c.description) << c.file;
    DcmItem* segment = nullptr;
    ASSERT_TRUE(file.getDataset()->findAndGetSequenceItem(DCM_SegmentSequence, segment, 0).good()) << c.file;
    EXPECT_EQ(segment->tagExists(DCM_SegmentAlgorithmName), !std::string(c.name).empty()) << c.file;
  }
  DicomSegOptions unnamed;
  unnamed.algorithm = {SegmentAlgorithmType::SemiAutomatic, ""};
  EXPECT_THROW((void)writeDicomSeg(labels, threeSegments(), source, scratch / "x.dcm", unnamed), InputError);
}

TEST(DicomSeg, AlgorithmTypesAreTheDicomTermsInAnyCase) {
  EXPECT_EQ(segmentAlgorithmTypeTerm(SegmentAlgorithmType::SemiAutomatic), "SEMIAUTOMATIC");
  EXPECT_EQ(segmentAlgorithmTypeOfTerm("manual"), SegmentAlgorithmType::Manual);
  EXPECT_EQ(segmentAlgorithmTypeOfTerm("SemiAutomatic"), SegmentAlgorithmType::SemiAutomatic);
  EXPECT_EQ(segmentAlgorithmTypeOfTerm("AUTOMATIC"), SegmentAlgorithmType::Automatic);
  EXPECT_FALSE(segmentAlgorithmTypeOfTerm("semi-automatic"));
  EXPECT_EQ(lesionKitAlgorithm(SegmentAlgorithmType::Manual).name, "");
}

TEST(DicomSeg, RefusesEmptyAndDuplicateLabels) {
  test::ScratchFolder scratch;
  const LabelMap labels = makeLesions();
  EXPECT_THROW((void)writeDicomSeg(labels, {{7, "other", "", "", ""}}, {}, scratch / "x.dcm"), InputError);
  EXPECT_THROW((void)writeDicomSeg(labels, {{1}, {1}}, {}, scratch / "x.dcm"), InputError);
  EXPECT_FALSE(std::filesystem::exists(scratch / "x.dcm"));
  EXPECT_THROW((void)readDicomSeg(scratch / "missing.dcm"), InputError);
}

TEST(DicomSeg, NanInItsGeometryIsADicomErrorNamingTheFile) {
  // NaN orientation ended in "cannot create std::vector larger than max_size()" (exit 3, no file);
  // NaN pixel spacing in a mask of nothing ("the label map has no lesion").
  test::ScratchFolder scratch;
  const LabelMap labels = makeLesions();
  struct Case {
    const char* file;
    DcmTagKey sequence, tag;
    const char* value;
    std::string expected;
  };
  for (const Case& c :
       {Case{"spacing.dcm", DCM_PixelMeasuresSequence, DCM_PixelSpacing, "nan\\nan",
             "': voxel spacing must be positive, found nan x nan x 2.5 mm"},
        Case{"orientation.dcm", DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient, "nan\\0\\0\\0\\1\\0",
             "': frame 1 has a Plane Position or Orientation that is not a finite number"}}) {
    const auto path = scratch / c.file;
    (void)writeDicomSeg(labels, threeSegments(), {}, path);
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(path.c_str()).good());
    DcmItem *shared = nullptr, *group = nullptr;
    ASSERT_TRUE(file.getDataset()->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
    ASSERT_TRUE(shared->findAndGetSequenceItem(c.sequence, group, 0).good()) << c.file;
    ASSERT_TRUE(group->putAndInsertString(c.tag, c.value).good());
    ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
    try {
      (void)readDicomSeg(path);
      ADD_FAILURE() << c.file << " was read";
    } catch (const InputError& e) { // DicomError or InputError: exit 2 both
      EXPECT_EQ(std::string(e.what()), "DICOM SEG '" + path.string() + c.expected);
    }
  }
}

TEST(DicomSeg, RefusesANonSegDicomFile) {
  LESIONKIT_REQUIRE_TEST_DATA(ct, "QIICR+dcmqi/data/segmentations/ct-3slice/01.dcm");
  try {
    (void)readDicomSeg(ct);
    FAIL() << "expected DicomError";
  } catch (const DicomError& e) {
    EXPECT_NE(std::string(e.what()).find("01.dcm"), std::string::npos);
  }
}

TEST(DicomSeg, FromDicomSeriesReferencesSourceInstances) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  test::ScratchFolder scratch;
  const dicomio::LoadedVolume ct = dicomio::loadVolume(folder / "ct-3slice");
  const LabelMap liver = dicomio::readLabelMapFile(folder / "liver_seg.nrrd");
  ASSERT_TRUE(liver.geometry.sameGrid(ct.volume.geometry, 1e-3));
  const DicomSourceInfo source = readDicomSourceInfo(folder / "ct-3slice", ct.seriesInstanceUid, ct.sopInstanceUids);
  EXPECT_EQ(source.instances.size(), 3u);
  EXPECT_EQ(source.patientId, "99000");
  LabelMap onCt = liver;
  onCt.geometry = ct.volume.geometry;
  const DicomObjectInfo info = writeDicomSeg(onCt, {{1, "other", "liver lesion", "", ""}}, source, scratch / "liver.dcm");
  EXPECT_EQ(info.studyInstanceUid, source.studyInstanceUid);
  EXPECT_EQ(info.frameOfReferenceUid, source.frameOfReferenceUid);
  expectValidDicom(info.path);
  const LabelMap back = loadLabelMap(info.path, &onCt.geometry);
  EXPECT_EQ(back.voxels, onCt.voxels);
  const std::string dump = dcmdump(info.path);
  if (dump.empty()) GTEST_SKIP() << "dcmdump not available";
  EXPECT_NE(dump.find("(0008,1115) SQ"), std::string::npos) << "ReferencedSeriesSequence";
  EXPECT_NE(dump.find("(0008,9124) SQ"), std::string::npos) << "DerivationImageSequence";
  for (const auto& inst : source.instances) EXPECT_NE(dump.find(inst.sopInstanceUid), std::string::npos);
  EXPECT_NE(dump.find("[99000]"), std::string::npos) << "PatientID copied";
}

TEST(DicomSeg, ReadsDcmqiLiverSegLikeItsNrrd) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  const LabelMap nrrd = dicomio::readLabelMapFile(folder / "liver_seg.nrrd");
  const SegmentationImage seg = readDicomSeg(folder / "liver.dcm");
  ASSERT_EQ(seg.segments.size(), 1u);
  EXPECT_EQ(seg.segments[0].segmentLabel, "Liver");
  EXPECT_EQ(seg.segments[0].type, (CodedConcept{"T-62000", "SRT", ""}));
  EXPECT_EQ(seg.referencedSeriesUids,
            std::vector<std::string>{"1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1"});
  const LabelMap onGrid = loadLabelMap(folder / "liver.dcm", &nrrd.geometry);
  std::size_t inNrrd = 0, differ = 0;
  for (std::size_t n = 0; n < nrrd.voxels.size(); ++n) {
    inNrrd += nrrd.voxels[n] != 0;
    differ += (nrrd.voxels[n] != 0) != (onGrid.voxels[n] != 0);
  }
  EXPECT_GT(inNrrd, 1000u);
  EXPECT_EQ(differ, 0u) << "of " << inNrrd << " liver voxels";
}

TEST(DicomSeg, ReadsDcmqiSrExampleSeg) {
  LESIONKIT_REQUIRE_TEST_DATA(file, "QIICR+dcmqi/data/sr-example/seg.dcm");
  const SegmentationImage seg = readDicomSeg(file);
  ASSERT_EQ(seg.segments.size(), 1u);
  EXPECT_EQ(seg.segments[0].segmentLabel, "Neoplasm, Primary");
  EXPECT_EQ(seg.segments[0].frameCount, 13u);
  EXPECT_EQ(seg.labels.geometry.size[0], 128u);
  std::size_t voxels = 0;
  for (auto v : seg.labels.voxels) voxels += v == 1;
  EXPECT_GT(voxels, 0u);
}

} // namespace
} // namespace lesion::reporting
