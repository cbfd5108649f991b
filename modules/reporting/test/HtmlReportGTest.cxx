// HTML report: content, escaping, embedded pictures, and rendering in headless Chromium.
#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "DicomTestUtil.h"
#include "lesion/qc/QcPictures.h"
#include "lesion/reporting/HtmlReport.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {
namespace {

struct Study {
  Volume volume;
  LabelMap labels;
  MeasurementReport report;
};

Study makeStudy(const std::string& timepoint, double radius, float calcifiedHu) {
  ImageGeometry g;
  g.size = {60, 60, 12};
  g.spacing = {0.8, 0.8, 2.5};
  Study s;
  s.volume = Volume(g, 40.0f);
  s.labels = LabelMap(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 30) / radius, b = (double(j) - 30) / (radius * 0.7), c = (double(k) - 6) / 3;
        if (a * a + b * b + c * c <= 1.0) {
          s.labels.at(i, j, k) = 1;
          s.volume.at(i, j, k) = (i + j) % 4 == 0 ? calcifiedHu : 15.0f;
        }
      }
  measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  options.lesions = {{1, "lytic-bone", "L4 <lytic>", false}};
  s.report.timepoint = timepoint;
  s.report.toolVersion = "test";
  s.report.input.volumePath = timepoint + ".nrrd";
  s.report.input.maskPath = timepoint + "-mask.nrrd";
  s.report.lesions = measurement::measureLesions(s.volume, s.labels, options);
  return s;
}

HtmlReportInput makeInput(const test::ScratchFolder& scratch, const Study& baseline, const Study& followUp) {
  HtmlReportInput input;
  input.title = "Patient report";
  input.patientId = "P1";
  input.timepoints = {baseline.report, followUp.report};
  input.timepoints[1].input.warnings = {"gantry tilt 18.5 degrees corrected by resampling"};
  input.warnings = {"series 3 skipped: localizer"};
  input.responses = {{"follow-up", "RECIST 1.1", "PR", "", {"sum of diameters -35 % from baseline (>= 30 % decrease)"}},
                     {"follow-up", "MD Anderson bone", "PR", "L4 <lytic>", {"new sclerosis inside the lytic lesion"}}};
  const auto files = qc::writeQcPictures(followUp.volume, followUp.labels, followUp.report.lesions, scratch / "qc");
  input.pictures = {{"axial through the long axis", files[0].axial, "L4 <lytic>"},
                    {"coronal through the centroid", files[0].coronal, "L4 <lytic>"}};
  input.outputs = {"seg.dcm", "sr.dcm"};
  return input;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(HtmlReport, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(HtmlReport, HoldsTableTrendsResponsesWarningsAndPictures) {
  test::ScratchFolder scratch;
  const Study baseline = makeStudy("baseline", 12, 60.0f), followUp = makeStudy("follow-up", 9, 500.0f);
  const HtmlReportInput input = makeInput(scratch, baseline, followUp);
  const std::string html = renderHtmlReport(input);
  EXPECT_EQ(count(html, "<table class=\"lesion-table\">"), 2u);
  EXPECT_EQ(count(html, "<img class=\"qc\""), 2u);
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,iVBORw0KGgo"), 2u); // PNG signature, base64
  EXPECT_EQ(count(html, "<svg"), 3u); // long axis, volume, calcified volume (calcium appears at follow-up)
  EXPECT_NE(html.find(fmt::format("{:.1f}", baseline.report.lesions[0].recist.longAxisMm)), std::string::npos);
  EXPECT_NE(html.find(fmt::format("{:.1f}", followUp.report.lesions[0].recist.longAxisMm)), std::string::npos);
  EXPECT_NE(html.find("follow-up: gantry tilt 18.5 degrees"), std::string::npos);
  EXPECT_NE(html.find("series 3 skipped"), std::string::npos);
  EXPECT_NE(html.find("new sclerosis inside the lytic lesion"), std::string::npos);
  EXPECT_NE(html.find("L4 &lt;lytic&gt;"), std::string::npos);
  EXPECT_EQ(html.find("L4 <lytic>"), std::string::npos) << "names are escaped";
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "self-contained: no external resource";
}

TEST(HtmlReport, RendersInHeadlessChromium) {
#ifdef LESIONKIT_CHROMIUM
  if (!toolAvailable(LESIONKIT_CHROMIUM)) GTEST_SKIP() << "chromium not available (scripts/install-deps.sh installs it)";
  test::ScratchFolder scratch;
  const Study baseline = makeStudy("baseline", 12, 60.0f), followUp = makeStudy("follow-up", 9, 500.0f);
  const std::filesystem::path page = scratch / "report.html";
  writeHtmlReport(makeInput(scratch, baseline, followUp), page);
  const std::vector<std::string> common{"/usr/bin/timeout", "120", LESIONKIT_CHROMIUM, "--headless", "--no-sandbox",
                                        "--disable-gpu", "--disable-quic", "--no-first-run",
                                        "--disable-background-networking", "--disable-component-update",
                                        "--disable-sync", "--user-data-dir=" + (scratch / "profile").string()};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = common;
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + page.string());
    return test::runProcess(argv);
  };
  const test::ProcessResult dom = run({"--dump-dom"});
  ASSERT_EQ(dom.exitCode, 0) << dom.err;
  EXPECT_EQ(count(dom.out, "class=\"lesion-table\""), 2u);
  EXPECT_EQ(count(dom.out, "<img class=\"qc\""), 2u);
  EXPECT_EQ(count(dom.out, "<svg"), 3u);

  const std::filesystem::path shot = scratch / "shot.png";
  const test::ProcessResult r = run({"--screenshot=" + shot.string(), "--window-size=1200,2000"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const cv::Mat png = cv::imread(shot.string());
  ASSERT_FALSE(png.empty());
  EXPECT_EQ(png.cols, 1200);
  EXPECT_EQ(png.rows, 2000);
  // Non-trivial: text, tables and pictures cover a good part of the page; the QC pictures bring
  // the yellow contour (R, G high; B low) into the screenshot.
  std::size_t nonWhite = 0, yellow = 0;
  for (int y = 0; y < png.rows; ++y)
    for (int x = 0; x < png.cols; ++x) {
      const cv::Vec3b p = png.at<cv::Vec3b>(y, x);
      nonWhite += (p[0] < 240 || p[1] < 240 || p[2] < 240);
      yellow += (p[2] > 200 && p[1] > 170 && p[0] < 80);
    }
  EXPECT_GT(double(nonWhite) / (png.cols * png.rows), 0.05);
  EXPECT_GT(yellow, 20u);
#else
  GTEST_SKIP() << "chromium not configured";
#endif
}

} // namespace
} // namespace lesion::reporting
