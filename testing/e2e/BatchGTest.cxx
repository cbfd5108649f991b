// Batch reprocessing end to end, with real processes: an indexed archive of phantom patients
// (one missing its follow-up, one with a duplicated series, a truncated file and a non-DICOM
// file), `lesionkit batch` against each patient run alone, a batch killed with SIGKILL and
// resumed, changed parameters, and the Snakemake workflow on the same archive.
// Each test runs in its own process under ctest: the archive and the reference batch are made
// once per test (~30 s), so the scenarios are grouped into few tests.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/phantom/Phantom.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> csvFields(const std::string& row) {
  std::vector<std::string> out;
  std::istringstream in(row);
  for (std::string field; std::getline(in, field, ',');)
    out.push_back(field);
  return out;
}

/// A small phantom patient (around the axillary mass only) written into `archive`; returns the
/// baseline seed of the mass (LPS mm).
Vec3 writePatient(const fs::path& archive, const std::string& id, int timePoints, std::uint64_t seed) {
  phantom::PhantomOptions o;
  o.patientId = id;
  o.timePoints = timePoints;
  o.supersampling = 2;
  o.threads = 2;
  o.seed = seed;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(o);
  Vec3 mass{};
  for (const auto& l : study.timePoints[0].truth.lesions) {
    if (l.id == "axillary-mass") mass = l.seed;
  }
  phantom::PhantomOptions cropped = o;
  cropped.zFromMm = mass.z - 33.0;
  cropped.zToMm = mass.z + 33.0;
  (void)phantom::writePhantomStudy(phantom::generatePhantomStudy(cropped), archive / id);
  return mass;
}

class Batch : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    s_Dir = new test::ScratchFolder("lesionkit-batch");
    const fs::path archive = *s_Dir / "archive";
    const Vec3 m1 = writePatient(archive, "P001", 2, 1);
    const Vec3 m2 = writePatient(archive, "P002", 2, 2);
    const Vec3 m3 = writePatient(archive, "P003", 1, 3); // no follow-up
    // P001's baseline series copied once more: the same instances twice, duplicates not stacked.
    fs::path baseline;
    for (const auto& e : fs::recursive_directory_iterator(archive / "P001")) {
      if (e.path().filename() == "CT_01" && (baseline.empty() || e.path() < baseline)) baseline = e.path();
    }
    fs::create_directories(archive / "P001-copy");
    fs::copy(baseline, archive / "P001-copy" / "CT_01", fs::copy_options::recursive);
    // P002's follow-up gets a truncated slice (header intact, pixel data cut), the archive a text file.
    fs::path victim;
    for (const auto& e : fs::recursive_directory_iterator(archive / "P002")) {
      if (e.path().extension() == ".dcm" && e.path().string() > victim.string()) victim = e.path();
    }
    fs::resize_file(victim, fs::file_size(victim) / 2);
    s_Truncated = victim.filename().string();
    std::ofstream(archive / "README.txt") << "not DICOM\n";

    std::ofstream manifest(*s_Dir / "lesions.csv");
    manifest << "patient_id,lesion,kind,init,x1,y1,z1,target\n";
    for (const auto& [id, m] : {std::pair{"P001", m1}, std::pair{"P002", m2}, std::pair{"P003", m3}}) {
      manifest << id << ",axilla,soft-tissue,seed," << m.x << ',' << m.y << ',' << m.z << ",yes\n";
    }
    manifest << "P404,axilla,soft-tissue,seed,0,0,0,yes\n"; // not in the archive
    manifest.close();
    const auto r = test::runProcess({"lesionkit", "index", archive.string(), "--db", (*s_Dir / "archive.sqlite").string()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete s_Dir;
    s_Dir = nullptr;
  }

  /// A fresh copy of the index (its job table empty) for one test.
  static fs::path freshIndex(const std::string& name) {
    const fs::path db = *s_Dir / (name + ".sqlite");
    fs::copy_file(*s_Dir / "archive.sqlite", db, fs::copy_options::overwrite_existing);
    return db;
  }

  static std::vector<std::string> batchArgs(const fs::path& db, const fs::path& out) {
    return {"lesionkit", "batch", "--db", db.string(), "--manifest", (*s_Dir / "lesions.csv").string(), "-o", out.string(), "-q"};
  }

  /// The reference batch run, shared by the tests that compare against it.
  static const fs::path& referenceRun() {
    static const fs::path out = [] {
      const fs::path o = *s_Dir / "reference";
      auto args = batchArgs(freshIndex("reference"), o);
      args.insert(args.end(), {"--jobs", "2"});
      const auto r = test::runProcess(args);
      // P002 (a truncated slice) and P404 (not indexed) failed: the run finished, but not cleanly.
      EXPECT_EQ(r.exitCode, 4) << r.out << r.err;
      EXPECT_EQ(r.err, "lesionkit batch: error: finished, but 2 of 4 patients failed or lack results of these "
                       "parameters: see " +
                           (o / "failures.csv").string() + "\n");
      return o;
    }();
    return out;
  }

  static test::ScratchFolder* s_Dir;
  static std::string s_Truncated;
};

test::ScratchFolder* Batch::s_Dir = nullptr;
std::string Batch::s_Truncated;

} // namespace

TEST_F(Batch, MatchesEachPatientRunAloneAndListsFailures) {
  const fs::path out = referenceRun();
  const std::string results = slurp(out / "results.csv");
  const auto rows = lines(results);
  // P001: 2 time points, P003: 1; one lesion each.
  ASSERT_EQ(rows.size(), 1u + 2u + 1u) << results;
  EXPECT_EQ(rows[1].rfind("P001,0,", 0), 0u);
  EXPECT_EQ(rows[2].rfind("P001,1,", 0), 0u);
  EXPECT_EQ(rows[3].rfind("P003,0,", 0), 0u);
  // Soft-tissue masses only: the bone criteria do not apply (NA), which is not "not evaluable" (NE).
  const auto header = csvFields(rows[0]);
  ASSERT_GE(header.size(), 11u);
  ASSERT_EQ(header[9], "mda_bone");
  ASSERT_EQ(header[10], "inverse_choi");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto fields = csvFields(rows[i]);
    ASSERT_GE(fields.size(), 11u) << rows[i];
    EXPECT_EQ(fields[9], "NA") << rows[i];
    EXPECT_EQ(fields[10], "NA") << rows[i];
  }
  const std::string failures = slurp(out / "failures.csv");
  EXPECT_NE(failures.find("P002"), std::string::npos) << failures;
  EXPECT_NE(failures.find(s_Truncated), std::string::npos) << "the failure names the truncated file:\n" << failures;
  EXPECT_NE(failures.find("P404"), std::string::npos) << failures;
  EXPECT_NE(failures.find("holds no patient"), std::string::npos) << failures;

  // Every time point has its DICOM SEG and SR (to push back to the PACS) and its HTML report.
  std::size_t bundles = 0;
  for (const auto& e : fs::directory_iterator(out / "patients" / "P001" / "timepoints")) {
    for (const char* file : {"seg.dcm", "sr.dcm", "report.html"}) {
      EXPECT_GT(fs::file_size(e.path() / file), 1000u) << e.path() / file;
    }
    ++bundles;
  }
  EXPECT_EQ(bundles, 2u);

  // Each patient alone gives exactly the batch's rows.
  std::string alone = lines(results)[0] + "\n";
  for (const char* id : {"P001", "P003"}) {
    const fs::path folder = *s_Dir / "alone" / id;
    const auto r = test::runProcess({"lesionkit", "patient", "--db", (*s_Dir / "archive.sqlite").string(), "--patient", id,
                                     "--manifest", (*s_Dir / "lesions.csv").string(), "-o", folder.string(), "-q"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto own = lines(slurp(folder / "results.csv"));
    for (std::size_t i = 1; i < own.size(); ++i) alone += own[i] + "\n";
  }
  EXPECT_EQ(alone, results);
  // P002 alone fails the same way: exit 2 (bad input), naming the file, no folder left.
  const auto r = test::runProcess({"lesionkit", "patient", "--db", (*s_Dir / "archive.sqlite").string(), "--patient",
                                   "P002", "--manifest", (*s_Dir / "lesions.csv").string(), "-o",
                                   (*s_Dir / "alone" / "P002").string(), "-q"});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find(s_Truncated), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(*s_Dir / "alone" / "P002"));
}

TEST_F(Batch, KilledPartWayResumesWithoutRecomputingAndChangedParametersRecompute) {
  const fs::path reference = referenceRun();
  const fs::path db = freshIndex("killed");
  const fs::path out = *s_Dir / "killed";
  const auto args = batchArgs(db, out);
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    const std::string program = (test::binaryDir() / "lesionkit").string();
    argv.push_back(const_cast<char*>(program.c_str()));
    for (std::size_t i = 1; i < args.size(); ++i) argv.push_back(const_cast<char*>(args[i].c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Kill the batch once the first patient is finished (and the second is under way).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  int status = 0;
  bool exited = false;
  while (!fs::exists(out / "patients" / "P001" / "job.json") && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(WIFSIGNALED(status)) << "the batch ended before P001 was done, with status " << status;
  ASSERT_TRUE(fs::exists(out / "patients" / "P001" / "job.json"));
  EXPECT_FALSE(fs::exists(out / "results.csv"));
  {
    // The job table as the kill left it: the whole plan recorded up front (P003 pending or
    // running), nothing "done" without its folder.
    const auto jobs = test::runProcess({"/usr/bin/python3", "-c",
                                        "import sqlite3,sys; print(dict(sqlite3.connect(sys.argv[1]).execute("
                                        "'select job_key, state from jobs').fetchall()))",
                                        db.string()});
    EXPECT_NE(jobs.out.find("'P003': "), std::string::npos) << jobs.out << jobs.err;
    EXPECT_EQ(jobs.out.find("'P003': 'done'"), std::string::npos) << jobs.out;
  }
  const auto finishedAt = fs::last_write_time(out / "patients" / "P001" / "job.json");

  const auto rerun = test::runProcess(batchArgs(db, out));
  EXPECT_EQ(rerun.exitCode, 4) << rerun.err; // P002 and P404 fail again
  EXPECT_NE(rerun.out.find("1 reused"), std::string::npos) << rerun.out;
  EXPECT_EQ(fs::last_write_time(out / "patients" / "P001" / "job.json"), finishedAt) << "P001 was recomputed";
  EXPECT_EQ(slurp(out / "results.csv"), slurp(reference / "results.csv"));
  // No staging folder of a killed patient process is left behind.
  for (const auto& e : fs::directory_iterator(out / "patients")) {
    EXPECT_EQ(e.path().filename().string().find(".part-"), std::string::npos) << e.path();
  }
  // A third run computes nothing: everything finished is reused, failures are retried and fail again.
  const auto third = test::runProcess(batchArgs(db, out));
  EXPECT_NE(third.out.find("0 computed, 2 reused"), std::string::npos) << third.out;

  // A lesion moved by half a millimetre in the manifest: only its patient is recomputed.
  std::string manifest;
  for (const std::string& line : lines(slurp(*s_Dir / "lesions.csv"))) {
    if (line.rfind("P003,", 0) != 0) {
      manifest += line + "\n";
      continue;
    }
    std::vector<std::string> f;
    std::istringstream in(line);
    for (std::string field; std::getline(in, field, ',');) f.push_back(field);
    ASSERT_EQ(f.size(), 8u) << line;
    f[6] = std::to_string(std::stod(f[6]) + 0.5); // z
    for (std::size_t i = 0; i < f.size(); ++i) manifest += f[i] + (i + 1 < f.size() ? "," : "\n");
  }
  std::ofstream(*s_Dir / "lesions-changed.csv") << manifest;
  auto changed = batchArgs(db, out);
  changed[5] = (*s_Dir / "lesions-changed.csv").string();
  const auto fourth = test::runProcess(changed);
  EXPECT_EQ(fourth.exitCode, 4) << fourth.err;
  EXPECT_NE(fourth.out.find("1 computed, 1 reused"), std::string::npos) << fourth.out;
}

// Exit 0 only when every patient of the run has results of its parameters; otherwise 4 (the run
// finished: results.csv holds the others, failures.csv the rest), for a batch, a shard and --collect.
TEST_F(Batch, ExitsZeroOnlyWhenEveryPatientHasResults) {
  const fs::path reference = referenceRun();
  const fs::path out = *s_Dir / "complete";
  fs::copy(reference, out, fs::copy_options::recursive);
  std::string good; // the manifest without P002 (damaged) and P404 (not indexed)
  for (const std::string& line : lines(slurp(*s_Dir / "lesions.csv"))) {
    if (line.rfind("P002,", 0) != 0 && line.rfind("P404,", 0) != 0)
      good += line + "\n";
  }
  std::ofstream(*s_Dir / "lesions-good.csv") << good;
  const fs::path db = freshIndex("complete");
  auto goodArgs = batchArgs(db, out);
  goodArgs[5] = (*s_Dir / "lesions-good.csv").string();
  auto with = [](std::vector<std::string> args, std::initializer_list<std::string> more) {
    args.insert(args.end(), more);
    return args;
  };
  const std::string header = "patient_id,error\n";

  const auto clean = test::runProcess(goodArgs);
  EXPECT_EQ(clean.exitCode, 0) << clean.out << clean.err;
  EXPECT_EQ(clean.err, "");
  EXPECT_NE(clean.out.find("0 computed, 2 reused (unchanged), 0 failed"), std::string::npos) << clean.out;
  EXPECT_EQ(slurp(out / "results.csv"), slurp(reference / "results.csv"));
  EXPECT_EQ(slurp(out / "failures.csv"), header);
  const auto cleanCollect = test::runProcess(with(goodArgs, {"--collect"}));
  EXPECT_EQ(cleanCollect.exitCode, 0) << cleanCollect.out << cleanCollect.err;
  EXPECT_EQ(slurp(out / "failures.csv"), header);

  // --collect over the whole manifest: P002 has no folder (its batch failed it), P404 is not indexed.
  const auto collect = test::runProcess(with(batchArgs(db, out), {"--collect"}));
  EXPECT_EQ(collect.exitCode, 4) << collect.out << collect.err;
  EXPECT_NE(collect.err.find("2 of 4 patients failed"), std::string::npos) << collect.err;
  EXPECT_NE(collect.err.find((out / "failures.csv").string()), std::string::npos) << collect.err;
  EXPECT_EQ(slurp(out / "results.csv"), slurp(reference / "results.csv"));
  const auto collected = lines(slurp(out / "failures.csv"));
  ASSERT_EQ(collected.size(), 3u) << slurp(out / "failures.csv");
  EXPECT_EQ(collected[1].rfind("P002,", 0), 0u) << collected[1];
  EXPECT_NE(collected[1].find("no results in '" + (out / "patients" / "P002").string() + "'"), std::string::npos)
      << collected[1];
  EXPECT_NE(collected[2].find("P404"), std::string::npos) << collected[2];

  // Shards: 0/2 is P001 and P003 (done), 1/2 is P002 and P404 (failing).
  const auto shard0 = test::runProcess(with(batchArgs(db, out), {"--shard", "0/2"}));
  EXPECT_EQ(shard0.exitCode, 0) << shard0.out << shard0.err;
  const auto shard1 = test::runProcess(with(batchArgs(db, out), {"--shard", "1/2"}));
  EXPECT_EQ(shard1.exitCode, 4) << shard1.out << shard1.err;
  EXPECT_NE(shard1.err.find("2 of 2 patients failed"), std::string::npos) << shard1.err;
  EXPECT_NE(shard1.err.find((out / "failures.shard-1-of-2.csv").string()), std::string::npos) << shard1.err;

  // P003 being run by another batch (which holds its lock): left to it, so this run is not complete.
  fs::remove_all(out / "patients" / "P003");
  const int lock = open((out / "logs" / "P003.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(flock(lock, LOCK_EX | LOCK_NB), 0);
  const auto busy = test::runProcess(goodArgs);
  close(lock);
  EXPECT_EQ(busy.exitCode, 4) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("1 of 2 patients failed"), std::string::npos) << busy.err;
  const auto left = lines(slurp(out / "failures.csv"));
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[1].rfind("P003,", 0), 0u) << left[1];
  EXPECT_NE(left[1].find("being run by another batch"), std::string::npos) << left[1];
}

TEST_F(Batch, SnakemakeWorkflowGivesTheSameResults) {
  if (std::system("command -v snakemake > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "snakemake not installed (Debian package snakemake; scripts/install-deps.sh installs it)";
  }
  const fs::path reference = referenceRun();
  const fs::path work = *s_Dir / "snakemake";
  fs::create_directories(work);
  const fs::path snakefile = fs::path(LESIONKIT_SOURCE_DIR) / "workflow" / "Snakefile";
  const auto r = test::runProcess(
      {"snakemake", "-s", snakefile.string(), "--cores", "2", "-d", work.string(), "-q", "--config",
       "db=" + (*s_Dir / "archive.sqlite").string(), "manifest=" + (*s_Dir / "lesions.csv").string(),
       "out=" + (work / "results").string(), "lesionkit=" + (test::binaryDir() / "lesionkit").string()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(slurp(work / "results" / "results.csv"), slurp(reference / "results.csv"));
  const std::string failures = slurp(work / "results" / "failures.csv");
  for (const char* id : {"P002", "P404"}) EXPECT_NE(failures.find(id), std::string::npos) << failures;
}

TEST(BatchCli, WrongArgumentsAndBadInputsGetTheirExitCodes) {
  test::ScratchFolder dir;
  std::ofstream(dir / "text.sqlite") << "not a database, but long enough to be read as one by SQLite\n";
  std::ofstream(dir / "m.csv") << "patient_id,kind,x1,y1,z1\nP1,soft-tissue,1,2,3\n";
  struct Case {
    std::vector<std::string> args;
    int exitCode;
    std::string mentions;
  };
  const std::vector<Case> cases{
      {{"index", (dir / "missing").string(), "--db", (dir / "a.sqlite").string()}, 2, "missing"},
      {{"index", (dir / "missing").string(), "--db", (dir / "text.sqlite").string()}, 2, "missing"},
      {{"index", dir.path().string(), "--db", (dir / "text.sqlite").string()}, 2, "text.sqlite"},
      {{"series"}, 1, "either a DICOM folder or --db"},
      {{"series", "--db", (dir / "none.sqlite").string()}, 2, "none.sqlite"},
      {{"batch", "--db", (dir / "a.sqlite").string(), "-o", (dir / "out").string()}, 1, "--manifest"},
      {{"batch", "--db", (dir / "a.sqlite").string(), "--auto", "--manifest", (dir / "m.csv").string(), "-o",
        (dir / "out").string()}, 1, "--manifest"},
      {{"batch", "--db", (dir / "a.sqlite").string(), "--auto", "-o", (dir / "out").string(), "--shard", "2/2"}, 1, "--shard"},
      {{"patient", "--db", (dir / "text.sqlite").string(), "--patient", "P1", "--manifest", (dir / "m.csv").string(), "-o",
        (dir / "p1").string()}, 2, "text.sqlite"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{"lesionkit"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const auto r = test::runProcess(argv);
    EXPECT_EQ(r.exitCode, c.exitCode) << c.args.front() << ": " << r.err;
    EXPECT_NE(r.err.find(c.mentions), std::string::npos) << c.args.front() << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir / "p1"));
  EXPECT_FALSE(fs::exists(dir / "out" / "results.csv"));
  // A failed index creates no database and leaves an existing file as it was.
  EXPECT_FALSE(fs::exists(dir / "a.sqlite"));
  EXPECT_EQ(slurp(dir / "text.sqlite"), "not a database, but long enough to be read as one by SQLite\n");
}

// A manifest's seed outside the baseline scan is bad input (exit 2), as `lesionkit segment` says for
// the same seed; the patient run reported it as a processing failure (exit 3).
TEST(BatchCli, APatientRunRefusesASeedOutsideTheScanAsBadInput) {
  test::ScratchFolder dir;
  ASSERT_EQ(test::runProcess({"lesionkit", "phantom", (dir / "ct").string(), "--patient-id", "P020", "--time-points",
                              "1", "--voxel-size", "2", "--slice-thickness", "4", "-q"})
                .exitCode,
            0);
  ASSERT_EQ(test::runProcess({"lesionkit", "index", (dir / "ct").string(), "--db", (dir / "a.sqlite").string(), "-q"})
                .exitCode,
            0);
  std::ofstream(dir / "m.csv") << "patient_id,lesion,kind,init,x1,y1,z1\nP020,axilla,soft-tissue,seed,-128,-10,900\n";
  const auto r = test::runProcess({"lesionkit", "patient", "--db", (dir / "a.sqlite").string(), "--patient", "P020",
                                   "--manifest", (dir / "m.csv").string(), "-o", (dir / "out").string(), "-q"});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("patient 'P020', lesion 'axilla' (soft-tissue): soft-tissue segmentation: the seed (-128.0, "
                       "-10.0, 900.0) (LPS mm) lies outside the volume"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// The patient run judges RECIST measurability as lesionkit measure does: with the series' Slice
// Thickness (20 mm here, on slices 2 mm apart), under which the 32 mm axillary mass (>= 10 mm, 2 x the
// spacing) is not measurable (< 40 mm), so it is followed but is no RECIST target.
TEST(BatchCli, APatientRunJudgesMeasurabilityWithTheSeriesSliceThickness) {
  test::ScratchFolder dir;
  const Vec3 mass = writePatient(dir / "archive", "P010", 1, 10);
  for (const auto& e : fs::recursive_directory_iterator(dir / "archive")) {
    if (e.path().extension() != ".dcm" || e.path().parent_path().filename().string().rfind("CT_", 0) != 0)
      continue;
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(e.path().c_str()).good()) << e.path();
    file.loadAllDataIntoMemory(); // the pixels are read lazily: saving over the file would truncate them
    file.getDataset()->putAndInsertString(DCM_SliceThickness, "20");
    ASSERT_TRUE(file.saveFile(e.path().c_str()).good()) << e.path();
  }
  std::ofstream(dir / "lesions.csv") << "patient_id,lesion,kind,init,x1,y1,z1,target\nP010,axilla,soft-tissue,seed,"
                                     << mass.x << ',' << mass.y << ',' << mass.z << ",yes\n";
  ASSERT_EQ(
      test::runProcess({"lesionkit", "index", (dir / "archive").string(), "--db", (dir / "a.sqlite").string(), "-q"})
          .exitCode,
      0);
  const auto r = test::runProcess({"lesionkit", "patient", "--db", (dir / "a.sqlite").string(), "--patient", "P010",
                                   "--manifest", (dir / "lesions.csv").string(), "-o", (dir / "out").string(), "-q"});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  const auto rows = lines(slurp(dir / "out" / "results.csv"));
  ASSERT_EQ(rows.size(), 2u);
  const auto header = csvFields(rows[0]), fields = csvFields(rows[1]);
  const auto column = [&](const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name);
    return at == header.end() || std::size_t(at - header.begin()) >= fields.size() ? std::string("(none)")
                                                                                   : fields[at - header.begin()];
  };
  EXPECT_EQ(column("recist_target"), "no") << rows[1];
  EXPECT_EQ(column("measurable"), "false") << rows[1];
  EXPECT_DOUBLE_EQ(std::stod(column("slice_thickness_mm")), 20.0) << rows[1];
  EXPECT_GT(std::stod(column("long_axis_mm")), 10.0) << rows[1]; // measurable by the spacing
  EXPECT_EQ(column("recist_1_1"), "NA") << rows[1];
  const nlohmann::json timeline = nlohmann::json::parse(slurp(dir / "out" / "timeline.json"));
  EXPECT_EQ(timeline.at("timepoints").at(0).at("sliceThicknessSource"), "dicom");
  EXPECT_DOUBLE_EQ(timeline.at("timepoints").at(0).at("sliceThicknessMm").get<double>(), 20.0);
}

// --auto screens the spine by HU: an MR patient is refused (and recorded by a batch), not labelled.
TEST(BatchCli, AutoScreeningRefusesAnMrPatient) {
  test::ScratchFolder dir;
  ASSERT_EQ(test::runProcess({"lesionkit", "phantom", (dir / "mr").string(), "--contrast", "mr", "--time-points", "1",
                              "--voxel-size", "2", "--slice-thickness", "4", "-q"})
                .exitCode,
            0);
  ASSERT_EQ(test::runProcess({"lesionkit", "index", (dir / "mr").string(), "--db", (dir / "mr.sqlite").string(), "-q"})
                .exitCode,
            0);
  const auto r = test::runProcess({"lesionkit", "patient", "--db", (dir / "mr.sqlite").string(), "--patient",
                                   "LKPHANTOM01", "--auto", "-o", (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("--auto screens the spine for lytic lesions on CT in HU; the baseline series"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(" is MR"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// Two people under one PatientID (another name on a later study): index and series warn naming
// both, the patient run refuses (exit 2), and a batch records why instead of merging them.
TEST(BatchCli, TwoPeopleUnderOnePatientIdAreToldAndRefused) {
  test::ScratchFolder dir;
  const Vec3 mass = writePatient(dir / "archive", "P001", 1, 1);
  phantom::PhantomOptions other;
  other.patientId = "P001";
  other.patientName = "Other^Person";
  other.baselineDate = "20240301";
  other.timePoints = 1;
  other.supersampling = 1;
  other.pixelSizeMm = 3.0;
  other.zFromMm = mass.z - 10.0;
  other.zToMm = mass.z + 10.0;
  (void)phantom::writePhantomStudy(phantom::generatePhantomStudy(other), dir / "archive" / "other");
  std::ofstream(dir / "lesions.csv") << "patient_id,lesion,kind,init,x1,y1,z1,target\nP001,axilla,soft-tissue,seed,"
                                     << mass.x << ',' << mass.y << ',' << mass.z << ",yes\n";
  const std::string db = (dir / "a.sqlite").string();
  const auto index = test::runProcess({"lesionkit", "index", (dir / "archive").string(), "--db", db});
  ASSERT_EQ(index.exitCode, 0) << index.err;
  const std::string people = "PatientID 'P001' is used by 2 people: 'Phantom^Lesionkit' born 19560301 (study ";
  EXPECT_NE(index.err.find("lesionkit index: warning: " + people), std::string::npos) << index.err;
  EXPECT_NE(index.err.find("'Other^Person' born 19560301 (study "), std::string::npos) << index.err;
  EXPECT_NE(index.err.find((dir / "archive" / "other").string()), std::string::npos) << index.err;
  const auto series = test::runProcess({"lesionkit", "series", "--db", db, "--patient", "P001"});
  EXPECT_EQ(series.exitCode, 0) << series.err;
  EXPECT_NE(series.err.find("lesionkit series: warning: " + people), std::string::npos) << series.err;

  const auto patient = test::runProcess({"lesionkit", "patient", "--db", db, "--patient", "P001", "--manifest",
                                         (dir / "lesions.csv").string(), "-o", (dir / "out").string()});
  EXPECT_EQ(patient.exitCode, 2) << patient.err;
  EXPECT_NE(patient.err.find("patient 'P001': whose scans these are is in doubt: " + people), std::string::npos)
      << patient.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
  const auto batch = test::runProcess({"lesionkit", "batch", "--db", db, "--manifest", (dir / "lesions.csv").string(),
                                       "-o", (dir / "batch").string(), "-q"});
  EXPECT_EQ(batch.exitCode, 4) << batch.err;
  EXPECT_NE(slurp(dir / "batch" / "failures.csv").find(people), std::string::npos)
      << slurp(dir / "batch" / "failures.csv");
}

// A study without StudyDate sorted first and became the baseline: it is left out, named in the
// patient's notes (stderr, job.json, timeline.json), and the dated study is the baseline.
TEST(BatchCli, AnUndatedStudyIsLeftOutOfThePatientsTimeline) {
  test::ScratchFolder dir;
  const Vec3 mass = writePatient(dir / "archive", "P001", 2, 1);
  fs::path followup;
  for (const auto& e : fs::recursive_directory_iterator(dir / "archive")) {
    if (e.path().filename() == "CT_01" && e.path().string() > followup.string())
      followup = e.path();
  }
  for (const auto& e : fs::directory_iterator(followup)) {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(e.path().c_str()).good()) << e.path();
    file.loadAllDataIntoMemory(); // the pixels are read lazily: saving over the file would truncate them
    file.getDataset()->findAndDeleteElement(DCM_StudyDate);
    ASSERT_TRUE(file.saveFile(e.path().c_str()).good()) << e.path();
  }
  std::ofstream(dir / "lesions.csv") << "patient_id,lesion,kind,init,x1,y1,z1,target\nP001,axilla,soft-tissue,seed,"
                                     << mass.x << ',' << mass.y << ',' << mass.z << ",yes\n";
  const std::string db = (dir / "a.sqlite").string();
  ASSERT_EQ(test::runProcess({"lesionkit", "index", (dir / "archive").string(), "--db", db, "-q"}).exitCode, 0);
  const auto r = test::runProcess({"lesionkit", "patient", "--db", db, "--patient", "P001", "--manifest",
                                   (dir / "lesions.csv").string(), "-o", (dir / "out").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string note = "in '" + followup.string() + "': left out of the timeline: no StudyDate (0008,0020)";
  EXPECT_NE(r.err.find(note), std::string::npos) << r.err;
  const auto rows = lines(slurp(dir / "out" / "results.csv"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].rfind("P001,0,20240115,", 0), 0u) << rows[1];
  const nlohmann::json job = nlohmann::json::parse(slurp(dir / "out" / "job.json"));
  ASSERT_EQ(job.at("warnings").size(), 1u);
  EXPECT_NE(job.at("warnings")[0].get<std::string>().find(note), std::string::npos) << job.dump();
  EXPECT_NE(slurp(dir / "out" / "timeline.json").find(note), std::string::npos);
}
