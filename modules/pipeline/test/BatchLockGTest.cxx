// Resuming batches: a patient's results are reused only while its series' files are unchanged, and
// results.csv takes only results of the batch's parameters;
// two batches on one output folder: a patient the other batch is running is left to it (its
// staging folder is not removed as stale, it is not run twice).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/pipeline/BatchRunner.h"
#include "lesion/pipeline/LesionManifest.h"
#include "lesion/pipeline/PatientPipeline.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;
using namespace lesion::pipeline;

TEST(PatientJobLock, IsExclusiveUntilReleased) {
  test::ScratchFolder dir;
  auto first = PatientJobLock::tryAcquire(dir / "P001.lock");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(PatientJobLock::tryAcquire(dir / "P001.lock").has_value());
  EXPECT_TRUE(PatientJobLock::tryAcquire(dir / "P002.lock").has_value());
  first.reset();
  EXPECT_TRUE(PatientJobLock::tryAcquire(dir / "P001.lock").has_value());
}

namespace {

/// A phantom patient (a few slices through the axillary mass; `timePoints` studies from
/// `baselineDate`) in dir/archive/<id>, indexed into dir/archive.sqlite, and its mass added to the
/// manifest dir/lesions.csv (made by the first patient).
void writeIndexedPatient(const test::ScratchFolder& dir, int timePoints = 1,
                         const std::string& baselineDate = "20240115", const std::string& id = "P001") {
  phantom::PhantomOptions o;
  o.patientId = id;
  o.timePoints = timePoints;
  o.baselineDate = baselineDate;
  o.supersampling = 1;
  o.zFromMm = 180.0;
  o.zToMm = 200.0;
  (void)phantom::writePhantomStudy(phantom::generatePhantomStudy(o), dir / "archive" / id);
  archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadWrite);
  (void)archive::indexArchive(db, dir / "archive");
  const bool first = !fs::exists(dir / "lesions.csv");
  std::ofstream(dir / "lesions.csv", std::ios::app)
      << (first ? "patient_id,lesion,kind,init,x1,y1,z1\n" : "") << id << ",m,soft-tissue,seed,-128,-10,190\n";
}

std::string hashOfP001(const test::ScratchFolder& dir, const std::string& toolVersion = {}) {
  const archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadOnly);
  PatientRunOptions options;
  options.toolVersion = toolVersion;
  return patientParametersHash(db, archive::patientTimeline(db, "P001"),
                               readLesionManifest(dir / "lesions.csv").of("P001"), options);
}

void reindex(const test::ScratchFolder& dir) {
  archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadWrite);
  (void)archive::indexArchive(db, dir / "archive");
}

/// The folder of P001's slices.
fs::path seriesFolderOfP001(const test::ScratchFolder& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir / "archive"))
    if (e.path().extension() == ".dcm")
      return e.path().parent_path();
  ADD_FAILURE() << "no slice under " << dir / "archive";
  return {};
}

/// Options of a batch over dir's archive into dir/out, whose P001 folder holds an earlier run of
/// other parameters (another hash) with one result row; a patient run of this batch fails.
BatchOptions batchWithAnEarlierRun(const test::ScratchFolder& dir) {
  const fs::path folder = dir / "out" / "patients" / "P001";
  fs::create_directories(folder);
  std::ofstream(folder / "job.json") << R"({"parametersHash": "0123456789abcdef"})";
  std::ofstream(folder / "results.csv") << "patient_id,volume_ml\nP001,99.9\n";
  BatchOptions options;
  options.database = dir / "archive.sqlite";
  options.manifest = dir / "lesions.csv";
  options.output = dir / "out";
  options.patientCommand = {"/bin/false"};
  options.toolVersion = "test";
  return options;
}

std::string rowsAfterHeader(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line, rows;
  std::getline(in, line);
  while (std::getline(in, line))
    rows += line + "\n";
  return rows;
}

} // namespace

TEST(Batch, ParametersHashChangesWhenASeriesFileIsReplaced) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  const std::string before = hashOfP001(dir);
  {
    archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadWrite);
    (void)archive::indexArchive(db, dir / "archive"); // nothing changed
  }
  EXPECT_EQ(hashOfP001(dir), before);

  // One slice rewritten in place (same UIDs, same file count; e.g. a corrected re-export).
  fs::path slice;
  for (const auto& e : fs::recursive_directory_iterator(dir / "archive"))
    if (e.path().extension() == ".dcm")
      slice = e.path();
  {
    std::fstream f(slice, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x7f');
  }
  fs::last_write_time(slice, fs::last_write_time(slice) + std::chrono::seconds(5));
  {
    archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadWrite);
    ASSERT_EQ(archive::indexArchive(db, dir / "archive").filesChanged, 1u);
  }
  EXPECT_NE(hashOfP001(dir), before) << "results from the old file would be reused";
}

TEST(Batch, LeavesAPatientThatAnotherBatchRunsToIt) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);

  // The other batch: its lock on P001 held, its patient process writing into a staging folder.
  const fs::path out = dir / "out";
  fs::create_directories(out / "logs");
  const fs::path staging = out / "patients" / ".P001.part-999999-0";
  fs::create_directories(staging);
  const auto other = PatientJobLock::tryAcquire(out / "logs" / "P001.lock");
  ASSERT_TRUE(other.has_value());

  BatchOptions options;
  options.database = dir / "archive.sqlite";
  options.manifest = dir / "lesions.csv";
  options.output = out;
  options.patientCommand = {"/bin/false"}; // a patient run here would fail
  options.toolVersion = "test";
  const BatchSummary s = runBatch(options);
  EXPECT_EQ(s.busy, std::vector<std::string>{"P001"});
  // Not in this batch's results.csv, so listed in its failures.csv with the reason.
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures.front().first, "P001");
  EXPECT_NE(s.failures.front().second.find("another batch"), std::string::npos) << s.failures.front().second;
  EXPECT_EQ(s.succeeded, 0u);
  EXPECT_TRUE(fs::exists(staging)) << "the other batch's staging folder was removed as stale";
}

TEST(Batch, ResultsHoldNoFiguresOfAnEarlierRunOfAPatientThatFailsNow) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  const BatchOptions options = batchWithAnEarlierRun(dir);
  const BatchSummary s = runBatch(options); // P001 fails now
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures.front().first, "P001");
  EXPECT_EQ(rowsAfterHeader(s.results), "") << "results.csv holds the earlier run's row";
}

TEST(Batch, CollectJoinsOnlyResultsOfTheseParameters) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  const BatchOptions options = batchWithAnEarlierRun(dir);
  const BatchCollection collected = collectCurrentBatchResults(options, options.output / "results.csv");
  EXPECT_EQ(collected.patients, 1u);
  const auto& failures = collected.failures;
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures.front().first, "P001");
  EXPECT_NE(failures.front().second.find("other parameters"), std::string::npos) << failures.front().second;
  EXPECT_EQ(rowsAfterHeader(options.output / "results.csv"), "") << "results.csv holds the earlier run's row";
}

// A patient no batch has run (or whose batch failed it, leaving no folder) is not in results.csv,
// so it is listed: a table without it must not pass for complete.
TEST(Batch, CollectListsAPatientWithoutResults) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  BatchOptions options = batchWithAnEarlierRun(dir);
  fs::remove_all(options.output / "patients" / "P001");
  const BatchCollection collected = collectCurrentBatchResults(options, options.output / "results.csv");
  EXPECT_EQ(collected.patients, 1u);
  const auto& failures = collected.failures;
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures.front().first, "P001");
  EXPECT_EQ(failures.front().second.rfind("no results in '" + (options.output / "patients" / "P001").string() + "'", 0),
            0u)
      << failures.front().second;
  EXPECT_EQ(rowsAfterHeader(options.output / "results.csv"), "");
}

TEST(Batch, RefusesAnOutputFolderOfTheUsersFiles) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  BatchOptions options = batchWithAnEarlierRun(dir);
  options.output = dir / "mine";
  fs::create_directories(options.output);
  std::ofstream(options.output / "results.csv") << "my own table\n";
  EXPECT_THROW((void)runBatch(options), InputError);
  EXPECT_THROW((void)collectCurrentBatchResults(options, options.output / "results.csv"), InputError);
  std::ifstream in(options.output / "results.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "my own table");

  // A batch folder (a new one, or one of a version before output records) is resumed as before.
  options.output = dir / "out";
  EXPECT_NO_THROW((void)runBatch(options));
  EXPECT_NO_THROW((void)runBatch(options));
}

// A file beside a finished patient's series became damaged (an interrupted copy): the patient run
// refuses the patient, and so must a resumed batch, as a fresh one does, instead of reusing the
// earlier results.
TEST(Batch, AResumedBatchRefusesAPatientWhoseSeriesGainedADamagedFile) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  const BatchOptions options = batchWithAnEarlierRun(dir);
  std::ofstream(options.output / "patients" / "P001" / "job.json")
      << R"({"parametersHash": ")" << hashOfP001(dir, options.toolVersion) << R"("})";
  ASSERT_EQ(runBatch(options).reused, 1u) << "the earlier run of these parameters is reused";

  std::ofstream(seriesFolderOfP001(dir) / "IM9999.dcm").close();
  reindex(dir);
  const BatchSummary s = runBatch(options);
  EXPECT_EQ(s.reused, 0u);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures.front().first, "P001");
  EXPECT_NE(s.failures.front().second.find("1 damaged DICOM file beside series"), std::string::npos)
      << s.failures.front().second;
  EXPECT_NE(s.failures.front().second.find("IM9999.dcm"), std::string::npos) << s.failures.front().second;
  EXPECT_EQ(rowsAfterHeader(s.results), "");
  // --collect tells the same.
  const BatchCollection collected = collectCurrentBatchResults(options, options.output / "results.csv");
  ASSERT_EQ(collected.failures.size(), 1u);
  EXPECT_EQ(collected.failures.front().second, s.failures.front().second);
}

// The patient ID goes to the patient process as one argument (an ID like "--help" stays an ID), and
// a failure keeps the process's error line, not the usage hint printed after it.
TEST(Batch, PassesThePatientIdAsOneArgumentAndKeepsTheErrorLine) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  BatchOptions options = batchWithAnEarlierRun(dir);
  const fs::path args = dir / "args.txt";
  options.patientCommand = {"/bin/sh", "-c",
                            "printf '%s\\n' \"$@\" > '" + args.string() +
                                "'; echo 'lesionkit patient: error: --patient: no such thing' >&2; "
                                "echo \"Run 'lesionkit patient --help' for usage.\" >&2; exit 1",
                            "sh"};
  const BatchSummary s = runBatch(options);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures.front().second, "lesionkit patient: error: --patient: no such thing (exit code 1)");
  std::ifstream in(args);
  std::vector<std::string> given;
  for (std::string line; std::getline(in, line);)
    given.push_back(line);
  EXPECT_NE(std::find(given.begin(), given.end(), "--patient=P001"), given.end());
  EXPECT_EQ(std::find(given.begin(), given.end(), "--patient"), given.end());
}

TEST(PatientRun, SaysWhenTheBaselineChangedSinceTheEarlierRun) {
  archive::PatientTimeline timeline;
  timeline.studies.resize(2);
  timeline.studies[0].studyInstanceUid = "1.2.9";
  timeline.studies[0].studyDate = "20231001"; // a prior imported later
  timeline.studies[1].studyInstanceUid = "1.2.3";
  timeline.studies[1].studyDate = "20240115";
  EXPECT_EQ(baselineChangeNotice(timeline, ""), "");
  EXPECT_EQ(baselineChangeNotice(timeline, "1.2.9"), "");
  EXPECT_EQ(baselineChangeNotice(timeline, "1.2.3"),
            "the baseline is now study 1.2.9 of 20231001, not study 1.2.3 of 20240115 as in the earlier run: the "
            "manifest's points and boxes, placed on the earlier baseline, are applied to this scan; check them");
  EXPECT_NE(baselineChangeNotice(timeline, "1.2.5").find("not study 1.2.5 (no longer in the timeline)"),
            std::string::npos);

  test::ScratchFolder dir;
  EXPECT_EQ(previousBaselineStudy(dir.path()), "");
  std::ofstream(dir / "job.json")
      << R"({"timePoints": [{"studyInstanceUid": "1.2.3"}, {"studyInstanceUid": "1.2.4"}]})";
  EXPECT_EQ(previousBaselineStudy(dir.path()), "1.2.3");
}

// An older study imported after the lesions were placed: the manifest's baseline_study keeps the
// timeline starting where the points lie, the prior left out with a note.
TEST(PatientRun, StartsTheTimelineAtTheManifestsBaselineStudy) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir, 2, "20231001"); // the prior; the lesions were placed on the next study
  const archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadOnly);
  const archive::PatientTimeline all = archive::patientTimeline(db, "P001");
  ASSERT_EQ(all.studies.size(), 2u);
  const std::string prior = all.studies[0].studyInstanceUid, placed = all.studies[1].studyInstanceUid;
  const std::string placedDate = all.studies[1].studyDate;

  ManifestLesion lesion;
  lesion.patientId = "P001";
  EXPECT_EQ(patientRunTimeline(db, "P001", {lesion}).studies.size(), 2u);
  for (const std::string& named : {placed, placedDate}) {
    lesion.baselineStudy = named;
    const archive::PatientTimeline t = patientRunTimeline(db, "P001", {lesion});
    ASSERT_EQ(t.studies.size(), 1u) << named;
    EXPECT_EQ(t.studies[0].studyInstanceUid, placed);
    ASSERT_EQ(t.skippedStudies.size(), 1u);
    EXPECT_EQ(t.skippedStudies[0], "study " + prior + " of 20231001: before the manifest's baseline study " + named +
                                       ", where the lesions' points were placed: left out of the timeline");
  }
  lesion.baselineStudy = prior;
  EXPECT_EQ(patientRunTimeline(db, "P001", {lesion}).studies.size(), 2u);
  lesion.baselineStudy = "20200101";
  try {
    (void)patientRunTimeline(db, "P001", {lesion});
    FAIL() << "a baseline study the timeline does not hold";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the manifest places the lesions on study '20200101', but it is none of the "
                                         "timeline's studies (" +
                                         prior + " of 20231001, " + placed + " of " + placedDate),
              std::string::npos)
        << e.what();
  }
}

// Two batches on one output: a patient the other batch finished after this one planned is reused
// when its turn comes, not computed a second time.
TEST(Batch, ReusesAPatientAnotherBatchFinishedSinceThePlan) {
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  writeIndexedPatient(dir, 1, "20240115", "P002");
  BatchOptions options = batchWithAnEarlierRun(dir);
  std::string hash;
  {
    const archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadOnly);
    PatientRunOptions run;
    run.toolVersion = options.toolVersion;
    hash = patientParametersHash(db, archive::patientTimeline(db, "P002"),
                                 readLesionManifest(dir / "lesions.csv").of("P002"), run);
  }
  // Every patient process of this batch fails; while it runs P001, "the other batch" finishes P002.
  const fs::path p002 = options.output / "patients" / "P002";
  options.patientCommand = {"/bin/sh", "-c",
                            "mkdir -p '" + p002.string() + "' && printf '{\"parametersHash\": \"" + hash + "\"}' > '" +
                                (p002 / "job.json").string() + "' && printf 'patient_id,x\\nP002,1\\n' > '" +
                                (p002 / "results.csv").string() + "'; exit 1",
                            "sh"};
  const BatchSummary s = runBatch(options);
  EXPECT_EQ(s.reused, 1u);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures.front().first, "P001");
  EXPECT_EQ(rowsAfterHeader(s.results), "P002,1\n");
}

TEST(Batch, AnIndexItMayNotWriteIsRefusedBeforeTheOutputFolderIsCreated) {
  // The job state goes into the index: a user who may only read it gets exit 2 naming it, and no
  // output folder is left behind.
  test::ScratchFolder dir;
  writeIndexedPatient(dir);
  test::giveToUnprivilegedUser(dir.path());
  fs::permissions(dir / "archive.sqlite", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  BatchOptions options;
  options.database = dir / "archive.sqlite";
  options.manifest = dir / "lesions.csv";
  options.output = dir / "out";
  options.patientCommand = {"/bin/false"};
  const int code = test::runAsUnprivilegedUser([&] {
    try {
      (void)runBatch(options);
    } catch (const InputError& e) {
      std::cerr << e.what() << '\n';
      return std::string(e.what()).find("archive.sqlite' cannot be written") != std::string::npos ? 0 : 1;
    }
    return 2;
  });
  EXPECT_EQ(code, 0) << "1: another error, 2: no error";
  EXPECT_FALSE(fs::exists(options.output));
}
