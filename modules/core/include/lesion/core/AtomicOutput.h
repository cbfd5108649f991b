#pragma once
/// \file AtomicOutput.h
/// Outputs appear complete or not at all: everything is written under a temporary name in the
/// destination folder and renamed into place once complete. A failure removes the temporary.

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lesion {

/// Checks that `folder` exists (or can be created) and is writable; throws lesion::InputError
/// naming the folder and the reason otherwise.
void ensureWritableFolder(const std::filesystem::path& folder);

/// The check of ensureWritableFolder without creating anything: `folder` exists and is writable,
/// or its nearest existing ancestor is a writable folder (so it can be created at write time).
/// For the check before the slow part of a command, so that a failure leaves no empty folder.
void checkWritableFolder(const std::filesystem::path& folder);
/// checkWritableFolder for the folder an output `file` will be written into (the current folder
/// for a bare file name).
void checkWritableParentOf(const std::filesystem::path& file);

/// Refuses an output file that exists as (or links to) a device, FIFO or socket: the finished
/// file renamed over it would replace the node itself (-o /dev/stdout or /dev/full, as root, left
/// a regular file in /dev; a FIFO a reader waits on was deleted). Throws lesion::InputError.
void ensureNotASpecialFile(const std::filesystem::path& output);

/// Refuses an output that would overwrite or delete an input, or that is a device, FIFO or socket
/// (ensureNotASpecialFile, as a UsageError naming `option`): `output` is one of `inputs` (also
/// through a link), or `output` is a folder that holds one (output folders are replaced as a
/// whole). Throws lesion::UsageError naming `option` and the input.
void ensureOutputSparesInputs(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs,
                              const std::string& option);

/// True when writing `output` would replace the file `file`: the same path once resolved, or the
/// same existing file through a link.
[[nodiscard]] bool outputReplaces(const std::filesystem::path& output, const std::filesystem::path& file);

/// Refuses two outputs of one run (option, path) that name the same file: the second written
/// would replace the first. Throws lesion::UsageError naming both options.
void ensureDistinctOutputs(const std::vector<std::pair<std::string, std::filesystem::path>>& outputs);

/// A hidden sibling of `target` in the same folder that keeps its extension in lower case (".nii.gz"
/// whole, also from ".NII.GZ"), so writers that pick a format from the extension still work; the
/// stem is shortened when needed so that the name fits 255 bytes wherever `target`'s own name does.
[[nodiscard]] std::filesystem::path temporarySiblingPath(const std::filesystem::path& target);

/// True for the names temporarySiblingPath and StagedOutputFolder give (".NAME.part-PID-N..."):
/// what a killed write leaves behind, never a finished file.
[[nodiscard]] bool isTemporaryOutputName(const std::filesystem::path& path);
/// True when `path` is a temporary output (isTemporaryOutputName) or lies inside one below `root`
/// (the folder being scanned; every folder of the path when empty): a file in the hidden staging
/// folder ".NAME.part-PID-N/" of a killed staged write is unfinished too. What folder scans (DICOM
/// folder loads, the archive indexer) skip unread; a folder the user names itself is read.
[[nodiscard]] bool isInTemporaryOutput(const std::filesystem::path& path, const std::filesystem::path& root = {});
/// Why a file with such a name is left out of a scan: "'PATH' is an unfinished temporary file of
/// an interrupted LesionKit write (ignored; delete it)".
[[nodiscard]] std::string unfinishedTemporaryFileNote(const std::filesystem::path& path);

/// Calls `write(temporaryPath)`, then renames the temporary onto `target`. If `write` throws,
/// the temporary is removed and the exception propagates; `target` is left as it was.
void writeFileAtomically(const std::filesystem::path& target,
                         const std::function<void(const std::filesystem::path&)>& write);

/// Writes text (e.g. JSON) atomically.
void writeTextFileAtomically(const std::filesystem::path& target, const std::string& text);

/// The folder an output goes into, created (with its missing ancestors) and checked writable as
/// ensureWritableFolder does; without keep() (the output failed), the folders it created go
/// again, as far as they are empty, so a failed command leaves no empty folder behind.
class CreatedOutputFolder {
public:
  explicit CreatedOutputFolder(const std::filesystem::path& folder);
  ~CreatedOutputFolder();
  CreatedOutputFolder(const CreatedOutputFolder&) = delete;
  CreatedOutputFolder& operator=(const CreatedOutputFolder&) = delete;
  void keep() { m_Kept = true; }

private:
  std::filesystem::path m_Folder;         ///< absolute
  std::filesystem::path m_HighestCreated; ///< empty when the folder existed
  bool m_Kept{false};
};

/// The file, inside a command's output folder, that names the command and lists every entry it
/// wrote (folders end with '/'): what makes an existing folder "an earlier output" of the command.
inline constexpr const char* kOutputRecordName = ".lesionkit-output";

/// An existing `folder` may be replaced (deleted) only when empty or an earlier output of `owner`
/// (its kOutputRecordName names the command) holding nothing it did not write; anything else is
/// the user's (a study folder, notes) or another command's output: lesion::InputError naming the
/// folder and the first unexpected entry. A command checks this before long work.
void checkOutputFolderReplaceable(const std::filesystem::path& folder, const std::string& owner);

/// For a folder that `owner` adds to over many runs (lesionkit batch: resumed, sharded), so it
/// is never replaced: accepts it when new, empty, recorded as `owner`'s (kOutputRecordName) or,
/// written before records, holding `legacyMarker` (a folder name); records it as `owner`'s.
/// Anything else is the user's or another command's: lesion::InputError naming the folder and an
/// entry (a results.csv of the user's would be overwritten).
void claimOutputFolder(const std::filesystem::path& folder, const std::string& owner, const std::string& legacyMarker);

/// A folder of outputs staged in a hidden sibling and moved into place by commit().
/// An existing target folder is replaced only at commit. Without commit() (an exception),
/// the staging folder is removed in the destructor. With an `owner` (the command, e.g. "report"),
/// commit() records the command and what it wrote (kOutputRecordName), and an existing target is
/// replaced only when it is empty or an earlier output of that command holding nothing else:
/// replacing deletes what it held, so never a user's file or another command's output
/// (lesion::InputError naming the folder and the first unexpected entry). Without an owner any
/// existing folder is replaced: the caller checks it (e.g. the phantom writer).
class StagedOutputFolder {
public:
  explicit StagedOutputFolder(std::filesystem::path target, std::string owner = {});
  ~StagedOutputFolder();
  StagedOutputFolder(const StagedOutputFolder&) = delete;
  StagedOutputFolder& operator=(const StagedOutputFolder&) = delete;

  /// Where to write a file that should end up at target/relative.
  [[nodiscard]] std::filesystem::path path(const std::filesystem::path& relative = {}) const;
  [[nodiscard]] const std::filesystem::path& target() const { return m_Target; }
  void commit();

private:
  std::filesystem::path m_Target;
  std::string m_Owner;
  CreatedOutputFolder m_Parent;
  std::filesystem::path m_Staging;
  bool m_Committed{false};
};

} // namespace lesion
