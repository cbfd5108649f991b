#pragma once
/// \file BatchJobs.h
/// Job state of batch runs in the index: one row per job (a patient), pending / running / done /
/// failed with the error, the pipeline version and a hash of the parameters, so a rerun skips
/// finished work with unchanged parameters and recomputes the rest.

#include <optional>
#include <string>
#include <vector>

namespace lesion::archive {

class ArchiveDatabase;

enum class JobState { Pending, Running, Done, Failed };
[[nodiscard]] const char* jobStateName(JobState state);

struct JobRecord {
  std::string key{};            ///< the patient ID
  JobState state{JobState::Pending};
  std::string parametersHash{};
  std::string pipelineVersion{};
  std::string error{};          ///< why it failed
  std::string resultDir{};
  std::string startedUtc{};
  std::string finishedUtc{};
  double seconds{0.0};
};

/// Reads and updates job rows; every update is its own small transaction (durable at once, so a
/// killed batch loses at most the jobs it was running).
class BatchJobStore {
public:
  explicit BatchJobStore(const ArchiveDatabase& db);

  [[nodiscard]] std::optional<JobRecord> find(const std::string& key) const;
  [[nodiscard]] std::vector<JobRecord> all() const;
  /// Records the jobs a batch is about to run (state pending, their hash, version and folder), in
  /// one transaction; a row left `running` by a killed batch becomes pending again.
  void markPending(const std::vector<JobRecord>& jobs);
  void markRunning(const std::string& key, const std::string& parametersHash, const std::string& pipelineVersion,
                   const std::string& resultDir);
  void markDone(const std::string& key, double seconds);
  void markFailed(const std::string& key, const std::string& error, double seconds);

private:
  const ArchiveDatabase& m_Db;
};

} // namespace lesion::archive
