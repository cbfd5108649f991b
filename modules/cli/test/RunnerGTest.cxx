#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "lesion/cli/Runner.h"
#include "lesion/core/Error.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
using namespace lesion::cli;

namespace {
Command echoCommand(int* runs) {
  Command c;
  c.name = "echo";
  c.title = "Echo";
  c.summary = "test command";
  c.description = "Echoes its number.";
  c.add({"value", ParameterType::Float, "Value", "a number", Channel::Input, 0}).asRequired();
  c.add({"doubled", ParameterType::Float, "Doubled", "twice the value", Channel::Output});
  c.add({"note", ParameterType::String, "Note", "set by some runs only", Channel::Output});
  c.run = [runs](const Arguments& a, CommandContext& ctx) {
    ++*runs;
    const double v = a.number("value");
    if (v < 0) throw InputError("negative value in 'input.nrrd'");
    if (v > 100) throw ProcessingError("cannot segment: leak");
    ctx.progress.report(0.5, "halfway");
    ctx.returnValues["doubled"] = std::to_string(2 * v);
    ctx.out << "value " << v << '\n';
    if (v == 7)
      ctx.someItemsFailed = "2 of 7 items failed: see 'failures.csv'";
  };
  return c;
}

int run(const std::vector<std::string>& args, std::string* out = nullptr, std::string* err = nullptr, int* runs = nullptr) {
  int localRuns = 0;
  std::ostringstream o, e;
  const int code = runCommand(ToolInfo{}, echoCommand(runs ? runs : &localRuns), args, o, e, ProgressStyle::Automatic);
  if (out) *out = o.str();
  if (err) *err = e.str();
  return code;
}
} // namespace

TEST(Runner, MapsErrorsToDocumentedExitCodes) {
  std::string err;
  EXPECT_EQ(run({"4"}), 0);
  EXPECT_EQ(run({}, nullptr, &err), 1);
  EXPECT_NE(err.find("missing argument 1"), std::string::npos);
  EXPECT_NE(err.find("--help"), std::string::npos);
  EXPECT_EQ(run({"-1"}, nullptr, &err), 2);
  EXPECT_NE(err.find("input.nrrd"), std::string::npos);
  EXPECT_EQ(run({"101"}, nullptr, &err), 3);
  EXPECT_NE(err.find("leak"), std::string::npos);
}

TEST(Runner, HelpAndXmlDoNotRunTheCommand) {
  int runs = 0;
  std::string out;
  EXPECT_EQ(run({"--help"}, &out, nullptr, &runs), 0);
  EXPECT_NE(out.find("Usage:"), std::string::npos);
  EXPECT_EQ(run({"--xml"}, &out, nullptr, &runs), 0);
  EXPECT_NE(out.find("<executable>"), std::string::npos);
  EXPECT_EQ(runs, 0);
}

TEST(Runner, SlicerStyleCallWritesReturnParametersAndProgressTags) {
  test::ScratchFolder dir;
  const auto file = dir / "return.txt";
  std::string out;
  EXPECT_EQ(run({"--processinformationaddress", "0x1234", "21", "--returnparameterfile", file.string()}, &out), 0);
  EXPECT_NE(out.find("<filter-start>"), std::string::npos);
  EXPECT_NE(out.find("<filter-progress>0.500</filter-progress>"), std::string::npos);
  EXPECT_NE(out.find("<filter-end>"), std::string::npos);
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "doubled = 42.000000");
  // A result this run did not produce is written empty, so Slicer does not keep showing the last run's.
  std::getline(in, line);
  EXPECT_EQ(line, "note = ");
}

// A run that finished but lacks some items' results: its own exit code and one line on stderr,
// after its output and results (a batch's results.csv holds the items that worked).
TEST(Runner, FinishedWithFailedItemsExitsFourWithOneLineOnStderr) {
  test::ScratchFolder dir;
  const auto file = dir / "return.txt";
  std::string out, err;
  EXPECT_EQ(run({"7", "--returnparameterfile", file.string()}, &out, &err), 4);
  EXPECT_NE(out.find("<filter-end>"), std::string::npos) << out;
  EXPECT_EQ(err, "lesionkit echo: error: 2 of 7 items failed: see 'failures.csv'\n");
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "doubled = 14.000000");
}
