#include "lesion/archive/ArchiveDatabase.h"

#include <cerrno>
#include <cstring>

#include <sqlite3.h>
#include <unistd.h>

#include "Sqlite.h"
#include "lesion/core/Error.h"

namespace lesion::archive {

namespace {

// Paths are stored absolute and lexically normal. Series rows hold the checks of
// SeriesCatalog's SeriesRecord; instances keep their parsed header as JSON (InstanceCodec) so
// a series can be re-checked or loaded without parsing its files again.
constexpr const char* Schema = R"sql(
CREATE TABLE IF NOT EXISTS lesionkit_archive (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO lesionkit_archive VALUES ('created_by', 'lesionkit index');
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  skipped_reason TEXT, damaged INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS files_damaged ON files(damaged) WHERE damaged = 1;
CREATE TABLE IF NOT EXISTS instances (
  path TEXT PRIMARY KEY REFERENCES files(path) ON DELETE CASCADE,
  sop_instance_uid TEXT, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL, header_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_by_series ON instances(series_uid);
CREATE INDEX IF NOT EXISTS instances_by_study ON instances(study_uid);
CREATE TABLE IF NOT EXISTS patients (patient_id TEXT PRIMARY KEY, patient_name TEXT);
CREATE TABLE IF NOT EXISTS studies (
  study_uid TEXT PRIMARY KEY, patient_id TEXT NOT NULL, study_date TEXT, study_time TEXT,
  description TEXT, accession TEXT);
CREATE INDEX IF NOT EXISTS studies_by_patient ON studies(patient_id);
CREATE TABLE IF NOT EXISTS series (
  series_id TEXT PRIMARY KEY, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL, patient_id TEXT,
  series_number INTEGER, modality TEXT, description TEXT, kernel TEXT, body_part TEXT,
  special_kind TEXT, split_reason TEXT, derived INTEGER, instance_count INTEGER, slice_count INTEGER,
  duplicate_positions INTEGER, rows INTEGER, columns INTEGER, pixel_spacing_x_mm REAL,
  pixel_spacing_y_mm REAL, orientation TEXT, slice_step_mm REAL, min_step_mm REAL, max_step_mm REAL,
  tilt_deg REAL, coverage_mm REAL, gap_count INTEGER, uneven_spacing INTEGER, warnings_json TEXT,
  geometry_error TEXT);
CREATE INDEX IF NOT EXISTS series_by_uid ON series(series_uid);
CREATE INDEX IF NOT EXISTS series_by_study ON series(study_uid);
CREATE TABLE IF NOT EXISTS jobs (
  job_key TEXT PRIMARY KEY, state TEXT NOT NULL, parameters_hash TEXT, pipeline_version TEXT,
  error TEXT, result_dir TEXT, started_utc TEXT, finished_utc TEXT, seconds REAL);
)sql";

/// SQLite opens a file it may not write read-only without a word, and needs the folder for its
/// journal: say so now, before a command writes anything else (batch: its output folder).
void checkWritable(sqlite3* db, const std::filesystem::path& path) {
  const std::filesystem::path folder = std::filesystem::absolute(path).parent_path();
  std::string problem;
  if (sqlite3_db_readonly(db, "main") == 1)
    problem = "the file is read-only for this user";
  else if (::access(folder.c_str(), W_OK) != 0)
    problem = "its folder '" + folder.string() + "' is not writable for this user (" + std::strerror(errno) +
              "), and SQLite writes its journal there";
  if (!problem.empty())
    throw InputError("archive index '" + path.string() + "' cannot be written: " + problem +
                     "; check its permissions or use a copy you may write");
}

} // namespace

ArchiveDatabase::ArchiveDatabase(const std::filesystem::path& path, Access access) : m_Path(path), m_Access(access) {
  std::error_code ec;
  if (access == Access::ReadOnly && !std::filesystem::is_regular_file(path, ec)) {
    throw InputError("archive index '" + path.string() + "' does not exist (create it with lesionkit index)");
  }
  const int flags = access == Access::ReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &m_Db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    const std::string message = m_Db ? sqlite3_errmsg(m_Db) : "out of memory";
    sqlite3_close(m_Db);
    m_Db = nullptr;
    throw InputError("cannot open archive index '" + path.string() + "': " + message);
  }
  sqlite3_busy_timeout(m_Db, 30000); // a batch updating job state while a listing reads
  if (access == Access::ReadWrite) {
    try {
      checkWritable(m_Db, path);
    } catch (...) {
      sqlite3_close(m_Db);
      m_Db = nullptr;
      throw;
    }
  }
  try {
    int version = 0;
    {
      detail::Statement query(m_Db, "PRAGMA user_version");
      if (query.step()) version = static_cast<int>(query.integer(0));
      while (query.step()) {
      }
    }
    if (version > SchemaVersion) {
      throw InputError("archive index '" + path.string() + "' has schema version " + std::to_string(version) +
                       ", newer than this lesionkit (" + std::to_string(SchemaVersion) + "); update lesionkit");
    }
    if (version == 0) {
      if (access == Access::ReadOnly) {
        throw InputError("'" + path.string() + "' is not a lesionkit archive index (no schema version)");
      }
      // An empty new file, or an SQLite file of another program: only the former gets our tables.
      detail::Statement tables(m_Db, "SELECT count(*) FROM sqlite_master");
      tables.step();
      const auto count = tables.integer(0);
      while (tables.step()) {
      }
      if (count != 0) {
        throw InputError("'" + path.string() + "' is an SQLite file of another program, not a lesionkit archive index");
      }
      detail::execute(m_Db, Schema);
      detail::execute(m_Db, ("PRAGMA user_version = " + std::to_string(SchemaVersion)).c_str());
    }
    detail::execute(m_Db, "PRAGMA foreign_keys = ON");
  } catch (const ProcessingError& e) {
    // SQLITE_NOTADB and friends surface on the first statement.
    sqlite3_close(m_Db);
    m_Db = nullptr;
    throw InputError("'" + path.string() + "' is not a usable archive index: " + e.what());
  } catch (...) {
    sqlite3_close(m_Db);
    m_Db = nullptr;
    throw;
  }
}

ArchiveDatabase::~ArchiveDatabase() { sqlite3_close(m_Db); }

ArchiveDatabase::ArchiveDatabase(ArchiveDatabase&& other) noexcept
    : m_Path(std::move(other.m_Path)), m_Access(other.m_Access), m_Db(other.m_Db) {
  other.m_Db = nullptr;
}

ArchiveDatabase& ArchiveDatabase::operator=(ArchiveDatabase&& other) noexcept {
  if (this != &other) {
    sqlite3_close(m_Db);
    m_Path = std::move(other.m_Path);
    m_Access = other.m_Access;
    m_Db = other.m_Db;
    other.m_Db = nullptr;
  }
  return *this;
}

} // namespace lesion::archive
