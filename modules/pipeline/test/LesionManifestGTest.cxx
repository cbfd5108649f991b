// Lesion manifests: CSV and JSON give the same lesions; bad lines are refused naming the file,
// the line and the field; patient folder names are safe and distinct.
#include <fstream>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/pipeline/LesionManifest.h"
#include "lesion/pipeline/PatientPipeline.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
using namespace lesion::pipeline;

namespace {

std::string errorOf(const std::filesystem::path& path) {
  try {
    (void)readLesionManifest(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

} // namespace

TEST(LesionManifest, CsvAndJsonGiveTheSameLesions) {
  test::ScratchFolder dir;
  std::ofstream(dir / "m.csv") << "# comment line\n"
                                  "target,patient_id,lesion,kind,init,x1,y1,z1,x2,y2,z2,level\n"
                                  "yes,P001,axilla,soft-tissue,seed,-128,-10,196,,,,\n"
                                  "no,\"P,002\",L4,lytic-bone,seed,13,38,84.5,,,,L4\n"
                                  "yes,P001,node,lymph-node,recist,-90,20,150,-75,25,150,\n";
  std::ofstream(dir / "m.json") << R"({"patients": [
      {"patientId": "P001", "lesions": [
         {"name": "axilla", "kind": "soft-tissue", "seed": [-128, -10, 196]},
         {"name": "node", "kind": "lymph-node", "recist": [[-90, 20, 150], [-75, 25, 150]]}]},
      {"patientId": "P,002", "lesions": [
         {"name": "L4", "kind": "lytic-bone", "seed": [13, 38, 84.5], "level": "L4", "target": false}]}]})";
  const LesionManifest csv = readLesionManifest(dir / "m.csv");
  const LesionManifest json = readLesionManifest(dir / "m.json");
  ASSERT_EQ(csv.lesions.size(), 3u);
  EXPECT_EQ(csv.patients(), (std::vector<std::string>{"P,002", "P001"}));
  for (const std::string& id : csv.patients()) {
    const auto a = csv.of(id), b = json.of(id);
    ASSERT_EQ(a.size(), b.size()) << id;
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(canonicalText(a[i]), canonicalText(b[i]));
  }
  const auto node = csv.of("P001")[1];
  EXPECT_EQ(node.init, ManifestLesion::Init::Recist);
  EXPECT_DOUBLE_EQ(node.second.x, -75.0);
  EXPECT_FALSE(csv.of("P,002")[0].target);
}

// The study the points were placed on, named per lesion (CSV) or per patient (JSON); a manifest
// without it keeps its earlier parameters hashes.
TEST(LesionManifest, NamesTheBaselineStudyOfAPatientsPoints) {
  test::ScratchFolder dir;
  std::ofstream(dir / "m.csv") << "patient_id,lesion,kind,x1,y1,z1,baseline_study\n"
                                  "P001,axilla,soft-tissue,-128,-10,196,20240115\n"
                                  "P001,node,soft-tissue,-90,20,150,20240115\n"
                                  "P002,mass,soft-tissue,1,2,3,\n";
  std::ofstream(dir / "m.json") << R"({"patients": [
      {"patientId": "P001", "baselineStudy": "20240115", "lesions": [
         {"name": "axilla", "seed": [-128, -10, 196]}, {"name": "node", "seed": [-90, 20, 150]}]},
      {"patientId": "P002", "lesions": [{"name": "mass", "seed": [1, 2, 3]}]}]})";
  const LesionManifest csv = readLesionManifest(dir / "m.csv"), json = readLesionManifest(dir / "m.json");
  ASSERT_EQ(csv.lesions.size(), 3u);
  EXPECT_EQ(csv.of("P001")[1].baselineStudy, "20240115");
  EXPECT_EQ(csv.of("P002")[0].baselineStudy, "");
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(canonicalText(csv.lesions[i]), canonicalText(json.lesions[i]));
  EXPECT_EQ(canonicalText(csv.of("P002")[0]),
            "P002|mass|soft-tissue|seed|1.000000,2.000000,3.000000|0.000000,0.000000,0.000000||target");
  EXPECT_NE(canonicalText(csv.of("P001")[0]).find("|baseline 20240115"), std::string::npos);

  std::ofstream(dir / "two.csv") << "patient_id,kind,x1,y1,z1,baseline_study\n"
                                    "P001,soft-tissue,1,2,3,20240115\nP001,soft-tissue,4,5,6,\n";
  EXPECT_NE(errorOf(dir / "two.csv")
                .find("patient P001: its lesions name different baseline studies ('20240115' and "
                      "'')"),
            std::string::npos)
      << errorOf(dir / "two.csv");
}

TEST(LesionManifest, BadLinesAreRefusedNamingLineAndField) {
  test::ScratchFolder dir;
  std::ofstream(dir / "kind.csv") << "patient_id,kind,x1,y1,z1\nP1,tumour,1,2,3\n";
  EXPECT_NE(errorOf(dir / "kind.csv").find("line 2: kind 'tumour'"), std::string::npos) << errorOf(dir / "kind.csv");
  std::ofstream(dir / "number.csv") << "patient_id,kind,x1,y1,z1\nP1,soft-tissue,1,two,3\n";
  EXPECT_NE(errorOf(dir / "number.csv").find("y1 'two'"), std::string::npos) << errorOf(dir / "number.csv");
  // std::stod reads "nan" and "inf": the lesion went on to segmentation, which failed with exit 3
  // naming neither the manifest nor its line.
  for (const std::string value : {"nan", "inf", "-INF"}) {
    std::ofstream(dir / "nan.csv", std::ios::trunc) << "patient_id,kind,x1,y1,z1\nP1,soft-tissue,1,2," << value << "\n";
    EXPECT_NE(errorOf(dir / "nan.csv").find("nan.csv' line 2: z1 '" + value + "': expected a finite number (mm)"),
              std::string::npos)
        << errorOf(dir / "nan.csv");
  }
  std::ofstream(dir / "column.csv") << "patient_id,kind,x1,y1,z1,colour\n";
  EXPECT_NE(errorOf(dir / "column.csv").find("unknown column 'colour'"), std::string::npos);
  std::ofstream(dir / "box.csv") << "patient_id,kind,init,x1,y1,z1\nP1,soft-tissue,box,1,2,3\n";
  EXPECT_NE(errorOf(dir / "box.csv").find("x2 ''"), std::string::npos) << errorOf(dir / "box.csv");
  std::ofstream(dir / "empty.csv") << "patient_id,kind,x1,y1,z1\n";
  EXPECT_NE(errorOf(dir / "empty.csv").find("names no lesion"), std::string::npos);
  std::ofstream(dir / "bad.json") << "{\"patients\": [{\"lesions\": []}]}";
  EXPECT_NE(errorOf(dir / "bad.json").find("bad.json"), std::string::npos);
  EXPECT_NE(errorOf(dir / "missing.csv").find("cannot open"), std::string::npos);
}

TEST(PatientFolderName, SafeAndDistinct) {
  EXPECT_EQ(patientFolderName("P001"), "P001");
  const std::string a = patientFolderName("../etc/passwd"), b = patientFolderName("___etc_passwd");
  EXPECT_EQ(a.find('/'), std::string::npos);
  EXPECT_NE(a.front(), '.');
  EXPECT_NE(a, b);
  EXPECT_NE(patientFolderName("A B"), patientFolderName("A_B"));
  EXPECT_NE(patientFolderName(""), "");
}

// `patient --auto` screens the spine with no user input: its lesions are AUTOMATIC; lesions
// segmented from a manifest's points or boxes are SEMIAUTOMATIC (both by LesionKit).
TEST(PatientPipeline, LesionsFoundByTheAutomaticScreeningAreAutomatic) {
  const reporting::SegmentAlgorithm screened = patientLesionsAlgorithm({});
  EXPECT_EQ(screened.type, reporting::SegmentAlgorithmType::Automatic);
  EXPECT_EQ(screened.name, "LesionKit");
  ManifestLesion seeded;
  seeded.kind = "soft-tissue";
  const reporting::SegmentAlgorithm fromManifest = patientLesionsAlgorithm({seeded});
  EXPECT_EQ(fromManifest.type, reporting::SegmentAlgorithmType::SemiAutomatic);
  EXPECT_EQ(fromManifest.name, "LesionKit");
}
