// DICOM SR TID 1500: report -> SR -> values round trip, dciodvfy, structure, and dcmqi's SR
// example read like DCMTK's dsrdump reads it.
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "DicomTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/reporting/DicomSr.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {
namespace {

// SOP classes an SR TID 1500 may use (PS3.4), spelled out so the test needs no DCMTK header.
constexpr const char* UID_EnhancedSR = "1.2.840.10008.5.1.4.1.1.88.22";
constexpr const char* UID_ComprehensiveSR = "1.2.840.10008.5.1.4.1.1.88.33";

struct Case {
  Volume volume;
  LabelMap labels;
  std::vector<measurement::LesionMeasurement> lesions;
  std::vector<SegmentInfo> segments;
};

Case makeCase() {
  ImageGeometry g;
  g.size = {48, 40, 14};
  g.spacing = {0.75, 0.75, 2.0};
  g.origin = {-10.0, 20.0, -40.0};
  Case c;
  c.volume = Volume(g, 30.0f);
  c.labels = LabelMap(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 14) / 10, b = (double(j) - 14) / 7, z = (double(k) - 6) / 4;
        if (a * a + b * b + z * z <= 1.0) {
          c.labels.at(i, j, k) = 1;
          c.volume.at(i, j, k) = 45.0f + float((i + j) % 7);
        }
        if (i >= 32 && i < 42 && j >= 24 && j < 34 && k >= 4 && k < 9) {
          c.labels.at(i, j, k) = 2;
          c.volume.at(i, j, k) = (i + k) % 3 == 0 ? 600.0f : 20.0f; // partly calcified lytic lesion
        }
      }
  c.segments = {{1, "soft-tissue", "axilla", "", ""}, {2, "lytic-bone", "L4", "", ""}};
  measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  options.lesions = {{1, "soft-tissue", "axilla", false}, {2, "lytic-bone", "L4", false}};
  c.lesions = measurement::measureLesions(c.volume, c.labels, options);
  return c;
}

void expectClose(const std::optional<double>& read, double written, const char* what) {
  ASSERT_TRUE(read.has_value()) << what;
  // The SR stores 6 significant digits.
  EXPECT_NEAR(*read, written, std::max(1e-9, std::abs(written) * 5e-6)) << what;
}

TEST(DicomSr, RoundTripKeepsEveryValueAndReferencesTheSeg) {
  test::ScratchFolder scratch;
  const Case c = makeCase();
  DicomSourceInfo source;
  source.patientId = "P7";
  const DicomObjectInfo seg = writeDicomSeg(c.labels, c.segments, source, scratch / "seg.dcm");
  DicomSrOptions options;
  options.timePoint = "follow-up 1";
  const DicomObjectInfo sr = writeDicomSr(c.lesions, c.segments, seg, source, scratch / "sr.dcm", options);
  EXPECT_EQ(sr.studyInstanceUid, seg.studyInstanceUid);

  const SrDocument doc = readDicomSr(sr.path);
  EXPECT_EQ(doc.sopInstanceUid, sr.sopInstanceUid);
  EXPECT_EQ(doc.documentTitle, "Imaging Measurement Report");
  ASSERT_EQ(doc.groups.size(), 2u);
  const SegmentationImage segBack = readDicomSeg(seg.path);
  for (std::size_t i = 0; i < 2; ++i) {
    const measurement::LesionMeasurement& m = c.lesions[i];
    const SrMeasurementGroup& group = doc.groups[i];
    EXPECT_EQ(group.timePoint, "follow-up 1");
    EXPECT_EQ(group.segmentationSopInstanceUid, seg.sopInstanceUid);
    EXPECT_EQ(group.sourceSeriesUid, seg.seriesInstanceUid); // NRRD input: no image series
    const SrLesionValues v = lesionValuesFromGroup(group);
    EXPECT_EQ(v.referencedSegmentNumber, seg.segmentNumbers[i]);
    // Tracking shared with the SEG's segment.
    EXPECT_EQ(v.trackingId, segBack.segments[i].trackingId);
    EXPECT_EQ(v.trackingUid, segBack.segments[i].trackingUid);
    EXPECT_EQ(v.trackingUid, derivedTrackingUid("P7", c.segments[i].name));
    expectClose(v.volumeMl, m.voxelVolumeMl, "volume");
    expectClose(v.longAxisMm, m.recist.longAxisMm, "long axis");
    expectClose(v.shortAxisMm, m.recist.shortAxisMm, "short axis");
    expectClose(v.maxDiameter3dMm, m.maxDiameter3dMm, "3D diameter");
    expectClose(v.meanHu, m.intensity.mean, "mean HU");
    expectClose(v.standardDeviationHu, m.intensity.standardDeviation, "SD HU");
    ASSERT_TRUE(m.calcification.has_value());
    expectClose(v.calcifiedVolumeMl, m.calcification->volumeMl, "calcified volume");
  }
  EXPECT_GT(*lesionValuesFromGroup(doc.groups[1]).calcifiedVolumeMl, 0.0);
  EXPECT_EQ(doc.groups[1].findingSite, (CodedConcept{"272673000", "SCT", ""}));
  EXPECT_EQ(doc.groups[0].finding, (CodedConcept{"4147007", "SCT", ""}));
}

TEST(DicomSr, PassesDciodvfyAndDumpShowsStructure) {
  test::ScratchFolder scratch;
  const Case c = makeCase();
  DicomSourceInfo source;
  source.patientId = "P7";
  source.patientName = "Test^Patient";
  const DicomObjectInfo seg = writeDicomSeg(c.labels, c.segments, source, scratch / "seg.dcm");
  const DicomObjectInfo sr = writeDicomSr(c.lesions, c.segments, seg, source, scratch / "sr.dcm");
  expectValidDicom(sr.path);
  const std::string dump = dcmdump(sr.path);
  if (dump.empty()) GTEST_SKIP() << "dcmdump not available";
  EXPECT_TRUE(sr.sopClassUid == UID_EnhancedSR || sr.sopClassUid == UID_ComprehensiveSR) << sr.sopClassUid;
  EXPECT_NE(dump.find(sr.sopClassUid == UID_EnhancedSR ? "=EnhancedSRStorage" : "=ComprehensiveSRStorage"),
            std::string::npos);
  for (const char* expected : {"[Imaging Measurement Report]", "[Measurement Group]",
                               "[Tracking Unique Identifier]", "[Referenced Segment]", "[Long Axis]", "[Short Axis]",
                               "[Attenuation Coefficient]", "[Sum of segmented voxel volumes]", "[Calcified volume]",
                               "(0040,a375) SQ"}) // CurrentRequestedProcedureEvidenceSequence
    EXPECT_NE(dump.find(expected), std::string::npos) << expected;
  EXPECT_NE(dump.find(seg.sopInstanceUid), std::string::npos);
}

// measure counts calcified voxels from 130 HU, followup from the patient's reference bone (about 246 HU on
// the demo): the SR must say which, next to the calcified volume, or the volumes cannot be compared.
TEST(DicomSr, CalcifiedVolumeCarriesItsThresholdInHounsfieldUnits) {
  test::ScratchFolder scratch;
  Case c = makeCase();
  ASSERT_TRUE(c.lesions[1].calcification.has_value());
  c.lesions[1].calcification->thresholdHu = 246.0; // as followup's reference vertebrae give
  DicomSourceInfo source;
  source.patientId = "P7";
  const DicomObjectInfo seg = writeDicomSeg(c.labels, c.segments, source, scratch / "seg.dcm");
  const DicomObjectInfo sr = writeDicomSr(c.lesions, c.segments, seg, source, scratch / "sr.dcm");
  expectValidDicom(sr.path);
  const SrDocument doc = readDicomSr(sr.path);
  ASSERT_EQ(doc.groups.size(), 2u);
  const SrLesionValues bone = lesionValuesFromGroup(doc.groups[1]);
  ASSERT_TRUE(bone.calcificationThresholdHu.has_value());
  EXPECT_DOUBLE_EQ(*bone.calcificationThresholdHu, 246.0);
  expectClose(lesionValuesFromGroup(doc.groups[0]).calcificationThresholdHu, c.lesions[0].calcification->thresholdHu,
              "soft-tissue threshold");
  const std::string dump = dcmdump(sr.path);
  if (dump.empty())
    GTEST_SKIP() << "dcmdump not available";
  const std::size_t at = dump.rfind("[Calcification threshold]"); // the last group: the bone lesion
  ASSERT_NE(at, std::string::npos) << dump;
  // Its value and UCUM unit follow the concept name: (0040,a30a) DS [246], then CodeValue [[hnsf'U]].
  const std::string item = dump.substr(at, dump.find("RelationshipType", at) - at); // up to the next content item
  EXPECT_NE(item.find("[246]"), std::string::npos) << item;
  EXPECT_NE(item.find("[[hnsf'U]]"), std::string::npos) << item;
  // A derivation parameter (TID 1419 row 13): the item's relationship, the line before its concept name.
  const std::size_t relation = dump.rfind("RelationshipType", at);
  ASSERT_NE(relation, std::string::npos);
  const std::string relationLine = dump.substr(dump.rfind('\n', relation), relation - dump.rfind('\n', relation));
  EXPECT_NE(relationLine.find("[INFERRED FROM]"), std::string::npos) << relationLine;
}

TEST(DicomSr, FromDicomSeriesReferencesTheSourceSeries) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  test::ScratchFolder scratch;
  const dicomio::LoadedVolume ct = dicomio::loadVolume(folder / "ct-3slice");
  LabelMap liver = dicomio::readLabelMapFile(folder / "liver_seg.nrrd");
  liver.geometry = ct.volume.geometry;
  const DicomSourceInfo source = readDicomSourceInfo(folder / "ct-3slice", ct.seriesInstanceUid, ct.sopInstanceUids);
  const std::vector<SegmentInfo> segments{{1, "other", "liver lesion", "", ""}};
  measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  const auto lesions = measurement::measureLesions(ct.volume, liver, options);
  const DicomObjectInfo seg = writeDicomSeg(liver, segments, source, scratch / "seg.dcm");
  const DicomObjectInfo sr = writeDicomSr(lesions, segments, seg, source, scratch / "sr.dcm");
  expectValidDicom(sr.path);
  const SrDocument doc = readDicomSr(sr.path);
  ASSERT_EQ(doc.groups.size(), 1u);
  EXPECT_EQ(doc.groups[0].sourceSeriesUid, source.seriesInstanceUid);
  EXPECT_EQ(doc.studyInstanceUid, source.studyInstanceUid);
  EXPECT_EQ(doc.patientId, "99000");
  expectClose(lesionValuesFromGroup(doc.groups[0]).meanHu, lesions[0].intensity.mean, "mean HU");
}

TEST(DicomSr, ReadsDcmqiSrExampleLikeDsrdump) {
  LESIONKIT_REQUIRE_TEST_DATA(file, "QIICR+dcmqi/data/sr-example/sr.dcm");
  const SrDocument doc = readDicomSr(file);
  ASSERT_EQ(doc.groups.size(), 1u);
  const SrMeasurementGroup& g = doc.groups[0];
  EXPECT_EQ(g.trackingId, "primary tumor");
  EXPECT_EQ(g.trackingUid, "2.25.318774060119084600392715520575818119084");
  EXPECT_EQ(g.timePoint, "1");
  EXPECT_EQ(g.finding, (CodedConcept{"M-80003", "SRT", ""}));
  EXPECT_EQ(g.findingSite, (CodedConcept{"T-C5300", "SRT", ""}));
  EXPECT_EQ(g.referencedSegmentNumber, 1);
  EXPECT_EQ(g.sourceSeriesUid, "1.3.6.1.4.1.14519.5.2.1.2744.7002.261560220703676715130542397405");
  const SrLesionValues v = lesionValuesFromGroup(g);
  ASSERT_TRUE(v.volumeMl.has_value());
  EXPECT_DOUBLE_EQ(*v.volumeMl, 33.5824);
  EXPECT_FALSE(v.meanHu.has_value()) << "SUV is not HU";

  // Every NUM of the group, in order, with the value DCMTK's dsrdump prints.
#ifdef LESIONKIT_DSRDUMP
  if (!toolAvailable(LESIONKIT_DSRDUMP)) GTEST_SKIP() << "dsrdump not available";
  const std::string dump = test::runProcess({LESIONKIT_DSRDUMP, file.string()}).out;
  std::istringstream lines(dump);
  std::string line;
  std::vector<double> expected;
  const std::regex num(R"re(<contains NUM:\(,,"[^"]*"\)="([^"]+)")re");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, num)) expected.push_back(std::stod(m[1].str()));
  }
  ASSERT_EQ(g.measurements.size(), expected.size());
  EXPECT_EQ(expected.size(), 22u);
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(g.measurements[i].value, expected[i]) << i;
  EXPECT_EQ(g.measurements[0].derivation, (CodedConcept{"R-00317", "SRT", ""}));
  EXPECT_EQ(g.measurements[0].units.value, "{SUVbw}g/ml");
#endif
}

// dcmqi's TID 1500 example JSON describes the liver of its 3-slice CT (liver_seg.nrrd): our figures,
// written to an SR and read back, must agree with that tool's.
TEST(DicomSr, LiverValuesAgreeWithDcmqiExampleJson) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "QIICR+dcmqi/data/segmentations");
  LESIONKIT_REQUIRE_TEST_DATA(jsonPath, "QIICR+dcmqi/doc/examples/sr-tid1500-ct-liver-example.json");
  test::ScratchFolder scratch;
  const dicomio::LoadedVolume ct = dicomio::loadVolume(folder / "ct-3slice");
  LabelMap liver = dicomio::readLabelMapFile(folder / "liver_seg.nrrd");
  liver.geometry = ct.volume.geometry;
  measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  const auto lesions = measurement::measureLesions(ct.volume, liver, options);
  ASSERT_EQ(lesions.size(), 1u);
  const std::vector<SegmentInfo> segments{{1, "other", "liver", "", ""}};
  const DicomObjectInfo seg = writeDicomSeg(liver, segments, {}, scratch / "seg.dcm");
  const SrLesionValues v = lesionValuesFromGroup(readDicomSr(writeDicomSr(lesions, segments, seg, {}, scratch / "sr.dcm").path).groups.at(0));

  std::ifstream in(jsonPath);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::map<std::string, double> dcmqi; // derivation (or units for volumes) -> value
  for (const auto& item : j.at("Measurements").at(0).at("measurementItems")) {
    const std::string key = item.contains("derivationModifier") ? item["derivationModifier"]["CodeMeaning"].get<std::string>()
                                                                : item["units"]["CodeValue"].get<std::string>();
    dcmqi[key] = std::stod(item.at("value").get<std::string>());
  }
  ASSERT_TRUE(v.meanHu && v.standardDeviationHu && v.volumeMl);
  EXPECT_NEAR(*v.meanHu, dcmqi.at("Mean"), 1e-3 * std::abs(dcmqi.at("Mean")));
  EXPECT_NEAR(*v.standardDeviationHu, dcmqi.at("Standard Deviation"), 1e-3 * dcmqi.at("Standard Deviation"));
  EXPECT_NEAR(*v.volumeMl, dcmqi.at("cm3"), 1e-4 * dcmqi.at("cm3"));
  EXPECT_NEAR(*v.volumeMl * 1000.0, dcmqi.at("mm3"), 1e-4 * dcmqi.at("mm3"));
  EXPECT_EQ(lesions[0].intensity.minimum, dcmqi.at("Minimum"));
  EXPECT_EQ(lesions[0].intensity.maximum, dcmqi.at("Maximum"));
}

TEST(DicomSr, RefusesNonSrAndEmptyInput) {
  test::ScratchFolder scratch;
  const Case c = makeCase();
  const DicomObjectInfo seg = writeDicomSeg(c.labels, c.segments, {}, scratch / "seg.dcm");
  EXPECT_THROW((void)readDicomSr(seg.path), DicomError);
  EXPECT_THROW((void)writeDicomSr({}, c.segments, seg, {}, scratch / "sr.dcm"), InputError);
  EXPECT_FALSE(std::filesystem::exists(scratch / "sr.dcm"));
}

} // namespace
} // namespace lesion::reporting
