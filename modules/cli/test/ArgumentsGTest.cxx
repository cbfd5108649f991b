#include <gtest/gtest.h>

#include "lesion/cli/Arguments.h"
#include "lesion/core/Error.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
using namespace lesion::cli;

namespace {
std::vector<Parameter> table() {
  std::vector<Parameter> t;
  t.push_back({"volume", ParameterType::Image, "Volume", "input volume", Channel::Input, 0});
  t.back().required = true;
  t.push_back({"outputMask", ParameterType::LabelImage, "Mask", "output mask", Channel::Output});
  t.back().flag = 'o';
  t.push_back({"seed", ParameterType::Point, "Seed", "seed point", Channel::None});
  t.back().multiple = true;
  t.push_back({"kind", ParameterType::StringEnumeration, "Kind", "lesion kind"});
  t.back().elements = {"soft-tissue", "lytic"};
  t.back().defaultValue = "soft-tissue";
  t.push_back({"voxelSizeMm", ParameterType::Float, "Voxel size", "mm"});
  t.back().defaultValue = "1.0";
  t.push_back({"timePoints", ParameterType::Integer, "Time points", "count"});
  t.back().withRange(1, 6, 1);
  t.push_back({"ras", ParameterType::Boolean, "RAS", "points are RAS"});
  t.push_back({"box", ParameterType::FloatVector, "Box", "six numbers"});
  t.back().expectedCount = 6;
  t.push_back({"volumeMl", ParameterType::Float, "Volume", "result", Channel::Output});
  return t;
}

std::string usageMessage(const std::vector<std::string>& argv) {
  try {
    (void)Arguments::parse(table(), argv);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST(Arguments, ParsesEveryTypeTheWaySlicerSendsIt) {
  const auto a = Arguments::parse(table(), {"--seed", "1.5,-2,3", "--seed", "4,5,6", "in.nrrd", "-o", "m.nrrd",
                                            "--kind", "lytic", "--ras", "--time-points", "3", "--box=1,2,3,4,5,6",
                                            "--voxel-size-mm", "0.5"});
  EXPECT_EQ(a.path("volume"), "in.nrrd");
  EXPECT_EQ(a.string("outputMask"), "m.nrrd");
  const auto seeds = a.points("seed");
  ASSERT_EQ(seeds.size(), 2u);
  EXPECT_DOUBLE_EQ(seeds[0].x, 1.5);
  EXPECT_DOUBLE_EQ(seeds[0].y, -2);
  EXPECT_DOUBLE_EQ(seeds[1].z, 6);
  EXPECT_EQ(a.string("kind"), "lytic");
  EXPECT_TRUE(a.flag("ras"));
  EXPECT_EQ(a.integer("timePoints"), 3);
  EXPECT_DOUBLE_EQ(a.number("voxelSizeMm"), 0.5);
  EXPECT_EQ(a.numbers("box").size(), 6u);
}

TEST(Arguments, DefaultsApplyWhenNotGiven) {
  const auto a = Arguments::parse(table(), {"in.nrrd"});
  EXPECT_EQ(a.string("kind"), "soft-tissue");
  EXPECT_DOUBLE_EQ(a.number("voxelSizeMm"), 1.0);
  EXPECT_FALSE(a.flag("ras"));
  EXPECT_FALSE(a.has("timePoints"));
  EXPECT_TRUE(a.points("seed").empty());
}

TEST(Arguments, TheNoneValueSlicerPassesForAnUntouchedSpinBoxIsNotGiven) {
  auto t = table();
  t.push_back({"label", ParameterType::Integer, "Label", "label; 0: every label"});
  t.back().withNoneValue("0").asMultiple();
  EXPECT_FALSE(Arguments::parse(t, {"in.nrrd"}).has("label"));
  EXPECT_FALSE(Arguments::parse(t, {"in.nrrd", "--label", "0"}).has("label"));
  EXPECT_EQ(Arguments::parse(t, {"in.nrrd", "--label", "0", "--label", "2"}).strings("label"),
            std::vector<std::string>{"2"});
}

TEST(Arguments, NegativeNumbersAreValuesNotFlags) {
  const auto a = Arguments::parse(table(), {"in.nrrd", "--seed", "-10,-20,-30", "--voxel-size-mm", "-.5"});
  EXPECT_DOUBLE_EQ(a.point("seed").x, -10);
  EXPECT_DOUBLE_EQ(a.number("voxelSizeMm"), -0.5);
}

TEST(Arguments, ErrorsNameTheArgument) {
  EXPECT_NE(usageMessage({}).find("missing argument 1"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--seed", "1,2"}).find("--seed"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--kind", "bone"}).find("'bone' is not one of soft-tissue, lytic"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--time-points", "2.5"}).find("--time-points"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--time-points", "7"}).find("--time-points: expected 1 to 6, got '7'"),
            std::string::npos);
  EXPECT_EQ(usageMessage({"in.nrrd", "--time-points", "6"}), ""); // the ends are inside
  EXPECT_NE(usageMessage({"in.nrrd", "--voxel-size-mm"}).find("needs a value"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--box", "1,2,3"}).find("6 comma-separated"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "extra.nrrd"}).find("unexpected argument 'extra.nrrd'"), std::string::npos);
  EXPECT_NE(usageMessage({"in.nrrd", "--kind", "lytic", "--kind", "lytic"}).find("more than once"), std::string::npos);
  // Results are not options.
  EXPECT_NE(usageMessage({"in.nrrd", "--volume-ml", "3"}).find("unknown option"), std::string::npos);
}

// "segment -o a.txt" (or "-o outdir/") ran the whole segmentation, then failed as bad input (2)
// without naming the option; a .nhdr was written with its data under the temporary's name.
TEST(Arguments, AnImageOutputNotNamedForItsFormatsIsRefusedNamingTheOption) {
  auto t = table();
  t.push_back({"output", ParameterType::LabelImage, "Mask", "label map to write", Channel::Output});
  t.back().withExtensions(".nrrd,.nii.gz,.nii");
  const auto message = [&](const std::string& name) {
    try {
      (void)Arguments::parse(t, {"in.nrrd", "--output", name});
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string expected = "': expected a file name ending in .nrrd, .nii.gz or .nii (in lower or upper case)";
  for (const char* bad : {"a.txt", "a.nhdr", "newdir/", ".nrrd", "m.Nii", "m.nii.GZ"})
    EXPECT_EQ(message(bad), "--output '" + std::string(bad) + expected);
  test::ScratchFolder dir;
  const std::string folder = (dir / "existing.nrrd").string();
  std::filesystem::create_directory(folder);
  EXPECT_EQ(message(folder),
            "--output '" + folder + "' is a folder: expected a file name ending in .nrrd, .nii.gz or .nii");
  for (const char* fine : {"m.nrrd", "m.NII.GZ", "m.NII", "A.NRRD", "out/m.nii.gz"})
    EXPECT_EQ(message(fine), "") << fine;
  // Inputs and images of undeclared formats are not this check's.
  EXPECT_EQ(usageMessage({"a.txt", "-o", "m.txt"}), "");
}

TEST(Parameter, LongFlagIsKebabCaseOfTheName) {
  Parameter p;
  p.name = "sliceThicknessMm";
  EXPECT_EQ(p.longFlag(), "--slice-thickness-mm");
  p.name = "out";
  EXPECT_EQ(p.longFlag(), "--out");
}
