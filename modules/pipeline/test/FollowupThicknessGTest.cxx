// RECIST 1.1 measurability in the follow-up run (lesionkit followup, patient, batch) from the
// scan's Slice Thickness, as lesionkit measure decides it, not from the slice spacing: with 6 mm
// slices every 5 mm a lesion of 10.8 mm is measurable by the spacing (>= 10 mm) but not by the
// thickness (>= 12 mm), so it must not become a RECIST target. And notes about the baseline inputs
// stay with the results.
#include <algorithm>
#include <fstream>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/pipeline/FollowupRun.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;

namespace {

/// A 40 x 40 x 9 soft-tissue scan, 1 x 1 mm pixels and slices 5 mm apart, with a mass of radius
/// 5.5 voxels on the middle 3 slices: its RECIST long axis is sqrt(10^2 + 4^2) = 10.77 mm.
struct ThickSliceScan {
  ThickSliceScan() {
    grid.size = {40, 40, 9};
    grid.spacing = {1.0, 1.0, 5.0};
    volume = Volume(grid, 40.0f);
    lesions = LabelMap(grid, 0);
    for (std::size_t k = 3; k <= 5; ++k)
      for (std::size_t j = 0; j < 40; ++j)
        for (std::size_t i = 0; i < 40; ++i) {
          const double x = double(i) - 20.0, y = double(j) - 20.0;
          if (x * x + y * y <= 5.5 * 5.5)
            lesions.at(i, j, k) = 1;
        }
  }
  ImageGeometry grid;
  Volume volume;
  LabelMap lesions;
};

nlohmann::json readJson(const std::filesystem::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

/// Baseline-only follow-up run of the scan, its Slice Thickness `thicknessMm` (unset: unknown).
pipeline::FollowupRunOutput runBaseline(const ThickSliceScan& scan, std::optional<double> thicknessMm,
                                        const std::filesystem::path& folder) {
  pipeline::FollowupRunInput run;
  run.baseline = &scan.volume;
  run.baselineSliceThicknessMm = thicknessMm;
  run.lesions = &scan.lesions;
  run.baselineSource = "ct0";
  run.lesionsSource = "lesions0";
  run.baselineNotes = {"lesion map 'lesions0' (12x12x3 voxels) lies on the voxel lattice of baseline 'ct0'"};
  run.options.measurement.lesions = {measurement::parseLesionSpec("1:soft-tissue:mass")};
  run.options.measurement.computeSurfaceMesh = false;
  return pipeline::writeFollowupRun(run, folder);
}

// A plain Volume has no slice thickness: it must not turn into a ScanVolume silently (measurability
// would then use the spacing without anyone choosing it).
static_assert(!std::is_convertible_v<lesion::Volume, lesion::pipeline::ScanVolume>, "ScanVolume(Volume) is explicit");

TEST(FollowupThickness, ALesionUnderTwiceTheSliceThicknessIsNoTargetWhateverTheSpacing) {
  lesion::test::ScratchFolder dir("lesionkit-followup-thickness");
  const ThickSliceScan scan;
  const pipeline::FollowupRunOutput thick = runBaseline(scan, 6.0, dir.path() / "thick");
  const longitudinal::TrackedLesion& mass = thick.timeline.timePoints[0].lesions.at(0);
  ASSERT_TRUE(mass.measurement);
  ASSERT_NEAR(mass.longAxisMm, 10.77, 0.01);
  EXPECT_FALSE(mass.measurement->measurability.measurable) << mass.measurement->measurability.reason;
  EXPECT_DOUBLE_EQ(mass.measurement->measurability.thresholdMm, 12.0);
  EXPECT_EQ(thick.timeline.recist[0].category, longitudinal::ResponseCategory::NotApplicable)
      << thick.timeline.recist[0].reason;
  EXPECT_FALSE(thick.timeline.observations[0].lesions.at(0).target);

  const nlohmann::json timeline = readJson(dir.path() / "thick" / "timeline.json");
  EXPECT_DOUBLE_EQ(timeline["timepoints"][0]["sliceThicknessMm"].get<double>(), 6.0);
  EXPECT_EQ(timeline["timepoints"][0]["sliceThicknessSource"], "dicom");
  EXPECT_EQ(timeline["response"]["RECIST 1.1"][0]["category"], "NA");
  const nlohmann::json report = readJson(dir.path() / "thick" / "measurements-baseline.json");
  EXPECT_EQ(report["settings"]["sliceThicknessSource"], "dicom");
  EXPECT_DOUBLE_EQ(report["settings"]["sliceThicknessMm"].get<double>(), 6.0);
  EXPECT_FALSE(report["lesions"][0]["measurability"]["measurable"].get<bool>());

  // The same scan without a known thickness: the 5 mm spacing stands in, and the mass is a target.
  const pipeline::FollowupRunOutput spacing = runBaseline(scan, std::nullopt, dir.path() / "spacing");
  EXPECT_TRUE(spacing.timeline.timePoints[0].lesions.at(0).measurement->measurability.measurable);
  EXPECT_EQ(spacing.timeline.recist[0].category, longitudinal::ResponseCategory::Baseline)
      << spacing.timeline.recist[0].reason;
  const nlohmann::json fromSpacing = readJson(dir.path() / "spacing" / "timeline.json");
  EXPECT_DOUBLE_EQ(fromSpacing["timepoints"][0]["sliceThicknessMm"].get<double>(), 5.0);
  EXPECT_EQ(fromSpacing["timepoints"][0]["sliceThicknessSource"], "spacing");
}

TEST(FollowupRunNotes, NotesAboutTheBaselineInputsAreInTheTimelineAndTheBaselineReport) {
  lesion::test::ScratchFolder dir("lesionkit-followup-thickness");
  (void)runBaseline(ThickSliceScan(), std::nullopt, dir.path());
  const std::string note = "lesion map 'lesions0' (12x12x3 voxels) lies on the voxel lattice of baseline 'ct0'";
  const nlohmann::json notes = readJson(dir.path() / "timeline.json")["timepoints"][0]["notes"];
  EXPECT_NE(std::find(notes.begin(), notes.end(), note), notes.end()) << notes.dump();
  const nlohmann::json warnings = readJson(dir.path() / "measurements-baseline.json")["input"]["warnings"];
  EXPECT_NE(std::find(warnings.begin(), warnings.end(), note), warnings.end()) << warnings.dump();
}

} // namespace
