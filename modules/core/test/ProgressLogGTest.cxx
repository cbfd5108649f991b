#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lesion/core/Log.h"
#include "lesion/core/Progress.h"

using namespace lesion;

TEST(Progress, SubScopesMapIntoTheParentRange) {
  std::vector<double> seen;
  const Progress root{[&](double f, std::string_view) { seen.push_back(f); }};
  const Progress second = root.sub(0.5, 1.0);
  second.report(0.0);
  second.report(0.5);
  second.sub(0.5, 1.0).report(1.0);
  second.report(7.0); // clamped
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_DOUBLE_EQ(seen[0], 0.5);
  EXPECT_DOUBLE_EQ(seen[1], 0.75);
  EXPECT_DOUBLE_EQ(seen[2], 1.0);
  EXPECT_DOUBLE_EQ(seen[3], 1.0);
  EXPECT_FALSE(Progress{}.active());
  Progress{}.report(0.3); // no sink: nothing happens
}

TEST(Log, MessagesReachTheSinkAboveTheLevelOnly) {
  std::vector<std::string> got;
  setLogSink([&](LogLevel level, std::string_view m) { got.push_back(std::string(logLevelName(level)) + ":" + std::string(m)); });
  setLogLevel(LogLevel::Info);
  logDebug("hidden {}", 1);
  logInfo("slices {}", 3);
  logWarning("tilt {:.1f} deg", 18.46);
  setLogSink({});
  logWarning("dropped");
  EXPECT_EQ(got, (std::vector<std::string>{"info:slices 3", "warning:tilt 18.5 deg"}));
}

TEST(Log, ContextsNameWhatTheMessagesAreAbout) {
  std::vector<std::string> got;
  setLogSink([&](LogLevel, std::string_view m) { got.emplace_back(m); });
  setLogLevel(LogLevel::Info);
  {
    const LogContext lesion("lesion T002");
    logWarning("cut off {} structure", 1);
    {
      const LogContext date("20240414");
      logInfo("resegmented");
    }
    std::thread([] { logInfo("other thread"); }).join(); // contexts are per thread
    logInfo("done");
  }
  logInfo("outside");
  setLogSink({});
  EXPECT_EQ(got, (std::vector<std::string>{"lesion T002: cut off 1 structure", "lesion T002, 20240414: resegmented",
                                           "other thread", "lesion T002: done", "outside"}));
}

TEST(Log, ACaptureKeepsThisThreadsWarningsWithOrWithoutASink) {
  setLogSink({}); // a library caller without a sink still gets what was said
  std::vector<std::string> outer;
  {
    const WarningCapture said;
    const LogContext lesion("lesion T001");
    logWarning("cut off {} structure", 1);
    logInfo("not a warning");
    {
      const WarningCapture inner;
      logWarning("rim refused");
      EXPECT_EQ(inner.warnings(), (std::vector<std::string>{"rim refused"}));
    }
    std::thread([] { logWarning("other thread"); }).join(); // captures are per thread
    outer = said.warnings();
  }
  EXPECT_EQ(outer, (std::vector<std::string>{"cut off 1 structure", "rim refused"}));
  EXPECT_FALSE(logEnabled(LogLevel::Warning)) << "no capture and no sink: dropped before formatting";
}
