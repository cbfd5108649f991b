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

// Excel saves "CSV UTF-8" with a byte order mark before the header: it was read as part of the
// first column's name ("unknown column '\ufeffpatient_id'").
TEST(LesionManifest, ByteOrderMarkOfExcelsCsvUtf8IsSkipped) {
  test::ScratchFolder dir;
  std::ofstream(dir / "bom.csv") << "\xEF\xBB\xBFpatient_id,lesion,kind,init,x1,y1,z1\r\n"
                                    "P003,axilla,soft-tissue,seed,-128,-10,196\r\n";
  std::ofstream(dir / "bom.json") << "\xEF\xBB\xBF{\"patients\": [{\"patientId\": \"P003\", \"lesions\": "
                                     "[{\"name\": \"axilla\", \"seed\": [-128, -10, 196]}]}]}";
  const LesionManifest csv = readLesionManifest(dir / "bom.csv");
  const LesionManifest json = readLesionManifest(dir / "bom.json");
  ASSERT_EQ(csv.lesions.size(), 1u);
  ASSERT_EQ(json.lesions.size(), 1u);
  EXPECT_EQ(csv.lesions[0].patientId, "P003");
  EXPECT_EQ(canonicalText(csv.lesions[0]), canonicalText(json.lesions[0]));
  // Only at the start of the file: elsewhere the mark is not whitespace.
  std::ofstream(dir / "inner.csv") << "patient_id,lesion,kind,x1,y1,z1\n\xEF\xBB\xBFP003,axilla,soft-tissue,1,2,3\n";
  EXPECT_EQ(readLesionManifest(dir / "inner.csv").lesions[0].patientId, "\xEF\xBB\xBFP003");
}

// JSON manifest errors were the JSON library's ("[json.exception.type_error.302] type must be
// string, but is number"), naming neither the patient entry, the lesion nor the field.
TEST(LesionManifest, JsonErrorsNameTheEntryTheLesionAndTheField) {
  test::ScratchFolder dir;
  const std::string lesion = R"({"name": "a", "kind": "soft-tissue", "seed": [1, 2, 3]})";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"patients": [{"patientId": 3, "lesions": [)" + lesion + "]}]}",
       "j.json', patient entry 1: field 'patientId' must be text, found the number 3"},
      {R"({"patient": []})", "j.json': unknown field 'patient' (expected patients)"},
      {R"({})", "j.json': lacks field 'patients'"},
      {R"([1, 2])", "j.json': expected an object {...}, found a list"},
      {R"({"patients": {"P1": []}})", "j.json': field 'patients' must be a list [...], found an object"},
      {R"({"patients": [{"lesions": []}]})", "j.json', patient entry 1: lacks field 'patientId'"},
      {R"({"patients": [{"patientId": "P1"}]})", "j.json', patient entry 1 ('P1'): lacks field 'lesions'"},
      {R"({"patients": [{"patientId": "P1", "lesions": [)" + lesion + R"(, {"name": "b", "seed": [1, "2", 3]}]}]})",
       "j.json', patient 'P1' (entry 1), lesion 2: field 'seed' must be a point [x, y, z] in LPS mm, found "
       "[1,\"2\",3]"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"box": [[1, 2, 3]]}]}]})",
       "lesion 1: field 'box' must be two points [[x, y, z], [x, y, z]] in LPS mm, found [[1,2,3]]"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"name": "a"}]}]})",
       "lesion 1: give one of the fields seed, box or recist"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"seed": [1, 2, 3], "box": [[1, 2, 3], [4, 5, 6]]}]}]})",
       "lesion 1: give one of the fields seed, box or recist, not seed and box"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"seed": [1, 2, 3], "target": "yes"}]}]})",
       "lesion 1: field 'target' must be true or false, found the text \"yes\""},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"seed": [1, 2, 3], "kind": "tumour"}]}]})",
       "lesion 1: kind 'tumour': expected one of soft-tissue, lymph-node, lytic-bone"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"seed": [1, 2, 3], "taget": false}]}]})",
       "lesion 1: unknown field 'taget'"},
      {"{\"patients\": [\n  {\"patientId\": \"P1\" \"lesions\": []}]}",
       "j.json': not valid JSON near line 2, column 30"},
      {"\xEF\xBB\xBF{\"patients\": [}", "j.json': not valid JSON near line 1, column 15"},
      {R"({"patients": [{"patientId": "P1", "lesions": [{"seed": [1, 2, 1e999]}]}]})",
       "j.json': not valid JSON: number overflow parsing '1e999'"},
      {" \n", "j.json': the file is empty"},
  };
  for (const auto& [text, expected] : cases) {
    std::ofstream(dir / "j.json", std::ios::trunc) << text;
    const std::string error = errorOf(dir / "j.json");
    EXPECT_NE(error.find(expected), std::string::npos) << text << "\n -> " << error;
    EXPECT_EQ(error.find("json.exception"), std::string::npos) << error;
  }
}

// Two lesions of one patient with the same name were accepted (results told apart only by their
// tracking IDs), and a line given twice failed at segmentation with exit 3.
TEST(LesionManifest, OnePatientsLesionsAreDistinct) {
  test::ScratchFolder dir;
  const std::string header = "patient_id,lesion,kind,init,x1,y1,z1\n";
  std::ofstream(dir / "name.csv") << header << "P003,axilla,soft-tissue,seed,-128,-10,196\n"
                                  << "P003,axilla,lytic-bone,seed,13,38,84.6\n";
  EXPECT_NE(errorOf(dir / "name.csv")
                .find("name.csv' line 3: patient 'P003' already has a lesion named 'axilla' (at manifest '" +
                      (dir / "name.csv").string() + "' line 2)"),
            std::string::npos)
      << errorOf(dir / "name.csv");
  std::ofstream(dir / "line.csv") << header << "P003,,soft-tissue,seed,-128,-10,196\n# a comment\n"
                                  << "P003,,soft-tissue,seed,-128,-10,196.0\n";
  EXPECT_NE(errorOf(dir / "line.csv")
                .find("line.csv' line 4: repeats the lesion given at manifest '" + (dir / "line.csv").string() +
                      "' line 2 (patient 'P003')"),
            std::string::npos)
      << errorOf(dir / "line.csv");
  // The same point under another name: one lesion given twice (it failed at segmentation, exit 3).
  std::ofstream(dir / "renamed.csv") << header << "P003,m,soft-tissue,seed,-128,-10,196\n"
                                     << "P003,,soft-tissue,seed,-128,-10,196\n";
  EXPECT_NE(errorOf(dir / "renamed.csv").find("renamed.csv' line 3: repeats the lesion given at"), std::string::npos)
      << errorOf(dir / "renamed.csv");
  std::ofstream(dir / "name.json")
      << R"({"patients": [{"patientId": "P1", "lesions": [{"name": "a", "seed": [1, 2, 3]}]},
      {"patientId": "P1", "lesions": [{"name": "a", "seed": [4, 5, 6]}]}]})";
  EXPECT_NE(errorOf(dir / "name.json")
                .find("patient 'P1' (entry 2), lesion 1: patient 'P1' already has a lesion named 'a' (at manifest '" +
                      (dir / "name.json").string() + "', patient 'P1' (entry 1), lesion 1)"),
            std::string::npos)
      << errorOf(dir / "name.json");
  // The same name for two patients, and unnamed lesions at different points, are fine.
  std::ofstream(dir / "fine.csv") << header << "P1,axilla,soft-tissue,seed,1,2,3\nP2,axilla,soft-tissue,seed,1,2,3\n"
                                  << "P1,,soft-tissue,seed,4,5,6\nP1,,soft-tissue,seed,7,8,9\n";
  EXPECT_EQ(readLesionManifest(dir / "fine.csv").lesions.size(), 4u);
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
