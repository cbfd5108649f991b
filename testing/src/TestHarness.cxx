#include "lesion/testing/TestHarness.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lesion::test {

std::optional<fs::path> testDataRoot() {
  const char* env = std::getenv("LESIONKIT_TEST_DATA");
  fs::path root = env != nullptr && *env != '\0' ? fs::path{env} : fs::path{LESIONKIT_DEFAULT_TEST_DATA};
  std::error_code ec;
  if (fs::is_directory(root, ec)) return root;
  return std::nullopt;
}

std::optional<fs::path> testDataPath(const std::string& relative) {
  const auto root = testDataRoot();
  if (!root) return std::nullopt;
  std::error_code ec;
  const fs::path p = *root / relative;
  if (fs::exists(p, ec)) return p;
  return std::nullopt;
}

fs::path binaryDir() {
  const char* env = std::getenv("LESIONKIT_BIN");
  return env != nullptr && *env != '\0' ? fs::path{env} : fs::path{LESIONKIT_DEFAULT_BIN};
}

ScratchFolder::ScratchFolder(const std::string& prefix) {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path candidate = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (fs::create_directory(candidate)) {
      m_Path = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a scratch folder");
}

ScratchFolder::~ScratchFolder() {
  std::error_code ec;
  // Make read-only folders made by tests removable again.
  for (auto it = fs::recursive_directory_iterator(m_Path, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::permissions(m_Path, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(m_Path, ec);
}

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
} // namespace

ProcessResult runProcess(const std::vector<std::string>& argv) {
  ProcessResult r;
  if (argv.empty()) return r;
  ScratchFolder capture("lesionkit-capture");
  const fs::path outFile = capture / "stdout";
  const fs::path errFile = capture / "stderr";
  std::string program = argv[0];
  if (program.find('/') == std::string::npos && fs::exists(binaryDir() / program)) program = (binaryDir() / program).string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(outFile.c_str(), "w", stdout) || !std::freopen(errFile.c_str(), "w", stderr)) std::_Exit(127);
    std::vector<char*> cargs;
    cargs.push_back(const_cast<char*>(program.c_str()));
    for (std::size_t i = 1; i < argv.size(); ++i) cargs.push_back(const_cast<char*>(argv[i].c_str()));
    cargs.push_back(nullptr);
    ::execvp(cargs[0], cargs.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(outFile);
  r.err = slurp(errFile);
  return r;
}

int runAsUnprivilegedUser(const std::function<int()>& body) {
  if (::geteuid() != 0)
    return body();
  constexpr uid_t nobody = 65534;
  const pid_t child = ::fork();
  if (child == 0) {
    int code = 99;
    if (::setgroups(0, nullptr) == 0 && ::setgid(nobody) == 0 && ::setuid(nobody) == 0) {
      try {
        code = body();
      } catch (const std::exception& e) {
        std::cerr << "as user nobody: " << e.what() << '\n';
        code = 98;
      }
    }
    std::_Exit(code); // no test teardown in the child
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void giveToUnprivilegedUser(const fs::path& folder) {
  if (::geteuid() != 0)
    return;
  constexpr uid_t nobody = 65534;
  if (::chown(folder.c_str(), nobody, nobody) != 0)
    throw std::runtime_error("cannot chown " + folder.string());
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (::lchown(e.path().c_str(), nobody, nobody) != 0)
      throw std::runtime_error("cannot chown " + e.path().string());
}

std::vector<std::string> listFiles(const fs::path& folder) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    files.push_back(fs::relative(it->path(), folder).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

namespace {
/// A NRRD file's header (up to and with the blank line) and its data.
std::pair<std::string, std::string> nrrdParts(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t end = bytes.find("\n\n");
  if (end == std::string::npos)
    throw std::runtime_error("'" + path.string() + "' is not a NRRD file with an attached header");
  return {bytes.substr(0, end + 2), bytes.substr(end + 2)};
}
} // namespace

void replaceNrrdVoxelsKeepingHeader(const fs::path& target, const fs::path& voxelsFrom) {
  const std::string header = nrrdParts(target).first;
  const std::string voxels = nrrdParts(voxelsFrom).second;
  std::ofstream(target, std::ios::binary | std::ios::trunc) << header << voxels;
}

} // namespace lesion::test
