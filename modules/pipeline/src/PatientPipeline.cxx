#include "lesion/pipeline/PatientPipeline.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Hash.h"
#include "lesion/core/Log.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/pipeline/FollowupRun.h"
#include "lesion/pipeline/FollowupSegmenter.h"
#include "lesion/pipeline/ReferenceVertebrae.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::pipeline {

namespace fs = std::filesystem;

namespace {

/// FNV-1a, 64 bit: stable across runs and machines (std::hash is not).
std::string fnv1a(const std::string& text) { return fmt::format("{:016x}", Fnv1a64().add(text).value()); }

/// Adds `mask`'s voxels of value `maskValue` to `labels` as `label`, leaving voxels another lesion holds.
std::size_t addLesion(const LabelMap& mask, std::uint16_t maskValue, std::uint16_t label, LabelMap& labels) {
  std::size_t added = 0;
  for (std::size_t i = 0; i < mask.voxels.size(); ++i) {
    if (mask.voxels[i] == maskValue && labels.voxels[i] == 0) {
      labels.voxels[i] = label;
      ++added;
    }
  }
  return added;
}

LabelMap segmentManifestLesion(const Volume& volume, const ManifestLesion& lesion, std::uint16_t label,
                               segmentation::Modality modality) {
  if (lesion.kind == "lytic-bone") {
    // The lytic step takes points: the box centre or the RECIST line's midpoint stands for a seed.
    const Vec3 seed = lesion.init == ManifestLesion::Init::Seed ? lesion.first : (lesion.first + lesion.second) * 0.5;
    return spine::segmentLyticLesion(volume, {seed}, label);
  }
  segmentation::SoftTissueOptions options;
  options.labelValue = label;
  options.modality = modality;
  const segmentation::SoftTissueInit init =
      lesion.init == ManifestLesion::Init::Box      ? segmentation::SoftTissueInit::fromBox(lesion.first, lesion.second)
      : lesion.init == ManifestLesion::Init::Recist ? segmentation::SoftTissueInit::fromRecist(lesion.first, lesion.second)
                                                    : segmentation::SoftTissueInit::fromSeeds({lesion.first});
  return segmentation::segmentSoftTissueMass(volume, init, options).labels;
}

/// Time point labels from study dates, unique ("20240115", "20240115-2").
std::vector<std::string> timePointLabels(const archive::PatientTimeline& timeline) {
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < timeline.studies.size(); ++i) {
    std::string label = timeline.studies[i].studyDate.empty() ? fmt::format("study-{}", i + 1) : timeline.studies[i].studyDate;
    const std::string base = label;
    for (int n = 2; std::find(labels.begin(), labels.end(), label) != labels.end(); ++n) label = fmt::format("{}-{}", base, n);
    labels.push_back(label);
  }
  return labels;
}

/// Whose scan, when, which series: the index's record of the study's chosen series.
ScanIdentity scanIdentityOf(const archive::StudyRecord& study) {
  const archive::SeriesRecord& series = study.series.front();
  return {series.patientId, study.studyDate, series.seriesInstanceUid};
}

/// A measurement-table row for a lesion without a measurement: who it is, the rest empty.
std::string unmeasuredRow(const std::string& timePoint, const longitudinal::TrackedLesion& l) {
  std::vector<std::string> fields;
  for (const std::string& column : reporting::csvColumns()) {
    if (column == "timepoint") fields.push_back(reporting::csvField(timePoint));
    else if (column == "label") fields.push_back(std::to_string(l.spec.label));
    else if (column == "name") fields.push_back(reporting::csvField(l.spec.name));
    else if (column == "kind") fields.push_back(reporting::csvField(l.spec.kind));
    else if (column == "lymph_node") fields.push_back(l.spec.lymphNode ? "true" : "false");
    else fields.emplace_back();
  }
  return fmt::format("{}", fmt::join(fields, ","));
}

/// Leaves out the studies before `baselineStudy` (a StudyInstanceUID or StudyDate), where the
/// manifest's points were placed: a prior imported later must not become the baseline.
void startAtBaselineStudy(archive::PatientTimeline& timeline, const std::string& baselineStudy) {
  auto& studies = timeline.studies;
  const auto named = [&](const archive::StudyRecord& s) {
    return s.studyInstanceUid == baselineStudy || s.studyDate == baselineStudy;
  };
  const auto at = std::find_if(studies.begin(), studies.end(), named);
  if (at == studies.end() || std::find_if(at + 1, studies.end(), named) != studies.end()) {
    std::vector<std::string> held;
    for (const archive::StudyRecord& s : studies)
      held.push_back(s.studyInstanceUid + " of " + s.studyDate);
    throw InputError(fmt::format("patient '{}': the manifest places the lesions on study '{}', but {} of the "
                                 "timeline's studies ({}){}",
                                 timeline.patientId, baselineStudy,
                                 at == studies.end() ? "it is none" : "that names more than one", fmt::join(held, ", "),
                                 at == studies.end() ? "" : ": name it by its StudyInstanceUID"));
  }
  for (auto s = studies.begin(); s != at; ++s) {
    timeline.skippedStudies.push_back(fmt::format("study {} of {}: before the manifest's baseline study {}, where the "
                                                  "lesions' points were placed: left out of the timeline",
                                                  s->studyInstanceUid, s->studyDate, baselineStudy));
  }
  studies.erase(studies.begin(), at);
}

} // namespace

const std::string& patientResultsHeaderPrefix() {
  static const std::string prefix =
      "patient_id,time_point_index,study_date,study_instance_uid,series_id,tracking_id,lesion_status,recist_target,"
      "recist_1_1,mda_bone,inverse_choi,";
  return prefix;
}

std::string patientFolderName(const std::string& patientId) {
  std::string name;
  for (unsigned char c : patientId) name += (std::isalnum(c) || c == '-' || c == '_' || c == '.') ? char(c) : '_';
  // No hidden names (".." or the batch's ".NAME.part-*" staging folders).
  for (char& c : name) {
    if (c != '.') break;
    c = '_';
  }
  if (name.empty() || name != patientId) name += "-" + fnv1a(patientId).substr(0, 8);
  return name;
}

reporting::SegmentAlgorithm patientLesionsAlgorithm(const std::vector<ManifestLesion>& manifestLesions) {
  return reporting::lesionKitAlgorithm(manifestLesions.empty() ? reporting::SegmentAlgorithmType::Automatic
                                                               : reporting::SegmentAlgorithmType::SemiAutomatic);
}

std::string patientParametersHash(const archive::ArchiveDatabase& db, const archive::PatientTimeline& timeline,
                                  const std::vector<ManifestLesion>& lesions, const PatientRunOptions& options) {
  std::string text = fmt::format("version {}|auto {}|changemaps {}\n", options.toolVersion, options.autoLytic, options.changeMaps);
  for (const archive::StudyRecord& study : timeline.studies) {
    const archive::SeriesRecord& s = study.series.front();
    text += fmt::format("{}|{}|{}|{}\n", study.studyInstanceUid, study.studyDate, s.seriesId, s.instanceCount);
    // Files replaced under the same UIDs (a corrected re-export) change the results too.
    text += archive::indexedFilesStamp(db, s.seriesInstanceUid);
  }
  for (const ManifestLesion& l : lesions) text += canonicalText(l) + "\n";
  return fnv1a(text);
}

std::string recordedJobText(const fs::path& folder, const std::string& pointer) {
  std::ifstream in(folder / "job.json");
  if (!in)
    return {};
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  const nlohmann::json::json_pointer at(pointer);
  return j.is_object() && j.contains(at) && j.at(at).is_string() ? j.at(at).get<std::string>() : std::string();
}

std::string recordedParametersHash(const fs::path& folder) { return recordedJobText(folder, "/parametersHash"); }

archive::PatientTimeline patientRunTimeline(const archive::ArchiveDatabase& db, const std::string& patientId,
                                            const std::vector<ManifestLesion>& lesions) {
  archive::PatientTimeline timeline = archive::patientTimeline(db, patientId);
  if (!lesions.empty() && !lesions.front().baselineStudy.empty())
    startAtBaselineStudy(timeline, lesions.front().baselineStudy);
  if (timeline.studies.empty()) {
    throw InputError(fmt::format("patient '{}': no study can be a time point ({})", patientId,
                                 fmt::join(timeline.skippedStudies, "; ")));
  }
  for (const archive::StudyRecord& study : timeline.studies) {
    // Before any work: a file replaced or gone since indexing would be read at its old position.
    archive::checkIndexedFilesUnchanged(db, study.series.front().seriesInstanceUid);
    const auto damaged = archive::damagedFilesBeside(db, study.series.front().seriesInstanceUid);
    if (!damaged.empty()) {
      throw InputError(fmt::format("patient '{}', study {} ({}): {} damaged DICOM file{} beside series {}: {}", patientId,
                                   study.studyInstanceUid, study.studyDate, damaged.size(), damaged.size() == 1 ? "" : "s",
                                   study.series.front().seriesId, damaged.front().reason));
    }
  }
  return timeline;
}

std::string previousBaselineStudy(const fs::path& folder) {
  return recordedJobText(folder, "/timePoints/0/studyInstanceUid");
}

std::string baselineChangeNotice(const archive::PatientTimeline& timeline, const std::string& previousBaselineStudy) {
  const archive::StudyRecord& baseline = timeline.studies.front();
  if (previousBaselineStudy.empty() || previousBaselineStudy == baseline.studyInstanceUid)
    return {};
  const auto earlier =
      std::find_if(timeline.studies.begin(), timeline.studies.end(),
                   [&](const archive::StudyRecord& s) { return s.studyInstanceUid == previousBaselineStudy; });
  return fmt::format("the baseline is now study {} of {}, not study {}{} as in the earlier run: the manifest's points "
                     "and boxes, placed on the earlier baseline, are applied to this scan; check them",
                     baseline.studyInstanceUid, baseline.studyDate, previousBaselineStudy,
                     earlier == timeline.studies.end() ? std::string(" (no longer in the timeline)")
                                                       : " of " + earlier->studyDate);
}

PatientRunResult runPatientPipeline(const archive::ArchiveDatabase& db, const std::string& patientId,
                                    const std::vector<ManifestLesion>& lesions, const PatientRunOptions& options,
                                    const fs::path& folder, const Progress& progress) {
  const archive::PatientTimeline timeline = patientRunTimeline(db, patientId, lesions);
  if (lesions.empty() && !options.autoLytic) {
    throw InputError(fmt::format("patient '{}': the manifest names no lesion (or use --auto)", patientId));
  }
  PatientRunResult result;
  result.parametersHash = patientParametersHash(db, timeline, lesions, options);
  // The patient's notes: job.json's warnings and the baseline's notes in timeline.json.
  std::vector<std::string> notes = timeline.skippedStudies;
  // Told only where the points could be on the wrong scan: a manifest that names its baseline study
  // keeps it, and --auto finds its lesions on whichever scan is the baseline.
  const bool pointsMayHaveMoved = !lesions.empty() && lesions.front().baselineStudy.empty();
  if (std::string changed = pointsMayHaveMoved ? baselineChangeNotice(timeline, options.previousBaselineStudy) : "";
      !changed.empty()) {
    result.baselineChange = changed;
    notes.push_back(std::move(changed));
  }
  result.warnings = notes;
  for (const std::string& note : notes)
    logWarning("patient '{}': {}", patientId, note); // the baseline's load warnings are logged by the loader
  const std::vector<std::string> labels = timePointLabels(timeline);
  auto seriesOf = [&](std::size_t i) -> const archive::SeriesRecord& { return timeline.studies[i].series.front(); };

  progress.report(0.0, "loading baseline");
  const dicomio::LoadedVolume baseline = archive::loadIndexedSeries(db, seriesOf(0).seriesId);
  const bool ct = dicomio::inHounsfieldUnits(baseline);
  const segmentation::Modality modality = ct ? segmentation::Modality::CT : segmentation::Modality::MR;
  for (const std::string& w : baseline.warnings) result.warnings.push_back("baseline: " + w);

  // Lesions on the baseline: label n = the n-th lesion.
  progress.report(0.1, "segmenting");
  LabelMap lesionMap(baseline.volume.geometry);
  longitudinal::FollowupOptions followup;
  nlohmann::json lesionList = nlohmann::json::array();
  if (options.autoLytic) {
    // The spine step reads bone by HU: on MR it would label noise (a refusal per patient, so a
    // batch over a mixed archive records the MR patients and goes on).
    if (!ct)
      throw InputError(fmt::format("patient '{}': --auto screens the spine for lytic lesions on CT in HU; the baseline "
                                   "series {} is {}",
                                   patientId, seriesOf(0).seriesInstanceUid,
                                   baseline.modality.empty() ? "not in HU" : baseline.modality));
    const spine::SpineResult spineResult = spine::segmentSpine(baseline.volume);
    const spine::LyticResult found = spine::detectLyticLesions(baseline.volume, spineResult);
    for (const spine::LyticLesion& c : found.candidates) {
      if (!c.labelled) continue;
      const auto label = static_cast<std::uint16_t>(followup.measurement.lesions.size() + 1);
      addLesion(found.lesions, static_cast<std::uint16_t>(c.id), label, lesionMap);
      followup.measurement.lesions.push_back({label, c.kind, c.level, false, false});
      lesionList.push_back({{"label", label}, {"name", c.level}, {"kind", c.kind}, {"source", "auto"},
                            {"confidence", c.confidence}, {"target", false}});
    }
  }
  for (const ManifestLesion& lesion : lesions) {
    const auto label = static_cast<std::uint16_t>(followup.measurement.lesions.size() + 1);
    const std::string name = lesion.name.empty() ? fmt::format("lesion {}", label) : lesion.name;
    LabelMap mask;
    const auto context = [&](const Error& e) {
      return fmt::format("patient '{}', lesion '{}' ({}): {}", patientId, name, lesion.kind, e.what());
    };
    try {
      mask = segmentManifestLesion(baseline.volume, lesion, label, modality);
    } catch (const InputError& e) {
      throw InputError(context(e)); // the manifest's points do not fit the scan (a seed outside it): bad input
    } catch (const Error& e) {
      throw ProcessingError(context(e));
    }
    if (addLesion(mask, label, label, lesionMap) == 0) {
      throw ProcessingError(fmt::format("patient '{}', lesion '{}': its mask lies entirely inside an earlier lesion",
                                        patientId, name));
    }
    followup.measurement.lesions.push_back({label, lesion.kind, name, lesion.kind == "lymph-node", lesion.target});
    lesionList.push_back({{"label", label}, {"name", name}, {"kind", lesion.kind}, {"source", "manifest"},
                          {"level", lesion.level}, {"target", lesion.target}, {"manifest", canonicalText(lesion)}});
  }
  if (followup.measurement.lesions.empty()) {
    throw ProcessingError(fmt::format("patient '{}': the automatic screening found no lytic lesion", patientId));
  }
  result.lesions = followup.measurement.lesions.size();

  // Measure, follow up, assess, as `lesionkit followup` does.
  followup.measurement.intensityUnit = ct ? measurement::IntensityUnit::HounsfieldUnit : measurement::IntensityUnit::Arbitrary;
  if (ct) followup.globalRegistration.clampBelow = followup.localRegistration.clampBelow = -1000.0f;
  followup.softTissueMethod = longitudinal::FollowupMaskMethod::Resegment; // as lesionkit followup and the demo
  followup.segmenter = softTissueResegmenter(modality);
  if (ct)
    followup.referenceFinder = unaffectedVertebraeFinder(); // unaffected vertebrae, as lesionkit followup
  followup.changeMaps = options.changeMaps;
  FollowupRunInput run;
  run.baseline = &baseline.volume;
  run.baselineSliceThicknessMm = baseline.sliceThicknessMm; // RECIST measurability, as lesionkit measure
  run.baselineLabel = labels[0];
  run.baselineSource = "series " + seriesOf(0).seriesId;
  run.baselineIdentity = scanIdentityOf(timeline.studies[0]);
  run.baselineNotes = notes;
  run.lesions = &lesionMap;
  run.lesionsSource = "segmented from the lesion manifest";
  run.lesionsAlgorithm = patientLesionsAlgorithm(lesions);
  // Each time point's SEG and SR reference its source images: identity read from the series'
  // own folder, restricted to the instances that were loaded.
  auto dicomSourceOf = [&db](const std::string& seriesId, std::shared_ptr<std::vector<std::string>> sops) {
    return [&db, seriesId, sops] {
      const std::string uid = seriesId.substr(0, seriesId.find('#'));
      const auto instances = archive::indexedInstancesOfSeries(db, uid);
      if (instances.empty()) throw InputError("archive index holds no instances of series " + seriesId);
      return reporting::readDicomSourceInfo(instances.front().path.parent_path(), seriesId, *sops);
    };
  };
  run.bundles = true;
  run.baselineDicomSource =
      dicomSourceOf(seriesOf(0).seriesId, std::make_shared<std::vector<std::string>>(baseline.sopInstanceUids));
  for (std::size_t i = 1; i < timeline.studies.size(); ++i) {
    const std::string id = seriesOf(i).seriesId;
    auto sops = std::make_shared<std::vector<std::string>>();
    run.followups.push_back({labels[i], "series " + id,
                             [&db, id, sops] {
                               dicomio::LoadedVolume loaded = archive::loadIndexedSeries(db, id);
                               *sops = loaded.sopInstanceUids;
                               return ScanVolume{std::move(loaded.volume), loaded.sliceThicknessMm};
                             },
                             dicomSourceOf(id, sops), scanIdentityOf(timeline.studies[i])});
  }
  run.options = followup;
  run.toolVersion = options.toolVersion;
  run.command = "patient";
  run.proposeNewLytic = options.autoLytic; // screening the spine: new lytic lesions on follow-ups too
  const FollowupRunOutput out = writeFollowupRun(run, folder, progress.sub(0.2, 0.98));
  result.timePoints = timeline.studies.size();

  // results.csv: who, which series, the lesion's status and the patient's response at that time
  // point first, then the measurement columns. Every lesion has a row at every time point; a
  // lesion without a measurement (disappeared, not evaluable) has empty measurement fields.
  std::string csv = patientResultsHeaderPrefix() + out.csvHeader;
  const longitudinal::Timeline& tl = out.timeline;
  const std::set<std::string> targets = longitudinal::recistTargets(tl.timePoints.front()); // as buildTimeline
  for (std::size_t t = 0; t < out.csvRows.size(); ++t) {
    const auto category = [&](const std::vector<longitudinal::ResponseAssessment>& a) {
      return t < a.size() ? std::string(longitudinal::categoryAbbreviation(a[t].category)) : std::string();
    };
    const std::string who = fmt::format("{},{},{},{},{},", reporting::csvField(patientId), t, timeline.studies[t].studyDate,
                                        timeline.studies[t].studyInstanceUid, reporting::csvField(seriesOf(t).seriesId));
    const std::string response = fmt::format("{},{},{},", category(tl.recist), category(tl.mdAnderson), category(tl.inverseChoi));
    std::istringstream measured(out.csvRows[t]);
    for (const longitudinal::TrackedLesion& l : tl.timePoints[t].lesions) {
      const std::string status = l.measurement ? "measured" : (l.disappeared ? "disappeared" : "not-evaluable");
      std::string row;
      if (l.measurement) {
        std::getline(measured, row);
      } else {
        row = unmeasuredRow(tl.timePoints[t].label, l);
      }
      csv += who + fmt::format("{},{},{},", l.trackingId, status, targets.count(l.trackingId) ? "yes" : "no") +
             response + row + "\n";
    }
  }
  writeTextFileAtomically(folder / "results.csv", csv);

  nlohmann::json series = nlohmann::json::array();
  for (std::size_t t = 0; t < timeline.studies.size(); ++t) {
    series.push_back({{"label", labels[t]}, {"studyInstanceUid", timeline.studies[t].studyInstanceUid},
                      {"studyDate", timeline.studies[t].studyDate}, {"seriesId", seriesOf(t).seriesId},
                      {"why", seriesOf(t).rankReason}});
  }
  const nlohmann::json job = {{"patientId", patientId},
                              {"parametersHash", result.parametersHash},
                              {"pipelineVersion", options.toolVersion},
                              {"timePoints", series},
                              {"lesions", lesionList},
                              {"warnings", result.warnings},
                              {"baselineChange", result.baselineChange}};
  // Written last: a folder with job.json holds a finished run.
  writeTextFileAtomically(folder / "job.json", job.dump(2) + "\n");
  progress.report(1.0, "done");
  return result;
}

} // namespace lesion::pipeline
