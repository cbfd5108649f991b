#include "lesion/pipeline/FollowupRun.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/pipeline/ResultBundle.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::pipeline {

namespace fs = std::filesystem;

namespace {

/// One transform of an ITK transform file: p_followup = R p_baseline + t as an affine transform.
std::string affineTransformBlock(const RigidTransform& t) {
  std::string params;
  for (double v : t.rotation.m) params += fmt::format("{:.17g} ", v);
  params += fmt::format("{:.17g} {:.17g} {:.17g}", t.translation.x, t.translation.y, t.translation.z);
  return "Transform: AffineTransform_double_3_3\nParameters: " + params + "\nFixedParameters: 0 0 0\n";
}

} // namespace

std::string itkTransformText(const RigidTransform& t) {
  return "#Insight Transform File V1.0\n#Transform 0\n" + affineTransformBlock(t);
}

std::string itkTransformText(const longitudinal::DeformableTransform& t) {
  // ITK's CompositeTransform applies its last transform first: [rigid, B-spline] is
  // p -> rigid(p + d(p)). B-spline parameters: every x coefficient, then y, then z; fixed
  // parameters: grid size, origin, spacing, direction (row-major).
  const ImageGeometry& g = t.controlGrid;
  std::string params;
  for (std::size_t axis = 0; axis < 3; ++axis)
    for (const Vec3& c : t.coefficients) params += fmt::format("{:.17g} ", c[axis]);
  if (!params.empty()) params.pop_back();
  std::string fixed = fmt::format("{} {} {}", g.size[0], g.size[1], g.size[2]);
  for (const Vec3& v : {g.origin, g.spacing}) fixed += fmt::format(" {:.17g} {:.17g} {:.17g}", v.x, v.y, v.z);
  for (double v : g.direction.m) fixed += fmt::format(" {:.17g}", v);
  return "#Insight Transform File V1.0\n#Transform 0\nTransform: CompositeTransform_double_3_3\n#Transform 1\n" +
         affineTransformBlock(t.rigid) + "#Transform 2\nTransform: BSplineTransform_double_3_3\nParameters: " + params +
         "\nFixedParameters: " + fixed + "\n";
}

namespace {

/// The mask a time point was measured with: the reader's map at baseline, the tracked masks
/// (labels/<label>.nrrd in the output folder) at a follow-up.
std::string maskPathOf(const longitudinal::TimePointResult& tp, const FollowupRunInput& input) {
  return tp.label == input.baselineLabel ? input.lesionsSource : "labels/" + tp.label + ".nrrd";
}

reporting::MeasurementReport reportOf(const longitudinal::TimePointResult& tp, const FollowupRunInput& input,
                                      const std::string& volumeSource) {
  reporting::MeasurementReport report;
  report.toolVersion = input.toolVersion;
  report.command = input.command;
  report.timepoint = tp.label;
  report.input.volumePath = volumeSource;
  report.input.maskPath = maskPathOf(tp, input);
  report.input.seriesInstanceUid = tp.scan.seriesInstanceUid;
  report.input.geometry = tp.grid;
  report.options = tp.measuredWith; // the time point's calcification threshold and slice thickness
  report.input.warnings = tp.notes;
  for (const longitudinal::TrackedLesion& l : tp.lesions) {
    if (l.measurement) report.lesions.push_back(*l.measurement);
    for (const std::string& note : l.notes) report.input.warnings.push_back(l.trackingId + ": " + note);
  }
  return report;
}

/// Lytic candidates on `followup` that no tracked lesion of `tp` overlaps or lies within
/// NearMm of: new lesions to propose.
std::vector<NewLesionProposal> proposeNewLesions(const Volume& followup, const longitudinal::TimePointResult& tp) {
  constexpr double NearMm = 15.0;
  const spine::LyticResult found = spine::detectLyticLesions(followup, spine::segmentSpine(followup));
  std::vector<NewLesionProposal> proposals;
  for (const spine::LyticLesion& c : found.candidates) {
    if (!c.labelled) continue;
    bool explained = false;
    for (std::size_t i = 0; i < found.lesions.voxels.size() && !explained; ++i) {
      explained = found.lesions.voxels[i] == c.id && !tp.labels.voxels.empty() && tp.labels.voxels[i] != 0;
    }
    for (const longitudinal::TrackedLesion& l : tp.lesions) {
      if (l.measurement && distance(l.measurement->principalAxes.centroid, c.centroid) < NearMm) explained = true;
    }
    if (explained) continue;
    NewLesionProposal p;
    p.timePoint = tp.label;
    p.level = c.level;
    p.confidence = c.confidence;
    p.volumeMl = c.volumeMl;
    p.centroidMm = c.centroid;
    p.baselineCentroidMm =
        tp.globalRegistration ? tp.globalRegistration->baselineToFollowup.inverse().apply(c.centroid) : c.centroid;
    p.reason = c.reason;
    proposals.push_back(std::move(p));
  }
  return proposals;
}

/// What made a time point's label map: the given lesions at baseline (unless re-segmented there),
/// LesionKit's tracking of them after.
reporting::SegmentAlgorithm segmentAlgorithmOf(const longitudinal::TimePointResult& tp, const FollowupRunInput& input) {
  if (tp.label == input.baselineLabel && !input.resegmentBaseline)
    return input.lesionsAlgorithm;
  const bool automatic = input.lesionsAlgorithm.type == reporting::SegmentAlgorithmType::Automatic &&
                         input.lesionsAlgorithm.name == reporting::kLesionKitAlgorithmName;
  return reporting::lesionKitAlgorithm(automatic ? reporting::SegmentAlgorithmType::Automatic
                                                 : reporting::SegmentAlgorithmType::SemiAutomatic);
}

/// labels/<label>.nrrd, recording LesionKit as its maker when it is (so a SEG written from it later says so).
void writeTimePointLabels(const FollowupRunInput& input, const longitudinal::TimePointResult& tp,
                          const fs::path& folder) {
  // The baseline's lesions keep the version of the LesionKit that made them.
  const bool given = tp.label == input.baselineLabel && !input.resegmentBaseline && !input.lesionsVersion.empty();
  dicomio::writeLabelMapFile(
      tp.labels, folder / "labels" / (tp.label + ".nrrd"),
      reporting::labelMapRecordOf(segmentAlgorithmOf(tp, input), given ? input.lesionsVersion : input.toolVersion));
}

/// The time point's SEG, SR, pictures and HTML report, as lesionkit report writes them.
void writeBundle(const FollowupRunInput& input, const longitudinal::TimePointResult& tp, const Volume& volume,
                 const std::string& source, const std::function<reporting::DicomSourceInfo()>& dicomSource,
                 const fs::path& folder) {
  ResultBundleInput bundle;
  bundle.volume = &volume;
  bundle.labels = &tp.labels;
  bundle.report = reportOf(tp, input, source);
  bundle.segmentAlgorithm = segmentAlgorithmOf(tp, input);
  if (dicomSource) bundle.source = dicomSource();
  bundle.meshes = false; // archives: pictures and DICOM objects, not one mesh file per lesion
  fs::create_directories(folder / "timepoints" / tp.label);
  (void)writeResultBundle(bundle, folder / "timepoints" / tp.label);
}

std::string proposalsJson(const std::vector<NewLesionProposal>& proposals) {
  nlohmann::json list = nlohmann::json::array();
  for (const NewLesionProposal& p : proposals) {
    list.push_back({{"timepoint", p.timePoint},
                    {"level", p.level},
                    {"confidence", p.confidence},
                    {"volumeMl", p.volumeMl},
                    {"centroidMm", {p.centroidMm.x, p.centroidMm.y, p.centroidMm.z}},
                    {"baselineCentroidMm", {p.baselineCentroidMm.x, p.baselineCentroidMm.y, p.baselineCentroidMm.z}},
                    {"reason", p.reason}});
  }
  const nlohmann::json j = {
      {"format", "lesionkit-new-lesion-proposals"},
      {"note", "lytic candidates on follow-up scans that no tracked lesion explains; proposals for a reader to "
               "confirm (lesionkit followup --new-lesions-at), not counted by the response criteria until then"},
      {"proposals", list}};
  return j.dump(2) + "\n";
}

} // namespace

namespace {

/// The note that names the scans nothing identifies (a NRRD/NIfTI without its convert sidecar, as 3D
/// Slicer passes them): for them the checks of requireFollowupOfBaseline and requireFollowupsInOrder
/// cannot be made. Empty when every scan is identified or there is no follow-up.
std::string uncheckedScans(const FollowupRunInput& input) {
  const auto unknown = [](const ScanIdentity& s) {
    return s.patientId.empty() && s.studyDate.empty() && s.seriesInstanceUid.empty();
  };
  std::vector<std::string> names;
  if (unknown(input.baselineIdentity))
    names.push_back("'" + input.baselineSource + "'");
  for (const FollowupSource& f : input.followups)
    if (unknown(f.identity))
      names.push_back("'" + f.source + "'");
  if (names.empty() || input.followups.empty())
    return {};
  return fmt::format("{} carr{} no patient, study date or series (a NRRD/NIfTI without its convert sidecar): that the "
                     "follow-ups are the baseline's patient, in date order and each given once was not checked for {}",
                     fmt::join(names, ", "), names.size() == 1 ? "ies" : "y", names.size() == 1 ? "it" : "them");
}

} // namespace

void requireFollowupOfBaseline(const ScanIdentity& baseline, const std::string& baselineSource,
                               const ScanIdentity& followup, const std::string& followupSource) {
  const auto known = [](const std::string& a, const std::string& b) { return !a.empty() && !b.empty(); };
  if (known(baseline.patientId, followup.patientId) && baseline.patientId != followup.patientId)
    throw InputError(fmt::format("follow-up '{}' (PatientID '{}') is not a scan of the baseline's patient: baseline "
                                 "'{}' has PatientID '{}'",
                                 followupSource, followup.patientId, baselineSource, baseline.patientId));
  // YYYYMMDD dates compare as text.
  if (known(baseline.studyDate, followup.studyDate) && followup.studyDate < baseline.studyDate)
    throw InputError(fmt::format("follow-up '{}' (study date {}) is dated before the baseline '{}' (study date {}): "
                                 "give the earliest scan as --baseline and the follow-ups in order",
                                 followupSource, followup.studyDate, baselineSource, baseline.studyDate));
  if (known(baseline.seriesInstanceUid, followup.seriesInstanceUid) &&
      baseline.seriesInstanceUid == followup.seriesInstanceUid)
    throw InputError(fmt::format("follow-up '{}' is the baseline scan itself (SeriesInstanceUID {}, as baseline '{}')",
                                 followupSource, followup.seriesInstanceUid, baselineSource));
}

void requireFollowupsInOrder(const std::vector<FollowupSource>& followups) {
  std::map<std::string, const FollowupSource*> bySeries; // what was given so far, by SeriesInstanceUID
  const FollowupSource* latest = nullptr;                // the latest dated one so far (undated ones skipped)
  for (const FollowupSource& later : followups) {
    const std::string& uid = later.identity.seriesInstanceUid;
    if (!uid.empty() && bySeries.count(uid))
      throw InputError(fmt::format("follow-up '{}' is the same scan as follow-up '{}' (SeriesInstanceUID {})",
                                   later.source, bySeries[uid]->source, uid));
    const std::string& date = later.identity.studyDate;
    if (latest && !date.empty() && date < latest->identity.studyDate)
      throw InputError(fmt::format("follow-up '{}' (study date {}) is dated before follow-up '{}' given before it "
                                   "(study date {}): give the follow-ups in the order they were taken",
                                   later.source, date, latest->source, latest->identity.studyDate));
    if (!uid.empty())
      bySeries[uid] = &later;
    if (!date.empty())
      latest = &later; // not earlier than `latest`, as just checked
  }
}

FollowupRunOutput writeFollowupRun(const FollowupRunInput& input, const fs::path& folder, const Progress& progress) {
  for (const FollowupSource& source : input.followups)
    requireFollowupOfBaseline(input.baselineIdentity, input.baselineSource, source.identity, source.source);
  requireFollowupsInOrder(input.followups);
  longitudinal::FollowupOptions options = input.options;
  std::vector<longitudinal::TimePointResult> results;
  std::optional<LabelMap> found; // the automatic reference region, when no reference map is given
  const LabelMap* reference = input.reference;
  try {
    if (!input.followups.empty())
      longitudinal::requireRegistrable(input.baseline->geometry, "the scan");
    if (options.referenceFinder && !reference)
      progress.report(0.0, "finding the unaffected vertebrae");
    found = longitudinal::resolveReference(*input.baseline, *input.lesions, input.reference, options);
    if (found)
      reference = &*found;
    std::vector<std::string> notes = input.baselineNotes;
    if (const std::string unchecked = uncheckedScans(input); !unchecked.empty()) {
      notes.push_back(unchecked);
      logWarning("{}", notes.back());
    }
    std::optional<LabelMap> resegmented;
    if (input.resegmentBaseline)
      resegmented = longitudinal::resegmentBaselineLesions(*input.baseline, *input.lesions, options, notes);
    results.push_back(longitudinal::measureBaseline(
        *input.baseline, resegmented ? *resegmented : *input.lesions, reference,
        longitudinal::forScan(options, input.baselineSliceThicknessMm), input.baselineLabel));
    results.back().scan = input.baselineIdentity;
    const bool mixesMethods =
        input.offersBaselineResegmentation && !input.resegmentBaseline && !input.followups.empty() &&
        longitudinal::resegmentsSoftTissue(options) &&
        std::any_of(results.back().lesions.begin(), results.back().lesions.end(),
                    [](const longitudinal::TrackedLesion& l) { return !measurement::isBoneKind(l.spec.kind); });
    if (mixesMethods) {
      notes.push_back("soft-tissue lesions are measured at baseline in the given masks and at the follow-ups in "
                      "LesionKit's re-segmentation: their change also holds any difference between the two "
                      "(--baseline-mask resegment measures the baseline the same way)");
      logWarning("{}", notes.back());
    }
    results.back().notes.insert(results.back().notes.begin(), notes.begin(), notes.end());
  } catch (const InputError& e) {
    throw InputError(fmt::format("baseline '{}' with lesions '{}': {}", input.baselineSource, input.lesionsSource, e.what()));
  }
  fs::create_directories(folder / "labels");
  fs::create_directories(folder / "transforms");
  if (options.changeMaps) fs::create_directories(folder / "changemaps");
  writeTimePointLabels(input, results[0], folder);
  if (input.bundles) writeBundle(input, results[0], *input.baseline, input.baselineSource, input.baselineDicomSource, folder);
  results[0].labels = {};

  std::vector<NewLesionProposal> newLesions;
  const double step = 0.9 / double(std::max<std::size_t>(1, input.followups.size()));
  for (std::size_t f = 0; f < input.followups.size(); ++f) {
    const FollowupSource& source = input.followups[f];
    const Progress sub = progress.sub(0.05 + step * double(f), 0.05 + step * double(f + 1));
    sub.report(0.0, "loading " + source.label);
    std::vector<NewLesionProposal> proposals;
    try {
      const ScanVolume scan = source.load();
      const Volume& followup = scan.volume;
      results.push_back(longitudinal::analyzeFollowup(*input.baseline, *input.lesions, reference, results[0], followup,
                                                      source.label,
                                                      longitudinal::forScan(options, scan.sliceThicknessMm), sub));
      results.back().scan = source.identity;
      if (input.proposeNewLytic) proposals = proposeNewLesions(followup, results.back());
      if (input.bundles) writeBundle(input, results.back(), followup, source.source, source.dicomSource, folder);
    } catch (const InputError& e) {
      throw InputError(fmt::format("follow-up '{}': {}", source.source, e.what()));
    }
    for (NewLesionProposal& p : proposals) newLesions.push_back(std::move(p));
    longitudinal::TimePointResult& tp = results.back();
    writeTimePointLabels(input, tp, folder);
    tp.labels = {}; // one follow-up's images in memory at a time
    writeTextFileAtomically(folder / "transforms" / (source.label + ".tfm"),
                            itkTransformText(tp.globalRegistration->baselineToFollowup));
    for (longitudinal::TrackedLesion& l : tp.lesions) {
      if (l.registration && options.localRefinement) {
        writeTextFileAtomically(folder / "transforms" / (source.label + "-" + l.trackingId + ".tfm"),
                                itkTransformText(l.registration->baselineToFollowup));
      }
      if (l.deformable) {
        writeTextFileAtomically(folder / "transforms" / (source.label + "-" + l.trackingId + "-bspline.tfm"),
                                itkTransformText(l.deformable->baselineToFollowup));
      }
      if (l.changeMap) {
        dicomio::writeVolumeFile(*l.changeMap, folder / "changemaps" / (source.label + "-" + l.trackingId + ".nrrd"));
        l.changeMap.reset();
      }
    }
  }

  progress.report(0.95, "assessing response");
  FollowupRunOutput out;
  if (input.proposeNewLytic) writeTextFileAtomically(folder / "new-lesions.json", proposalsJson(newLesions));
  out.newLesions = std::move(newLesions);
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
