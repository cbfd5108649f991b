#include "lesion/pipeline/FollowupRun.h"

#include <fmt/format.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/MeasurementReport.h"

namespace lesion::pipeline {

namespace fs = std::filesystem;

std::string itkTransformText(const RigidTransform& t) {
  std::string params;
  for (double v : t.rotation.m) params += fmt::format("{:.17g} ", v);
  params += fmt::format("{:.17g} {:.17g} {:.17g}", t.translation.x, t.translation.y, t.translation.z);
  return "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\nParameters: " + params +
         "\nFixedParameters: 0 0 0\n";
}

namespace {

reporting::MeasurementReport reportOf(const longitudinal::TimePointResult& tp, const FollowupRunInput& input,
                                      const std::string& volumeSource) {
  reporting::MeasurementReport report;
  report.toolVersion = input.toolVersion;
  report.command = input.command;
  report.timepoint = tp.label;
  report.input.volumePath = volumeSource;
  report.input.maskPath = input.lesionsSource;
  report.input.geometry = tp.grid;
  report.options = input.options.measurement;
  for (const longitudinal::TrackedLesion& l : tp.lesions) {
    if (l.measurement) report.lesions.push_back(*l.measurement);
    for (const std::string& note : l.notes) report.input.warnings.push_back(l.trackingId + ": " + note);
  }
  return report;
}

} // namespace

FollowupRunOutput writeFollowupRun(const FollowupRunInput& input, const fs::path& folder, const Progress& progress) {
  const longitudinal::FollowupOptions& options = input.options;
  std::vector<longitudinal::TimePointResult> results;
  try {
    results.push_back(longitudinal::measureBaseline(*input.baseline, *input.lesions, input.reference, options,
                                                    input.baselineLabel));
  } catch (const InputError& e) {
    throw InputError(fmt::format("baseline '{}' with lesions '{}': {}", input.baselineSource, input.lesionsSource, e.what()));
  }
  fs::create_directories(folder / "labels");
  fs::create_directories(folder / "transforms");
  if (options.changeMaps) fs::create_directories(folder / "changemaps");
  dicomio::writeLabelMapFile(results[0].labels, folder / "labels" / (results[0].label + ".nrrd"));
  results[0].labels = {};

  const double step = 0.9 / double(std::max<std::size_t>(1, input.followups.size()));
  for (std::size_t f = 0; f < input.followups.size(); ++f) {
    const FollowupSource& source = input.followups[f];
    const Progress sub = progress.sub(0.05 + step * double(f), 0.05 + step * double(f + 1));
    sub.report(0.0, "loading " + source.label);
    try {
      const Volume followup = source.load();
      results.push_back(longitudinal::analyzeFollowup(*input.baseline, *input.lesions, input.reference, results[0],
                                                      followup, source.label, options, sub));
    } catch (const InputError& e) {
      throw InputError(fmt::format("follow-up '{}': {}", source.source, e.what()));
    }
    longitudinal::TimePointResult& tp = results.back();
    dicomio::writeLabelMapFile(tp.labels, folder / "labels" / (source.label + ".nrrd"));
    tp.labels = {}; // one follow-up's images in memory at a time
    writeTextFileAtomically(folder / "transforms" / (source.label + ".tfm"),
                            itkTransformText(tp.globalRegistration->baselineToFollowup));
    for (longitudinal::TrackedLesion& l : tp.lesions) {
      if (l.registration && options.localRefinement) {
        writeTextFileAtomically(folder / "transforms" / (source.label + "-" + l.trackingId + ".tfm"),
                                itkTransformText(l.registration->baselineToFollowup));
      }
      if (l.changeMap) {
        dicomio::writeVolumeFile(*l.changeMap, folder / "changemaps" / (source.label + "-" + l.trackingId + ".nrrd"));
        l.changeMap.reset();
      }
    }
  }

  progress.report(0.95, "assessing response");
  FollowupRunOutput out;
  for (std::size_t t = 0; t < results.size(); ++t) {
    const reporting::MeasurementReport report =
        reportOf(results[t], input, t == 0 ? input.baselineSource : input.followups[t - 1].source);
    reporting::writeJsonReport(report, folder / ("measurements-" + results[t].label + ".json"));
    const std::string table = reporting::toCsv(report);
    const std::size_t headerEnd = table.find('\n') + 1;
    out.csvHeader = table.substr(0, headerEnd);
    out.csvRows.push_back(table.substr(headerEnd));
  }
  std::string csv = out.csvHeader; // one header for the whole table
  for (const std::string& rows : out.csvRows) csv += rows;
  writeTextFileAtomically(folder / "measurements.csv", csv);
  out.timeline = longitudinal::buildTimeline(std::move(results), input.flags);
  writeTextFileAtomically(folder / "timeline.json", longitudinal::toTimelineJson(out.timeline));
  return out;
}

} // namespace lesion::pipeline
