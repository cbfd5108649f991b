#include "lesion/core/AtomicOutput.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace fs = std::filesystem;

namespace lesion {
namespace {

std::atomic<unsigned> g_Counter{0};

std::string uniqueTag() { return fmt::format("{}-{}", ::getpid(), g_Counter++); }

/// ".nii.gz" and ".seg.nrrd"-style double extensions that format sniffers need kept whole.
std::string fullExtension(const fs::path& p) {
  const std::string name = p.filename().string();
  for (const char* ext : {".nii.gz", ".vtk.gz"}) {
    const std::string e{ext};
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return e;
  }
  return p.extension().string();
}

} // namespace

void ensureWritableFolder(const fs::path& folder) {
  std::error_code ec;
  const fs::path f = folder.empty() ? fs::path{"."} : folder;
  if (!fs::exists(f, ec)) {
    fs::create_directories(f, ec);
    if (ec) throw InputError(fmt::format("cannot create output folder '{}': {}", f.string(), ec.message()));
  }
  if (!fs::is_directory(f, ec)) throw InputError(fmt::format("output folder '{}' is not a folder", f.string()));
  if (::access(f.c_str(), W_OK | X_OK) != 0) {
    throw InputError(fmt::format("cannot write to output folder '{}': {}", f.string(), std::strerror(errno)));
  }
}

fs::path temporarySiblingPath(const fs::path& target) {
  const std::string ext = fullExtension(target);
  std::string stem = target.filename().string();
  stem.resize(stem.size() - ext.size());
  return target.parent_path() / fmt::format(".{}.part-{}{}", stem, uniqueTag(), ext);
}

void writeFileAtomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  ensureWritableFolder(target.parent_path());
  const fs::path tmp = temporarySiblingPath(target);
  try {
    write(tmp);
    if (!fs::exists(tmp)) throw ProcessingError(fmt::format("writer produced no file for '{}'", target.string()));
    fs::rename(tmp, target);
  } catch (const fs::filesystem_error& e) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw InputError(fmt::format("cannot write '{}': {}", target.string(), e.code().message()));
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

void writeTextFileAtomically(const fs::path& target, const std::string& text) {
  writeFileAtomically(target, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw InputError(fmt::format("cannot write '{}': {}", target.string(), std::strerror(errno)));
  });
}

StagedOutputFolder::StagedOutputFolder(fs::path target) : m_Target(std::move(target)) {
  if (m_Target.filename().empty()) m_Target = m_Target.parent_path(); // "out/" -> "out"
  const fs::path parent = m_Target.has_parent_path() ? m_Target.parent_path() : fs::path{"."};
  ensureWritableFolder(parent);
  std::error_code ec;
  if (fs::exists(m_Target, ec) && !fs::is_directory(m_Target, ec)) {
    throw InputError(fmt::format("output '{}' exists and is not a folder", m_Target.string()));
  }
  m_Staging = parent / fmt::format(".{}.part-{}", m_Target.filename().string(), uniqueTag());
  fs::create_directories(m_Staging, ec);
  if (ec) throw InputError(fmt::format("cannot create '{}': {}", m_Staging.string(), ec.message()));
}

StagedOutputFolder::~StagedOutputFolder() {
  if (!m_Committed) {
    std::error_code ignored;
    fs::remove_all(m_Staging, ignored);
  }
}

fs::path StagedOutputFolder::path(const fs::path& relative) const {
  return relative.empty() ? m_Staging : m_Staging / relative;
}

void StagedOutputFolder::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(m_Target, ec)) {
    old = m_Target.parent_path() / fmt::format(".{}.old-{}", m_Target.filename().string(), uniqueTag());
    fs::rename(m_Target, old, ec);
    if (ec) throw InputError(fmt::format("cannot replace '{}': {}", m_Target.string(), ec.message()));
  }
  fs::rename(m_Staging, m_Target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, m_Target, ec);
    throw InputError(fmt::format("cannot move outputs into '{}': {}", m_Target.string(), ec.message()));
  }
  m_Committed = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace lesion
