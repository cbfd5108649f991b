// lesionkit demo: runs every pipeline step that exists on a built-in synthetic study and writes
// DIR/report.json. Each step is one library call; this file only strings them together and
// records how each result compares with the phantom's analytic truth.
#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/measurement/Overlap.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/pipeline/FollowupSegmenter.h"
#include "lesion/pipeline/ReferenceVertebrae.h"
#include "lesion/pipeline/ResultBundle.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/HtmlReport.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"
#include "lesion/spine/LyticLesionDetection.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace lesion::commands {
namespace {

/// How the pipeline segments a lesion from its seed point, as `lesionkit segment --kind` would.
enum class SegmentationStep { Lytic, SoftTissue };

/// The lesions the demo follows: our label in the measured map, the phantom's truth id, the
/// phantom label values that make up the lesion, the kind the measurement reports, and the
/// segmentation step that finds it from the truth seed point.
struct DemoLesion {
  std::uint16_t label;
  const char* truthId;
  std::vector<std::uint16_t> truthLabels;
  const char* kind;
  const char* name;
  SegmentationStep step;
};

const std::vector<DemoLesion>& demoLesions() {
  static const std::vector<DemoLesion> lesions{
      {1, "l4-lytic", {1, 3}, "lytic-bone", "L4", SegmentationStep::Lytic},
      {2, "axillary-mass", {2}, "soft-tissue", "axilla", SegmentationStep::SoftTissue},
  };
  return lesions;
}

bool isTruthLabelOf(const DemoLesion& lesion, std::uint16_t value) {
  return std::find(lesion.truthLabels.begin(), lesion.truthLabels.end(), value) != lesion.truthLabels.end();
}

const phantom::LesionTruth& truthOf(const phantom::TimePointTruth& truth, const DemoLesion& lesion) {
  for (const auto& t : truth.lesions) {
    if (t.id == lesion.truthId)
      return t;
  }
  throw ProcessingError(fmt::format("the phantom truth has no lesion '{}'", lesion.truthId));
}

/// Runs one step, timing it and recording it in the report's step list.
template <typename F> auto runStep(json& steps, const std::string& name, F&& step) {
  const auto start = std::chrono::steady_clock::now();
  auto result = step();
  steps.push_back(
      {{"name", name}, {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
  return result;
}

/// Adds the pipeline's segmentation of `lesion` from its truth seed point, as a user would click
/// it, and returns how well it agrees with the truth mask.
json addSegmentation(const Volume& volume, const LabelMap& truth, const phantom::LesionTruth& lesionTruth,
                     const DemoLesion& lesion, LabelMap& labels) {
  LabelMap mask;
  std::vector<std::string> warnings;
  const LogContext context(fmt::format("lesion {} ({}) at baseline", lesion.label, lesion.name));
  if (lesion.step == SegmentationStep::Lytic) {
    mask = spine::segmentLyticLesion(volume, {lesionTruth.seed}, lesion.label);
  } else {
    segmentation::SoftTissueOptions options;
    options.labelValue = lesion.label;
    auto result = segmentation::segmentSoftTissueMass(
        volume, segmentation::SoftTissueInit::fromSeeds({lesionTruth.seed}), options);
    mask = std::move(result.labels);
    warnings = result.diagnostics.warnings;
  }
  std::size_t voxels = 0;
  for (std::size_t i = 0; i < mask.voxels.size(); ++i) {
    if (mask.voxels[i] == lesion.label) {
      labels.voxels[i] = lesion.label;
      ++voxels;
    }
  }
  const double dice = measurement::diceCoefficient(
      mask, [&](std::uint16_t v) { return v == lesion.label; }, truth,
      [&](std::uint16_t v) { return isTruthLabelOf(lesion, v); });
  return {{"method", fmt::format("segment --kind {} --seed (truth seed point)",
                                 lesion.step == SegmentationStep::Lytic ? "lytic" : "soft-tissue")},
          {"seedLps", {lesionTruth.seed.x, lesionTruth.seed.y, lesionTruth.seed.z}},
          {"diceVsTruthMask", dice},
          {"volumeMl", double(voxels) * volume.geometry.voxelVolumeMm3() / 1000.0},
          {"warnings", warnings}};
}

/// One validated figure: the error in the figure's own unit, and in percent of the truth. A
/// percentage of a zero truth is undefined (null), not 0 %, which would hide the error.
json compare(double measured, double truth) {
  const double error = measured - truth;
  return {{"measured", measured},
          {"truth", truth},
          {"error", error},
          {"errorPercent", truth != 0.0 ? json(100.0 * error / truth) : json(nullptr)}};
}

json validation(const measurement::LesionMeasurement& m, const phantom::LesionTruth& t) {
  json v{{"lesion", t.id},
         {"label", m.spec.label},
         {"volumeMl", compare(m.voxelVolumeMl, t.volumeMl)},
         {"longAxisMm", compare(m.recist.longAxisMm, t.longAxisMm)},
         {"shortAxisMm", compare(m.recist.shortAxisMm, t.shortAxisMm)},
         {"maxDiameter3dMm", compare(m.maxDiameter3dMm, t.maxDiameter3dMm)},
         {"extentLrMm", compare(m.extentLrMm, t.extentMm().x)},
         {"extentApMm", compare(m.extentApMm, t.extentMm().y)},
         {"extentSiMm", compare(m.extentSiMm, t.extentMm().z)}};
  if (m.meshVolumeMl)
    v["meshVolumeMl"] = compare(*m.meshVolumeMl, t.volumeMl);
  if (m.calcification)
    v["calcifiedVolumeMl"] = compare(m.calcification->volumeMl, t.calcifiedVolumeMl);
  v["conventions"] = "measured: RECIST axes and 3D diameter between voxel centres, extents include the voxel; "
                     "truth: from the continuous model (surface to surface)";
  return v;
}

/// Target registration error of an estimated baseline→follow-up transform at `point` (baseline LPS).
double registrationErrorMm(const RigidTransform& estimated, const RigidTransform& truth, const Vec3& point) {
  return distance(estimated.apply(point), truth.apply(point));
}

reporting::ResponseAssessment toReportResponse(const longitudinal::ResponseAssessment& a) {
  return {a.timepoint, a.criteria, std::string(longitudinal::categoryAbbreviation(a.category)), "", {a.reason}};
}

/// Follow-up over all time points (registration to the baseline, tracking: the mass re-segmented,
/// the bone lesion's baseline mask mapped through the registration; response criteria), with the
/// registration error at each lesion against the phantom's known patient motion.
longitudinal::Timeline trackLesions(const std::deque<dicomio::LoadedVolume>& scans, const LabelMap& baselineLabels,
                                    const phantom::PhantomStudy& study,
                                    const measurement::MeasurementOptions& measurementOptions, bool autoReference,
                                    json& registrationErrors) {
  longitudinal::FollowupOptions options;
  options.measurement = measurementOptions;
  options.softTissueMethod = longitudinal::FollowupMaskMethod::Resegment;
  options.segmenter = pipeline::softTissueResegmenter(segmentation::Modality::CT);
  if (autoReference)
    options.referenceFinder = pipeline::unaffectedVertebraeFinder(); // as lesionkit followup
  const Volume& baseline = scans.front().volume;
  const std::optional<LabelMap> found = longitudinal::resolveReference(baseline, baselineLabels, nullptr, options);
  const LabelMap* reference = found ? &*found : nullptr;
  // Each scan's measurability from its own Slice Thickness, as lesionkit measure and followup decide it.
  std::vector<longitudinal::TimePointResult> results{longitudinal::measureBaseline(
      baseline, baselineLabels, reference, longitudinal::forScan(options, scans.front().sliceThicknessMm),
      study.timePoints.front().truth.studyDate)};
  registrationErrors = json::array();
  for (std::size_t t = 1; t < scans.size(); ++t) {
    const auto& truth = study.timePoints[t].truth;
    results.push_back(longitudinal::analyzeFollowup(baseline, baselineLabels, reference, results.front(),
                                                    scans[t].volume, truth.studyDate,
                                                    longitudinal::forScan(options, scans[t].sliceThicknessMm)));
    for (const auto& lesion : results.back().lesions) {
      if (!lesion.registration)
        continue;
      for (const auto& demo : demoLesions()) {
        if (demo.label != lesion.spec.label)
          continue;
        const Vec3 centre = truthOf(study.timePoints.front().truth, demo).centroid;
        registrationErrors.push_back(
            {{"timePoint", truth.studyDate},
             {"lesion", demo.truthId},
             {"targetRegistrationErrorMm",
              registrationErrorMm(lesion.registration->baselineToFollowup, truth.transformFromBaseline, centre)},
             {"globalTargetRegistrationErrorMm",
              registrationErrorMm(results.back().globalRegistration->baselineToFollowup, truth.transformFromBaseline,
                                  centre)}});
      }
    }
  }
  return longitudinal::buildTimeline(std::move(results));
}

} // namespace

cli::Command demoCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "demo";
  c.title = "LesionKit Demo";
  c.summary = "run the whole pipeline on a built-in synthetic study and write a report";
  c.description =
      "Generates the LesionKit digital reference study (a lumbar spine with an osteolytic L4 lesion that "
      "calcifies, and an axillary soft-tissue mass that shrinks, over several time points) as DICOM, then runs "
      "every pipeline step on it as a user would: loads each DICOM series, segments the lytic lesion and the "
      "soft-tissue mass from a seed point each, measures the lesions and compares every figure with the phantom's "
      "analytic truth. Writes OUT/report.json (steps, per time point "
      "measurements and their errors against the truth), OUT/results.csv (one row per lesion per time point), "
      "per time point OUT/timepoints/<date>/ with DICOM SEG and SR, QC pictures, surface meshes, report.json and "
      "report.html, a follow-up timeline (registration, tracking, RECIST 1.1, MD Anderson and inverse Choi "
      "with reasons) in OUT/timeline.json, the last time point's report.html as the patient report (all time "
      "points, trends, responses), and the study itself under OUT/study. OUT appears complete or not "
      "at all.";
  c.examples = {"lesionkit demo --out demo-output", "lesionkit demo --out /tmp/demo --time-points 2 --seed 7"};
  c.add({"out", ParameterType::Directory, "Output folder",
         "folder for the report and the synthetic study (replaced when complete; an existing folder only when empty "
         "or an earlier demo output holding nothing else)",
         Channel::Output})
      .withDefault("demo-output");
  c.add({"timePoints", ParameterType::Integer, "Time points", "baseline plus follow-ups (1..6)", Channel::Input})
      .withDefault("3");
  c.add({"seed", ParameterType::Integer, "Random seed", "noise seed of the synthetic study", Channel::Input})
      .withDefault("1");
  c.add({"autoReference", ParameterType::StringEnumeration, "Automatic reference",
         "spine: follow up with the calcification threshold and HU normalisation from the unaffected vertebrae "
         "found on the baseline (T12, L1, L2 here: 246 HU), as lesionkit followup does by default; the L4 "
         "calcified volume reads 2.16 / 3.73 mL vs truth 2.29 / 3.88. none: the 130 HU floor, with a note "
         "(2.87 / 4.41 mL: border voxels of trabecular bone count as calcified). See docs/followup.md.",
         Channel::Input})
      .withDefault("spine")
      .withChoices({"none", "spine"});
  c.add({"reportFile", ParameterType::String, "Report", "path of report.json", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    phantom::PhantomOptions options;
    options.timePoints = static_cast<int>(args.integer("timePoints"));
    const long seed = args.integer("seed");
    if (seed < 0)
      throw UsageError(fmt::format("--seed must be 0 or positive, got {}", seed));
    options.seed = static_cast<std::uint64_t>(seed);
    options.validate();

    StagedOutputFolder staged(args.path("out"), "demo");
    json steps = json::array();
    json report{{"format", "lesionkit-demo-report"},
                {"formatVersion", "1"},
                {"tool", {{"name", "lesionkit"}, {"version", toolInfo().version}}},
                {"study", json::object()},
                {"steps", json::array()},
                {"timePoints", json::array()}};

    const auto study =
        runStep(steps, "phantom", [&] { return phantom::generatePhantomStudy(options, ctx.progress.sub(0.0, 0.4)); });
    const auto files = runStep(steps, "write-dicom", [&] {
      return phantom::writePhantomStudy(study, staged.path("study"), ctx.progress.sub(0.4, 0.55));
    });
    // Paths in report.json are relative to OUT: files.root is the staging folder, gone after commit.
    report["study"] = {{"folder", "study"},
                       {"truth", (fs::path("study") / files.truthJson).string()},
                       {"patientId", options.patientId},
                       {"timePoints", study.timePoints.size()}};

    std::string csv;
    std::vector<std::string> failures;
    const std::size_t n = study.timePoints.size();
    // Every time point's volume and tracked labels stay alive for the later time points' bundles.
    std::deque<dicomio::LoadedVolume> loadedVolumes;
    std::deque<Volume> volumes;
    for (std::size_t t = 0; t < n; ++t) {
      const fs::path seriesFolder = staged.path("study") / files.seriesFolders[t];
      ctx.progress.report(0.55 + 0.05 * t / n, "loading DICOM");
      loadedVolumes.push_back(
          runStep(steps, fmt::format("load-dicom[{}]", t), [&] { return dicomio::loadVolume(seriesFolder); }));
      if (!loadedVolumes.back().volume.geometry.sameGrid(study.timePoints[t].image.geometry, 1e-3)) {
        throw ProcessingError(fmt::format("the DICOM series '{}' read back on a different grid than it was written",
                                          seriesFolder.string()));
      }
      volumes.push_back(loadedVolumes.back().volume);
    }

    // Baseline: each lesion segmented from its seed point, as a user would click it.
    ctx.progress.report(0.6, "segmenting");
    const auto& baseline = study.timePoints.front();
    LabelMap baselineLabels(volumes.front().geometry, 0);
    json segmentations = json::object();
    measurement::MeasurementOptions measurementOptions;
    for (const auto& lesion : demoLesions()) {
      try {
        segmentations[lesion.truthId] = runStep(steps, fmt::format("segment[{}]", lesion.truthId), [&] {
          return addSegmentation(volumes.front(), baseline.labels, truthOf(baseline.truth, lesion), lesion,
                                 baselineLabels);
        });
        measurementOptions.lesions.push_back({lesion.label, lesion.kind, lesion.name, false});
      } catch (const ProcessingError& e) {
        // A refused segmentation is a result too: reported, and the lesion is not followed.
        segmentations[lesion.truthId] = {{"status", "failed"}, {"reason", e.what()}};
        failures.push_back(fmt::format("{} at {}: {}", lesion.truthId, baseline.truth.studyDate, e.what()));
      }
    }
    if (measurementOptions.lesions.empty())
      throw ProcessingError("the demo could not segment any lesion at baseline");

    // Follow-up: registration, tracking and response over all time points.
    ctx.progress.report(0.7, "follow-up");
    json registrationErrors;
    const longitudinal::Timeline timeline = runStep(steps, "followup", [&] {
      return trackLesions(loadedVolumes, baselineLabels, study, measurementOptions,
                          args.string("autoReference") == "spine", registrationErrors);
    });
    writeTextFileAtomically(staged.path("timeline.json"), longitudinal::toTimelineJson(timeline));
    std::vector<reporting::ResponseAssessment> responses;
    for (const auto* list : {&timeline.recist, &timeline.mdAnderson, &timeline.inverseChoi}) {
      for (const auto& a : *list)
        responses.push_back(toReportResponse(a));
    }
    report["followup"] = {{"timeline", "timeline.json"}, {"registrationErrors", registrationErrors}};

    // Per time point: validation against the truth, and everything radiology tools read.
    std::deque<pipeline::EarlierTimePoint> earlier;
    for (std::size_t t = 0; t < n; ++t) {
      const auto& tp = study.timePoints[t];
      const auto& loaded = loadedVolumes[t];
      const longitudinal::TimePointResult& tracked = timeline.timePoints[t];
      ctx.progress.report(0.8 + 0.15 * t / n, "reporting");
      reporting::MeasurementReport measured;
      measured.toolVersion = toolInfo().version;
      measured.command = "demo";
      measured.timepoint = tp.truth.studyDate;
      measured.input.volumePath = (fs::path("study") / files.seriesFolders[t]).string();
      measured.input.maskPath = t == 0 ? "segmented from seed points" : "tracked from the baseline (followup)";
      measured.input.seriesInstanceUid = loaded.seriesInstanceUid;
      measured.input.geometry = loaded.volume.geometry;
      measured.input.warnings = loaded.warnings;
      measured.options = tracked.measuredWith; // the time point's calcification threshold and slice thickness
      for (const auto& lesion : tracked.lesions) {
        if (lesion.measurement)
          measured.lesions.push_back(*lesion.measurement);
      }
      const fs::path bundleFolder = fs::path("timepoints") / tp.truth.studyDate;
      fs::create_directories(staged.path(bundleFolder));
      pipeline::ResultBundleInput bundle;
      bundle.volume = &volumes[t];
      bundle.labels = &tracked.labels;
      bundle.report = measured;
      bundle.segmentAlgorithm = reporting::lesionKitAlgorithm(); // from seeds, then tracked: LesionKit's
      bundle.source = reporting::readDicomSourceInfo(staged.path("study") / files.seriesFolders[t], loaded.seriesId,
                                                     loaded.sopInstanceUids);
      bundle.earlier.assign(earlier.begin(), earlier.end());
      bundle.warnings = loaded.warnings;
      if (t + 1 == n)
        bundle.responses = responses;
      const auto bundleFiles = runStep(steps, fmt::format("report[{}]", t), [&] {
        return pipeline::writeResultBundle(bundle, staged.path(bundleFolder), Progress{});
      });
      earlier.push_back({bundle.volume, bundle.labels, measured});
      const std::string tableText = reporting::toCsv(measured);
      csv += t == 0 ? tableText : tableText.substr(tableText.find('\n') + 1);

      json validations = json::array();
      for (const auto& tl : tracked.lesions) {
        if (!tl.measurement)
          continue;
        for (const auto& lesion : demoLesions()) {
          if (lesion.label != tl.spec.label)
            continue;
          json v = validation(*tl.measurement, truthOf(tp.truth, lesion));
          v["segmentation"] = t == 0 ? segmentations[lesion.truthId] : json{{"method", tl.maskMethod}};
          v["segmentation"]["diceVsTruthMask"] = measurement::diceCoefficient(
              tracked.labels, [&](std::uint16_t l) { return l == lesion.label; }, tp.labels,
              [&](std::uint16_t l) { return isTruthLabelOf(lesion, l); });
          if (tl.calcifiedVolumeMl)
            v["trackedCalcifiedVolumeMl"] = compare(*tl.calcifiedVolumeMl, truthOf(tp.truth, lesion).calcifiedVolumeMl);
          validations.push_back(std::move(v));
        }
      }
      report["timePoints"].push_back({{"index", t},
                                      {"studyDate", tp.truth.studyDate},
                                      {"series", measured.input.volumePath},
                                      {"seriesInstanceUid", loaded.seriesInstanceUid},
                                      {"loadWarnings", loaded.warnings},
                                      {"measurementReport", (bundleFolder / "report.json").string()},
                                      {"outputs",
                                       {{"seg", (bundleFolder / "seg.dcm").string()},
                                        {"sr", (bundleFolder / "sr.dcm").string()},
                                        {"html", (bundleFolder / "report.html").string()},
                                        {"pictures", bundleFiles.pictureCount},
                                        {"meshes", bundleFiles.meshCount}}},
                                      {"measurements", json::parse(reporting::toJson(measured))},
                                      {"validation", validations}});
      ctx.out << fmt::format("time point {} ({}):\n", t, tp.truth.studyDate);
      for (const auto& v : validations) {
        ctx.out << fmt::format("  {:<14} volume {:6.2f} mL (truth {:6.2f}), long axis {:5.1f} mm (truth {:5.1f}), "
                               "short axis {:5.1f} mm (truth {:5.1f}), Dice {:.3f}\n",
                               v["lesion"].get<std::string>(), v["volumeMl"]["measured"].get<double>(),
                               v["volumeMl"]["truth"].get<double>(), v["longAxisMm"]["measured"].get<double>(),
                               v["longAxisMm"]["truth"].get<double>(), v["shortAxisMm"]["measured"].get<double>(),
                               v["shortAxisMm"]["truth"].get<double>(),
                               v["segmentation"]["diceVsTruthMask"].get<double>());
      }
    }
    ctx.out << longitudinal::toTimelineSummary(timeline);
    // The patient's report: the last time point's, with every earlier one, trends and responses.
    const fs::path lastBundle = fs::path("timepoints") / study.timePoints.back().truth.studyDate;
    report["patientReport"] = (lastBundle / "report.html").string();
    report["steps"] = steps;
    report["failures"] = failures;
    for (const auto& f : failures)
      ctx.out << "segmentation refused: " << f << '\n';
    writeTextFileAtomically(staged.path("results.csv"), csv);
    writeTextFileAtomically(staged.path("report.json"), report.dump(2) + "\n");
    staged.commit();
    const fs::path reportPath = staged.target() / "report.json";
    ctx.out << "report: " << reportPath.string() << '\n';
    ctx.returnValues["reportFile"] = reportPath.string();
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
