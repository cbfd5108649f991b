#pragma once
/// \file BatchRunner.h
/// `lesionkit batch`: runs the per-patient pipeline (`lesionkit patient`, one child process per
/// patient, up to N at once) over every patient of an index, with the job state in the index:
/// patients whose results folder holds the same parameters hash are skipped, failures are
/// recorded with their error and the batch goes on, a killed batch resumes where it stopped.
/// Results go to OUT/patients/<patient>/ (each written atomically) and OUT/results.csv.

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lesion/core/Progress.h"

namespace lesion::pipeline {

struct BatchOptions {
  std::filesystem::path database{};
  std::filesystem::path manifest{}; ///< empty with autoLytic
  bool autoLytic{false};
  std::filesystem::path output{};
  unsigned jobs{1};
  unsigned shardIndex{0}; ///< this worker's shard, 0-based
  unsigned shardCount{1};
  /// The command that runs one patient, before its arguments (e.g. {"/usr/bin/lesionkit", "patient"}).
  std::vector<std::string> patientCommand{};
  std::string toolVersion{};
};

struct BatchPatient {
  std::string patientId;
  std::string folder; ///< under OUT/patients
};

struct BatchSummary {
  std::size_t patients{0};  ///< in this shard
  std::size_t reused{0};    ///< finished earlier with the same parameters: not recomputed
  std::size_t succeeded{0}; ///< computed now
  std::vector<std::pair<std::string, std::string>> failures{}; ///< patient, error
  std::vector<std::string> busy{}; ///< being run by another batch on the same output: left to it
  /// Computed patients whose baseline changed since their earlier run (patient, baselineChangeNotice).
  std::vector<std::pair<std::string, std::string>> notices{};
  std::filesystem::path results{}; ///< results.csv (unsharded) or results.shard-I-of-N.csv
  std::filesystem::path failuresTable{}; ///< failures.csv (unsharded) or failures.shard-I-of-N.csv
  double seconds{0.0};
  double pipelineSeconds{0.0}; ///< summed wall time of the patient processes
  /// The batch's own time (planning, hashes, job rows, starting processes, collecting): the
  /// wall time not spent waiting for patient processes.
  double bookkeepingSeconds{0.0};
};

/// An exclusive lock (flock) on a file, released when destroyed: a batch holds one per patient it
/// runs, so a second batch on the same output (overlapping shards, a restart while the first
/// still runs) neither removes that patient's staging folder as stale nor runs it twice.
class PatientJobLock {
public:
  /// The lock on `lockFile` (created if missing), or nothing when another process holds it.
  /// Throws lesion::InputError when the file cannot be created.
  [[nodiscard]] static std::optional<PatientJobLock> tryAcquire(const std::filesystem::path& lockFile);
  ~PatientJobLock();
  PatientJobLock(PatientJobLock&& other) noexcept;
  PatientJobLock& operator=(PatientJobLock&& other) noexcept;
  PatientJobLock(const PatientJobLock&) = delete;
  PatientJobLock& operator=(const PatientJobLock&) = delete;

private:
  explicit PatientJobLock(int fd) : m_Fd(fd) {}
  int m_Fd{-1};
};

/// The patients of this shard, in order: the manifest's (or, with --auto, the index's).
[[nodiscard]] std::vector<BatchPatient> planBatch(const BatchOptions& options);

/// Runs the batch. Throws lesion::InputError for a bad index, manifest or output folder; patient
/// failures (and patients left to another batch) are returned, not thrown.
BatchSummary runBatch(const BatchOptions& options, const Progress& progress = {});

/// Concatenates OUT/patients/*/results.csv (patients in folder order) into `target`, and lists
/// the patients without one: a failure.json (its error) or no results at all (not run yet, still
/// running, or failed in a batch). Returns the failures (patient, error).
std::vector<std::pair<std::string, std::string>> collectBatchResults(const std::filesystem::path& output,
                                                                     const std::vector<BatchPatient>& patients,
                                                                     const std::filesystem::path& target);

/// What `batch --collect` found: how many patients the plan holds and which of them have no results
/// of these parameters (patient, error).
struct BatchCollection {
  std::size_t patients{0};
  std::vector<std::pair<std::string, std::string>> failures{};
};

/// `batch --collect`: collectBatchResults over the plan's patients whose folders hold results of
/// these parameters (the job.json hash of a run of this batch now); a folder of other parameters
/// (an earlier run of a patient that failed since, changed lesions) is listed as a failure instead.
/// The plan (manifest or index) is read once.
BatchCollection collectCurrentBatchResults(const BatchOptions& options, const std::filesystem::path& target);

/// Writes failures as `patient_id,error` CSV (fields quoted as needed), atomically.
void writeBatchFailures(const std::vector<std::pair<std::string, std::string>>& failures,
                        const std::filesystem::path& target);

} // namespace lesion::pipeline
