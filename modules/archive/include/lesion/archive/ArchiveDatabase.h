#pragma once
/// \file ArchiveDatabase.h
/// The SQLite file that indexes a DICOM archive: files (with size and mtime, so re-indexing
/// skips unchanged ones), instances (their parsed headers), series (with their checks),
/// studies and patients, and the job state of batch runs. One connection per object; SQLite
/// itself stays out of this header.

#include <filesystem>
#include <memory>
#include <string>

struct sqlite3;

namespace lesion::archive {

class ArchiveDatabase {
public:
  enum class Access {
    ReadOnly, ///< an existing index, never written (cluster workers)
    ReadWrite ///< created when missing
  };

  /// Opens (or, read-write, creates) the index at `path` and checks its schema. Throws
  /// lesion::InputError naming the file when it is missing (read-only), not an SQLite file, or
  /// an index of another program or of a newer schema.
  ArchiveDatabase(const std::filesystem::path& path, Access access);
  ~ArchiveDatabase();
  ArchiveDatabase(ArchiveDatabase&&) noexcept;
  ArchiveDatabase& operator=(ArchiveDatabase&&) noexcept;
  ArchiveDatabase(const ArchiveDatabase&) = delete;
  ArchiveDatabase& operator=(const ArchiveDatabase&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return m_Path; }
  [[nodiscard]] bool readOnly() const { return m_Access == Access::ReadOnly; }
  /// The connection, for the archive module's own statements.
  [[nodiscard]] sqlite3* handle() const { return m_Db; }

  /// Schema version written in PRAGMA user_version.
  static constexpr int SchemaVersion = 1;

private:
  std::filesystem::path m_Path;
  Access m_Access{Access::ReadOnly};
  sqlite3* m_Db{nullptr};
};

} // namespace lesion::archive
