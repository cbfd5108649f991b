// Which scans may be followed up against a baseline: the same patient, not earlier, not the
// baseline series itself. writeFollowupRun checks before loading anything (lesionkit followup
// and the per-patient pipeline both go through it).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/pipeline/FollowupRun.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;

namespace {

const ScanIdentity kBaseline{"PAT01", "20240115", "1.2.3.1"};

/// The InputError message of requireFollowupOfBaseline(kBaseline, ...), or "" when it accepts.
std::string refusal(const ScanIdentity& followup) {
  try {
    pipeline::requireFollowupOfBaseline(kBaseline, "base/CT", followup, "next/CT");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FollowupScanCheck, ALaterScanOfTheSamePatientIsAccepted) {
  EXPECT_EQ(refusal({"PAT01", "20240414", "1.2.3.2"}), "");
  EXPECT_EQ(refusal({"PAT01", "20240115", "1.2.3.2"}), ""); // same day, another series
}

TEST(FollowupScanCheck, AnotherPatientIsRefusedNamingBothScansAndIds) {
  const std::string why = refusal({"OTHER02", "20240414", "1.2.3.2"});
  for (const char* expected : {"base/CT", "next/CT", "PAT01", "OTHER02"})
    EXPECT_NE(why.find(expected), std::string::npos) << expected << " missing in: " << why;
}

TEST(FollowupScanCheck, AnEarlierScanIsRefusedNamingBothDates) {
  const std::string why = refusal({"PAT01", "20231201", "1.2.3.2"});
  for (const char* expected : {"20231201", "20240115", "before"})
    EXPECT_NE(why.find(expected), std::string::npos) << expected << " missing in: " << why;
}

TEST(FollowupScanCheck, TheBaselineSeriesItselfIsRefusedNamingItsUid) {
  const std::string why = refusal({"PAT01", "20240115", "1.2.3.1"});
  EXPECT_NE(why.find("1.2.3.1"), std::string::npos) << why;
  EXPECT_NE(why.find("baseline scan itself"), std::string::npos) << why;
}

TEST(FollowupScanCheck, WhatIsUnknownIsNotCheckedWhatIsKnownStillIs) {
  EXPECT_EQ(refusal({}), "");                   // NRRD/NIfTI without a sidecar
  EXPECT_EQ(refusal({"", "", "1.2.3.9"}), "");  // only a series UID, another one
  EXPECT_NE(refusal({"", "20230101", ""}), ""); // no PatientID, but dated before the baseline
}

/// The InputError message of requireFollowupsInOrder over follow-ups of these identities, or "".
std::string orderRefusal(const std::vector<ScanIdentity>& identities) {
  std::vector<pipeline::FollowupSource> followups;
  for (std::size_t i = 0; i < identities.size(); ++i)
    followups.push_back(
        {"follow-up-" + std::to_string(i + 1), "fu" + std::to_string(i + 1) + "/CT", {}, {}, identities[i]});
  try {
    pipeline::requireFollowupsInOrder(followups);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FollowupScanCheck, FollowupsInTheOrderTheyWereTakenAreAccepted) {
  EXPECT_EQ(orderRefusal({{"PAT01", "20240414", "1.2.3.2"}, {"PAT01", "20240713", "1.2.3.3"}}), "");
  EXPECT_EQ(orderRefusal({{"PAT01", "20240414", "1.2.3.2"}, {"PAT01", "20240414", "1.2.3.3"}}), ""); // same day
  EXPECT_EQ(orderRefusal({{}, {}}), ""); // NRRD/NIfTI without sidecars: nothing known
}

TEST(FollowupScanCheck, FollowupsOutOfOrderAreRefusedNamingBothScansAndDates) {
  const std::string why = orderRefusal(
      {{"PAT01", "20240414", "1.2.3.2"}, {"PAT01", "20240713", "1.2.3.3"}, {"PAT01", "20240601", "1.2.3.4"}});
  for (const char* expected : {"fu3/CT", "20240601", "fu2/CT", "20240713", "order"})
    EXPECT_NE(why.find(expected), std::string::npos) << expected << " missing in: " << why;
}

TEST(FollowupScanCheck, AnUndatedFollowupInBetweenDoesNotHideTheOrder) {
  const std::string why =
      orderRefusal({{"PAT01", "20240601", "1.2.3.2"}, {"PAT01", "", "1.2.3.3"}, {"PAT01", "20240101", "1.2.3.4"}});
  for (const char* expected : {"fu3/CT", "20240101", "fu1/CT", "20240601"})
    EXPECT_NE(why.find(expected), std::string::npos) << expected << " missing in: " << why;
}

TEST(FollowupScanCheck, AScanGivenTwiceAsAFollowupIsRefusedNamingItsUid) {
  const std::string why = orderRefusal({{"PAT01", "20240414", "1.2.3.2"}, {"PAT01", "20240414", "1.2.3.2"}});
  for (const char* expected : {"fu1/CT", "fu2/CT", "1.2.3.2", "same scan"})
    EXPECT_NE(why.find(expected), std::string::npos) << expected << " missing in: " << why;
}

TEST(FollowupScanCheck, WriteFollowupRunRefusesBeforeLoadingAnyFollowup) {
  lesion::test::ScratchFolder dir("lesionkit-followup-check");
  const Volume baseline(ImageGeometry{});
  const LabelMap lesions(ImageGeometry{});
  pipeline::FollowupRunInput run;
  run.baseline = &baseline;
  run.lesions = &lesions;
  run.baselineSource = "base/CT";
  run.baselineIdentity = kBaseline;
  bool loaded = false;
  run.followups.push_back({"follow-up-1",
                           "next/CT",
                           [&loaded] {
                             loaded = true;
                             return pipeline::ScanVolume(Volume(ImageGeometry{}));
                           },
                           {},
                           ScanIdentity{"OTHER02", "20240414", "1.2.3.2"}});
  EXPECT_THROW((void)pipeline::writeFollowupRun(run, dir.path()), InputError);
  EXPECT_FALSE(loaded);
  EXPECT_TRUE(lesion::test::listFiles(dir.path()).empty());
}

} // namespace
