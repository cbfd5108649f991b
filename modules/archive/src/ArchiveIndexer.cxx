#include "lesion/archive/ArchiveIndexer.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <unordered_map>

#include "InstanceCodec.h"
#include "SeriesRows.h"
#include "Sqlite.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/DicomSeriesReader.h"

namespace lesion::archive {

namespace fs = std::filesystem;

namespace {

struct FileStamp {
  std::int64_t size{0};
  std::int64_t mtimeNs{0};
  bool operator==(const FileStamp& o) const { return size == o.size && mtimeNs == o.mtimeNs; }
};

/// Every regular file under `root` with its size and modification time.
std::vector<std::pair<std::string, FileStamp>> walk(const fs::path& root) {
  std::vector<std::pair<std::string, FileStamp>> files;
  auto add = [&](const fs::directory_entry& entry) {
    std::error_code ec;
    if (!entry.is_regular_file(ec)) return;
    const auto size = entry.file_size(ec);
    if (ec) return; // vanished while walking: it is simply not there
    const auto mtime = entry.last_write_time(ec);
    if (ec) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
    files.emplace_back(entry.path().lexically_normal().string(),
                       FileStamp{static_cast<std::int64_t>(size), static_cast<std::int64_t>(ns)});
  };
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    add(fs::directory_entry(root));
    return files;
  }
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw InputError("cannot list '" + root.string() + "': " + ec.message());
  for (const auto& entry : it) add(entry);
  return files;
}

bool isUnder(const std::string& path, const std::string& root) {
  if (path == root) return true;
  if (path.size() <= root.size() || path.compare(0, root.size(), root) != 0) return false;
  return root.back() == '/' || path[root.size()] == '/';
}

/// Recomputes the series rows of one SeriesInstanceUID from its instances (fresh headers from
/// this run first, the rest decoded from the index).
std::size_t recheckSeries(const std::string& seriesUid,
                          const std::unordered_map<std::string, const dicomio::DicomInstance*>& fresh,
                          detail::Statement& instancesOfSeries, detail::Statement& deleteSeries,
                          detail::Statement& insertSeries) {
  std::vector<dicomio::DicomInstance> instances;
  instancesOfSeries.bind(1, seriesUid);
  while (instancesOfSeries.step()) {
    const std::string path = instancesOfSeries.text(0);
    const auto it = fresh.find(path);
    instances.push_back(it != fresh.end() ? *it->second : detail::decodeInstance(instancesOfSeries.text(1), path));
  }
  deleteSeries.bind(1, seriesUid).run();
  std::size_t count = 0;
  for (const dicomio::DicomSeries& series : dicomio::splitDicomSeries(instances)) {
    detail::bindSeriesRow(insertSeries, describeSeries(series));
    insertSeries.run();
    ++count;
  }
  return count;
}

std::size_t countRows(sqlite3* db, const char* sql) {
  detail::Statement q(db, sql);
  q.step();
  const auto n = static_cast<std::size_t>(q.integer(0));
  q.step();
  return n;
}

} // namespace

void checkArchiveRoot(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec))
    throw InputError("'" + root.string() + "' does not exist");
}

IndexSummary indexArchive(ArchiveDatabase& db, const fs::path& rootArgument, const IndexOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (db.readOnly())
    throw InputError("archive index '" + db.path().string() + "' is opened read-only");
  checkArchiveRoot(rootArgument);
  const std::string root = fs::absolute(rootArgument).lexically_normal().string();
  sqlite3* h = db.handle();
  IndexSummary summary;

  // 1. What is on disk, what the index knows, what changed.
  options.progress.report(0.0, "listing files");
  auto onDisk = walk(root);
  // The index itself (and SQLite's journal) may live in the tree: it is not an archive file.
  const std::string dbPath = fs::absolute(db.path()).lexically_normal().string();
  onDisk.erase(std::remove_if(onDisk.begin(), onDisk.end(),
                              [&](const auto& file) {
                                return file.first.rfind(dbPath, 0) == 0 &&
                                       (file.first.size() == dbPath.size() || file.first[dbPath.size()] == '-');
                              }),
               onDisk.end());
  summary.filesFound = onDisk.size();
  std::unordered_map<std::string, FileStamp> known;
  // Skipped files an index of an earlier version may have misjudged: it called an empty or cut slice
  // (shorter than the DICOM preamble and its "DICM", 132 bytes) "not DICOM" instead of damaged, so
  // its series was measured without it. They are judged again, and so are temporaries of an
  // unfinished output (.NAME.part-PID-N) it called damaged; other skipped files (damaged ones,
  // other files) only when they change, as images are.
  std::set<std::string> rejudged;
  {
    detail::Statement q(h, "SELECT path, size, mtime_ns, skipped_reason IS NOT NULL AND damaged = 0 AND size < 132, "
                           "damaged FROM files");
    while (q.step()) {
      std::string path = q.text(0);
      if (!isUnder(path, root))
        continue;
      if (q.integer(3) || (q.integer(4) && isInTemporaryOutput(path, root)))
        rejudged.insert(path);
      known.emplace(std::move(path), FileStamp{q.integer(1), q.integer(2)});
    }
  }
  std::vector<fs::path> toRead;
  std::unordered_map<std::string, FileStamp> stamps;
  std::set<std::string> changedPaths;
  for (const auto& [path, stamp] : onDisk) {
    const auto it = known.find(path);
    if (it == known.end()) {
      ++summary.filesNew;
    } else {
      const bool same = it->second == stamp;
      known.erase(it);
      if (same) {
        ++summary.filesUnchanged;
        if (!rejudged.count(path))
          continue;
      } else {
        ++summary.filesChanged;
      }
      changedPaths.insert(path);
    }
    stamps.emplace(path, stamp);
    toRead.emplace_back(path);
  }
  summary.filesRemoved = known.size(); // what is left was not found on disk

  // 2. Parse the new and changed headers in parallel (no database access meanwhile). A killed pull
  // or copy leaves half a file under our temporary name (or in a staging folder): skipped unread,
  // not a damaged slice that should fail its series (the complete file sits beside it).
  const dicomio::DicomScanResult scan =
      dicomio::readDicomHeaders(std::move(toRead), options.progress.sub(0.02, 0.9), options.threads, root);
  summary.instancesAdded = scan.instances.size();
  summary.skipped = scan.skipped;

  // 3. One transaction: a crash or failure leaves the index as it was.
  options.progress.report(0.9, "writing the index");
  detail::Transaction transaction(h);
  std::set<std::string> touchedSeries, touchedStudies;
  {
    detail::Statement oldInstance(h, "SELECT series_uid, study_uid FROM instances WHERE path = ?1");
    detail::Statement deleteFile(h, "DELETE FROM files WHERE path = ?1");
    auto forget = [&](const std::string& path) {
      oldInstance.bind(1, path);
      while (oldInstance.step()) {
        touchedSeries.insert(oldInstance.text(0));
        touchedStudies.insert(oldInstance.text(1));
      }
      deleteFile.bind(1, path).run(); // instances follow (ON DELETE CASCADE)
    };
    for (const auto& [path, stamp] : known) forget(path);
    for (const std::string& path : changedPaths) forget(path);

    detail::Statement insertFile(
        h, "INSERT INTO files (path, size, mtime_ns, skipped_reason, damaged) VALUES (?1, ?2, ?3, ?4, ?5)");
    detail::Statement insertInstance(
        h, "INSERT INTO instances (path, sop_instance_uid, series_uid, study_uid, header_json) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const dicomio::SkippedFile& skipped : summary.skipped) {
      const FileStamp& stamp = stamps.at(skipped.path.string());
      insertFile.bind(1, skipped.path.string()).bind(2, stamp.size).bind(3, stamp.mtimeNs).bind(4, skipped.reason);
      insertFile.bind(5, skipped.damaged).run();
    }
    for (const dicomio::DicomInstance& d : scan.instances) {
      const std::string path = d.path.string();
      const FileStamp& stamp = stamps.at(path);
      insertFile.bind(1, path).bind(2, stamp.size).bind(3, stamp.mtimeNs).bindNull(4).bind(5, false).run();
      insertInstance.bind(1, path).bind(2, d.sopInstanceUid).bind(3, d.seriesInstanceUid).bind(4, d.studyInstanceUid);
      insertInstance.bind(5, detail::encodeInstance(d)).run();
      touchedSeries.insert(d.seriesInstanceUid);
      touchedStudies.insert(d.studyInstanceUid);
    }
  }

  // 4. Re-check the series that gained or lost instances; refresh their studies and patients.
  std::unordered_map<std::string, const dicomio::DicomInstance*> fresh;
  for (const dicomio::DicomInstance& d : scan.instances) fresh.emplace(d.path.string(), &d);
  {
    detail::Statement instancesOfSeries(h, "SELECT path, header_json FROM instances WHERE series_uid = ?1");
    detail::Statement deleteSeries(h, "DELETE FROM series WHERE series_uid = ?1");
    detail::Statement insertSeries(h, detail::insertSeriesSql().c_str());
    std::size_t done = 0;
    for (const std::string& uid : touchedSeries) {
      summary.seriesChecked += recheckSeries(uid, fresh, instancesOfSeries, deleteSeries, insertSeries);
      options.progress.report(0.9 + 0.09 * double(++done) / double(touchedSeries.size()), "checking series");
    }
    detail::Statement anyInstance(h, "SELECT path, header_json FROM instances WHERE study_uid = ?1 LIMIT 1");
    detail::Statement deleteStudy(h, "DELETE FROM studies WHERE study_uid = ?1");
    detail::Statement upsertStudy(h, "INSERT OR REPLACE INTO studies (study_uid, patient_id, study_date, study_time, "
                                     "description, accession) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    detail::Statement upsertPatient(h, "INSERT OR REPLACE INTO patients (patient_id, patient_name) VALUES (?1, ?2)");
    for (const std::string& uid : touchedStudies) {
      anyInstance.bind(1, uid);
      if (!anyInstance.step()) {
        deleteStudy.bind(1, uid).run();
        continue;
      }
      const std::string path = anyInstance.text(0);
      const auto it = fresh.find(path);
      const dicomio::DicomInstance d = it != fresh.end() ? *it->second : detail::decodeInstance(anyInstance.text(1), path);
      while (anyInstance.step()) {
      }
      upsertStudy.bind(1, uid).bind(2, d.patientId).bind(3, d.studyDate).bind(4, d.studyTime);
      upsertStudy.bind(5, d.studyDescription).bind(6, d.accessionNumber).run();
      upsertPatient.bind(1, d.patientId).bind(2, d.patientName).run();
    }
    detail::execute(h, "DELETE FROM patients WHERE patient_id NOT IN (SELECT patient_id FROM studies)");
  }
  transaction.commit();

  summary.seriesTotal = countRows(h, "SELECT count(*) FROM series");
  summary.studiesTotal = countRows(h, "SELECT count(*) FROM studies");
  summary.patientsTotal = countRows(h, "SELECT count(*) FROM patients");
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  options.progress.report(1.0, "done");
  return summary;
}

std::vector<dicomio::DicomInstance> indexedInstancesOfSeries(const ArchiveDatabase& db, const std::string& seriesInstanceUid) {
  std::vector<dicomio::DicomInstance> instances;
  detail::Statement q(db.handle(), "SELECT path, header_json FROM instances WHERE series_uid = ?1 ORDER BY path");
  q.bind(1, seriesInstanceUid);
  while (q.step()) instances.push_back(detail::decodeInstance(q.text(1), q.text(0)));
  return instances;
}

std::string indexedFilesStamp(const ArchiveDatabase& db, const std::string& seriesInstanceUid) {
  // Not the paths: an archive moved as it is (mtimes kept) still holds the same images.
  detail::Statement q(db.handle(),
                      "SELECT i.sop_instance_uid, f.size, f.mtime_ns FROM instances i JOIN files f ON "
                      "f.path = i.path WHERE i.series_uid = ?1 ORDER BY i.sop_instance_uid, f.size, f.mtime_ns");
  q.bind(1, seriesInstanceUid);
  std::string stamp;
  while (q.step())
    stamp += q.text(0) + '|' + std::to_string(q.integer(1)) + '|' + std::to_string(q.integer(2)) + '\n';
  return stamp;
}

std::vector<dicomio::SkippedFile> damagedFilesBeside(const ArchiveDatabase& db, const std::string& seriesInstanceUid) {
  std::set<std::string> folders;
  {
    detail::Statement q(db.handle(), "SELECT path FROM instances WHERE series_uid = ?1");
    q.bind(1, seriesInstanceUid);
    while (q.step()) folders.insert(fs::path(q.text(0)).parent_path().string());
  }
  std::vector<dicomio::SkippedFile> damaged;
  detail::Statement q(db.handle(), "SELECT path, skipped_reason FROM files WHERE damaged = 1");
  while (q.step()) {
    const fs::path path = q.text(0);
    // isInTemporaryOutput: indexes made before such leftovers were told apart flagged them.
    if (folders.count(path.parent_path().string()) && !isInTemporaryOutput(path))
      damaged.push_back({path, q.text(1)});
  }
  return damaged;
}

dicomio::LoadedVolume loadIndexedSeries(const ArchiveDatabase& db, const std::string& seriesId,
                                        const dicomio::LoadOptions& options, const Progress& progress) {
  const std::string uid = seriesId.substr(0, seriesId.find('#'));
  const std::vector<dicomio::DicomSeries> series = dicomio::splitDicomSeries(indexedInstancesOfSeries(db, uid));
  for (const dicomio::DicomSeries& s : series) {
    if (s.id == seriesId) return dicomio::readDicomSeries(s, options, progress);
  }
  throw InputError("archive index '" + db.path().string() + "' holds no series '" + seriesId + "' (re-index?)");
}

} // namespace lesion::archive
