// lesionkit phantom as users and Slicer call it: --help, --xml, usage and output errors, a run.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using lesion::test::runProcess;

TEST(PhantomCli, HelpTeachesWithAnExample) {
  const auto r = runProcess({"lesionkit", "phantom", "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Example"), std::string::npos);
  EXPECT_NE(r.out.find("lesionkit phantom phantom-study"), std::string::npos);
  EXPECT_NE(r.out.find("--time-points"), std::string::npos);
  EXPECT_NE(r.out.find("--slice-thickness"), std::string::npos);
}

TEST(PhantomCli, XmlIsWellFormed) {
  const auto r = runProcess({"lesionkit", "phantom", "--xml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 not found to parse the XML";
  lesion::test::ScratchFolder dir;
  const fs::path xml = dir / "phantom.xml";
  std::ofstream(xml) << r.out;
  const auto parsed = runProcess({"/usr/bin/python3", "-c",
                                  "import sys, xml.etree.ElementTree as E\n"
                                  "root = E.parse(sys.argv[1]).getroot()\n"
                                  "assert root.tag == 'executable', root.tag\n"
                                  "names = [e.text for e in root.iter('name')]\n"
                                  "assert 'output' in names and 'timePoints' in names, names\n"
                                  "print('ok')\n",
                                  xml.string()});
  EXPECT_EQ(parsed.exitCode, 0) << parsed.err;
  EXPECT_EQ(parsed.out, "ok\n");
}

TEST(PhantomCli, MissingOutputIsAUsageErrorNamingIt) {
  const auto r = runProcess({"lesionkit", "phantom"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("Output folder"), std::string::npos) << r.err;
}

TEST(PhantomCli, UnwritableOutputExits2AndWritesNothing) {
  lesion::test::ScratchFolder dir;
  std::ofstream(dir / "plain-file") << "x";
  const auto r = runProcess({"lesionkit", "phantom", (dir / "plain-file" / "out").string(), "--voxel-size", "4",
                             "--slice-thickness", "8", "--time-points", "1"});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("plain-file"), std::string::npos) << r.err;
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"plain-file"});
}

TEST(PhantomCli, CoarseRunWritesDicomLabelsAndTruth) {
  lesion::test::ScratchFolder dir;
  const fs::path out = dir / "study";
  const auto r = runProcess({"lesionkit", "phantom", out.string(), "--voxel-size", "4", "--slice-thickness", "8",
                             "--time-points", "2", "--seed", "3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "LKPHANTOM01" / "truth.json"));
  EXPECT_TRUE(fs::exists(out / "LKPHANTOM01" / "20240115" / "CT_01" / "IM0001.dcm"));
  EXPECT_TRUE(fs::exists(out / "LKPHANTOM01" / "20240414" / "truth-labels.nrrd"));
  EXPECT_NE(r.out.find((out / "LKPHANTOM01" / "truth.json").string()), std::string::npos) << r.out;
  const auto bad = runProcess({"lesionkit", "phantom", out.string(), "--time-points", "9"});
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.err.find("--time-points"), std::string::npos) << bad.err;
}
