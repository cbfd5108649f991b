#include "lesion/archive/BatchJobs.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "Sqlite.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/core/Error.h"

namespace lesion::archive {

namespace {

std::string utcNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

JobState stateFromName(const std::string& name) {
  if (name == "running") return JobState::Running;
  if (name == "done") return JobState::Done;
  if (name == "failed") return JobState::Failed;
  return JobState::Pending;
}

constexpr const char* JobColumns =
    "job_key, state, parameters_hash, pipeline_version, error, result_dir, started_utc, finished_utc, seconds";

JobRecord jobFromRow(const detail::Statement& q) {
  JobRecord r;
  r.key = q.text(0);
  r.state = stateFromName(q.text(1));
  r.parametersHash = q.text(2);
  r.pipelineVersion = q.text(3);
  r.error = q.text(4);
  r.resultDir = q.text(5);
  r.startedUtc = q.text(6);
  r.finishedUtc = q.text(7);
  r.seconds = q.real(8);
  return r;
}

} // namespace

const char* jobStateName(JobState state) {
  switch (state) {
  case JobState::Pending: return "pending";
  case JobState::Running: return "running";
  case JobState::Done: return "done";
  case JobState::Failed: return "failed";
  }
  return "pending";
}

BatchJobStore::BatchJobStore(const ArchiveDatabase& db) : m_Db(db) {
  if (db.readOnly()) throw InputError("archive index '" + db.path().string() + "' is read-only: cannot record jobs");
}

std::optional<JobRecord> BatchJobStore::find(const std::string& key) const {
  detail::Statement q(m_Db.handle(), fmt::format("SELECT {} FROM jobs WHERE job_key = ?1", JobColumns).c_str());
  q.bind(1, key);
  std::optional<JobRecord> record;
  while (q.step()) record = jobFromRow(q);
  return record;
}

std::vector<JobRecord> BatchJobStore::all() const {
  detail::Statement q(m_Db.handle(), fmt::format("SELECT {} FROM jobs ORDER BY job_key", JobColumns).c_str());
  std::vector<JobRecord> records;
  while (q.step()) records.push_back(jobFromRow(q));
  return records;
}

void BatchJobStore::markPending(const std::vector<JobRecord>& jobs) {
  detail::Transaction transaction(m_Db.handle());
  detail::Statement q(m_Db.handle(),
                      "INSERT OR REPLACE INTO jobs (job_key, state, parameters_hash, pipeline_version, error, "
                      "result_dir, started_utc, finished_utc, seconds) VALUES (?1, 'pending', ?2, ?3, '', ?4, '', '', 0)");
  for (const JobRecord& job : jobs) {
    q.bind(1, job.key).bind(2, job.parametersHash).bind(3, job.pipelineVersion).bind(4, job.resultDir).run();
  }
  transaction.commit();
}

void BatchJobStore::markRunning(const std::string& key, const std::string& parametersHash,
                                const std::string& pipelineVersion, const std::string& resultDir) {
  detail::Statement q(m_Db.handle(),
                      "INSERT OR REPLACE INTO jobs (job_key, state, parameters_hash, pipeline_version, error, "
                      "result_dir, started_utc, finished_utc, seconds) VALUES (?1, 'running', ?2, ?3, '', ?4, ?5, '', 0)");
  q.bind(1, key).bind(2, parametersHash).bind(3, pipelineVersion).bind(4, resultDir).bind(5, utcNow()).run();
}

void BatchJobStore::markDone(const std::string& key, double seconds) {
  detail::Statement q(m_Db.handle(),
                      "UPDATE jobs SET state = 'done', error = '', finished_utc = ?2, seconds = ?3 WHERE job_key = ?1");
  q.bind(1, key).bind(2, utcNow()).bind(3, seconds).run();
}

void BatchJobStore::markFailed(const std::string& key, const std::string& error, double seconds) {
  detail::Statement q(m_Db.handle(),
                      "UPDATE jobs SET state = 'failed', error = ?2, finished_utc = ?3, seconds = ?4 WHERE job_key = ?1");
  q.bind(1, key).bind(2, error).bind(3, utcNow()).bind(4, seconds).run();
}

} // namespace lesion::archive
