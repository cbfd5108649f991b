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
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/measurement/Overlap.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/pipeline/FollowupSegmenter.h"
#include "lesion/pipeline/ResultBundle.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/HtmlReport.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace lesion::commands {
namespace {

/// The lesions the demo follows: our label in the measured map, the phantom's truth id, the
/// phantom label values that make up the lesion, the kind the measurement reports, and whether
/// the pipeline segments it from its seed (true) or, for lesion kinds without a segmentation
/// step yet, measures the truth mask (false; reported as such in report.json).
struct DemoLesion {
  std::uint16_t label;
  const char* truthId;
  std::vector<std::uint16_t> truthLabels;
  const char* kind;
  const char* name;
  bool segmentedFromSeed;
};

const std::vector<DemoLesion>& demoLesions() {
  static const std::vector<DemoLesion> lesions{
      {1, "l4-lytic", {1, 3}, "lytic-bone", "L4", false},
      {2, "axillary-mass", {2}, "soft-tissue", "axilla", true},
  };
  return lesions;
}

bool isTruthLabelOf(const DemoLesion& lesion, std::uint16_t value) {
  return std::find(lesion.truthLabels.begin(), lesion.truthLabels.end(), value) != lesion.truthLabels.end();
}

const phantom::LesionTruth& truthOf(const phantom::TimePointTruth& truth, const DemoLesion& lesion) {
  for (const auto& t : truth.lesions) {
    if (t.id == lesion.truthId) return t;
  }
  throw ProcessingError(fmt::format("the phantom truth has no lesion '{}'", lesion.truthId));
}

/// Runs one step, timing it and recording it in the report's step list.
template <typename F>
auto runStep(json& steps, const std::string& name, F&& step) {
  const auto start = std::chrono::steady_clock::now();
  auto result = step();
  steps.push_back({{"name", name},
                   {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
  return result;
}

/// Copies the truth mask of `lesion` into `labels` (the calcified part belongs to the L4 lesion).
void addTruthMask(const LabelMap& truth, const DemoLesion& lesion, LabelMap& labels) {
  for (std::size_t i = 0; i < truth.voxels.size(); ++i) {
    if (isTruthLabelOf(lesion, truth.voxels[i])) labels.voxels[i] = lesion.label;
  }
}

/// Adds the pipeline's segmentation of `lesion` from its truth seed point, as a user would click
/// it, and returns how well it agrees with the truth mask.
json addSegmentation(const Volume& volume, const LabelMap& truth, const phantom::LesionTruth& lesionTruth,
                     const DemoLesion& lesion, LabelMap& labels, const Progress& progress) {
  segmentation::SoftTissueOptions options;
  options.labelValue = lesion.label;
  const auto result = segmentation::segmentSoftTissueMass(
      volume, segmentation::SoftTissueInit::fromSeeds({lesionTruth.seed}), options, progress);
  for (std::size_t i = 0; i < result.labels.voxels.size(); ++i) {
    if (result.labels.voxels[i] == lesion.label) labels.voxels[i] = lesion.label;
  }
  const double dice = measurement::diceCoefficient(
      result.labels, [&](std::uint16_t v) { return v == lesion.label; }, truth,
      [&](std::uint16_t v) { return isTruthLabelOf(lesion, v); });
  return {{"method", "segment --kind soft-tissue --seed (truth seed point)"},
          {"seedLps", {lesionTruth.seed.x, lesionTruth.seed.y, lesionTruth.seed.z}},
          {"diceVsTruthMask", dice},
          {"volumeMl", result.volumeMl},
          {"warnings", result.diagnostics.warnings}};
}

json compare(double measured, double truth) {
  return {{"measured", measured},
          {"truth", truth},
          {"error", measured - truth},
          {"errorPercent", truth != 0.0 ? 100.0 * (measured - truth) / truth : 0.0}};
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
  if (m.meshVolumeMl) v["meshVolumeMl"] = compare(*m.meshVolumeMl, t.volumeMl);
  if (m.calcification) v["calcifiedVolumeMl"] = compare(m.calcification->volumeMl, t.calcifiedVolumeMl);
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

/// Follow-up over all time points (registration to the baseline, tracking, response criteria),
/// with the registration error at each lesion against the phantom's known patient motion.
json runFollowup(const std::deque<Volume>& volumes, const std::deque<LabelMap>& labelMaps,
                 const phantom::PhantomStudy& study, const measurement::MeasurementOptions& measurementOptions,
                 std::vector<reporting::ResponseAssessment>& responses, longitudinal::Timeline& timeline) {
  longitudinal::FollowupOptions options;
  options.measurement = measurementOptions;
  options.softTissueMethod = longitudinal::FollowupMaskMethod::Resegment;
  options.segmenter = pipeline::softTissueResegmenter(segmentation::Modality::CT);
  std::vector<longitudinal::TimePointResult> results{
      longitudinal::measureBaseline(volumes.front(), labelMaps.front(), nullptr, options, study.timePoints.front().truth.studyDate)};
  json registrationErrors = json::array();
  for (std::size_t t = 1; t < volumes.size(); ++t) {
    const auto& truth = study.timePoints[t].truth;
    results.push_back(longitudinal::analyzeFollowup(volumes.front(), labelMaps.front(), nullptr, results.front(),
                                                    volumes[t], truth.studyDate, options));
    for (const auto& lesion : results.back().lesions) {
      if (!lesion.registration) continue;
      for (const auto& demo : demoLesions()) {
        if (demo.label != lesion.spec.label) continue;
        const Vec3 centre = truthOf(study.timePoints.front().truth, demo).centroid;
        registrationErrors.push_back(
            {{"timePoint", truth.studyDate},
             {"lesion", demo.truthId},
             {"targetRegistrationErrorMm",
              registrationErrorMm(lesion.registration->baselineToFollowup, truth.transformFromBaseline, centre)},
             {"globalTargetRegistrationErrorMm",
              registrationErrorMm(results.back().globalRegistration->baselineToFollowup, truth.transformFromBaseline, centre)}});
      }
    }
  }
  timeline = longitudinal::buildTimeline(std::move(results));
  for (const auto* list : {&timeline.recist, &timeline.mdAnderson, &timeline.inverseChoi}) {
    for (const auto& a : *list) responses.push_back(toReportResponse(a));
  }
  return {{"timeline", "timeline.json"}, {"registrationErrors", registrationErrors}};
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
      "every pipeline step on it as a user would: loads each DICOM series, segments the soft-tissue mass from "
      "a seed point, measures the lesions and compares every figure with the phantom's analytic truth. Writes OUT/report.json (steps, per time point "
      "measurements and their errors against the truth), OUT/results.csv (one row per lesion per time point), "
      "per time point OUT/timepoints/<date>/ with DICOM SEG and SR, QC pictures, surface meshes, report.json and "
      "report.html, a follow-up timeline (registration, tracking, RECIST 1.1, MD Anderson and inverse Choi "
      "with reasons) in OUT/timeline.json, one patient report OUT/report.html, and the study itself under OUT/study. OUT appears complete or not "
      "at all.";
  c.examples = {"lesionkit demo --out demo-output", "lesionkit demo --out /tmp/demo --time-points 2 --seed 7"};
  c.parameters.push_back({"out", ParameterType::Directory, "Output folder",
                          "folder for the report and the synthetic study (replaced when complete)", Channel::Output});
  c.parameters.back().defaultValue = "demo-output";
  c.parameters.push_back({"timePoints", ParameterType::Integer, "Time points", "baseline plus follow-ups (1..6)",
                          Channel::Input});
  c.parameters.back().defaultValue = "3";
  c.parameters.push_back({"seed", ParameterType::Integer, "Random seed", "noise seed of the synthetic study",
                          Channel::Input});
  c.parameters.back().defaultValue = "1";
  c.parameters.push_back({"reportFile", ParameterType::String, "Report", "path of report.json", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    phantom::PhantomOptions options;
    options.timePoints = static_cast<int>(args.integer("timePoints"));
    const long seed = args.integer("seed");
    if (seed < 0) throw UsageError(fmt::format("--seed must be 0 or positive, got {}", seed));
    options.seed = static_cast<std::uint64_t>(seed);
    options.validate();

    const fs::path out = args.path("out");
    StagedOutputFolder staged(out);
    json steps = json::array();
    json report{{"format", "lesionkit-demo-report"},
                {"formatVersion", "1"},
                {"tool", {{"name", "lesionkit"}, {"version", toolInfo().version}}},
                {"study", json::object()},
                {"steps", json::array()},
                {"timePoints", json::array()}};

    const auto study = runStep(steps, "phantom", [&] {
      return phantom::generatePhantomStudy(options, ctx.progress.sub(0.0, 0.4));
    });
    const auto files = runStep(steps, "write-dicom", [&] {
      return phantom::writePhantomStudy(study, staged.path("study"), ctx.progress.sub(0.4, 0.55));
    });
    report["study"] = {{"folder", (fs::path("study") / files.root).string()},
                       {"truth", (fs::path("study") / files.truthJson).string()},
                       {"patientId", options.patientId},
                       {"timePoints", study.timePoints.size()}};

    std::string csv;
    std::vector<std::string> failures;
    // Every time point's volume, labels and report stay alive for the later time points' bundles.
    std::deque<pipeline::EarlierTimePoint> earlier;
    std::deque<Volume> volumes;
    std::deque<LabelMap> labelMaps;
    const std::size_t n = study.timePoints.size();
    for (std::size_t t = 0; t < n; ++t) {
      const auto& tp = study.timePoints[t];
      const fs::path seriesFolder = staged.path("study") / files.seriesFolders[t];
      const Progress stepProgress = ctx.progress.sub(0.55 + 0.4 * t / n, 0.55 + 0.4 * (t + 1) / n);
      stepProgress.report(0.0, "loading DICOM");
      const auto loaded = runStep(steps, fmt::format("load-dicom[{}]", t), [&] { return dicomio::loadVolume(seriesFolder); });
      if (!loaded.volume.geometry.sameGrid(tp.image.geometry, 1e-3)) {
        throw ProcessingError(fmt::format("the DICOM series '{}' read back on a different grid than it was written",
                                          seriesFolder.string()));
      }

      stepProgress.report(0.3, "segmenting");
      LabelMap lesionLabels(loaded.volume.geometry, 0);
      json segmentations = json::object();
      for (const auto& lesion : demoLesions()) {
        if (!lesion.segmentedFromSeed) {
          addTruthMask(tp.labels, lesion, lesionLabels);
          segmentations[lesion.truthId] = {{"method", "truth mask (no segmentation step for this kind yet)"}};
          continue;
        }
        try {
          segmentations[lesion.truthId] = runStep(steps, fmt::format("segment[{}][{}]", t, lesion.truthId), [&] {
            return addSegmentation(loaded.volume, tp.labels, truthOf(tp.truth, lesion), lesion, lesionLabels, Progress{});
          });
        } catch (const ProcessingError& e) {
          // A refused segmentation is a result too: reported, and the lesion is not measured here.
          segmentations[lesion.truthId] = {{"method", "segment --kind soft-tissue --seed (truth seed point)"},
                                           {"status", "failed"},
                                           {"reason", e.what()}};
          failures.push_back(fmt::format("{} at {}: {}", lesion.truthId, tp.truth.studyDate, e.what()));
        }
      }

      stepProgress.report(0.6, "measuring");
      measurement::MeasurementOptions mo;
      const auto present = measurement::labelsPresent(lesionLabels);
      for (const auto& lesion : demoLesions()) {
        if (std::find(present.begin(), present.end(), lesion.label) != present.end()) {
          mo.lesions.push_back({lesion.label, lesion.kind, lesion.name, false});
        }
      }
      reporting::MeasurementReport measured;
      measured.toolVersion = toolInfo().version;
      measured.timepoint = tp.truth.studyDate;
      measured.input.volumePath = (fs::path("study") / files.seriesFolders[t]).string();
      measured.input.maskPath = (fs::path("study") / files.labelMaps[t].front()).string();
      measured.input.seriesInstanceUid = loaded.seriesInstanceUid;
      measured.input.geometry = loaded.volume.geometry;
      measured.input.warnings = loaded.warnings;
      measured.options = mo;
      measured.lesions = runStep(steps, fmt::format("measure[{}]", t), [&] {
        return measurement::measureLesions(loaded.volume, lesionLabels, mo);
      });
      // Everything radiology tools read, per time point: SEG, SR, QC pictures, meshes, HTML.
      const fs::path bundleFolder = fs::path("timepoints") / tp.truth.studyDate;
      fs::create_directories(staged.path(bundleFolder));
      volumes.push_back(loaded.volume);
      labelMaps.push_back(std::move(lesionLabels));
      pipeline::ResultBundleInput bundle;
      bundle.volume = &volumes.back();
      bundle.labels = &labelMaps.back();
      bundle.report = measured;
      bundle.source = reporting::readDicomSourceInfo(seriesFolder, loaded.seriesInstanceUid, loaded.sopInstanceUids);
      bundle.earlier.assign(earlier.begin(), earlier.end());
      bundle.warnings = loaded.warnings;
      const auto bundleFiles = runStep(steps, fmt::format("report[{}]", t), [&] {
        return pipeline::writeResultBundle(bundle, staged.path(bundleFolder), Progress{});
      });
      earlier.push_back({bundle.volume, bundle.labels, measured});
      const std::string reportName = (bundleFolder / "report.json").string();
      const std::string tableText = reporting::toCsv(measured);
      csv += t == 0 ? tableText : tableText.substr(tableText.find('\n') + 1);

      json validations = json::array();
      for (const auto& m : measured.lesions) {
        for (const auto& lesion : demoLesions()) {
          if (lesion.label != m.spec.label) continue;
          json v = validation(m, truthOf(tp.truth, lesion));
          v["segmentation"] = segmentations[lesion.truthId];
          validations.push_back(std::move(v));
        }
      }
      report["timePoints"].push_back({{"index", t},
                                      {"studyDate", tp.truth.studyDate},
                                      {"series", measured.input.volumePath},
                                      {"seriesInstanceUid", loaded.seriesInstanceUid},
                                      {"loadWarnings", loaded.warnings},
                                      {"measurementReport", reportName},
                                      {"outputs",
                                       {{"seg", (bundleFolder / "seg.dcm").string()},
                                        {"sr", (bundleFolder / "sr.dcm").string()},
                                        {"html", (bundleFolder / "report.html").string()},
                                        {"pictures", bundleFiles.pictureCount},
                                        {"meshes", bundleFiles.meshCount}}},
                                      {"measurements", json::parse(reporting::toJson(measured))},
                                      {"validation", validations}});
      stepProgress.report(1.0);
      ctx.out << fmt::format("time point {} ({}):\n", t, tp.truth.studyDate);
      for (const auto& v : validations) {
        ctx.out << fmt::format("  {:<14} volume {:6.2f} mL (truth {:6.2f}), long axis {:5.1f} mm (truth {:5.1f}), "
                               "short axis {:5.1f} mm (truth {:5.1f})\n",
                               v["lesion"].get<std::string>(), v["volumeMl"]["measured"].get<double>(),
                               v["volumeMl"]["truth"].get<double>(), v["longAxisMm"]["measured"].get<double>(),
                               v["longAxisMm"]["truth"].get<double>(), v["shortAxisMm"]["measured"].get<double>(),
                               v["shortAxisMm"]["truth"].get<double>());
      }
    }
    // Follow-up: registration, tracking and response over all time points; then one HTML
    // report for the patient with every time point, the trends and the response categories.
    if (volumes.size() > 1) {
      std::vector<reporting::ResponseAssessment> responses;
      longitudinal::Timeline timeline;
      measurement::MeasurementOptions followupMeasurement;
      for (const auto& lesion : demoLesions()) followupMeasurement.lesions.push_back({lesion.label, lesion.kind, lesion.name, false});
      ctx.progress.report(0.95, "follow-up");
      report["followup"] = runStep(steps, "followup", [&] {
        return runFollowup(volumes, labelMaps, study, followupMeasurement, responses, timeline);
      });
      writeTextFileAtomically(staged.path("timeline.json"), longitudinal::toTimelineJson(timeline));
      ctx.out << longitudinal::toTimelineSummary(timeline);
      reporting::HtmlReportInput html;
      html.title = "LesionKit demo — patient " + options.patientId;
      html.patientId = options.patientId;
      for (const auto& e : earlier) html.timepoints.push_back(e.report);
      html.responses = responses;
      for (const auto& entry : fs::directory_iterator(staged.path(fs::path("timepoints") / study.timePoints.back().truth.studyDate / "qc"))) {
        if (entry.path().filename().string().find("followup") != std::string::npos) {
          html.pictures.push_back({"the lesion over time (axial, one scale)", entry.path(), entry.path().stem().string()});
        }
      }
      reporting::writeHtmlReport(html, staged.path("report.html"));
      report["patientReport"] = "report.html";
    }
    report["steps"] = steps;
    report["failures"] = failures;
    for (const auto& f : failures) ctx.out << "segmentation refused: " << f << '\n';
    writeTextFileAtomically(staged.path("results.csv"), csv);
    writeTextFileAtomically(staged.path("report.json"), report.dump(2) + "\n");
    staged.commit();
    const fs::path reportPath = out / "report.json";
    ctx.out << "report: " << reportPath.string() << '\n';
    ctx.returnValues["reportFile"] = reportPath.string();
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
