#pragma once
/// \file AtomicOutput.h
/// Outputs appear complete or not at all: everything is written under a temporary name in the
/// destination folder and renamed into place once complete. A failure removes the temporary.

#include <filesystem>
#include <functional>
#include <string>

namespace lesion {

/// Checks that `folder` exists (or can be created) and is writable; throws lesion::InputError
/// naming the folder and the reason otherwise.
void ensureWritableFolder(const std::filesystem::path& folder);

/// A hidden sibling of `target` in the same folder that keeps its extension (".nii.gz" too),
/// so writers that pick a format from the extension still work.
[[nodiscard]] std::filesystem::path temporarySiblingPath(const std::filesystem::path& target);

/// Calls `write(temporaryPath)`, then renames the temporary onto `target`. If `write` throws,
/// the temporary is removed and the exception propagates; `target` is left as it was.
void writeFileAtomically(const std::filesystem::path& target,
                         const std::function<void(const std::filesystem::path&)>& write);

/// Writes text (e.g. JSON) atomically.
void writeTextFileAtomically(const std::filesystem::path& target, const std::string& text);

/// A folder of outputs staged in a hidden sibling and moved into place by commit().
/// An existing target folder is replaced only at commit. Without commit() (an exception),
/// the staging folder is removed in the destructor.
class StagedOutputFolder {
public:
  explicit StagedOutputFolder(std::filesystem::path target);
  ~StagedOutputFolder();
  StagedOutputFolder(const StagedOutputFolder&) = delete;
  StagedOutputFolder& operator=(const StagedOutputFolder&) = delete;

  /// Where to write a file that should end up at target/relative.
  [[nodiscard]] std::filesystem::path path(const std::filesystem::path& relative = {}) const;
  [[nodiscard]] const std::filesystem::path& target() const { return m_Target; }
  void commit();

private:
  std::filesystem::path m_Target;
  std::filesystem::path m_Staging;
  bool m_Committed{false};
};

} // namespace lesion
