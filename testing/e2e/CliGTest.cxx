#include <gtest/gtest.h>

#include "lesion/testing/TestHarness.h"

using lesion::test::runProcess;

TEST(LesionkitCli, HelpListsCommandsAndExitCodes) {
  const auto r = runProcess({"lesionkit", "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Commands:"), std::string::npos);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
}

TEST(LesionkitCli, UnknownOrMissingCommandIsUsageError) {
  auto r = runProcess({"lesionkit", "frobnicate"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
  r = runProcess({"lesionkit"});
  EXPECT_EQ(r.exitCode, 1);
}
