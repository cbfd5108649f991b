// The Slicer CLI modules (LesionKitSegment, LesionKitMeasure, ...) run exactly as Slicer runs them:
// flags first, then the positional arguments, --returnparameterfile and --processinformationaddress,
// NRRD inputs. Each must give the same mask and numbers as the lesionkit sub-command on the same input.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using lesion::test::ProcessResult;
using lesion::test::runProcess;

namespace {

/// Parses a return parameter file ("name = value" lines) the way Slicer does.
std::map<std::string, std::string> readReturnParameters(const fs::path& file) {
  std::map<std::string, std::string> values;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) {
      ADD_FAILURE() << file << ": line without ' = ': '" << line << "'";
      continue;
    }
    values[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return values;
}

/// The flags Slicer adds for the parameters a user left alone (vtkSlicerCLIModuleLogic::ApplyTask with the
/// values of qSlicerCLIModuleUIHelper's widgets): numbers and enumerations always, as the XML default or, without
/// one, the spin box's 0 kept within the constraints; booleans only when true; strings and vectors only when not
/// empty; nodes (images, points, tables) only when chosen, which the caller does. Read from the module's --xml,
/// one element per line as formatXml writes it; flags already in `given` are left out.
std::vector<std::string> untouchedSlicerFlags(const std::string& module, const std::vector<std::string>& given) {
  const ProcessResult xml = runProcess({module, "--xml"});
  EXPECT_EQ(xml.exitCode, 0) << module << ": " << xml.err;
  const std::regex open(R"(^    <([a-z-]+)( [^>]*)?>$)"), close(R"(^    </([a-z-]+)>$)");
  const std::regex field(R"(^ +<(longflag|default|channel|minimum|maximum)>(.*)</[a-z]+>$)");
  std::vector<std::string> flags;
  std::map<std::string, std::string> fields;
  std::istringstream lines(xml.out);
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_match(line, m, open)) {
      fields.clear();
    } else if (std::regex_match(line, m, field)) {
      fields[m[1]] = m[2];
    } else if (std::regex_match(line, m, close)) {
      const std::string tag = m[1], flag = fields["longflag"];
      if (flag.empty() || fields["channel"] == "output" || std::count(given.begin(), given.end(), flag) != 0)
        continue;
      std::string value = fields["default"];
      if (tag == "integer" || tag == "float" || tag == "double") {
        double v = value.empty() ? 0.0 : std::stod(value);
        if (!fields["minimum"].empty())
          v = std::clamp(v, std::stod(fields["minimum"]), std::stod(fields["maximum"]));
        value = fmt::format("{:g}", v);
      }
      if (tag == "boolean") {
        if (value == "true")
          flags.push_back(flag);
      } else if (tag.find("enumeration") != std::string::npos || tag == "integer" || tag == "float" ||
                 tag == "double" || ((tag == "string" || tag.find("-vector") != std::string::npos) && !value.empty())) {
        flags.insert(flags.end(), {flag, value});
      }
    }
  }
  return flags;
}

std::string pointText(const json& p) {
  return fmt::format("{},{},{}", p[0].get<double>(), p[1].get<double>(), p[2].get<double>());
}

/// One phantom study (two time points) converted to NRRD, shared by the tests of this file.
class SlicerCli : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    s_Dir = std::make_unique<lesion::test::ScratchFolder>("lesionkit-slicer-e2e");
    const fs::path study = *s_Dir / "phantom";
    const auto r = runProcess({"lesionkit", "phantom", study.string(), "--voxel-size", "2", "--slice-thickness", "4",
                               "--time-points", "2"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const fs::path patient = study / "LKPHANTOM01";
    std::ifstream in(patient / "truth.json");
    s_Truth = json::parse(in);
    for (std::size_t t = 0; t < 2; ++t) {
      const json& tp = s_Truth["timePoints"][t];
      const fs::path ct = *s_Dir / fmt::format("ct{}.nrrd", t);
      const auto c = runProcess({"lesionkit", "convert", (study / tp["dicomSeriesFolder"].get<std::string>()).string(),
                                 "-o", ct.string()});
      ASSERT_EQ(c.exitCode, 0) << c.err;
      s_Ct.push_back(ct);
      s_Labels.push_back(study / tp["labelMaps"][0].get<std::string>());
      ASSERT_TRUE(fs::exists(s_Labels.back())) << s_Labels.back();
    }
  }
  static void TearDownTestSuite() { s_Dir.reset(); }

  void SetUp() override {
    if (!s_Dir || s_Ct.size() != 2) GTEST_SKIP() << "phantom set-up failed (see the first test's failure)";
  }

  /// Centroid (LPS mm) of the soft-tissue mass at time point t, from the phantom's truth.
  static json massCentroid(std::size_t t) {
    for (const json& lesion : s_Truth["timePoints"][t]["lesions"])
      if (lesion["labelValues"] == json::array({2})) return lesion["centroidMm"];
    ADD_FAILURE() << "no soft-tissue mass (label 2) in truth.json";
    return json::array({0, 0, 0});
  }

  /// Runs a Slicer module as Slicer does (with every parameter the test leaves alone as Slicer passes it);
  /// checks the progress tags and the return parameter file.
  static std::map<std::string, std::string> runAsSlicer(const std::string& module, std::vector<std::string> flags,
                                                        const std::vector<std::string>& positional,
                                                        const fs::path& returnFile) {
    std::vector<std::string> argv{module};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const std::vector<std::string> untouched = untouchedSlicerFlags(module, flags);
    argv.insert(argv.end(), untouched.begin(), untouched.end());
    argv.insert(argv.end(), {"--returnparameterfile", returnFile.string(), "--processinformationaddress", "0x0"});
    argv.insert(argv.end(), positional.begin(), positional.end());
    const ProcessResult r = runProcess(argv);
    EXPECT_EQ(r.exitCode, 0) << module << ": " << r.err << r.out;
    EXPECT_NE(r.out.find("<filter-start>"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("<filter-progress>"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("<filter-end>"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(returnFile)) << module << " wrote no return parameter file";
    return readReturnParameters(returnFile);
  }

  /// Runs `lesionkit <command> ...` as a user does, with a return parameter file.
  static std::map<std::string, std::string> runSubCommand(std::vector<std::string> argv, const fs::path& returnFile) {
    argv.insert(argv.begin(), "lesionkit");
    argv.insert(argv.end(), {"--returnparameterfile", returnFile.string()});
    const ProcessResult r = runProcess(argv);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return readReturnParameters(returnFile);
  }

  static void expectSameLabelMaps(const fs::path& a, const fs::path& b) {
    const lesion::LabelMap la = lesion::dicomio::readLabelMapFile(a);
    const lesion::LabelMap lb = lesion::dicomio::readLabelMapFile(b);
    EXPECT_TRUE(la.geometry.sameGrid(lb.geometry)) << a << " vs " << b;
    ASSERT_EQ(la.voxels.size(), lb.voxels.size());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < la.voxels.size(); ++i) differing += la.voxels[i] != lb.voxels[i];
    EXPECT_EQ(differing, 0u) << a << " and " << b << " differ in " << differing << " voxels";
  }

  static std::size_t countLabel(const fs::path& file, std::uint16_t label) {
    const lesion::LabelMap l = lesion::dicomio::readLabelMapFile(file);
    return static_cast<std::size_t>(std::count(l.voxels.begin(), l.voxels.end(), label));
  }

  static std::unique_ptr<lesion::test::ScratchFolder> s_Dir;
  static json s_Truth;
  static std::vector<fs::path> s_Ct;
  static std::vector<fs::path> s_Labels;
};

std::unique_ptr<lesion::test::ScratchFolder> SlicerCli::s_Dir;
json SlicerCli::s_Truth;
std::vector<fs::path> SlicerCli::s_Ct;
std::vector<fs::path> SlicerCli::s_Labels;

} // namespace

TEST_F(SlicerCli, ModulesPrintTheirXmlWithoutProgressTags) {
  for (const std::string module : {"LesionKitSegment", "LesionKitMeasure", "LesionKitSpine", "LesionKitFollowup"}) {
    const ProcessResult r = runProcess({module, "--xml"});
    ASSERT_EQ(r.exitCode, 0) << module << ": " << r.err;
    EXPECT_EQ(r.out.rfind("<?xml", 0), 0u) << module << " --xml does not start with the XML declaration";
    EXPECT_EQ(r.out.find("<filter-"), std::string::npos) << module;
    EXPECT_NE(r.out.find("<category>Quantification.LesionKit</category>"), std::string::npos) << module;
  }
}

TEST_F(SlicerCli, SegmentMatchesTheSubCommand) {
  const json c = massCentroid(0);
  // Two seeds as Slicer passes a point list with two control points: repeated --seed.
  const std::string seed1 = pointText(c);
  const std::string seed2 = fmt::format("{},{},{}", c[0].get<double>() + 2.0, c[1].get<double>(), c[2].get<double>());
  const fs::path slicerMask = *s_Dir / "slicer-mass.nrrd", cliMask = *s_Dir / "cli-mass.nrrd";
  const auto slicer = runAsSlicer("LesionKitSegment",
                                  {"--kind", "soft-tissue", "--seed", seed1, "--seed", seed2, "--modality", "ct",
                                   "--output", slicerMask.string()},
                                  {s_Ct[0].string()}, *s_Dir / "segment-slicer.params");
  const auto cli = runSubCommand({"segment", s_Ct[0].string(), "--kind", "soft-tissue", "--seed", seed1, "--seed",
                                  seed2, "--modality", "ct", "-o", cliMask.string()},
                                 *s_Dir / "segment-cli.params");
  EXPECT_EQ(slicer, cli);
  ASSERT_EQ(slicer.count("voxelCount"), 1u);
  ASSERT_EQ(slicer.count("volumeMl"), 1u);
  ASSERT_TRUE(fs::exists(slicerMask));
  expectSameLabelMaps(slicerMask, cliMask);
  // The numbers are the mask's: voxel count as returned, and a sane match with the truth mass.
  const std::size_t voxels = countLabel(slicerMask, 1);
  EXPECT_EQ(std::to_string(voxels), slicer.at("voxelCount"));
  const std::size_t truthVoxels = countLabel(s_Labels[0], 2);
  ASSERT_GT(truthVoxels, 0u);
  EXPECT_NEAR(static_cast<double>(voxels) / static_cast<double>(truthVoxels), 1.0, 0.25);
  EXPECT_NEAR(std::stod(slicer.at("volumeMl")), static_cast<double>(voxels) * 2 * 2 * 4 / 1000.0, 1e-3);
}

/// Slicer's markups, not typed text: a ROI (--roi centre and half sizes) is the --box of its corners, a point
/// list of two points (--recist-ends twice) the --recist line between them; both in LPS as Slicer passes them.
/// The box is the baseline mass's; the line the follow-up's (the baseline's truth line is refused on these 4 mm
/// slices: docs/segmentation.md, "Voxel size").
TEST_F(SlicerCli, SegmentFromSlicersRoiAndPointListMatchesTheTypedBoxAndRecistLine) {
  const auto massAt = [](std::size_t t) {
    for (const json& lesion : s_Truth["timePoints"][t]["lesions"])
      if (lesion["labelValues"] == json::array({2}))
        return lesion;
    ADD_FAILURE() << "no soft-tissue mass (label 2) in truth.json";
    return json();
  };
  const json baseline = massAt(0), followUp = massAt(1);
  ASSERT_FALSE(baseline.is_null() || followUp.is_null());
  const json& box = baseline["boundingBoxMm"];
  const json& ends = followUp["recist"]["longAxisEndpointsMm"];
  std::vector<double> lo(3), hi(3);
  for (std::size_t a = 0; a < 3; ++a) {
    lo[a] = box["min"][a].get<double>() - 3.0;
    hi[a] = box["max"][a].get<double>() + 3.0;
  }
  const std::string roi =
      fmt::format("{},{},{},{},{},{}", 0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2]),
                  0.5 * (hi[0] - lo[0]), 0.5 * (hi[1] - lo[1]), 0.5 * (hi[2] - lo[2]));
  const std::string corners = fmt::format("{},{},{},{},{},{}", lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
  struct Case {
    std::vector<std::string> markups, typed;
    std::size_t timePoint;
  };
  const std::vector<Case> cases = {{{"--roi", roi}, {"--box", corners}, 0},
                                   {{"--recist-ends", pointText(ends[0]), "--recist-ends", pointText(ends[1])},
                                    {"--recist", pointText(ends[0]) + ":" + pointText(ends[1])},
                                    1}};
  for (const auto& [markups, typed, t] : cases) {
    SCOPED_TRACE(typed.front());
    const fs::path slicerMask = *s_Dir / "slicer-markups.nrrd", cliMask = *s_Dir / "cli-typed.nrrd";
    std::vector<std::string> flags = markups;
    flags.insert(flags.end(), {"--kind", "soft-tissue", "--modality", "ct", "--output", slicerMask.string()});
    const auto slicer = runAsSlicer("LesionKitSegment", flags, {s_Ct[t].string()}, *s_Dir / "markups-slicer.params");
    std::vector<std::string> argv{"segment", s_Ct[t].string(), "--modality", "ct", "-o", cliMask.string()};
    argv.insert(argv.end(), typed.begin(), typed.end());
    const auto cli = runSubCommand(argv, *s_Dir / "typed-cli.params");
    EXPECT_EQ(slicer, cli);
    ASSERT_TRUE(fs::exists(slicerMask));
    expectSameLabelMaps(slicerMask, cliMask);
    EXPECT_GT(countLabel(slicerMask, 1), 0u);
  }
  // Slicer shows the markups selectors, not the typed forms.
  const ProcessResult xml = runProcess({"LesionKitSegment", "--xml"});
  EXPECT_NE(xml.out.find("<region coordinateSystem=\"lps\">"), std::string::npos) << xml.out;
  EXPECT_NE(xml.out.find("<point multiple=\"true\" coordinateSystem=\"lps\">\n      <name>recistEnds</name>"),
            std::string::npos)
      << xml.out;
  for (const char* typedForm : {"box", "recist"})
    EXPECT_NE(xml.out.find(fmt::format("hidden=\"true\">\n      <name>{}</name>", typedForm)), std::string::npos)
        << typedForm;
}

TEST_F(SlicerCli, MeasureMatchesTheSubCommand) {
  const fs::path slicerJson = *s_Dir / "slicer-measure.json", cliJson = *s_Dir / "cli-measure.json";
  const fs::path slicerCsv = *s_Dir / "slicer-measure.csv", cliCsv = *s_Dir / "cli-measure.csv";
  const auto slicer = runAsSlicer("LesionKitMeasure",
                                  {"--mask", s_Labels[0].string(), "--output", slicerJson.string(), "--csv",
                                   slicerCsv.string(), "--label", "2", "--lesion", "2:soft-tissue:axilla",
                                   "--intensity-unit", "HU"},
                                  {s_Ct[0].string()}, *s_Dir / "measure-slicer.params");
  const auto cli = runSubCommand({"measure", s_Ct[0].string(), "--mask", s_Labels[0].string(), "-o", cliJson.string(),
                                  "--csv", cliCsv.string(), "--label", "2", "--lesion", "2:soft-tissue:axilla",
                                  "--intensity-unit", "HU"},
                                 *s_Dir / "measure-cli.params");
  EXPECT_EQ(slicer, cli);
  for (const char* name : {"volumeMl", "longAxisMm", "shortAxisMm", "maxDiameter3dMm"})
    ASSERT_EQ(slicer.count(name), 1u) << name << " missing from the return parameters";
  std::ifstream sin(slicerJson), cin(cliJson);
  const json s = json::parse(sin), c = json::parse(cin);
  EXPECT_EQ(s["lesions"], c["lesions"]);
  ASSERT_EQ(s["lesions"].size(), 1u);
  // The numbers against the phantom's continuous truth, within about a voxel diagonal.
  json truth;
  for (const json& lesion : s_Truth["timePoints"][0]["lesions"])
    if (lesion["labelValues"] == json::array({2})) truth = lesion;
  ASSERT_FALSE(truth.is_null());
  const double diagonal = std::sqrt(2.0 * 2 + 2.0 * 2 + 4.0 * 4);
  EXPECT_NEAR(std::stod(slicer.at("longAxisMm")), truth["recist"]["longAxisMm"].get<double>(), diagonal);
  EXPECT_NEAR(std::stod(slicer.at("shortAxisMm")), truth["recist"]["shortAxisMm"].get<double>(), diagonal);
  EXPECT_NEAR(std::stod(slicer.at("maxDiameter3dMm")), truth["maxDiameter3dMm"].get<double>(), diagonal);
}

TEST_F(SlicerCli, MeasureFromSeedMatchesTheSubCommand) {
  const std::string seed = pointText(massCentroid(0));
  const auto slicer = runAsSlicer("LesionKitMeasure", {"--seed", seed, "--output", (*s_Dir / "ms.json").string()},
                                  {s_Ct[0].string()}, *s_Dir / "measure-seed-slicer.params");
  const auto cli = runSubCommand({"measure", s_Ct[0].string(), "--seed", seed, "-o", (*s_Dir / "mc.json").string()},
                                 *s_Dir / "measure-seed-cli.params");
  EXPECT_EQ(slicer, cli);
  EXPECT_EQ(slicer.size(), 4u);
}

TEST_F(SlicerCli, BadInputFailsWithoutReturnParameters) {
  const fs::path params = *s_Dir / "bad.params";
  const ProcessResult r =
      runProcess({"LesionKitMeasure", "--output", (*s_Dir / "bad.json").string(), "--returnparameterfile",
                  params.string(), "--processinformationaddress", "0x0", "--seed", "0,0,0",
                  (*s_Dir / "missing.nrrd").string()});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("missing.nrrd"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(*s_Dir / "bad.json"));
}

TEST_F(SlicerCli, SpineMatchesTheSubCommand) {
  const fs::path slicerLabels = *s_Dir / "slicer-vertebrae.nrrd", cliLabels = *s_Dir / "cli-vertebrae.nrrd";
  const auto slicer = runAsSlicer("LesionKitSpine",
                                  {"--output", slicerLabels.string(), "--json", (*s_Dir / "slicer-spine.json").string()},
                                  {s_Ct[0].string()}, *s_Dir / "spine-slicer.params");
  const auto cli = runSubCommand({"spine", s_Ct[0].string(), "-o", cliLabels.string(), "--json",
                                  (*s_Dir / "cli-spine.json").string()},
                                 *s_Dir / "spine-cli.params");
  EXPECT_EQ(slicer, cli);
  ASSERT_EQ(slicer.count("levelCount"), 1u);
  EXPECT_EQ(slicer.at("levelCount"), "7"); // the phantom holds T12 to S1
  ASSERT_TRUE(fs::exists(slicerLabels));
  expectSameLabelMaps(slicerLabels, cliLabels);
}

TEST_F(SlicerCli, FollowupMatchesTheSubCommand) {
  const fs::path slicerOut = *s_Dir / "slicer-followup", cliOut = *s_Dir / "cli-followup";
  // Slicer passes a multiple image parameter as repeated flags, here one follow-up.
  const auto slicer = runAsSlicer("LesionKitFollowup",
                                  {"--baseline", s_Ct[0].string(), "--followup", s_Ct[1].string(), "--lesions",
                                   s_Labels[0].string(), "--lesion", "2:soft-tissue:axilla", "--output",
                                   slicerOut.string()},
                                  {}, *s_Dir / "followup-slicer.params");
  const auto cli = runSubCommand({"followup", "--baseline", s_Ct[0].string(), "--followup", s_Ct[1].string(),
                                  "--lesions", s_Labels[0].string(), "--lesion", "2:soft-tissue:axilla", "-o",
                                  cliOut.string()},
                                 *s_Dir / "followup-cli.params");
  EXPECT_EQ(slicer, cli);
  for (const char* category : {"recistCategory", "bonesCategory", "inverseChoiCategory"}) {
    ASSERT_EQ(slicer.count(category), 1u) << category;
    EXPECT_NE(slicer.at(category), "") << category;
  }
  auto read = [](const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string csv = read(slicerOut / "measurements.csv");
  EXPECT_NE(csv.find("follow-up-1,2,axilla"), std::string::npos) << csv;
  EXPECT_EQ(csv, read(cliOut / "measurements.csv"));
  expectSameLabelMaps(slicerOut / "labels" / "follow-up-1.nrrd", cliOut / "labels" / "follow-up-1.nrrd");

  // The outputs name the scans used: from the convert sidecars next to the NRRDs.
  std::ifstream timelineFile(cliOut / "timeline.json");
  const json timepoints = json::parse(timelineFile).at("timepoints");
  ASSERT_EQ(timepoints.size(), 2u);
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(timepoints[t].at("studyDate"), s_Truth["timePoints"][t]["studyDate"]) << t;
    EXPECT_EQ(timepoints[t].at("patientId"), "LKPHANTOM01") << t;
    EXPECT_NE(timepoints[t].at("seriesInstanceUid"), "") << t;
  }
  EXPECT_NE(timepoints[0].at("seriesInstanceUid"), timepoints[1].at("seriesInstanceUid"));
  std::ifstream reportFile(cliOut / "measurements-follow-up-1.json");
  const json input = json::parse(reportFile).at("input");
  EXPECT_EQ(input.at("seriesInstanceUid"), timepoints[1].at("seriesInstanceUid"));
  EXPECT_EQ(input.at("maskPath"), "labels/follow-up-1.nrrd"); // the tracked mask, not the baseline map
  EXPECT_NE(csv.find(",labels/follow-up-1.nrrd"), std::string::npos) << csv;
}

TEST_F(SlicerCli, FollowupRefusesAnotherPatientAnEarlierScanOrTheBaselineItself) {
  const fs::path study = *s_Dir / "phantom";
  const fs::path dicom0 = study / s_Truth["timePoints"][0]["dicomSeriesFolder"].get<std::string>();
  const fs::path dicom1 = study / s_Truth["timePoints"][1]["dicomSeriesFolder"].get<std::string>();
  const fs::path other = *s_Dir / "other";
  const auto made = runProcess({"lesionkit", "phantom", other.string(), "--patient-id", "OTHER02", "--voxel-size", "4",
                                "--slice-thickness", "8", "--time-points", "1"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  const fs::path otherDicom = other / "OTHER02" / "20240115" / "CT_01";
  ASSERT_TRUE(fs::exists(otherDicom)) << otherDicom;
  // Refused before registration, exit 2, no output written; the message names what differs.
  auto refused = [&](const fs::path& baseline, const fs::path& followup, const fs::path& lesions,
                     const std::vector<std::string>& named) {
    const fs::path out = *s_Dir / "refused";
    const auto r = runProcess({"lesionkit", "followup", "--baseline", baseline.string(), "--followup",
                               followup.string(), "--lesions", lesions.string(), "-o", out.string(), "-q"});
    EXPECT_EQ(r.exitCode, 2) << baseline << " -> " << followup << ": " << r.err;
    for (const std::string& text : named)
      EXPECT_NE(r.err.find(text), std::string::npos) << text << " in " << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  const std::string date0 = s_Truth["timePoints"][0]["studyDate"], date1 = s_Truth["timePoints"][1]["studyDate"];
  refused(dicom0, otherDicom, s_Labels[0], {dicom0.string(), otherDicom.string(), "LKPHANTOM01", "OTHER02"});
  refused(dicom1, dicom0, s_Labels[1], {date0, date1});
  refused(s_Ct[1], s_Ct[0], s_Labels[1], {date0, date1}); // NRRDs: the dates of their convert sidecars
  refused(dicom0, dicom0, s_Labels[0], {"baseline scan itself", "SeriesInstanceUID"});
}
