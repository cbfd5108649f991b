// lesionkit demo: runs every pipeline step that exists on a built-in synthetic study and writes
// DIR/report.json. Each step is one library call; this file only strings them together and
// records how each result compares with the phantom's analytic truth.
#include <chrono>
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
#include "lesion/phantom/Phantom.h"
#include "lesion/reporting/MeasurementReport.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace lesion::commands {
namespace {

/// The lesions the demo follows: our label in the measured map, the phantom's truth id, the
/// phantom label values that make up the lesion, and the kind the measurement reports.
struct DemoLesion {
  std::uint16_t label;
  const char* truthId;
  std::vector<std::uint16_t> truthLabels;
  const char* kind;
  const char* name;
};

const std::vector<DemoLesion>& demoLesions() {
  static const std::vector<DemoLesion> lesions{
      {1, "l4-lytic", {1, 3}, "lytic-bone", "L4"},
      {2, "axillary-mass", {2}, "soft-tissue", "axilla"},
  };
  return lesions;
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

/// Our lesion labels from the phantom's truth labels (the calcified part belongs to the L4 lesion).
LabelMap lesionLabelsFromTruth(const LabelMap& truth) {
  LabelMap out(truth.geometry, 0);
  for (std::size_t i = 0; i < truth.voxels.size(); ++i) {
    for (const auto& lesion : demoLesions()) {
      for (const auto t : lesion.truthLabels) {
        if (truth.voxels[i] == t) out.voxels[i] = lesion.label;
      }
    }
  }
  return out;
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
      "every pipeline step on it as a user would: loads each DICOM series, measures the lesions and compares "
      "every figure with the phantom's analytic truth. Writes OUT/report.json (steps, per time point "
      "measurements and their errors against the truth), OUT/results.csv (one row per lesion per time point), "
      "per time point measurement reports, and the study itself under OUT/study. OUT appears complete or not "
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

      stepProgress.report(0.5, "measuring");
      measurement::MeasurementOptions mo;
      for (const auto& lesion : demoLesions()) {
        mo.lesions.push_back({lesion.label, lesion.kind, lesion.name, false});
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
        return measurement::measureLesions(loaded.volume, lesionLabelsFromTruth(tp.labels), mo);
      });
      const std::string reportName = fmt::format("measurements-{}.json", tp.truth.studyDate);
      reporting::writeJsonReport(measured, staged.path(reportName));
      const std::string tableText = reporting::toCsv(measured);
      csv += t == 0 ? tableText : tableText.substr(tableText.find('\n') + 1);

      json validations = json::array();
      for (const auto& m : measured.lesions) {
        for (const auto& lesion : demoLesions()) {
          if (lesion.label != m.spec.label) continue;
          for (const auto& truth : tp.truth.lesions) {
            if (truth.id == lesion.truthId) validations.push_back(validation(m, truth));
          }
        }
      }
      report["timePoints"].push_back({{"index", t},
                                      {"studyDate", tp.truth.studyDate},
                                      {"series", measured.input.volumePath},
                                      {"seriesInstanceUid", loaded.seriesInstanceUid},
                                      {"loadWarnings", loaded.warnings},
                                      {"measurementReport", reportName},
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
    report["steps"] = steps;
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
