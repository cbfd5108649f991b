#pragma once
/// \file TestHarness.h
/// Shared test helpers: finding the real public test data, scratch folders, running our
/// executables as a user would.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace lesion::test {

/// Root of the real public test data: $LESIONKIT_TEST_DATA, else the configured default.
[[nodiscard]] std::optional<std::filesystem::path> testDataRoot();
/// testDataRoot()/relative when it exists.
[[nodiscard]] std::optional<std::filesystem::path> testDataPath(const std::string& relative);

/// Folder of our built executables ($LESIONKIT_BIN, else the configured build's bin/).
[[nodiscard]] std::filesystem::path binaryDir();

/// A fresh folder under the system temp dir, removed with its contents on destruction.
class ScratchFolder {
public:
  explicit ScratchFolder(const std::string& prefix = "lesionkit-test");
  ~ScratchFolder();
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return m_Path; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return m_Path / name; }

private:
  std::filesystem::path m_Path;
};

struct ProcessResult {
  int exitCode{-1};
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] resolved in binaryDir() when it has no '/'), capturing stdout/stderr.
[[nodiscard]] ProcessResult runProcess(const std::vector<std::string>& argv);

/// A warning containing `text` was said once, on stderr ("<tool>: warning: ..."), and not on stdout
/// (which holds results and "wrote" lines for scripts).
inline void expectWarnedOnceOnStderr(const ProcessResult& r, const std::string& text) {
  const std::size_t first = r.err.find(text);
  EXPECT_NE(first, std::string::npos) << "stderr lacks '" << text << "':\n" << r.err;
  if (first != std::string::npos) {
    EXPECT_EQ(r.err.find(text, first + 1), std::string::npos) << "said twice on stderr:\n" << r.err;
    EXPECT_NE(r.err.rfind("warning: ", first), std::string::npos) << r.err;
  }
  EXPECT_EQ(r.out.find(text), std::string::npos) << "also on stdout:\n" << r.out;
}

/// Runs `body` in a child process as user nobody when this process is root (root reads and writes
/// every file whatever its mode, so permissions can only be tested without it), else here. Returns
/// body's result (the child's exit code); an exception in the child is printed and gives 98. Only
/// the exit code leaves the child: gtest assertions inside `body` are not recorded.
int runAsUnprivilegedUser(const std::function<int()>& body);

/// Makes `folder` and everything in it nobody's when this process is root (for runAsUnprivilegedUser).
void giveToUnprivilegedUser(const std::filesystem::path& folder);

/// Files (recursively) under `folder`, relative and sorted: to check nothing half-written stays.
[[nodiscard]] std::vector<std::string> listFiles(const std::filesystem::path& folder);

/// Replaces the voxel data of NRRD `target` (everything after its header's blank line) with that of
/// NRRD `voxelsFrom` (same type and encoding), keeping `target`'s header: what a tool that edits
/// the pixels and keeps the header (pynrrd, SimpleITK) leaves behind.
void replaceNrrdVoxelsKeepingHeader(const std::filesystem::path& target, const std::filesystem::path& voxelsFrom);

} // namespace lesion::test

/// Binds `var` to the data path or skips the test with a message naming the missing data.
#define LESIONKIT_REQUIRE_TEST_DATA(var, relative)                                                        \
  const auto var##_optional = ::lesion::test::testDataPath(relative);                                  \
  if (!var##_optional) {                                                                                   \
    GTEST_SKIP() << "real test data '" << (relative)                                                       \
                 << "' not found: set LESIONKIT_TEST_DATA to the shared data folder (../shared/data)";     \
  }                                                                                                        \
  const std::filesystem::path var = *var##_optional

/// Skips the test with a message when the lesionkit executable is not built in binaryDir().
#define LESIONKIT_REQUIRE_BINARY()                                                                         \
  if (!std::filesystem::exists(::lesion::test::binaryDir() / "lesionkit"))                                 \
  GTEST_SKIP() << "lesionkit binary not built in " << ::lesion::test::binaryDir() << ": build target lesionkit"
