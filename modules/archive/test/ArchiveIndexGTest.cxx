// Archive index: indexing a phantom archive, re-indexing (unchanged / changed / removed files),
// series checks and ranking, index files of other programs, folder vs index listings, and the
// temporary files an interrupted write leaves.
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;
using namespace lesion::archive;

namespace {

std::vector<fs::path> dicomFilesIn(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    if (e.path().extension() == ".dcm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Copies `source` to `target` as an instance of a new series (`seriesUid`, number
/// `seriesNumber`), with a new SOP Instance UID and, when given, a new Image Type.
void copyIntoSeries(const fs::path& source, const fs::path& target, const std::string& seriesUid, int seriesNumber,
                    const std::string& imageType = {}) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(source.c_str()).good());
  DcmDataset* ds = file.getDataset();
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  ds->putAndInsertString(DCM_SOPInstanceUID, uid);
  file.getMetaInfo()->putAndInsertString(DCM_MediaStorageSOPInstanceUID, uid);
  ds->putAndInsertString(DCM_SeriesInstanceUID, seriesUid.c_str());
  ds->putAndInsertString(DCM_SeriesNumber, std::to_string(seriesNumber).c_str());
  if (!imageType.empty()) ds->putAndInsertString(DCM_ImageType, imageType.c_str());
  fs::create_directories(target.parent_path());
  ASSERT_TRUE(file.saveFile(target.c_str(), EXS_LittleEndianExplicit).good());
}

std::string newUid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT);
}

/// A small two-time-point phantom archive plus, in the baseline study, a localizer and a
/// thick-slice copy of the CT, and a non-DICOM file.
class ArchiveIndex : public ::testing::Test {
protected:
  void SetUp() override {
    const phantom::PhantomAnatomy a = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
    phantom::PhantomOptions o;
    o.timePoints = 2;
    o.pixelSizeMm = 3.0;
    o.sliceThicknessMm = 2.0;
    o.supersampling = 1;
    o.threads = 2;
    o.zFromMm = a.lyticLesion.centre.z - 15.0;
    o.zToMm = a.lyticLesion.centre.z + 15.0;
    const phantom::PhantomOutputFiles written = phantom::writePhantomStudy(phantom::generatePhantomStudy(o), m_Dir / "archive");
    m_Baseline = m_Dir / "archive" / written.seriesFolders[0];
    m_BaselineFiles = dicomFilesIn(m_Baseline);
    ASSERT_GE(m_BaselineFiles.size(), 10u);
    m_CtFileCount = written.dicomFileCount;
    // Localizer: one slice relabelled; thick series: every third slice.
    copyIntoSeries(m_BaselineFiles[m_BaselineFiles.size() / 2], m_Baseline.parent_path() / "scout" / "IM0001.dcm",
                   newUid(), 90, "ORIGINAL\\PRIMARY\\LOCALIZER");
    const std::string thickUid = newUid();
    for (std::size_t i = 0; i < m_BaselineFiles.size(); i += 3) {
      copyIntoSeries(m_BaselineFiles[i], m_Baseline.parent_path() / "thick" / m_BaselineFiles[i].filename(), thickUid, 3);
      ++m_ThickCount;
    }
    std::ofstream(m_Dir / "archive" / "notes.txt") << "not a DICOM file\n";
  }

  test::ScratchFolder m_Dir{"lesionkit-archive"};
  fs::path m_Baseline;
  /// What a killed `lesionkit pull` leaves beside the complete files: half of the first slice under
  /// writeFileAtomically's hidden temporary name.
  fs::path writeInterruptedLeftover() const {
    const fs::path slice = m_BaselineFiles.front();
    const fs::path leftover = slice.parent_path() / ".IM0001.part-4242-0.dcm";
    fs::copy_file(slice, leftover);
    fs::resize_file(leftover, fs::file_size(slice) / 2);
    return leftover;
  }

  std::vector<fs::path> m_BaselineFiles;
  std::size_t m_CtFileCount{0};
  std::size_t m_ThickCount{0};
};

const SeriesRecord& rankedFirst(const StudyRecord& study) {
  EXPECT_FALSE(study.series.empty());
  return study.series.front();
}

} // namespace

TEST_F(ArchiveIndex, IndexesRanksAndReindexesOnlyWhatChanged) {
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary first = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(first.instancesAdded, m_CtFileCount + 1 + m_ThickCount);
  EXPECT_EQ(first.filesNew, first.filesFound);
  EXPECT_EQ(first.filesFound, first.instancesAdded + first.skipped.size());
  EXPECT_TRUE(std::any_of(first.skipped.begin(), first.skipped.end(),
                          [](const dicomio::SkippedFile& s) { return s.path.filename() == "notes.txt" && !s.reason.empty(); }));
  EXPECT_EQ(first.patientsTotal, 1u);
  EXPECT_EQ(first.studiesTotal, 2u);
  EXPECT_EQ(first.seriesTotal, 4u); // 2 CT + scout + thick

  std::vector<StudyRecord> studies = catalogDatabase(db);
  ASSERT_EQ(studies.size(), 2u);
  EXPECT_LT(studies[0].studyDate, studies[1].studyDate);
  const StudyRecord baseline = studies[0];
  ASSERT_EQ(baseline.series.size(), 3u);
  const SeriesRecord best = rankedFirst(baseline);
  EXPECT_EQ(best.rank, 1);
  EXPECT_EQ(best.sliceCount, m_BaselineFiles.size());
  EXPECT_EQ(best.orientation, "axial");
  EXPECT_NEAR(best.sliceStepMm, 2.0, 1e-6);
  EXPECT_NEAR(best.coverageMm, 2.0 * double(m_BaselineFiles.size() - 1), 1e-6);
  EXPECT_NEAR(best.pixelSpacingRowMm, 3.0, 1e-9);
  EXPECT_EQ(best.gapCount, 0);
  EXPECT_NE(best.rankReason.find("full coverage"), std::string::npos) << best.rankReason;
  const SeriesRecord& thick = baseline.series[1];
  EXPECT_EQ(thick.rank, 2);
  EXPECT_NEAR(thick.sliceStepMm, 6.0, 1e-6);
  EXPECT_LT(thick.suitability, best.suitability);
  EXPECT_NE(thick.rankReason.find("thick"), std::string::npos) << thick.rankReason;
  const SeriesRecord& scout = baseline.series[2];
  EXPECT_EQ(scout.rank, 0);
  EXPECT_EQ(scout.rankReason, "never: localizer");

  // Nothing changed: nothing is read again.
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(again.filesUnchanged, first.filesFound);
  EXPECT_EQ(again.filesNew + again.filesChanged + again.filesRemoved + again.instancesAdded, 0u);
  EXPECT_EQ(again.seriesChecked, 0u);

  // One slice rewritten (new mtime), one middle slice removed: the series shows the gap.
  const fs::path rewritten = m_BaselineFiles.front();
  fs::last_write_time(rewritten, fs::last_write_time(rewritten) + std::chrono::seconds(5));
  fs::remove(m_BaselineFiles[m_BaselineFiles.size() / 2 + 1]);
  const IndexSummary third = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(third.filesChanged, 1u);
  EXPECT_EQ(third.filesRemoved, 1u);
  EXPECT_EQ(third.instancesAdded, 1u);
  EXPECT_EQ(third.seriesChecked, 1u);
  studies = catalogDatabase(db, {"", baseline.studyInstanceUid});
  ASSERT_EQ(studies.size(), 1u);
  const SeriesRecord& gapped = studies[0].series.front();
  EXPECT_EQ(gapped.seriesId, best.seriesId);
  EXPECT_EQ(gapped.sliceCount, m_BaselineFiles.size() - 1);
  EXPECT_EQ(gapped.gapCount, 1);
  EXPECT_NE(gapped.rankReason.find("gap"), std::string::npos) << gapped.rankReason;

  // The whole follow-up study removed: its study disappears, the patient stays.
  fs::remove_all(dicomFilesIn(m_Dir / "archive").back().parent_path());
  const IndexSummary fourth = indexArchive(db, m_Dir / "archive");
  EXPECT_GT(fourth.filesRemoved, 0u);
  EXPECT_EQ(fourth.studiesTotal, 1u);
  EXPECT_EQ(fourth.patientsTotal, 1u);
}

TEST_F(ArchiveIndex, FolderListingMatchesTheIndex) {
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  const std::vector<StudyRecord> fromIndex = catalogDatabase(ArchiveDatabase(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadOnly));
  const std::vector<StudyRecord> fromFolder = catalogFolder(m_Dir / "archive");
  ASSERT_EQ(fromIndex.size(), fromFolder.size());
  for (std::size_t i = 0; i < fromIndex.size(); ++i) {
    ASSERT_EQ(fromIndex[i].series.size(), fromFolder[i].series.size());
    for (std::size_t k = 0; k < fromIndex[i].series.size(); ++k) {
      const SeriesRecord& a = fromIndex[i].series[k];
      const SeriesRecord& b = fromFolder[i].series[k];
      EXPECT_EQ(a.seriesId, b.seriesId);
      EXPECT_EQ(a.rank, b.rank);
      EXPECT_EQ(a.sliceCount, b.sliceCount);
      EXPECT_DOUBLE_EQ(a.coverageMm, b.coverageMm);
      EXPECT_EQ(a.rankReason, b.rankReason);
    }
  }
  // The JSON listing carries the checks.
  const nlohmann::json j = nlohmann::json::parse(catalogToJson(fromIndex));
  EXPECT_EQ(j.at(0).at("series").at(0).at("rank"), 1);
  EXPECT_EQ(j.at(0).at("series").at(0).at("orientation"), "axial");
  // The index rebuilds the instances of a series exactly.
  const auto instances = indexedInstancesOfSeries(db, fromIndex[0].series[0].seriesInstanceUid);
  const auto scanned = dicomio::scanDicomFolder(m_Baseline).instances;
  ASSERT_EQ(instances.size(), scanned.size());
  for (std::size_t i = 0; i < instances.size(); ++i) {
    EXPECT_EQ(instances[i].sopInstanceUid, scanned[i].sopInstanceUid);
    ASSERT_TRUE(instances[i].frames[0].imagePositionPatient && scanned[i].frames[0].imagePositionPatient);
    EXPECT_DOUBLE_EQ(instances[i].frames[0].imagePositionPatient->z, scanned[i].frames[0].imagePositionPatient->z);
    EXPECT_EQ(instances[i].frames[0].rescaleIntercept, scanned[i].frames[0].rescaleIntercept);
    EXPECT_EQ(instances[i].imageType, scanned[i].imageType);
  }
}

TEST(ArchiveDatabaseFile, RefusesFilesThatAreNotOurIndex) {
  test::ScratchFolder dir;
  EXPECT_THROW(ArchiveDatabase(dir / "missing.sqlite", ArchiveDatabase::Access::ReadOnly), InputError);
  std::ofstream(dir / "text.sqlite") << "this is not an SQLite database, just some text that is long enough\n";
  try {
    ArchiveDatabase db(dir / "text.sqlite", ArchiveDatabase::Access::ReadWrite);
    FAIL() << "a text file was accepted as an index";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text.sqlite"), std::string::npos) << e.what();
  }
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.sqlite").c_str(), &other), SQLITE_OK);
  sqlite3_exec(other, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  try {
    ArchiveDatabase db(dir / "other.sqlite", ArchiveDatabase::Access::ReadWrite);
    FAIL() << "another program's database was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("another program"), std::string::npos) << e.what();
  }
  // A read-only index cannot be written.
  { ArchiveDatabase created(dir / "ok.sqlite", ArchiveDatabase::Access::ReadWrite); }
  ArchiveDatabase readOnly(dir / "ok.sqlite", ArchiveDatabase::Access::ReadOnly);
  EXPECT_THROW((void)indexArchive(readOnly, dir.path()), InputError);
}

TEST_F(ArchiveIndex, AnInterruptedWritesTemporaryFileIsNotADamagedSlice) {
  // A leftover of an interrupted write is skipped; a truncated file under its own name is damaged.
  const fs::path slice = m_BaselineFiles.front();
  const fs::path leftover = writeInterruptedLeftover();
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  const auto skipped = std::find_if(s.skipped.begin(), s.skipped.end(),
                                    [&](const dicomio::SkippedFile& f) { return f.path == leftover; });
  ASSERT_NE(skipped, s.skipped.end());
  EXPECT_NE(skipped->reason.find("unfinished temporary file"), std::string::npos) << skipped->reason;
  const std::string seriesUid = catalogDatabase(db).front().series.front().seriesInstanceUid;
  EXPECT_TRUE(damagedFilesBeside(db, seriesUid).empty()) << damagedFilesBeside(db, seriesUid).front().reason;

  fs::copy_file(slice, slice.parent_path() / "IM9999.dcm");
  fs::resize_file(slice.parent_path() / "IM9999.dcm", fs::file_size(slice) / 2);
  (void)indexArchive(db, m_Dir / "archive");
  ASSERT_EQ(damagedFilesBeside(db, seriesUid).size(), 1u);
  EXPECT_EQ(damagedFilesBeside(db, seriesUid).front().path.filename(), "IM9999.dcm");
}

// An index of an earlier version called such a leftover damaged; unchanged, it is judged again (a
// damaged verdict otherwise stays while the file does not change).
TEST_F(ArchiveIndex, ATemporaryFileAnEarlierIndexCalledDamagedIsJudgedAgain) {
  const fs::path leftover = writeInterruptedLeftover();
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  const std::string update = "UPDATE files SET damaged = 1, skipped_reason = 'damaged DICOM file' WHERE path = '" +
                             fs::absolute(leftover).lexically_normal().string() + "'";
  ASSERT_EQ(sqlite3_exec(db.handle(), update.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_changes(db.handle()), 1) << "the leftover's row";
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  const auto skipped = std::find_if(again.skipped.begin(), again.skipped.end(), [&](const dicomio::SkippedFile& f) {
    return f.path.filename() == leftover.filename();
  });
  ASSERT_NE(skipped, again.skipped.end()) << "not read again";
  EXPECT_NE(skipped->reason.find("unfinished temporary file"), std::string::npos) << skipped->reason;
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.handle(), "SELECT count(*) FROM files WHERE damaged = 1", -1, &q, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 0);
  sqlite3_finalize(q);
}

TEST_F(ArchiveIndex, FilesInTheStagingFolderOfAKilledWriteAreNotIndexed) {
  // A killed staged write (a pull into a new folder) leaves its hidden .NAME.part-PID-N/ folder
  // with complete-looking files: copies, not instances of the archive.
  const fs::path slice = m_BaselineFiles.front();
  const fs::path staged = slice.parent_path() / ".CT.part-4242-1" / slice.filename();
  fs::create_directories(staged.parent_path());
  fs::copy_file(slice, staged);
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  const auto skipped =
      std::find_if(s.skipped.begin(), s.skipped.end(), [&](const dicomio::SkippedFile& f) { return f.path == staged; });
  ASSERT_NE(skipped, s.skipped.end()) << "the staged copy was indexed as an instance";
  EXPECT_NE(skipped->reason.find("unfinished temporary file"), std::string::npos) << skipped->reason;
  EXPECT_EQ(s.instancesAdded, s.filesNew - s.skipped.size());
}

TEST_F(ArchiveIndex, ASeriesWithAGapTheLoaderRefusesIsNeverRanked) {
  // Six slices of 2 mm missing: a 14 mm step, too wide to interpolate across (the loader refuses
  // the series), so the thick copy, complete, is the one to measure.
  for (std::size_t i = 3; i < 9; ++i)
    fs::remove(m_BaselineFiles[i]);
  const StudyRecord baseline = catalogFolder(m_Dir / "archive").front();
  const auto gapped = std::find_if(baseline.series.begin(), baseline.series.end(),
                                   [](const SeriesRecord& s) { return s.gapCount > 0; });
  ASSERT_NE(gapped, baseline.series.end());
  EXPECT_EQ(gapped->rank, 0);
  EXPECT_NE(gapped->rankReason.find("too wide to interpolate"), std::string::npos) << gapped->rankReason;
  EXPECT_NEAR(rankedFirst(baseline).sliceStepMm, 6.0, 1e-6) << rankedFirst(baseline).rankReason;
}

TEST_F(ArchiveIndex, TheIndexInsideTheTreeIsNotAnArchiveFile) {
  ArchiveDatabase db(m_Dir / "archive" / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary first = indexArchive(db, m_Dir / "archive");
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  for (const IndexSummary& s : {first, again}) {
    for (const dicomio::SkippedFile& f : s.skipped)
      EXPECT_EQ(f.path.filename().string().find("index.sqlite"), std::string::npos) << f.reason;
  }
  EXPECT_EQ(again.filesChanged + again.filesNew, 0u) << "the index's own file counted as a changed archive file";
}

TEST_F(ArchiveIndex, ASliceCutToAFewBytesIsADamagedFile) {
  // An interrupted copy: a slice's file empty, another cut inside the preamble. Both are slices the
  // series lost, as a file cut after its header is; an empty text file is nothing of the kind.
  fs::resize_file(m_BaselineFiles[4], 0);
  fs::resize_file(m_BaselineFiles[6], 100);
  std::ofstream(m_Baseline / "empty.txt").close();
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  const std::string seriesUid = catalogDatabase(db).front().series.front().seriesInstanceUid;
  std::vector<std::string> damaged;
  for (const dicomio::SkippedFile& f : damagedFilesBeside(db, seriesUid))
    damaged.push_back(f.path.filename().string());
  std::sort(damaged.begin(), damaged.end());
  EXPECT_EQ(damaged,
            (std::vector<std::string>{m_BaselineFiles[4].filename().string(), m_BaselineFiles[6].filename().string()}));
  const auto empty = std::find_if(s.skipped.begin(), s.skipped.end(),
                                  [&](const dicomio::SkippedFile& f) { return f.path == m_BaselineFiles[4]; });
  ASSERT_NE(empty, s.skipped.end());
  EXPECT_NE(empty->reason.find("truncated DICOM file: 0 bytes"), std::string::npos) << empty->reason;
}

TEST_F(ArchiveIndex, AFileSkippedByAnEarlierIndexIsJudgedAgain) {
  // An index of an earlier version called an empty slice "not a DICOM file" (not damaged): the
  // unchanged file is judged again on the next run, so its series is no longer measured without it.
  fs::resize_file(m_BaselineFiles[4], 0);
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  const std::string update = "UPDATE files SET damaged = 0, skipped_reason = 'not a DICOM file' WHERE path = '" +
                             m_BaselineFiles[4].string() + "'";
  ASSERT_EQ(sqlite3_exec(db.handle(), update.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string seriesUid = catalogDatabase(db).front().series.front().seriesInstanceUid;
  ASSERT_TRUE(damagedFilesBeside(db, seriesUid).empty());

  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(again.filesChanged, 0u);
  const auto damaged = damagedFilesBeside(db, seriesUid);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged.front().path, m_BaselineFiles[4]);
}

TEST_F(ArchiveIndex, DamagedAndSmallSkippedFilesAreReadAgainOtherSkippedFilesKeepTheirVerdict) {
  // Damaged slices (empty, cut after the preamble) are judged on every run, so every summary lists
  // them; small files skipped as not DICOM (an earlier version's verdict on an empty slice) are
  // judged again; a non-DICOM file of 132 bytes or more keeps its verdict while unchanged.
  fs::resize_file(m_BaselineFiles[4], 0);
  fs::resize_file(m_BaselineFiles[6], fs::file_size(m_BaselineFiles[6]) / 2);
  std::ofstream(m_Dir / "archive" / "empty.txt").close();
  std::ofstream(m_Dir / "archive" / "readme.txt") << std::string(200, 'x') << '\n';
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary first = indexArchive(db, m_Dir / "archive");
  const std::string seriesUid = catalogDatabase(db).front().series.front().seriesInstanceUid;
  ASSERT_EQ(damagedFilesBeside(db, seriesUid).size(), 2u);
  // Also skipped: the phantom's truth files (NRRD, NIfTI, JSON) and the output record, all larger.
  ASSERT_GE(first.skipped.size(), 5u); // 2 damaged slices, empty.txt, readme.txt, notes.txt

  const auto sorted = [](std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto namesOf = [&](const std::vector<dicomio::SkippedFile>& files) {
    std::vector<std::string> names;
    for (const dicomio::SkippedFile& f : files)
      names.push_back(f.path.filename().string());
    return sorted(names);
  };
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(again.filesUnchanged, first.filesFound);
  EXPECT_EQ(namesOf(again.skipped), sorted({m_BaselineFiles[4].filename().string(),
                                            m_BaselineFiles[6].filename().string(), "empty.txt", "notes.txt"}));
  EXPECT_EQ(namesOf(damagedFilesBeside(db, seriesUid)),
            sorted({m_BaselineFiles[4].filename().string(), m_BaselineFiles[6].filename().string()}))
      << "a damaged slice read again lost its verdict";

  // Changed, a damaged slice is read again (by its size and modification time, as any file).
  fs::resize_file(m_BaselineFiles[6], 10);
  const IndexSummary changed = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(changed.filesChanged, 1u);
  EXPECT_EQ(namesOf(changed.skipped), sorted({m_BaselineFiles[4].filename().string(),
                                              m_BaselineFiles[6].filename().string(), "empty.txt", "notes.txt"}));
}

namespace {

/// indexArchive run as the unprivileged user; its summary as JSON ({"error": ...} when it threw).
nlohmann::json indexAsUnprivilegedUser(const fs::path& database, const fs::path& root, const fs::path& report) {
  const int code = test::runAsUnprivilegedUser([&] {
    nlohmann::json j;
    try {
      ArchiveDatabase db(database, ArchiveDatabase::Access::ReadWrite);
      const IndexSummary s = indexArchive(db, root);
      j["filesRemoved"] = s.filesRemoved;
      j["studiesTotal"] = s.studiesTotal;
      j["skipped"] = nlohmann::json::array();
      for (const dicomio::SkippedFile& f : s.skipped)
        j["skipped"].push_back({{"path", f.path.string()}, {"reason", f.reason}, {"damaged", f.damaged}});
      j["unreadableFolders"] = nlohmann::json::array();
      for (const UnreadableFolder& f : s.unreadableFolders)
        j["unreadableFolders"].push_back(f.path.string());
    } catch (const std::exception& e) {
      j["error"] = e.what();
    }
    std::ofstream(report) << j.dump();
    return 0;
  });
  EXPECT_EQ(code, 0);
  std::ifstream in(report);
  return nlohmann::json::parse(in, nullptr, false);
}

std::string errorOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an InputError: ") + e.what();
  }
  return "no error";
}

} // namespace

TEST_F(ArchiveIndex, AFileChangedOrGoneSinceIndexingIsRefusedWhenItsSeriesIsLoaded) {
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  const std::string seriesId = catalogDatabase(db).front().series.front().seriesId;
  const std::string seriesUid = seriesId.substr(0, seriesId.find('#'));
  EXPECT_EQ(loadIndexedSeries(db, seriesId).sopInstanceUids.size(), m_BaselineFiles.size());

  // A re-export over the indexed files: another slice's pixels at this slice's indexed position.
  fs::copy_file(m_BaselineFiles[3], m_BaselineFiles[4], fs::copy_options::overwrite_existing);
  fs::last_write_time(m_BaselineFiles[4], fs::last_write_time(m_BaselineFiles[3]) + std::chrono::seconds(7));
  std::string error = errorOf([&] { (void)loadIndexedSeries(db, seriesId); });
  EXPECT_NE(error.find("'" + m_BaselineFiles[4].string() + "' changed since indexing"), std::string::npos) << error;
  EXPECT_NE(error.find("run lesionkit index"), std::string::npos) << error;

  // Indexed again (the copy sits at slice 3's position now), the files match the index; one
  // deleted (or its archive moved) is named as gone, not as "not a DICOM file".
  fs::copy_file(m_BaselineFiles[5], m_BaselineFiles[4], fs::copy_options::overwrite_existing);
  (void)indexArchive(db, m_Dir / "archive");
  EXPECT_NO_THROW(checkIndexedFilesUnchanged(db, seriesUid));
  fs::remove(m_BaselineFiles[7]);
  fs::remove(m_BaselineFiles[8]);
  error = errorOf([&] { (void)loadIndexedSeries(db, seriesId); });
  EXPECT_NE(error.find("'" + m_BaselineFiles[7].string() + "' no longer exists"), std::string::npos) << error;
  EXPECT_NE(error.find("and 1 more file"), std::string::npos) << error;
  EXPECT_NE(error.find("run lesionkit index"), std::string::npos) << error;
}

TEST_F(ArchiveIndex, AnUnreadableFileIsADamagedSliceJudgedAgainOnceReadable) {
  // A copy still running or a restrictive umask at the source: the slice is not "not DICOM".
  test::giveToUnprivilegedUser(m_Dir.path());
  fs::permissions(m_BaselineFiles[5], fs::perms::none);
  const nlohmann::json first = indexAsUnprivilegedUser(m_Dir / "index.sqlite", m_Dir / "archive", m_Dir / "r1.json");
  ASSERT_FALSE(first.contains("error")) << first.dump();
  nlohmann::json entry;
  for (const auto& f : first.at("skipped"))
    if (f.at("path") == m_BaselineFiles[5].string())
      entry = f;
  ASSERT_FALSE(entry.is_null()) << first.dump();
  EXPECT_NE(entry.at("reason").get<std::string>().find("cannot open: Permission denied"), std::string::npos) << entry;
  EXPECT_TRUE(entry.at("damaged").get<bool>()) << entry;
  {
    const ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadOnly);
    const std::string seriesUid = catalogDatabase(db).front().series.front().seriesInstanceUid;
    ASSERT_EQ(damagedFilesBeside(db, seriesUid).size(), 1u);
  }

  // Readable again, size and time unchanged: read again, a slice of its series.
  fs::permissions(m_BaselineFiles[5],
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  const nlohmann::json second = indexAsUnprivilegedUser(m_Dir / "index.sqlite", m_Dir / "archive", m_Dir / "r2.json");
  ASSERT_FALSE(second.contains("error")) << second.dump();
  const ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadOnly);
  const SeriesRecord best = catalogDatabase(db).front().series.front();
  EXPECT_TRUE(damagedFilesBeside(db, best.seriesInstanceUid).empty());
  EXPECT_EQ(best.sliceCount, m_BaselineFiles.size());
}

TEST_F(ArchiveIndex, AnUnreadableFolderIsNamedAndKeepsItsEntries) {
  test::giveToUnprivilegedUser(m_Dir.path());
  const nlohmann::json first = indexAsUnprivilegedUser(m_Dir / "index.sqlite", m_Dir / "archive", m_Dir / "r1.json");
  ASSERT_EQ(first.value("studiesTotal", 0), 2) << first.dump();
  const fs::path followup = dicomFilesIn(m_Dir / "archive").back().parent_path();
  // Not readable at all; readable but not searchable (names listed, sizes not).
  for (const fs::perms mode :
       {fs::perms::none, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read}) {
    fs::permissions(followup, mode);
    const nlohmann::json second = indexAsUnprivilegedUser(m_Dir / "index.sqlite", m_Dir / "archive", m_Dir / "r2.json");
    fs::permissions(followup, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
    ASSERT_FALSE(second.contains("error")) << second.dump();
    EXPECT_EQ(second.value("filesRemoved", -1), 0) << second.dump();
    EXPECT_EQ(second.value("studiesTotal", 0), 2) << second.dump();
    EXPECT_EQ(second.at("unreadableFolders"), nlohmann::json::array({followup.string()})) << second.dump();
  }
  const ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadOnly);
  EXPECT_EQ(rankedFirst(catalogDatabase(db).back()).instanceCount, dicomFilesIn(followup).size());
}

TEST(ArchiveWalk, AFolderVanishingDuringTheWalkIsSkipped) {
  // A clean-up job removing folders while the index walks the tree. Timing-dependent: several
  // rounds, each with a few thousand folders deleted while they are listed.
  test::ScratchFolder dir("lesionkit-archive-race");
  for (int round = 0; round < 3; ++round) {
    const fs::path tree = dir / ("tree" + std::to_string(round));
    constexpr int folders = 2000;
    for (int i = 0; i < folders; ++i) {
      fs::create_directories(tree / ("d" + std::to_string(i)));
      std::ofstream(tree / ("d" + std::to_string(i)) / "a.txt") << "x\n";
    }
    ArchiveDatabase db(dir / ("index" + std::to_string(round) + ".sqlite"), ArchiveDatabase::Access::ReadWrite);
    std::thread remover([&] {
      for (int i = 0; i < folders; ++i)
        fs::remove_all(tree / ("d" + std::to_string(i)));
    });
    IndexSummary s;
    EXPECT_NO_THROW(s = indexArchive(db, tree)) << "round " << round;
    remover.join();
    EXPECT_TRUE(s.unreadableFolders.empty()) << "round " << round << ": " << s.unreadableFolders.front().path;
    EXPECT_TRUE(std::none_of(s.skipped.begin(), s.skipped.end(), [](const auto& f) { return f.damaged; }))
        << "round " << round << ": a vanished file counted as damaged";
  }
}

TEST_F(ArchiveIndex, AnIndexRunCommittingMeanwhileIsDiffedAgainstNotInsertedTwice) {
  // Two index runs on one database (an overlapping cron job): the other one commits while this
  // one reads headers.
  ArchiveDatabase mine(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  ArchiveDatabase other(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  bool otherRan = false;
  IndexSummary otherSummary;
  IndexOptions options;
  options.threads = 1; // progress is reported by one of the threads only, now and then
  options.progress = Progress([&](double, std::string_view stage) {
    if (otherRan || stage != "scanning DICOM headers")
      return;
    otherRan = true;
    otherSummary = indexArchive(other, m_Dir / "archive");
  });
  IndexSummary s;
  ASSERT_NO_THROW(s = indexArchive(mine, m_Dir / "archive", options));
  ASSERT_TRUE(otherRan);
  EXPECT_EQ(otherSummary.instancesAdded, m_CtFileCount + 1 + m_ThickCount);
  EXPECT_EQ(s.filesNew, 0u) << "diffed against the index before the other run wrote it";
  EXPECT_EQ(s.filesUnchanged, s.filesFound);
  EXPECT_EQ(s.seriesTotal, 4u);
  const std::vector<StudyRecord> studies = catalogDatabase(mine);
  ASSERT_EQ(studies.size(), 2u);
  EXPECT_EQ(rankedFirst(studies[0]).instanceCount, m_BaselineFiles.size());

  // A batch writing job state meanwhile (another table) does not make the run start over.
  fs::last_write_time(m_BaselineFiles[2], fs::last_write_time(m_BaselineFiles[2]) + std::chrono::seconds(3));
  int scans = 0;
  options.progress = Progress([&](double, std::string_view stage) {
    if (stage != "scanning DICOM headers" || scans++ > 0)
      return;
    ASSERT_EQ(sqlite3_exec(other.handle(), "INSERT INTO jobs (job_key, state) VALUES ('P001', 'running')", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
  });
  const IndexSummary touched = indexArchive(mine, m_Dir / "archive", options);
  EXPECT_EQ(touched.filesChanged, 1u);
  EXPECT_EQ(scans, 1) << "read again after a job state update";
}

TEST_F(ArchiveIndex, AnIndexRunReplacingTheNewestFileMeanwhileIsSeen) {
  // The other run removes the file with the largest rowid and adds one: the files table's row
  // count and largest rowid come back the same (SQLite reuses the rowid).
  ArchiveDatabase mine(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  ArchiveDatabase other(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  fs::remove(m_Dir / "archive" / "notes.txt"); // small skipped files get new rows on every run
  (void)indexArchive(other, m_Dir / "archive");
  std::string newest;
  {
    const auto q = [&](const char* sql) {
      sqlite3_stmt* st = nullptr;
      EXPECT_EQ(sqlite3_prepare_v2(other.handle(), sql, -1, &st, nullptr), SQLITE_OK);
      EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
      std::string text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      sqlite3_finalize(st);
      return text;
    };
    newest = q("SELECT path FROM files ORDER BY rowid DESC LIMIT 1");
  }
  fs::remove(newest);
  std::ofstream(m_Dir / "archive" / "added.txt") << "new\n";
  bool otherRan = false;
  IndexOptions options;
  options.progress = Progress([&](double, std::string_view stage) {
    if (otherRan || stage != "scanning DICOM headers")
      return;
    otherRan = true;
    const IndexSummary o = indexArchive(other, m_Dir / "archive");
    EXPECT_EQ(o.filesRemoved, 1u);
    EXPECT_EQ(o.filesNew, 1u);
  });
  IndexSummary s;
  ASSERT_NO_THROW(s = indexArchive(mine, m_Dir / "archive", options));
  ASSERT_TRUE(otherRan);
  EXPECT_EQ(s.filesNew + s.filesRemoved, 0u) << "diffed against the index before the other run wrote it";
  EXPECT_EQ(s.filesUnchanged, s.filesFound);
}

TEST_F(ArchiveIndex, ALinkAboveTheArchiveIsNotFollowedAndTheIndexIsLeftOutWhereverALinkLeads) {
  // `ln -s .. up` inside the archive would index everything around it, the archive again and the
  // index file; a link to the index's folder elsewhere leads to the index file under another path.
  fs::create_directories(m_Dir / "db");
  std::ofstream(m_Dir / "beside.txt") << "not part of the archive\n";
  ArchiveDatabase db(m_Dir / "db" / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary plain = indexArchive(db, m_Dir / "archive");
  fs::create_directory_symlink(m_Dir.path(), m_Baseline / "up");
  fs::create_directory_symlink(m_Dir / "db", m_Dir / "archive" / "zdb");
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(s.filesFound, plain.filesFound);
  EXPECT_EQ(s.filesNew + s.filesRemoved, 0u);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_NE(s.notes[0].find((m_Baseline / "up").string()), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[0].find("above the archive"), std::string::npos) << s.notes[0];
}

TEST_F(ArchiveIndex, ALoopingOrDanglingFileLinkIsNotedAndItsFolderStillUpdated) {
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  fs::create_symlink("self", m_Baseline / "self");
  fs::create_symlink(m_Dir / "gone.dcm", m_Baseline / "gone.dcm");
  fs::remove(m_BaselineFiles[3]);
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  EXPECT_TRUE(s.unreadableFolders.empty())
      << s.unreadableFolders.front().path << ": " << s.unreadableFolders.front().reason;
  EXPECT_EQ(s.filesRemoved, 1u) << "the folder's rows frozen";
  ASSERT_EQ(s.notes.size(), 2u);
  EXPECT_NE(s.notes[0].find((m_Baseline / "gone.dcm").string()), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[0].find("dangling"), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[1].find((m_Baseline / "self").string()), std::string::npos) << s.notes[1];
  EXPECT_NE(s.notes[1].find("symbolic links"), std::string::npos) << s.notes[1];
}

TEST_F(ArchiveIndex, AFileVanishingBeforeItsHeaderIsReadIsNotADamagedFile) {
  std::vector<fs::path> all;
  for (const auto& e : fs::recursive_directory_iterator(m_Dir / "archive"))
    if (e.is_regular_file())
      all.push_back(e.path());
  std::sort(all.begin(), all.end());
  ASSERT_GT(all.size(), 40u);
  IndexOptions options;
  options.threads = 1; // read in path order; progress every 32 files
  bool removed = false;
  options.progress = Progress([&](double, std::string_view stage) {
    if (!removed && stage == "scanning DICOM headers")
      removed = fs::remove(all.back());
  });
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary s = indexArchive(db, m_Dir / "archive", options);
  ASSERT_TRUE(removed);
  EXPECT_EQ(s.instancesAdded + s.skipped.size(), all.size() - 1);
  for (const dicomio::SkippedFile& f : s.skipped)
    EXPECT_FALSE(f.damaged) << f.reason;
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(again.filesFound, again.filesUnchanged);
  EXPECT_EQ(again.filesRemoved + again.filesNew, 0u) << "a row left for the vanished file";
}

TEST_F(ArchiveIndex, SymlinkedFoldersAreFollowedOnceLoopsAndLinksIntoTheTreeAreNoted) {
  // The follow-up study lives elsewhere, linked into the archive; a link back to the archive's
  // root (a loop) and one to a folder of the archive (already indexed) are not followed.
  const fs::path followup = dicomFilesIn(m_Dir / "archive").back().parent_path();
  fs::rename(followup, m_Dir / "elsewhere");
  fs::create_directory_symlink(m_Dir / "elsewhere", followup);
  fs::create_directory_symlink(m_Dir / "archive", m_Dir / "archive" / "loop");
  fs::create_directory_symlink(m_Baseline, m_Dir / "archive" / "again");
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  const IndexSummary s = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(s.instancesAdded, m_CtFileCount + 1 + m_ThickCount);
  EXPECT_EQ(s.studiesTotal, 2u);
  ASSERT_EQ(s.notes.size(), 2u);
  EXPECT_NE(s.notes[0].find((m_Dir / "archive" / "again").string()), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[1].find((m_Dir / "archive" / "loop").string()), std::string::npos) << s.notes[1];
  EXPECT_NE(s.notes[1].find("indexed already"), std::string::npos) << s.notes[1];
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  EXPECT_EQ(again.filesUnchanged, s.filesFound);
  EXPECT_EQ(again.filesRemoved + again.filesNew, 0u);
}

TEST_F(ArchiveIndex, DamagedFilesAreListedOnEveryRunAndMarkedBesideTheirSeries) {
  const fs::path cut = m_BaselineFiles[6];
  fs::resize_file(cut, fs::file_size(cut) / 2);
  ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
  (void)indexArchive(db, m_Dir / "archive");
  const IndexSummary again = indexArchive(db, m_Dir / "archive");
  const auto damaged = std::find_if(again.skipped.begin(), again.skipped.end(),
                                    [&](const dicomio::SkippedFile& f) { return f.path == cut; });
  ASSERT_NE(damaged, again.skipped.end()) << "a damaged file recorded by an earlier run is not listed";
  EXPECT_TRUE(damaged->damaged);
  EXPECT_NE(damaged->reason.find("is a damaged DICOM file: it ends inside its data"), std::string::npos)
      << damaged->reason;

  for (const std::vector<StudyRecord>& studies : {catalogDatabase(db), catalogFolder(m_Dir / "archive")}) {
    const SeriesRecord& best = rankedFirst(studies.front());
    EXPECT_EQ(best.damagedFilesBeside, std::vector<fs::path>{cut});
    const std::string text = catalogToText(studies);
    EXPECT_NE(text.find("damaged: 1 DICOM file beside it, a slice may be missing: '" + cut.string() + "'"),
              std::string::npos)
        << text;
    const nlohmann::json j = nlohmann::json::parse(catalogToJson(studies));
    EXPECT_EQ(j.at(0).at("series").at(0).at("damagedFilesBeside"), nlohmann::json::array({cut.string()}));
    EXPECT_TRUE(studies.back().series.front().damagedFilesBeside.empty()) << "the follow-up has none";
  }
}

TEST_F(ArchiveIndex, AnIndexThatCannotBeWrittenIsBadInputNamingTheProblem) {
  // A full disk: SQLite's page limit stands in for it.
  {
    ArchiveDatabase db(m_Dir / "full.sqlite", ArchiveDatabase::Access::ReadWrite);
    ASSERT_EQ(sqlite3_exec(db.handle(), "PRAGMA max_page_count = 12", nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string error = errorOf([&] { (void)indexArchive(db, m_Dir / "archive"); });
    EXPECT_NE(error.find("full.sqlite' cannot be written: the disk is full"), std::string::npos) << error;
  }
  // A read-only index file: refused when opened for writing, before anything else is written.
  { ArchiveDatabase created(m_Dir / "ro.sqlite", ArchiveDatabase::Access::ReadWrite); }
  test::giveToUnprivilegedUser(m_Dir.path());
  fs::permissions(m_Dir / "ro.sqlite", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const int code = test::runAsUnprivilegedUser([&] {
    const std::string error =
        errorOf([&] { ArchiveDatabase db(m_Dir / "ro.sqlite", ArchiveDatabase::Access::ReadWrite); });
    std::cerr << error << '\n';
    return error.find("ro.sqlite' cannot be written: the file is read-only") != std::string::npos ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}
