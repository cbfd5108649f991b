// lesionkit patient / lesionkit batch: one patient of an indexed archive end to end, and the
// resumable batch over all of them (one `lesionkit patient` process per patient).
#include <algorithm>
#include <filesystem>
#include <ostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/pipeline/BatchRunner.h"
#include "lesion/pipeline/LesionManifest.h"
#include "lesion/pipeline/PatientPipeline.h"

namespace lesion::commands {

using cli::Channel;
using cli::ParameterType;
namespace fs = std::filesystem;

namespace {

void addArchiveInputs(cli::Command& c) {
  c.add({"db", ParameterType::File, "Index database", "SQLite index made by lesionkit index", Channel::Input})
      .asRequired()
      .withExtensions(".sqlite");
  c.add({"manifest", ParameterType::File, "Lesion manifest",
         "CSV or JSON naming per patient the lesions to follow (seed, box or RECIST line on the "
         "baseline, LPS mm; kind; level; target); see docs/batch.md",
         Channel::Input})
      .withExtensions(".csv,.json");
  c.add({"auto", ParameterType::Boolean, "Automatic lytic screening",
         "screen every patient's baseline spine for lytic lesions instead of a manifest", Channel::Input});
}

/// --manifest or --auto, exactly one.
void checkLesionSource(const cli::Arguments& args) {
  if (args.has("manifest") == args.flag("auto")) throw UsageError("give either --manifest FILE or --auto");
}

fs::path currentExecutable() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw ProcessingError("cannot find the lesionkit executable (/proc/self/exe): " + ec.message());
  return self;
}

/// Exit 4 with one line on stderr when some of the batch's patients lack results of its parameters.
void reportMissingResults(cli::CommandContext& ctx, std::size_t missing, std::size_t patients,
                          const fs::path& failures) {
  ctx.returnValues["failed"] = std::to_string(missing);
  if (missing == 0)
    return;
  ctx.someItemsFailed =
      fmt::format("finished, but {} of {} patients failed or lack results of these parameters: see {}", missing,
                  patients, failures.string());
}

} // namespace

cli::Command patientCommand() {
  cli::Command c;
  c.name = "patient";
  c.title = "LesionKit Patient";
  c.summary = "run segment, measure, follow-up and response for one patient of an indexed archive";
  c.description =
      "Builds the patient's timeline from the index (studies by date, the best-ranked series of each, see lesionkit "
      "series; a study without StudyDate is left out with a warning; one PatientID on two people, or a study whose "
      "files carry two PatientIDs, is refused), segments the manifest's lesions on the baseline (or screens the spine "
      "with --auto), measures them "
      "and follows them over every later study (registration, tracking, RECIST 1.1, MD Anderson and inverse Choi). "
      "Writes the folder of lesionkit followup, timepoints/<date>/ per study (DICOM SEG and SR, QC pictures, "
      "report.html), results.csv (one row per lesion per time point, with patient, study, series, lesion status and "
      "response columns) and job.json (series used, lesions, parameters hash); the folder appears complete or not "
      "at all. With --auto, each follow-up is also screened for new lytic lesions (new-lesions.json, proposals). The "
      "index is only read. lesionkit batch and the Snakemake workflow run this command once per "
      "patient.";
  c.examples = {"lesionkit patient --db archive.sqlite --patient P001 --manifest lesions.csv -o results/patients/P001"};
  addArchiveInputs(c);
  c.add({"patient", ParameterType::String, "Patient ID", "PatientID as indexed", Channel::Input}).asRequired();
  c.add({"output", ParameterType::Directory, "Output folder",
         "the patient's results folder (replaced as a whole when complete; an existing folder only when empty or an "
         "earlier patient output holding nothing else)",
         Channel::Output, std::nullopt, 'o'})
      .asRequired();
  c.add({"failureAsResult", ParameterType::Boolean, "Failure as result",
         "on failure write the folder with failure.json (the error) and exit 0, so a workflow goes on "
         "and the collection step lists the failure",
         Channel::Input});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    checkLesionSource(args);
    const std::string patientId = args.string("patient");
    StagedOutputFolder out(args.path("output"), "patient");
    pipeline::PatientRunOptions options;
    options.autoLytic = args.flag("auto");
    options.toolVersion = toolInfo().version;
    options.previousBaselineStudy = pipeline::previousBaselineStudy(out.target()); // the run this one replaces
    try {
      const archive::ArchiveDatabase db(args.path("db"), archive::ArchiveDatabase::Access::ReadOnly);
      std::vector<pipeline::ManifestLesion> lesions;
      if (args.has("manifest")) lesions = pipeline::readLesionManifest(args.path("manifest")).of(patientId);
      const pipeline::PatientRunResult r = pipeline::runPatientPipeline(db, patientId, lesions, options, out.path(), ctx.progress);
      out.commit();
      ctx.out << fmt::format("patient {}: {} lesions over {} time points -> {}\n", patientId, r.lesions, r.timePoints,
                             out.target().string());
      // r.warnings were logged (stderr) where they arose; job.json keeps them.
    } catch (const Error& e) {
      if (!args.flag("failureAsResult")) throw;
      const nlohmann::json failure = {{"patientId", patientId}, {"error", e.what()}, {"exitCode", static_cast<int>(e.exitCode())}};
      writeTextFileAtomically(out.path("failure.json"), failure.dump(2) + "\n");
      out.commit();
      logMessage(LogLevel::Error, fmt::format("patient {}: {} (recorded in {})", patientId, e.what(),
                                              (out.target() / "failure.json").string()));
    }
  };
  return c;
}

cli::Command batchCommand() {
  cli::Command c;
  c.name = "batch";
  c.canLeaveItemsWithoutResult = true; // reportMissingResults
  c.title = "LesionKit Batch";
  c.summary = "reprocess every patient of an indexed archive: resumable, parallel, sharded";
  c.description =
      "Runs lesionkit patient for every patient of the manifest (or, with --auto, of the index), up to --jobs at "
      "once, each into OUT/patients/<patient>/ written atomically, with logs in OUT/logs/. The job state (pending, "
      "running, done, failed with the error, pipeline version, parameters hash) is kept in the index: patients whose "
      "folder holds results of the same parameters are not recomputed, changed parameters or series are; a failure "
      "is recorded and the batch goes on; a batch killed part-way resumes where it stopped. Writes OUT/results.csv "
      "(one row per lesion per time point) and OUT/failures.csv; with --shard I/N only every N-th patient from I, "
      "into results.shard-I-of-N.csv (shards never write the same file; --collect joins them). Exits 0 only when every "
      "patient has results of these parameters; 4 when the batch (or --collect) finished but some patients failed, "
      "were left to another batch or have no results: they are listed in failures.csv.";
  c.examples = {"lesionkit batch --db archive.sqlite --manifest lesions.csv -o results --jobs 2",
                "lesionkit batch --db archive.sqlite --auto -o results --shard 0/4",
                "lesionkit batch --db archive.sqlite --manifest lesions.csv -o results --collect"};
  addArchiveInputs(c);
  c.add({"output", ParameterType::Directory, "Output folder",
         "results folder: created, or one of an earlier batch to resume (an existing folder of other files is refused)",
         Channel::Output, std::nullopt, 'o'})
      .asRequired();
  c.add({"jobs", ParameterType::Integer, "Jobs", "patients processed at once", Channel::Input}).withDefault("1");
  c.add({"shard", ParameterType::String, "Shard", "I/N: process only shard I (0-based) of N", Channel::Input});
  c.add({"plan", ParameterType::Boolean, "Plan only",
         "print the patients of this shard and their folders as JSON; run nothing", Channel::Input});
  c.add({"collect", ParameterType::Boolean, "Collect only",
         "only join the finished patient folders into results.csv and failures.csv", Channel::Input});
  c.add({"failed", ParameterType::Integer, "Failed patients", "patients that failed", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    checkLesionSource(args);
    pipeline::BatchOptions options;
    options.database = args.path("db");
    if (args.has("manifest")) options.manifest = args.path("manifest");
    options.autoLytic = args.flag("auto");
    options.output = args.path("output");
    const long jobs = args.integer("jobs");
    if (jobs < 1 || jobs > 256) throw UsageError(fmt::format("--jobs {}: expected 1 to 256", jobs));
    options.jobs = static_cast<unsigned>(jobs);
    if (args.has("shard")) {
      const std::string text = args.string("shard");
      unsigned i = 0, n = 0;
      char slash = 0;
      std::istringstream in(text);
      if (!(in >> i >> slash >> n) || slash != '/' || !in.eof() || n == 0 || i >= n) {
        throw UsageError(fmt::format("--shard {}: expected I/N with 0 <= I < N, e.g. 0/4", text));
      }
      options.shardIndex = i;
      options.shardCount = n;
    }
    options.patientCommand = {currentExecutable().string(), "patient"};
    options.toolVersion = toolInfo().version;
    if (args.flag("plan")) {
      nlohmann::json plan = nlohmann::json::array();
      for (const auto& p : pipeline::planBatch(options)) plan.push_back({{"patientId", p.patientId}, {"folder", p.folder}});
      ctx.out << plan.dump(2) << '\n';
      return;
    }
    if (args.flag("collect")) {
      const fs::path target = options.output / "results.csv";
      options.shardIndex = 0;
      options.shardCount = 1; // every patient, whichever shard ran it
      const pipeline::BatchCollection collected = pipeline::collectCurrentBatchResults(options, target);
      pipeline::writeBatchFailures(collected.failures, options.output / "failures.csv");
      ctx.out << fmt::format("wrote {} ({} failures listed in failures.csv)\n", target.string(),
                             collected.failures.size());
      reportMissingResults(ctx, collected.failures.size(), collected.patients, options.output / "failures.csv");
      return;
    }
    const pipeline::BatchSummary s = pipeline::runBatch(options, ctx.progress);
    // s.failures lists the patients left to another batch too (failures.csv must): counted once here.
    ctx.out << fmt::format("{} patients: {} computed, {} reused (unchanged), {} failed{} in {:.1f} s\n", s.patients,
                           s.succeeded, s.reused, s.failures.size() - s.busy.size(),
                           s.busy.empty() ? "" : fmt::format(", {} left to another batch", s.busy.size()), s.seconds);
    if (s.succeeded > 0) {
      ctx.out << fmt::format("pipeline {:.1f} s per patient; batch bookkeeping {:.2f} s in all\n",
                             s.pipelineSeconds / double(s.succeeded), s.bookkeepingSeconds);
    }
    for (const auto& [id, notice] : s.notices)
      ctx.out << "baseline changed: " << id << ": " << notice << '\n';
    for (const auto& [id, error] : s.failures) {
      const bool busy = std::find(s.busy.begin(), s.busy.end(), id) != s.busy.end();
      ctx.out << (busy ? "skipped: " : "failed: ") << id << ": " << error << '\n';
    }
    ctx.out << "wrote " << s.results.string() << '\n';
    reportMissingResults(ctx, s.failures.size(), s.patients, s.failuresTable);
  };
  return c;
}

} // namespace lesion::commands
