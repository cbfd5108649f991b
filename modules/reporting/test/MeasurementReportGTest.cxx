// The report contract: JSON validated against the versioned schema by python3-jsonschema, a
// broken report rejected, the CSV read back (here and by the checker), the summary's content.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {
namespace {

using measurement::LesionMeasurement;

/// Two lesions on a 1 x 1 x 2 mm grid (axial unless `direction` says otherwise): a sphere with a
/// calcified core and a lymph node box.
MeasurementReport exampleReport(measurement::IntensityUnit unit = measurement::IntensityUnit::HounsfieldUnit,
                                const Mat3& direction = Mat3::identity()) {
  ImageGeometry g;
  g.size = {48, 40, 24};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {-100.0, 20.0, 300.0};
  g.direction = direction;
  Volume volume(g, -80.0f);
  LabelMap labels(g, 0);
  const Vec3 centre = g.indexToPoint(20, 20, 12);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double r = distance(g.indexToPoint(i, j, k), centre);
        if (r <= 12.0) {
          labels.at(i, j, k) = 1;
          volume.at(i, j, k) = r <= 4.0 ? 450.0f : 35.0f;
        }
        if (i >= 38 && i < 46 && j >= 10 && j < 28 && k >= 8 && k < 14) {
          labels.at(i, j, k) = 4;
          volume.at(i, j, k) = 20.0f;
        }
      }
  MeasurementReport report;
  report.toolVersion = "0.1.0-test";
  report.timepoint = "follow-up, 2026-11-30"; // a comma: the CSV must quote it
  report.input.volumePath = "study/ct \"axial\".nrrd";
  report.input.maskPath = "study/mask.nrrd";
  report.input.geometry = g;
  report.input.warnings = {"example warning"};
  report.options.intensityUnit = unit;
  report.options.lesions = {measurement::parseLesionSpec("1:soft-tissue:axilla"),
                            measurement::parseLesionSpec("4:lymph-node:left, level II")};
  report.lesions = measurement::measureLesions(volume, labels, report.options);
  return report;
}

test::ProcessResult checkReport(const std::filesystem::path& json, const std::filesystem::path& csv = {}) {
  std::vector<std::string> argv{LESIONKIT_PYTHON3, LESIONKIT_CHECK_REPORT, LESIONKIT_REPORT_SCHEMA, json.string()};
  if (!csv.empty()) argv.push_back(csv.string());
  return test::runProcess(argv);
}

std::vector<std::vector<std::string>> readCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row(1);
  bool quoted = false;
  for (std::size_t n = 0; n < text.size(); ++n) {
    const char c = text[n];
    if (quoted) {
      if (c == '"' && n + 1 < text.size() && text[n + 1] == '"') row.back() += text[++n];
      else if (c == '"') quoted = false;
      else row.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.emplace_back();
    } else if (c == '\n') {
      rows.push_back(row);
      row.assign(1, "");
    } else {
      row.back() += c;
    }
  }
  return rows;
}

TEST(MeasurementReport, JsonMatchesSchemaAndCarriesTheFigures) {
  const MeasurementReport report = exampleReport();
  ASSERT_EQ(report.lesions.size(), 2u);
  const std::string text = toJson(report);
  const auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json["schemaVersion"], kMeasurementReportSchemaVersion);
  EXPECT_EQ(json["tool"]["version"], "0.1.0-test");
  ASSERT_EQ(json["lesions"].size(), 2u);
  const auto& first = json["lesions"][0];
  const LesionMeasurement& m = report.lesions[0];
  EXPECT_EQ(first["label"], 1);
  EXPECT_EQ(first["name"], "axilla");
  EXPECT_DOUBLE_EQ(first["volumes"]["voxelVolumeMl"].get<double>(), m.voxelVolumeMl);
  EXPECT_DOUBLE_EQ(first["recist"]["longAxisMm"].get<double>(), m.recist.longAxisMm);
  EXPECT_DOUBLE_EQ(first["recist"]["longAxisEndpointsLps"][1][0].get<double>(), m.recist.longAxis.end.x);
  EXPECT_DOUBLE_EQ(first["extentsMm"]["si"].get<double>(), m.extentSiMm);
  EXPECT_DOUBLE_EQ(first["uncertaintyMm"].get<double>(), std::sqrt(6.0));
  EXPECT_GT(first["calcification"]["agatstonScore"].get<double>(), 0.0);
  EXPECT_EQ(json["lesions"][1]["measurability"]["basis"], "short-axis");
  EXPECT_TRUE(first["conventions"].contains("recist"));
  // The score is scaled as LesionMeasurement computes it: by the slice spacing, not the thickness.
  const std::string calcification = first["conventions"]["calcification"];
  EXPECT_NE(calcification.find("scaled by the slice spacing / 3 mm"), std::string::npos) << calcification;
  EXPECT_EQ(calcification.find("thickness"), std::string::npos) << calcification;

  test::ScratchFolder dir;
  writeJsonReport(report, dir / "report.json");
  const auto result = checkReport(dir / "report.json");
  EXPECT_EQ(result.exitCode, 0) << result.out << result.err;
}

TEST(MeasurementReport, CommittedExamplesMatchSchema) {
  // schema/examples/*.json: reports written by `lesionkit measure`, kept as documentation.
  std::size_t examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LESIONKIT_REPORT_EXAMPLES)) {
    if (entry.path().extension() != ".json") continue;
    ++examples;
    const auto result = checkReport(entry.path());
    EXPECT_EQ(result.exitCode, 0) << entry.path() << ": " << result.out << result.err;
  }
  EXPECT_GE(examples, 1u) << "no example report in " << LESIONKIT_REPORT_EXAMPLES;
}

TEST(MeasurementReport, MrReportWithoutCalcificationMatchesSchema) {
  const MeasurementReport report = exampleReport(measurement::IntensityUnit::Arbitrary);
  const auto json = nlohmann::json::parse(toJson(report));
  EXPECT_TRUE(json["lesions"][0]["calcification"].is_null());
  EXPECT_EQ(json["lesions"][0]["intensity"]["unit"], "arbitrary");
  test::ScratchFolder dir;
  writeJsonReport(report, dir / "report.json");
  writeCsvTable(report, dir / "table.csv");
  const auto result = checkReport(dir / "report.json", dir / "table.csv");
  EXPECT_EQ(result.exitCode, 0) << result.out << result.err;
}

TEST(MeasurementReport, SchemaRejectsBrokenReports) {
  // The validation above can fail: a missing field, a negative length and a wrong type are refused.
  const auto good = nlohmann::json::parse(toJson(exampleReport()));
  test::ScratchFolder dir;
  std::vector<nlohmann::json> broken(4, good);
  broken[0]["lesions"][0].erase("recist");
  broken[1]["lesions"][0]["recist"]["longAxisMm"] = -3.0;
  broken[2]["lesions"][0]["extentsMm"]["lr"] = "12 mm";
  broken[3]["lesions"][0]["unexpectedField"] = 1;
  for (std::size_t n = 0; n < broken.size(); ++n) {
    const auto path = dir / ("broken" + std::to_string(n) + ".json");
    std::ofstream(path) << broken[n].dump();
    const auto result = checkReport(path);
    EXPECT_EQ(result.exitCode, 1) << "broken report " << n << " passed validation";
    EXPECT_NE(result.err.find("does not match the schema"), std::string::npos) << result.err;
  }
}

TEST(MeasurementReport, CsvReadsBackWithUnitsInTheHeader) {
  const MeasurementReport report = exampleReport();
  const auto rows = readCsv(toCsv(report));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], csvColumns());
  for (const std::string& name : {"volume_ml", "long_axis_mm", "short_axis_mm", "max_diameter_3d_mm", "extent_lr_mm",
                                  "timepoint", "agatston_score"})
    EXPECT_NE(std::find(rows[0].begin(), rows[0].end(), name), rows[0].end()) << name;
  const auto column = [&](const std::string& name) {
    return std::size_t(std::find(rows[0].begin(), rows[0].end(), name) - rows[0].begin());
  };
  for (std::size_t r = 1; r < rows.size(); ++r) {
    ASSERT_EQ(rows[r].size(), rows[0].size()) << "row " << r;
    const LesionMeasurement& m = report.lesions[r - 1];
    EXPECT_EQ(rows[r][column("timepoint")], "follow-up, 2026-11-30");
    EXPECT_EQ(rows[r][column("name")], m.spec.name);
    EXPECT_NEAR(std::stod(rows[r][column("volume_ml")]), m.voxelVolumeMl, 1e-9 * m.voxelVolumeMl);
    EXPECT_NEAR(std::stod(rows[r][column("long_axis_mm")]), m.recist.longAxisMm, 1e-8);
    EXPECT_NEAR(std::stod(rows[r][column("max_diameter_3d_mm")]), m.maxDiameter3dMm, 1e-8);
  }
  EXPECT_EQ(rows[2][column("name")], "left, level II");
  EXPECT_EQ(rows[1][column("volume_path")], "study/ct \"axial\".nrrd");

  test::ScratchFolder dir;
  writeJsonReport(report, dir / "report.json");
  writeCsvTable(report, dir / "table.csv");
  const auto result = checkReport(dir / "report.json", dir / "table.csv");
  EXPECT_EQ(result.exitCode, 0) << result.out << result.err;
}

TEST(MeasurementReport, SummaryNamesEachLesionAndItsAxes) {
  const MeasurementReport report = exampleReport();
  const std::string summary = toSummaryText(report);
  EXPECT_NE(summary.find("2 lesions measured"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"axilla\""), std::string::npos) << summary;
  EXPECT_NE(summary.find(fmt::format("long axis {:.1f} mm", report.lesions[0].recist.longAxisMm)), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("lymph node"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Agatston"), std::string::npos) << summary;
}

TEST(MeasurementReport, ASagittalScanSaysItsRecistAxesLieOnResampledAxialSections) {
  const MeasurementReport axial = exampleReport();
  EXPECT_EQ(nlohmann::json::parse(toJson(axial))["lesions"][0]["recist"]["sections"],
            "acquisition slices (constant k)");
  EXPECT_NE(toSummaryText(axial).find(fmt::format("on slice {};", axial.lesions[0].recist.sliceIndex)),
            std::string::npos);

  const MeasurementReport sagittal =
      exampleReport(measurement::IntensityUnit::HounsfieldUnit, Mat3::fromColumns({0, 1, 0}, {0, 0, -1}, {-1, 0, 0}));
  const auto json = nlohmann::json::parse(toJson(sagittal));
  EXPECT_EQ(json["lesions"][0]["recist"]["sections"], "axial sections (resampled from sagittal acquisition)");
  const std::string summary = toSummaryText(sagittal);
  EXPECT_NE(summary.find(fmt::format("on the axial section z = {:.1f} mm, axial sections (resampled from sagittal "
                                     "acquisition);",
                                     sagittal.lesions[0].recist.longAxis.start.z)),
            std::string::npos)
      << summary;
  // The CSV (the batch's table) says it too: its slice index is a sagittal slice there.
  for (const auto& [report, sections] :
       {std::pair{&axial, "acquisition slices (constant k)"},
        std::pair{&sagittal, "axial sections (resampled from sagittal acquisition)"}}) {
    const auto rows = readCsv(toCsv(*report));
    const auto column = std::find(rows[0].begin(), rows[0].end(), "recist_sections") - rows[0].begin();
    ASSERT_LT(std::size_t(column), rows[0].size());
    EXPECT_EQ(rows[1][std::size_t(column)], sections);
  }
  test::ScratchFolder dir;
  writeJsonReport(sagittal, dir / "report.json");
  const auto result = checkReport(dir / "report.json");
  EXPECT_EQ(result.exitCode, 0) << result.out << result.err;
}

TEST(MeasurementReport, WriteFailureNamesTheFileAndLeavesNothing) {
  // A file where the output folder should be: the write must fail and leave no temporary behind.
  test::ScratchFolder dir;
  std::ofstream(dir / "blocker") << "not a folder";
  try {
    writeJsonReport(exampleReport(), dir / "blocker" / "report.json");
    ADD_FAILURE() << "writing under a file did not throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::listFiles(dir.path()), std::vector<std::string>{"blocker"});
}

} // namespace
} // namespace lesion::reporting
