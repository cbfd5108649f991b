// `lesionkit demo` as the README runs it: the whole pipeline on the synthetic study, checked
// against the phantom's analytic truth (measurement tolerances of the measurement issue).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using lesion::test::runProcess;

TEST(Demo, WritesAReportWhoseFiguresMatchThePhantomTruth) {
  lesion::test::ScratchFolder dir;
  const fs::path out = dir / "demo-output";
  const auto r = runProcess({"lesionkit", "demo", "--out", out.string(), "--time-points", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + (out / "report.json").string()), std::string::npos) << r.out;
  // Only the finished folder: no staging left next to it.
  EXPECT_EQ(fs::directory_iterator(dir.path())->path().filename(), "demo-output");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);

  std::ifstream in(out / "report.json");
  const auto report = nlohmann::json::parse(in);
  ASSERT_EQ(report["timePoints"].size(), 2u);
  int lesionsChecked = 0;
  for (const auto& tp : report["timePoints"]) {
    const double voxelDiagonalMm = std::sqrt(1.0 * 1.0 + 1.0 * 1.0 + 2.0 * 2.0); // demo grid 1 x 1 x 2 mm
    for (const auto& v : tp["validation"]) {
      const std::string lesion = v["lesion"];
      SCOPED_TRACE(lesion + " at " + tp["studyDate"].get<std::string>());
      // Volume: partial-volume counting on a 1 x 1 x 2 mm grid of lesions >= 15 mm: within 2 %.
      EXPECT_LT(std::abs(v["volumeMl"]["errorPercent"].get<double>()), 2.0);
      EXPECT_LT(std::abs(v["meshVolumeMl"]["errorPercent"].get<double>()), 3.0);
      // Diameters between voxel centres vs surface-to-surface truth: within one voxel diagonal.
      for (const char* figure : {"longAxisMm", "shortAxisMm", "maxDiameter3dMm", "extentLrMm", "extentApMm", "extentSiMm"}) {
        EXPECT_LT(std::abs(v[figure]["error"].get<double>()), voxelDiagonalMm) << figure;
      }
      ++lesionsChecked;
    }
  }
  EXPECT_EQ(lesionsChecked, 4);
  std::ifstream csv(out / "results.csv");
  std::string header, line;
  std::getline(csv, header);
  int rows = 0;
  while (std::getline(csv, line)) rows += line.empty() ? 0 : 1;
  EXPECT_EQ(rows, 4) << "one row per lesion per time point";
  EXPECT_EQ(header.rfind("timepoint,", 0), 0u);
}

TEST(Demo, UnwritableOutputExits2AndLeavesNothing) {
  lesion::test::ScratchFolder dir;
  std::ofstream(dir / "plain-file") << "x";
  const auto r = runProcess({"lesionkit", "demo", "--out", (dir / "plain-file" / "out").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("plain-file"), std::string::npos) << r.err;
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"plain-file"});
}

TEST(Demo, WrongArgumentExits1NamingIt) {
  const auto r = runProcess({"lesionkit", "demo", "--time-points", "many"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("--time-points"), std::string::npos) << r.err;
}
