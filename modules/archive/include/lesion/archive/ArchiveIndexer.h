#pragma once
/// \file ArchiveIndexer.h
/// `lesionkit index`: walks a folder tree, parses new and changed DICOM headers in parallel and
/// stores patients, studies, series (with their checks) and instances in the index. Files whose
/// size and modification time are unchanged since the last run are not read again; files that
/// disappeared are removed, with their series re-checked.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/VolumeLoader.h"

namespace lesion::archive {

class ArchiveDatabase;

struct IndexOptions {
  unsigned threads{2}; ///< header parsing threads
  Progress progress{};
};

/// A folder under the root the walk could not list (e.g. no permission): its files keep the
/// entries an earlier run made, neither re-read nor counted as removed.
struct UnreadableFolder {
  std::filesystem::path path{};
  std::string reason{};
};

struct IndexSummary {
  std::size_t filesFound{0};     ///< regular files under the root
  std::size_t filesNew{0};       ///< not in the index before
  std::size_t filesChanged{0};   ///< size or mtime differ: read again
  std::size_t filesUnchanged{0}; ///< skipped
  std::size_t filesRemoved{0};   ///< in the index, no longer on disk
  std::size_t instancesAdded{0}; ///< DICOM images among the new and changed files
  /// New or changed files that are not DICOM images, with reasons; also unchanged ones judged again:
  /// every damaged file (damaged = true, unreadable ones included), so each run lists them all, and
  /// files skipped before as not DICOM yet shorter than 132 bytes (an earlier version's verdict on
  /// an empty slice).
  std::vector<dicomio::SkippedFile> skipped{};
  std::vector<UnreadableFolder> unreadableFolders{};
  std::vector<std::string> notes{}; ///< symlinks not followed (into or above the archive, a loop) or dangling
  std::size_t seriesChecked{0};  ///< series whose checks were recomputed
  std::size_t seriesTotal{0};
  std::size_t studiesTotal{0};
  std::size_t patientsTotal{0};
  double seconds{0.0};
};

/// Throws lesion::InputError when `root`, the folder or file to index, does not exist. indexArchive
/// checks it too; call it before creating the index, so that a bad root leaves no index file.
void checkArchiveRoot(const std::filesystem::path& root);

/// Indexes `root` (a folder, or a single file) into `db`. Symlinked folders are followed (after the
/// real ones; one leading to a folder walked already, or above the root, is noted and skipped);
/// file links whose target cannot be stat-ed are noted as dangling; the index file is left out (by
/// device and inode); folders and files that vanish meanwhile are skipped, folders that cannot be
/// listed are reported and keep their entries. When another index run commits meanwhile, this run
/// diffs again against what it wrote (job state written by a batch does not count).
/// Throws lesion::InputError when root does not exist or cannot be listed, or the index is
/// read-only, cannot be written (permissions, a full disk) or stays locked by another process;
/// lesion::ProcessingError on other database failures (the index then stays as it was: one
/// transaction per run).
IndexSummary indexArchive(ArchiveDatabase& db, const std::filesystem::path& root, const IndexOptions& options = {});

/// The headers of every instance of SeriesInstanceUID `seriesInstanceUid` as stored in the
/// index (paths as indexed).
[[nodiscard]] std::vector<dicomio::DicomInstance> indexedInstancesOfSeries(const ArchiveDatabase& db,
                                                                          const std::string& seriesInstanceUid);

/// What the index knows of the files of SeriesInstanceUID `seriesInstanceUid` (each instance's
/// SOP Instance UID, file size and modification time), as text that changes when any of its files
/// was replaced, added or removed and re-indexed: results computed from the series are stale then.
[[nodiscard]] std::string indexedFilesStamp(const ArchiveDatabase& db, const std::string& seriesInstanceUid);

/// Damaged DICOM files (the DICM magic, but unreadable) in the folders that hold the instances of
/// SeriesInstanceUID `seriesInstanceUid`: slices that series probably lost.
[[nodiscard]] std::vector<dicomio::SkippedFile> damagedFilesBeside(const ArchiveDatabase& db,
                                                                  const std::string& seriesInstanceUid);

/// Throws lesion::InputError naming the file (and how many more) when a file of SeriesInstanceUID
/// `seriesInstanceUid` no longer exists or its size or modification time differ from the index:
/// the index's headers (positions, UIDs) no longer describe it, so it must be indexed again.
void checkIndexedFilesUnchanged(const ArchiveDatabase& db, const std::string& seriesInstanceUid);

/// Loads series `seriesId` (a dicomio::DicomSeries id, "UID" or "UID#2") from the files the
/// index lists, without scanning their folder. Throws lesion::InputError when the index does not
/// hold it or a file of the series changed or vanished since indexing (checkIndexedFilesUnchanged),
/// lesion::DicomError naming the file when a file cannot be decoded.
[[nodiscard]] dicomio::LoadedVolume loadIndexedSeries(const ArchiveDatabase& db, const std::string& seriesId,
                                                      const dicomio::LoadOptions& options = {},
                                                      const Progress& progress = {});

} // namespace lesion::archive
