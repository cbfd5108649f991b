#include "lesion/archive/ArchiveIndexer.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>

#include <sys/stat.h>

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
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

/// A file by device and inode: the same file whatever path (a symlinked folder) leads to it.
struct FileId {
  dev_t device{0};
  ino_t inode{0};
  bool operator<(const FileId& o) const { return std::tie(device, inode) < std::tie(o.device, o.inode); }
  bool operator==(const FileId& o) const { return device == o.device && inode == o.inode; }
};

std::optional<FileId> fileId(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

/// The file's size and modification time now (and, given `id`, its device and inode from the same
/// stat, so that the walk needs no other); `ec` set when it cannot be read (e.g. vanished).
FileStamp currentStamp(const fs::path& path, std::error_code& ec, FileId* id = nullptr) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ec = std::error_code(errno, std::generic_category());
    return {};
  }
  if (id)
    *id = {st.st_dev, st.st_ino};
  // The modification time as the file system library counts it: the index stores it so.
  const auto mtime = fs::last_write_time(path, ec);
  if (ec)
    return {};
  return {static_cast<std::int64_t>(st.st_size),
          std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count()};
}

/// What the walk found: every regular file with its size and modification time, and what it
/// could not look into.
struct WalkResult {
  std::vector<std::pair<std::string, FileStamp>> files;
  std::vector<UnreadableFolder> unreadableFolders;
  std::vector<std::string> notes; ///< symlinks not followed or dangling, and why
};

bool isUnder(const std::string& path, const std::string& root) {
  if (path == root)
    return true;
  if (path.size() <= root.size() || path.compare(0, root.size(), root) != 0)
    return false;
  return root.back() == '/' || path[root.size()] == '/';
}

/// Lists the files and folders of `root` (a folder, or a single file): folders are walked by
/// hand, so that one that cannot be listed is reported instead of ending the walk (or being
/// skipped without a word), and one that vanished meanwhile is skipped like a vanished file.
/// Symlinked folders are followed after every real folder; one leading into a tree walked already,
/// or above it (to a folder that holds it: a loop through everything around the archive), is
/// skipped with a note. The index file (and SQLite's journals beside it) is left out, by device and
/// inode, whichever path leads to it.
class ArchiveWalk {
public:
  explicit ArchiveWalk(const fs::path& indexFile) : m_IndexFile(fileId(indexFile)) {}

  WalkResult run(const fs::path& root) {
    std::error_code ec;
    if (fs::is_regular_file(root, ec)) {
      addFile(fs::directory_entry(root));
      return std::move(m_Result);
    }
    // The root itself must be listable: else every file under it would count as removed.
    if (fs::directory_iterator probe(root, ec); ec)
      throw InputError("cannot list '" + root.string() + "': " + ec.message());
    enter(root);
    if (m_Folders.empty())
      throw InputError("cannot list '" + root.string() + "': " + m_Error.message());
    m_Folders.pop_back();
    const fs::path resolvedRoot = fs::canonical(root, ec);
    m_WalkedTrees.push_back(ec ? root.string() : resolvedRoot.string());
    if (!list(root))
      throw InputError("cannot list '" + root.string() + "': " + m_Error.message());
    for (;;) {
      if (!m_Folders.empty()) {
        const fs::path folder = std::move(m_Folders.back());
        m_Folders.pop_back();
        list(folder);
      } else if (!m_Links.empty()) {
        const fs::path link = std::move(m_Links.front());
        m_Links.erase(m_Links.begin());
        followLink(link);
      } else {
        break;
      }
    }
    return std::move(m_Result);
  }

private:
  /// Queues `folder` unless it is one walked already (through another path); false then.
  bool enter(const fs::path& folder) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) {
      m_Error = std::error_code(errno, std::generic_category());
      noteUnreadable(folder, m_Error);
      return true;
    }
    if (!m_Seen.insert({st.st_dev, st.st_ino}).second)
      return false;
    m_Folders.push_back(folder);
    return true;
  }

  /// Follows a symlinked folder, unless its target (resolved) is a tree walked already, inside one,
  /// or above one: the archive's parent holds the archive (and the index) again, and all beside it.
  void followLink(const fs::path& link) {
    std::error_code ec;
    const std::string target = fs::canonical(link, ec).string();
    if (ec)
      return noteLink(link, "not followed: its target cannot be resolved (" + ec.message() + ")");
    for (const std::string& tree : m_WalkedTrees) {
      if (isUnder(target, tree))
        return noteLink(link, kIndexedAlready);
      if (isUnder(tree, target))
        return noteLink(link, "not followed: it leads to a folder above the archive (or above a folder linked into "
                              "it), which holds the archive itself (a loop)");
    }
    if (!enter(link))
      return noteLink(link, kIndexedAlready);
    m_WalkedTrees.push_back(target);
  }

  static constexpr const char* kIndexedAlready =
      "not followed: it leads to a folder indexed already (a link into the archive, or a loop)";

  void noteLink(const fs::path& link, const std::string& why) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(link, ec);
    m_Result.notes.push_back("symlink '" + link.string() + "'" + (ec ? "" : " -> '" + target.string() + "'") + " " +
                             why);
  }

  /// Lists one folder; false (and the folder recorded as unreadable) when it cannot be listed.
  bool list(const fs::path& folder) {
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(folder, m_Error), end; !m_Error && it != end; it.increment(m_Error))
      entries.push_back(*it);
    if (m_Error) {
      if (m_Error == std::errc::not_a_directory)
        return true; // replaced while walking
      return !noteUnreadable(folder, m_Error);
    }
    std::sort(entries.begin(), entries.end()); // in name order: the same walk every run
    std::vector<fs::path> subfolders;
    for (const fs::directory_entry& entry : entries) {
      std::error_code ec;
      const fs::file_status status = entry.symlink_status(ec);
      if (ec && noteUnreadable(folder, ec))
        return true; // entries it cannot look at: its entries are kept
      if (ec)
        continue;
      if (fs::is_directory(status))
        subfolders.push_back(entry.path());
      else if (fs::is_symlink(status) && fs::is_directory(entry.path(), ec))
        m_Links.push_back(entry.path());
      else
        addFile(entry, fs::is_symlink(status));
    }
    for (auto it = subfolders.rbegin(); it != subfolders.rend(); ++it)
      enter(*it); // a stack: first on top
    return true;
  }

  void addFile(const fs::directory_entry& entry, bool symlink = false) {
    std::error_code ec;
    const bool regular = entry.is_regular_file(ec);
    FileId id;
    const FileStamp stamp = regular ? currentStamp(entry.path(), ec, &id) : FileStamp{};
    if (ec && symlink) // its target gone, a loop (`ln -s self self`): nothing to index, the folder is fine
      noteLink(entry.path(), "skipped: a dangling link (" + ec.message() + ")");
    else if (ec) // a folder listed but not searchable (r without x) cannot show its files' sizes
      noteUnreadable(entry.path().parent_path(), ec);
    else if (regular && !isIndexFile(entry.path(), id))
      m_Result.files.emplace_back(entry.path().lexically_normal().string(), stamp);
  }

  /// The index itself (or SQLite's journal beside it) may live in the tree, or be reached through a
  /// symlinked folder: it is not an archive file.
  bool isIndexFile(const fs::path& path, const FileId& id) const {
    if (!m_IndexFile)
      return false;
    if (id == *m_IndexFile)
      return true;
    const std::string name = path.filename().string();
    for (const std::string suffix : {"-journal", "-wal", "-shm"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          fileId(path.parent_path() / name.substr(0, name.size() - suffix.size())) == m_IndexFile)
        return true;
    }
    return false;
  }

  /// Records `folder` as one the walk could not look into; false (nothing recorded) when `error`
  /// says it, or the file looked at, vanished meanwhile: then it is simply not there.
  bool noteUnreadable(const fs::path& folder, const std::error_code& error) {
    if (error == std::errc::no_such_file_or_directory)
      return false;
    auto& unreadable = m_Result.unreadableFolders;
    if (unreadable.empty() || unreadable.back().path != folder)
      unreadable.push_back({folder, error.message()});
    return true;
  }

  const std::optional<FileId> m_IndexFile;
  WalkResult m_Result;
  std::vector<fs::path> m_Folders;        ///< real folders still to list (a stack)
  std::vector<fs::path> m_Links;          ///< symlinked folders, followed once the real ones are done
  std::vector<std::string> m_WalkedTrees; ///< the root and followed links' targets, resolved
  std::set<FileId> m_Seen;
  std::error_code m_Error;
};

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

namespace {

/// What the index knows against what is on disk.
struct IndexDiff {
  std::unordered_map<std::string, FileStamp> removed; ///< in the index, not on disk
  std::vector<fs::path> toRead;                       ///< new, changed or judged again
  std::unordered_map<std::string, FileStamp> stamps;  ///< of the files to read
  std::set<std::string> changedPaths;                 ///< in the index already: their rows are replaced
};

/// How many index runs committed to this index: every run increments it in its own transaction, so
/// one that committed between this run's diff and its write lock is seen, whatever it changed. (A
/// batch writing job state leaves it as it is; the files table's row count and largest rowid may
/// come back the same after a run that removed the newest file and added one.)
std::int64_t indexCommits(sqlite3* h) {
  detail::Statement q(h, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM lesionkit_archive WHERE key = "
                         "'index_commits'), 0)");
  q.step();
  const std::int64_t commits = q.integer(0);
  q.step();
  return commits;
}

void countIndexCommit(sqlite3* h) {
  detail::execute(h, "INSERT OR REPLACE INTO lesionkit_archive (key, value) VALUES ('index_commits', "
                     "coalesce((SELECT CAST(value AS INTEGER) FROM lesionkit_archive WHERE key = 'index_commits'), 0) "
                     "+ 1)");
}

IndexDiff diffWithIndex(sqlite3* h, const std::string& root, const WalkResult& walked, IndexSummary& summary) {
  IndexDiff diff;
  auto inUnreadableFolder = [&](const std::string& path) {
    return std::any_of(walked.unreadableFolders.begin(), walked.unreadableFolders.end(),
                       [&](const UnreadableFolder& f) { return isUnder(path, f.path.string()); });
  };
  std::unordered_map<std::string, FileStamp>& known = diff.removed; // what is left is not on disk
  // Damaged files (unreadable ones among them) are judged again on every run: one that became
  // readable or was replaced by a copy with the same size and time is then seen, and the summary
  // lists every damaged file every time. So are files an index of an earlier version misjudged: it
  // called an empty or cut slice (shorter than the DICOM preamble and its "DICM", 132 bytes) "not
  // DICOM". Other skipped files only when they change, as images are.
  std::set<std::string> rejudged;
  {
    detail::Statement q(h, "SELECT path, size, mtime_ns, damaged = 1 OR (skipped_reason IS NOT NULL AND size < 132) "
                           "FROM files");
    while (q.step()) {
      std::string path = q.text(0);
      if (!isUnder(path, root) || inUnreadableFolder(path))
        continue; // an unreadable folder's entries stay as they are
      if (q.integer(3))
        rejudged.insert(path);
      known.emplace(std::move(path), FileStamp{q.integer(1), q.integer(2)});
    }
  }
  for (const auto& [path, stamp] : walked.files) {
    if (inUnreadableFolder(path))
      continue; // seen before its folder turned out unreadable: its row stays as it is
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
      diff.changedPaths.insert(path);
    }
    diff.stamps.emplace(path, stamp);
    diff.toRead.emplace_back(path);
  }
  summary.filesRemoved = known.size();
  return diff;
}

/// Writes the files of this run and recomputes the series, studies and patients they touch.
std::size_t writeIndexChanges(sqlite3* h, const IndexDiff& diff, const dicomio::DicomScanResult& scan,
                              const Progress& progress) {
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
    for (const auto& [path, stamp] : diff.removed)
      forget(path);
    for (const std::string& path : diff.changedPaths)
      forget(path);

    detail::Statement insertFile(
        h, "INSERT INTO files (path, size, mtime_ns, skipped_reason, damaged) VALUES (?1, ?2, ?3, ?4, ?5)");
    detail::Statement insertInstance(
        h, "INSERT INTO instances (path, sop_instance_uid, series_uid, study_uid, header_json) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const dicomio::SkippedFile& skipped : scan.skipped) {
      const FileStamp& stamp = diff.stamps.at(skipped.path.string());
      insertFile.bind(1, skipped.path.string()).bind(2, stamp.size).bind(3, stamp.mtimeNs).bind(4, skipped.reason);
      insertFile.bind(5, skipped.damaged).run();
    }
    for (const dicomio::DicomInstance& d : scan.instances) {
      const std::string path = d.path.string();
      const FileStamp& stamp = diff.stamps.at(path);
      insertFile.bind(1, path).bind(2, stamp.size).bind(3, stamp.mtimeNs).bindNull(4).bind(5, false).run();
      insertInstance.bind(1, path).bind(2, d.sopInstanceUid).bind(3, d.seriesInstanceUid).bind(4, d.studyInstanceUid);
      insertInstance.bind(5, detail::encodeInstance(d)).run();
      touchedSeries.insert(d.seriesInstanceUid);
      touchedStudies.insert(d.studyInstanceUid);
    }
  }

  // Re-check the series that gained or lost instances; refresh their studies and patients.
  std::unordered_map<std::string, const dicomio::DicomInstance*> fresh;
  for (const dicomio::DicomInstance& d : scan.instances) fresh.emplace(d.path.string(), &d);
  std::size_t seriesChecked = 0;
  detail::Statement instancesOfSeries(h, "SELECT path, header_json FROM instances WHERE series_uid = ?1");
  detail::Statement deleteSeries(h, "DELETE FROM series WHERE series_uid = ?1");
  detail::Statement insertSeries(h, detail::insertSeriesSql().c_str());
  std::size_t done = 0;
  for (const std::string& uid : touchedSeries) {
    seriesChecked += recheckSeries(uid, fresh, instancesOfSeries, deleteSeries, insertSeries);
    progress.report(0.9 + 0.09 * double(++done) / double(touchedSeries.size()), "checking series");
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
    const dicomio::DicomInstance d =
        it != fresh.end() ? *it->second : detail::decodeInstance(anyInstance.text(1), path);
    while (anyInstance.step()) {
    }
    upsertStudy.bind(1, uid).bind(2, d.patientId).bind(3, d.studyDate).bind(4, d.studyTime);
    upsertStudy.bind(5, d.studyDescription).bind(6, d.accessionNumber).run();
    upsertPatient.bind(1, d.patientId).bind(2, d.patientName).run();
  }
  detail::execute(h, "DELETE FROM patients WHERE patient_id NOT IN (SELECT patient_id FROM studies)");
  return seriesChecked;
}

} // namespace

IndexSummary indexArchive(ArchiveDatabase& db, const fs::path& rootArgument, const IndexOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (db.readOnly())
    throw InputError("archive index '" + db.path().string() + "' is opened read-only");
  checkArchiveRoot(rootArgument);
  const std::string root = fs::absolute(rootArgument).lexically_normal().string();
  sqlite3* h = db.handle();

  // 1. What is on disk.
  options.progress.report(0.0, "listing files");
  const WalkResult walked = ArchiveWalk(db.path()).run(root);
  const auto& onDisk = walked.files;

  // Another index run on this database (an overlapping cron job) may commit while this one reads
  // headers: the diff is then made again against what it wrote, which costs little (the files it
  // read are unchanged now), instead of inserting the same files twice.
  constexpr int attempts = 5;
  for (int attempt = 1;; ++attempt) {
    IndexSummary summary;
    summary.filesFound = onDisk.size();
    summary.unreadableFolders = walked.unreadableFolders;
    summary.notes = walked.notes;
    const std::int64_t commitsBefore = indexCommits(h); // read first: a commit in between only costs a retry
    // 2. What the index knows, what changed.
    const IndexDiff diff = diffWithIndex(h, root, walked, summary);

    // 3. Parse the new and changed headers in parallel (no database access meanwhile). A killed
    // pull or copy leaves half a file under our temporary name (or in a staging folder): skipped
    // unread, not a damaged slice that should fail its series (the complete file sits beside it).
    const dicomio::DicomScanResult scan = dicomio::readDicomHeaders(
        std::vector<fs::path>(diff.toRead), options.progress.sub(0.02, 0.9), options.threads, root);
    summary.instancesAdded = scan.instances.size();
    summary.skipped = scan.skipped;

    // 4. One transaction: a crash or failure leaves the index as it was.
    options.progress.report(0.9, "writing the index");
    detail::Transaction transaction(h); // waits for another writer (busy timeout)
    if (indexCommits(h) != commitsBefore) {
      if (attempt < attempts)
        continue; // rolled back: nothing written yet
      throw InputError("archive index '" + db.path().string() +
                       "' kept being updated by another process while this run read the archive; run again when "
                       "it has finished");
    }
    summary.seriesChecked = writeIndexChanges(h, diff, scan, options.progress);
    countIndexCommit(h);
    transaction.commit();

    summary.seriesTotal = countRows(h, "SELECT count(*) FROM series");
    summary.studiesTotal = countRows(h, "SELECT count(*) FROM studies");
    summary.patientsTotal = countRows(h, "SELECT count(*) FROM patients");
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    options.progress.report(1.0, "done");
    return summary;
  }
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

void checkIndexedFilesUnchanged(const ArchiveDatabase& db, const std::string& seriesInstanceUid) {
  detail::Statement q(db.handle(), "SELECT f.path, f.size, f.mtime_ns FROM instances i JOIN files f ON f.path = i.path "
                                   "WHERE i.series_uid = ?1 ORDER BY f.path");
  q.bind(1, seriesInstanceUid);
  std::string first;
  std::size_t count = 0;
  while (q.step()) {
    const std::string path = q.text(0);
    std::error_code ec;
    const FileStamp stamp = currentStamp(path, ec);
    std::string problem;
    if (ec == std::errc::no_such_file_or_directory)
      problem = "no longer exists (moved or deleted since indexing)";
    else if (ec)
      problem = "cannot be checked (" + ec.message() + ")";
    else if (stamp != FileStamp{q.integer(1), q.integer(2)})
      problem = "changed since indexing (its size or modification time differ)";
    if (!problem.empty() && count++ == 0)
      first = "'" + path + "' " + problem;
  }
  if (count > 0)
    throw InputError(first + (count > 1 ? " (and " + std::to_string(count - 1) + " more files of its series)" : "") +
                     ": run lesionkit index on its archive again to update '" + db.path().string() + "'");
}

dicomio::LoadedVolume loadIndexedSeries(const ArchiveDatabase& db, const std::string& seriesId,
                                        const dicomio::LoadOptions& options, const Progress& progress) {
  const std::string uid = seriesId.substr(0, seriesId.find('#'));
  checkIndexedFilesUnchanged(db, uid);
  const std::vector<dicomio::DicomSeries> series = dicomio::splitDicomSeries(indexedInstancesOfSeries(db, uid));
  for (const dicomio::DicomSeries& s : series) {
    if (s.id == seriesId) return dicomio::readDicomSeries(s, options, progress);
  }
  throw InputError("archive index '" + db.path().string() + "' holds no series '" + seriesId + "' (re-index?)");
}

} // namespace lesion::archive
