#include "lesion/pipeline/BatchRunner.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/BatchJobs.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/pipeline/PatientPipeline.h"
#include "lesion/reporting/MeasurementReport.h"

namespace lesion::pipeline {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

/// A patient process: started with its output in a log file, killed with the batch (a batch
/// killed part-way must not leave workers writing behind its back).
pid_t startProcess(const std::vector<std::string>& argv, const fs::path& log) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw ProcessingError(fmt::format("cannot start '{}': {}", argv.front(), std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    const std::string message = fmt::format("cannot run '{}': {}\n", argv.front(), std::strerror(errno));
    (void)!write(STDERR_FILENO, message.data(), message.size());
    _exit(127);
  }
  return pid;
}

/// The error a failed patient process printed (its last error line, else its last non-empty line;
/// never the usage hint after it), or how it died.
std::string failureText(int status, const fs::path& log) {
  std::ifstream in(log);
  std::string line, last, lastError;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line.find("\r") != std::string::npos)
      continue;
    last = line;
    if (line.find(": error: ") != std::string::npos)
      lastError = line;
  }
  if (!lastError.empty())
    last = lastError;
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}{}", WTERMSIG(status), last.empty() ? "" : " after: " + last);
  const std::string code = fmt::format("exit code {}", WEXITSTATUS(status));
  return last.empty() ? code : last + " (" + code + ")";
}

/// The baseline change a patient run recorded in its job.json (baselineChangeNotice), or empty.
std::string recordedBaselineChange(const fs::path& folder) { return recordedJobText(folder, "/baselineChange"); }

/// Staging folders (".NAME.part-*") a killed run of this patient left behind.
void removeStaleStaging(const fs::path& patients, const std::string& folder) {
  std::error_code ec;
  const std::string prefix = "." + folder + ".part-";
  for (const auto& entry : fs::directory_iterator(patients, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(entry.path(), ec);
  }
}

std::string etaText(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

/// The hash a `lesionkit patient` run of this batch records in the patient's job.json.
std::string batchParametersHash(const archive::ArchiveDatabase& db, const LesionManifest& manifest,
                                const BatchOptions& options, const std::string& patientId) {
  PatientRunOptions runOptions;
  runOptions.autoLytic = options.autoLytic;
  runOptions.toolVersion = options.toolVersion;
  const std::vector<ManifestLesion> lesions = manifest.of(patientId);
  return patientParametersHash(db, patientRunTimeline(db, patientId, lesions), lesions, runOptions);
}

/// The lesion manifest (empty with --auto) and this shard's patients in order, each read once.
struct BatchPlan {
  LesionManifest manifest;
  std::vector<BatchPatient> patients;
};

BatchPlan readBatchPlan(const BatchOptions& options) {
  if (options.shardCount == 0 || options.shardIndex >= options.shardCount) {
    throw UsageError(
        fmt::format("--shard {}/{}: expected I/N with 0 <= I < N", options.shardIndex, options.shardCount));
  }
  BatchPlan plan;
  std::vector<std::string> ids;
  if (options.autoLytic) {
    ids = archive::indexedPatients(
        archive::ArchiveDatabase(options.database, archive::ArchiveDatabase::Access::ReadOnly));
  } else {
    plan.manifest = readLesionManifest(options.manifest);
    ids = plan.manifest.patients();
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i % options.shardCount == options.shardIndex)
      plan.patients.push_back({ids[i], patientFolderName(ids[i])});
  }
  return plan;
}

struct Pending {
  BatchPatient patient;
  std::string hash;
};

struct Running {
  Pending job;
  Clock::time_point started;
  fs::path log;
  PatientJobLock lock;
};

} // namespace

std::optional<PatientJobLock> PatientJobLock::tryAcquire(const fs::path& lockFile) {
  // O_CLOEXEC: the patient process must not inherit it (the lock ends with this batch).
  const int fd = open(lockFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw InputError(fmt::format("cannot create lock file '{}': {}", lockFile.string(), std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return std::nullopt;
  }
  return PatientJobLock(fd);
}

PatientJobLock::~PatientJobLock() {
  if (m_Fd >= 0)
    close(m_Fd);
}

PatientJobLock::PatientJobLock(PatientJobLock&& other) noexcept : m_Fd(std::exchange(other.m_Fd, -1)) {}

PatientJobLock& PatientJobLock::operator=(PatientJobLock&& other) noexcept {
  if (this != &other) {
    if (m_Fd >= 0)
      close(m_Fd);
    m_Fd = std::exchange(other.m_Fd, -1);
  }
  return *this;
}

std::vector<BatchPatient> planBatch(const BatchOptions& options) { return readBatchPlan(options).patients; }

std::vector<std::pair<std::string, std::string>> collectBatchResults(const fs::path& output,
                                                                     const std::vector<BatchPatient>& patients,
                                                                     const fs::path& target) {
  std::string header, rows;
  std::vector<std::pair<std::string, std::string>> failures;
  for (const BatchPatient& p : patients) {
    const fs::path folder = output / "patients" / p.folder;
    std::ifstream failure(folder / "failure.json");
    if (failure) {
      const nlohmann::json j = nlohmann::json::parse(failure, nullptr, false);
      failures.emplace_back(p.patientId, j.is_object() ? j.value("error", "failed") : "failed (unreadable failure.json)");
      continue;
    }
    std::ifstream in(folder / "results.csv");
    if (!in) {
      // A table without them must not pass for complete (--collect after a batch or shard that failed them).
      failures.emplace_back(p.patientId, fmt::format("no results in '{}': not run yet, still running, or failed in a "
                                                     "batch (see that batch's failures and logs)",
                                                     folder.string()));
      continue;
    }
    std::string line;
    std::getline(in, line);
    if (header.empty()) header = line;
    if (line != header) {
      throw ProcessingError(fmt::format("'{}' has other columns than the first results table (mixed versions?)",
                                        (folder / "results.csv").string()));
    }
    while (std::getline(in, line)) {
      if (!line.empty()) rows += line + "\n";
    }
  }
  if (header.empty()) header = patientResultsHeaderPrefix() + fmt::format("{}", fmt::join(reporting::csvColumns(), ","));
  writeTextFileAtomically(target, header + "\n" + rows);
  return failures;
}

BatchCollection collectCurrentBatchResults(const BatchOptions& options, const fs::path& target) {
  const BatchPlan plan = readBatchPlan(options);
  const archive::ArchiveDatabase db(options.database, archive::ArchiveDatabase::Access::ReadOnly);
  claimOutputFolder(options.output, "batch", "patients");
  std::vector<BatchPatient> current;
  std::vector<std::pair<std::string, std::string>> stale;
  for (const BatchPatient& p : plan.patients) {
    const std::string recorded = recordedParametersHash(options.output / "patients" / p.folder);
    std::string error;
    try {
      if (!recorded.empty() && recorded != batchParametersHash(db, plan.manifest, options, p.patientId))
        error = "its results are of other parameters (lesions, series or LesionKit version changed since): rerun it";
    } catch (const Error& e) {
      error = e.what();
    }
    if (error.empty())
      current.push_back(p);
    else
      stale.emplace_back(p.patientId, error);
  }
  BatchCollection collection{plan.patients.size(), collectBatchResults(options.output, current, target)};
  collection.failures.insert(collection.failures.end(), stale.begin(), stale.end());
  std::sort(collection.failures.begin(), collection.failures.end());
  return collection;
}

void writeBatchFailures(const std::vector<std::pair<std::string, std::string>>& failures, const fs::path& target) {
  std::string text = "patient_id,error\n";
  for (const auto& [id, error] : failures) text += reporting::csvField(id) + "," + reporting::csvField(error) + "\n";
  writeTextFileAtomically(target, text);
}

BatchSummary runBatch(const BatchOptions& options, const Progress& progress) {
  const auto started = Clock::now();
  if (options.patientCommand.empty()) throw UsageError("runBatch: no patient command");
  if (options.jobs < 1) throw UsageError("--jobs: expected at least 1");
  const BatchPlan batchPlan = readBatchPlan(options);
  const std::vector<BatchPatient>& plan = batchPlan.patients;
  const LesionManifest& manifest = batchPlan.manifest;
  const fs::path patients = options.output / "patients", logs = options.output / "logs";
  // Opened for writing (job state) first: an index this user may not write leaves no output folder.
  archive::ArchiveDatabase db(options.database, archive::ArchiveDatabase::Access::ReadWrite);
  claimOutputFolder(options.output, "batch", "patients"); // never the user's results.csv overwritten
  fs::create_directories(patients);
  fs::create_directories(logs);
  archive::BatchJobStore jobs(db);

  BatchSummary summary;
  summary.patients = plan.size();
  // Only folders of these parameters go into results.csv: a patient that fails now keeps the
  // folder of an earlier run (other lesions, series or version), whose figures are not this batch's.
  std::set<std::string> current; // their folders
  // A folder holding results of these parameters is reused (and its job row marked done).
  auto reuseIfDone = [&](const BatchPatient& p, const std::string& hash) {
    if (recordedParametersHash(patients / p.folder) != hash)
      return false;
    const auto job = jobs.find(p.patientId);
    if (!job || job->state != archive::JobState::Done || job->parametersHash != hash) {
      jobs.markRunning(p.patientId, hash, options.toolVersion, (patients / p.folder).string());
      jobs.markDone(p.patientId, 0.0);
    }
    ++summary.reused;
    current.insert(p.folder);
    return true;
  };
  std::vector<Pending> queue;
  for (const BatchPatient& p : plan) {
    std::string hash;
    try {
      hash = batchParametersHash(db, manifest, options, p.patientId);
    } catch (const Error& e) {
      jobs.markRunning(p.patientId, "", options.toolVersion, (patients / p.folder).string());
      jobs.markFailed(p.patientId, e.what(), 0.0);
      summary.failures.emplace_back(p.patientId, e.what());
      continue;
    }
    if (!reuseIfDone(p, hash))
      queue.push_back({p, hash});
  }

  std::vector<archive::JobRecord> pending;
  for (const Pending& job : queue) {
    archive::JobRecord record;
    record.key = job.patient.patientId;
    record.parametersHash = job.hash;
    record.pipelineVersion = options.toolVersion;
    record.resultDir = (patients / job.patient.folder).string();
    pending.push_back(std::move(record));
  }
  jobs.markPending(pending);

  std::map<pid_t, Running> running;
  std::size_t next = 0, finished = 0;
  double waited = 0.0; // blocked on patient processes: everything else is the batch's own work
  const std::size_t total = queue.size();
  auto report = [&] {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const double eta = finished > 0 ? elapsed / double(finished) * double(total - finished) : 0.0;
    progress.report(total ? double(finished) / double(total) : 1.0,
                    fmt::format("{}/{} patients, {} failed{}", finished, total, summary.failures.size(),
                                finished > 0 && finished < total ? ", ETA " + etaText(eta) : ""));
  };
  report();
  while (next < queue.size() || !running.empty()) {
    while (next < queue.size() && running.size() < options.jobs) {
      const Pending& job = queue[next++];
      const fs::path folder = patients / job.patient.folder;
      const fs::path log = logs / (job.patient.folder + ".log");
      // Another batch running this patient: its staging folder is not stale and its result will come.
      std::optional<PatientJobLock> lock = PatientJobLock::tryAcquire(logs / (job.patient.folder + ".lock"));
      if (!lock) {
        summary.busy.push_back(job.patient.patientId);
        ++finished;
        continue;
      }
      // Another batch on this output may have finished it since this one planned.
      if (reuseIfDone(job.patient, job.hash)) {
        ++finished;
        continue;
      }
      removeStaleStaging(patients, job.patient.folder);
      std::vector<std::string> argv = options.patientCommand;
      // One argument: an ID that looks like an option ("--help") stays the ID.
      argv.insert(argv.end(), {"--db", options.database.string(), "--patient=" + job.patient.patientId});
      if (options.autoLytic) argv.push_back("--auto");
      else argv.insert(argv.end(), {"--manifest", options.manifest.string()});
      argv.insert(argv.end(), {"-o", folder.string()});
      jobs.markRunning(job.patient.patientId, job.hash, options.toolVersion, folder.string());
      running.emplace(startProcess(argv, log), Running{job, Clock::now(), log, std::move(*lock)});
    }
    if (running.empty())
      continue; // the rest were busy elsewhere: nothing to wait for
    int status = 0;
    const auto waitStart = Clock::now();
    const pid_t pid = waitpid(-1, &status, 0);
    waited += std::chrono::duration<double>(Clock::now() - waitStart).count();
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw ProcessingError(fmt::format("waiting for patient processes: {}", std::strerror(errno)));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running done = std::move(it->second);
    running.erase(it);
    const double seconds = std::chrono::duration<double>(Clock::now() - done.started).count();
    summary.pipelineSeconds += seconds;
    const std::string& id = done.job.patient.patientId;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && recordedParametersHash(patients / done.job.patient.folder) == done.job.hash) {
      jobs.markDone(id, seconds);
      ++summary.succeeded;
      current.insert(done.job.patient.folder);
      if (std::string notice = recordedBaselineChange(patients / done.job.patient.folder); !notice.empty())
        summary.notices.emplace_back(id, std::move(notice));
    } else {
      const std::string error = ok ? "finished without a results folder of these parameters" : failureText(status, done.log);
      jobs.markFailed(id, error, seconds);
      summary.failures.emplace_back(id, error);
    }
    ++finished;
    report();
  }

  const bool sharded = options.shardCount > 1;
  const std::string suffix = sharded ? fmt::format(".shard-{}-of-{}", options.shardIndex, options.shardCount) : "";
  summary.results = options.output / ("results" + suffix + ".csv");
  std::vector<BatchPatient> collected;
  std::copy_if(plan.begin(), plan.end(), std::back_inserter(collected),
               [&](const BatchPatient& p) { return current.count(p.folder) > 0; });
  for (auto& f : collectBatchResults(options.output, collected, summary.results))
    summary.failures.push_back(std::move(f));
  // Not in this results.csv either: listed, so a table without them does not pass for complete.
  for (const std::string& id : summary.busy)
    summary.failures.emplace_back(id, "being run by another batch on this output: run this batch again (or with "
                                      "--collect) when that one has ended");
  std::sort(summary.failures.begin(), summary.failures.end());
  summary.failuresTable = options.output / ("failures" + suffix + ".csv");
  writeBatchFailures(summary.failures, summary.failuresTable);
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  summary.bookkeepingSeconds = summary.seconds - waited;
  return summary;
}

} // namespace lesion::pipeline
