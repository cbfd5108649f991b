#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "lesion/testing/TestHarness.h"

using lesion::test::runProcess;

TEST(LesionkitCli, HelpListsCommandsAndExitCodes) {
  const auto r = runProcess({"lesionkit", "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Commands:"), std::string::npos);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
}

// Exit code 4 (some items without a result) is listed where a command can end so: batch, not patient.
TEST(LesionkitCli, EachCommandsHelpListsTheExitCodesItCanEndWith) {
  for (const auto& [command, exits4] : {std::pair<std::string, bool>{"batch", true}, {"patient", false}}) {
    const auto r = runProcess({"lesionkit", command, "--help"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("3 processing failure"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("4 finished, but some items failed") != std::string::npos, exits4) << command << ": " << r.out;
  }
}

TEST(LesionkitCli, UnknownOrMissingCommandIsUsageError) {
  auto r = runProcess({"lesionkit", "frobnicate"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
  r = runProcess({"lesionkit"});
  EXPECT_EQ(r.exitCode, 1);
}
