#pragma once
/// \file PatientPipeline.h
/// One patient of an indexed archive, end to end: the studies by date with their chosen series,
/// the manifest's lesions (or the automatic lytic candidates) segmented on the baseline, then
/// measure → follow-up → response, written into one folder. `lesionkit patient` runs it; batch
/// runs and the Snakemake workflow run that command once per patient.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/pipeline/LesionManifest.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::archive {
class ArchiveDatabase;
struct PatientTimeline;
} // namespace lesion::archive

namespace lesion::pipeline {

struct PatientRunOptions {
  bool autoLytic{false};   ///< screen the baseline spine for lytic lesions instead of a manifest
  bool changeMaps{false};  ///< voxel-wise HU change maps (large; off for archives)
  std::string toolVersion{};
  /// The baseline study of the run this one replaces (previousBaselineStudy of its folder), or empty:
  /// when the baseline changed since (an older study imported later) and the manifest does not name
  /// its baseline study, its points, placed on the earlier baseline, now apply to another scan, and
  /// the run says so (a warning, job.json's baselineChange).
  std::string previousBaselineStudy{};
};

struct PatientRunResult {
  std::size_t timePoints{0};
  std::size_t lesions{0};
  std::vector<std::string> warnings{};
  std::string parametersHash{};
  std::string baselineChange{}; ///< baselineChangeNotice, also among the warnings (job.json: baselineChange)
};

/// The timeline a patient run measures (archive::patientTimeline), from the study the lesions name
/// as their baseline (ManifestLesion::baselineStudy; earlier studies are left out, with a note), and
/// checked as the run checks it: throws lesion::InputError when no study can be a time point, the
/// named baseline study is not in the timeline, or a damaged DICOM file lies beside a chosen series
/// (probably one of its slices: measuring without it would give a wrong number). Batch planning
/// uses it too, so a resumed batch refuses what a fresh one would.
[[nodiscard]] archive::PatientTimeline patientRunTimeline(const archive::ArchiveDatabase& db,
                                                          const std::string& patientId,
                                                          const std::vector<ManifestLesion>& lesions = {});

/// The StudyInstanceUID of the baseline recorded in FOLDER/job.json, or empty when there is none.
[[nodiscard]] std::string previousBaselineStudy(const std::filesystem::path& folder);

/// What a run with `timeline` says when its baseline is not `previousBaselineStudy` (empty when it
/// is, or when there was no earlier run).
[[nodiscard]] std::string baselineChangeNotice(const archive::PatientTimeline& timeline,
                                               const std::string& previousBaselineStudy);

/// Runs the pipeline for `patientId` into `folder` (existing, staged by the caller): the files of
/// writeFollowupRun plus results.csv (measurements.csv with patient, study and series columns
/// first: one row per lesion per time point) and job.json (series used, lesions, parameters hash,
/// version, warnings). Throws lesion::InputError when the patient has no measurable series or no
/// lesion, lesion::ProcessingError when a lesion cannot be segmented (naming it).
PatientRunResult runPatientPipeline(const archive::ArchiveDatabase& db, const std::string& patientId,
                                    const std::vector<ManifestLesion>& lesions, const PatientRunOptions& options,
                                    const std::filesystem::path& folder, const Progress& progress = {});

/// What made a patient's baseline lesions (recorded in labels/<baseline>.nrrd and the SEGs): LesionKit,
/// AUTOMATIC when the automatic screening found them all (no manifest lesion), else SEMIAUTOMATIC
/// (segmented from the manifest's points and boxes).
[[nodiscard]] reporting::SegmentAlgorithm patientLesionsAlgorithm(const std::vector<ManifestLesion>& manifestLesions);

/// Hash of everything that decides a patient's results: the chosen series (and their files as
/// indexed: archive::indexedFilesStamp), the lesions, the options and the version. Equal hashes:
/// results can be reused.
[[nodiscard]] std::string patientParametersHash(const archive::ArchiveDatabase& db,
                                                const archive::PatientTimeline& timeline,
                                                const std::vector<ManifestLesion>& lesions,
                                                const PatientRunOptions& options);

/// A folder name for a PatientID: safe characters kept, anything else replaced, and a short hash
/// appended when the name changed (so distinct IDs never share a folder).
[[nodiscard]] std::string patientFolderName(const std::string& patientId);

/// A text an earlier run recorded in FOLDER/job.json at `pointer` (a JSON pointer, e.g.
/// "/baselineChange"), or empty when there is none.
[[nodiscard]] std::string recordedJobText(const std::filesystem::path& folder, const std::string& pointer);

/// The parameters hash recorded in FOLDER/job.json, or empty when there is none.
[[nodiscard]] std::string recordedParametersHash(const std::filesystem::path& folder);

/// Columns that results.csv puts before the measurement columns.
[[nodiscard]] const std::string& patientResultsHeaderPrefix();

} // namespace lesion::pipeline
