// Resuming batches: a patient's results are reused only while its series' files are unchanged, and
// results.csv takes only results of the batch's parameters;
// two batches on one output folder: a patient the other batch is running is left to it (its
// staging folder is not removed as stale, it is not run twice).
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

/// A one-study phantom patient P001 (a few slices through the axillary mass) in dir/archive,
/// indexed into dir/archive.sqlite, and a manifest dir/lesions.csv with its mass.
void writeIndexedPatient(const test::ScratchFolder& dir) {
  phantom::PhantomOptions o;
  o.patientId = "P001";
  o.timePoints = 1;
  o.supersampling = 1;
  o.zFromMm = 180.0;
  o.zToMm = 200.0;
  (void)phantom::writePhantomStudy(phantom::generatePhantomStudy(o), dir / "archive" / "P001");
  archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadWrite);
  (void)archive::indexArchive(db, dir / "archive");
  std::ofstream(dir / "lesions.csv") << "patient_id,lesion,kind,init,x1,y1,z1\nP001,m,soft-tissue,seed,-128,-10,190\n";
}

std::string hashOfP001(const test::ScratchFolder& dir) {
  const archive::ArchiveDatabase db(dir / "archive.sqlite", archive::ArchiveDatabase::Access::ReadOnly);
  return patientParametersHash(db, archive::patientTimeline(db, "P001"),
                               readLesionManifest(dir / "lesions.csv").of("P001"), PatientRunOptions{});
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
