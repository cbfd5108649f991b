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
