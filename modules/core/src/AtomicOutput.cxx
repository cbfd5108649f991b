#include "lesion/core/AtomicOutput.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>

#include <unistd.h>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace fs = std::filesystem;

namespace lesion {
namespace {

std::atomic<unsigned> g_Counter{0};

std::string uniqueTag() { return fmt::format("{}-{}", ::getpid(), g_Counter++); }

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

/// The extension in lower case, double extensions that format sniffers need kept whole (".nii.gz")
/// matched in any case: "M.NII.GZ" has ".nii.gz" (its temporary was ".M.NII.part-1-0.GZ"), and
/// ITK's NIfTI writer knows no upper case ("Bad Nifti file name: .m.part-1-0.NII.GZ").
std::string fullExtension(const fs::path& p) {
  const std::string name = lowerCase(p.filename().string());
  for (const std::string ext : {".nii.gz", ".vtk.gz"})
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0)
      return ext;
  return lowerCase(p.extension().string());
}

/// The longest file name most file systems take (NAME_MAX of ext4, XFS, btrfs, tmpfs).
constexpr std::size_t kMaxFileNameBytes = 255;

/// ".STEM<marker>EXT" beside the output, `stem` shortened as far as needed for the name to fit
/// kMaxFileNameBytes (a valid 250-byte output name failed with "File name too long" on its
/// temporary), cut before a UTF-8 continuation byte so the name stays valid text.
fs::path hiddenSibling(const fs::path& parent, std::string stem, const std::string& marker, const std::string& ext) {
  const std::size_t fixed = 1 + marker.size() + ext.size();
  if (fixed + stem.size() > kMaxFileNameBytes) {
    std::size_t keep = kMaxFileNameBytes > fixed ? kMaxFileNameBytes - fixed : 0;
    while (keep > 0 && (static_cast<unsigned char>(stem[keep]) & 0xC0) == 0x80)
      --keep;
    stem.resize(keep);
  }
  return parent / ("." + stem + marker + ext);
}

/// `path` made absolute with links and ".." resolved as far as it exists; no trailing separator.
fs::path resolvedPath(fs::path path) {
  if (path.filename().empty())
    path = path.parent_path(); // "out/" -> "out"
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path, ec).lexically_normal() : resolved;
}

/// True when `inner` is `outer` or lies inside it (after resolving both).
bool isSameOrInside(const fs::path& inner, const fs::path& outer) {
  const fs::path in = resolvedPath(inner), out = resolvedPath(outer);
  auto i = in.begin();
  for (auto o = out.begin(); o != out.end(); ++o, ++i) {
    if (i == in.end() || *i != *o)
      return false;
  }
  return true;
}

constexpr const char* kOutputRecordHeader = "lesionkit output of: ";

/// What an output record says: the command that wrote the folder and every entry it wrote.
struct OutputRecord {
  std::string command;
  std::set<std::string> entries;
};

/// Every entry under `folder`, relative, folders with a trailing '/', sorted; links are listed,
/// not followed (replacing the folder removes a link, never what it points to).
std::vector<std::string> listEntries(const fs::path& folder) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code typeError;
    const bool isFolder = it->symlink_status(typeError).type() == fs::file_type::directory;
    entries.push_back(it->path().lexically_relative(folder).generic_string() + (isFolder ? "/" : ""));
  }
  if (ec)
    throw InputError(fmt::format("cannot list output folder '{}': {}", folder.string(), ec.message()));
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string outputRecordText(const std::string& command, const std::vector<std::string>& entries) {
  std::string text = kOutputRecordHeader + command + "\n";
  for (const std::string& entry : entries)
    text += entry + "\n";
  return text;
}

/// The record of `folder`; none when it has no readable record (a user's folder, or an output
/// written before outputs were recorded).
std::optional<OutputRecord> readOutputRecord(const fs::path& folder) {
  std::ifstream in(folder / kOutputRecordName);
  std::string line;
  const std::string header = kOutputRecordHeader;
  if (!in || !std::getline(in, line) || line.rfind(header, 0) != 0)
    return std::nullopt;
  OutputRecord record{line.substr(header.size()), {kOutputRecordName}};
  while (std::getline(in, line))
    record.entries.insert(line);
  return record;
}

/// Hard links are one file under two names: only the file system can tell.
bool isSameExistingFile(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec) && !ec;
}

/// The highest missing folder on the way to `folder`; empty when it exists.
fs::path highestMissingFolder(const fs::path& folder) {
  std::error_code ec;
  fs::path missing;
  for (fs::path p = fs::absolute(folder, ec).lexically_normal(); !p.empty() && !fs::exists(p, ec);
       p = p.parent_path()) {
    missing = p;
    if (!p.has_relative_path())
      break;
  }
  return missing;
}

} // namespace

namespace {

/// "a FIFO" etc. when `path` exists as (or links to) something other than a file or a folder, or
/// lies in /dev or /proc: renaming a finished file onto /dev/stdout (a link there) replaced the
/// link by a regular file, as root, when standard output was a file.
std::optional<std::string> specialFileKind(const fs::path& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec).lexically_normal();
  for (const char* system : {"/dev", "/proc"})
    if (absolute.string().rfind(std::string(system) + "/", 0) == 0)
      return std::string("in ") + system;
  const fs::file_status status = fs::status(path, ec);
  switch (status.type()) {
  case fs::file_type::block:
  case fs::file_type::character:
    return "a device";
  case fs::file_type::fifo:
    return "a FIFO (named pipe)";
  case fs::file_type::socket:
    return "a socket";
  default:
    return std::nullopt;
  }
}

std::string specialFileMessage(const fs::path& output, const std::string& kind) {
  return fmt::format("'{}' is {}, not a file: the output is written under a temporary name and renamed into "
                     "place, which would replace it; choose a file name",
                     output.string(), kind);
}

} // namespace

void ensureNotASpecialFile(const fs::path& output) {
  if (const auto kind = specialFileKind(output))
    throw InputError(specialFileMessage(output, *kind));
}

bool outputReplaces(const fs::path& output, const fs::path& file) {
  return isSameExistingFile(file, output) || resolvedPath(file) == resolvedPath(output);
}

void ensureOutputSparesInputs(const fs::path& output, const std::vector<fs::path>& inputs, const std::string& option) {
  if (const auto kind = specialFileKind(output))
    throw UsageError(option + " " + specialFileMessage(output, *kind));
  for (const fs::path& input : inputs) {
    if (input.empty())
      continue;
    if (outputReplaces(output, input)) {
      throw UsageError(fmt::format("{} '{}' is the input '{}': writing it would overwrite the input; choose another "
                                   "output name",
                                   option, output.string(), input.string()));
    }
    if (isSameOrInside(input, output)) {
      throw UsageError(fmt::format("{} '{}' holds the input '{}': the output folder is replaced as a whole, which "
                                   "would delete the input; choose another output folder",
                                   option, output.string(), input.string()));
    }
  }
}

void ensureDistinctOutputs(const std::vector<std::pair<std::string, fs::path>>& outputs) {
  for (std::size_t a = 0; a < outputs.size(); ++a) {
    for (std::size_t b = a + 1; b < outputs.size(); ++b) {
      if (resolvedPath(outputs[a].second) != resolvedPath(outputs[b].second))
        continue;
      throw UsageError(
          fmt::format("{} and {} both name '{}': the second would replace the first; give each its own file",
                      outputs[a].first, outputs[b].first, outputs[b].second.string()));
    }
  }
}

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

void checkWritableParentOf(const fs::path& file) { checkWritableFolder(file.parent_path()); }

void checkWritableFolder(const fs::path& folder) {
  std::error_code ec;
  fs::path existing = fs::absolute(folder.empty() ? fs::path{"."} : folder, ec).lexically_normal();
  if (existing.filename().empty())
    existing = existing.parent_path(); // "out/" -> "out"
  while (!fs::exists(existing, ec) && existing.has_relative_path())
    existing = existing.parent_path();
  if (!fs::is_directory(existing, ec)) {
    throw InputError(
        fmt::format("cannot create output folder '{}': '{}' is not a folder", folder.string(), existing.string()));
  }
  if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    throw InputError(fmt::format("cannot write to output folder '{}': {}", folder.string(), std::strerror(errno)));
  }
}

fs::path temporarySiblingPath(const fs::path& target) {
  const std::string ext = fullExtension(target);
  std::string stem = target.filename().string();
  stem.resize(stem.size() - ext.size());
  return hiddenSibling(target.parent_path(), stem, ".part-" + uniqueTag(), ext);
}

std::string unfinishedTemporaryFileNote(const fs::path& path) {
  return "'" + path.string() +
         "' is an unfinished temporary file of an interrupted LesionKit write (ignored; delete it)";
}

bool isTemporaryOutputName(const fs::path& path) {
  const std::string name = path.filename().string();
  const std::size_t part = name.find(".part-", 1);
  if (name.empty() || name.front() != '.' || part == std::string::npos)
    return false;
  // uniqueTag(): "<pid>-<counter>"
  std::size_t i = part + 6;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])))
      ++i;
    return i > from;
  };
  return digits() && i < name.size() && name[i++] == '-' && digits();
}

bool isInTemporaryOutput(const fs::path& path, const fs::path& root) {
  if (isTemporaryOutputName(path))
    return true;
  const fs::path below = root.empty() ? path : path.lexically_relative(root);
  return std::any_of(below.begin(), below.end(), [](const fs::path& part) { return isTemporaryOutputName(part); });
}

void writeFileAtomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  // Normalised: "out/ro/../x.json" makes "out", not the detour "out/ro" as well.
  const fs::path file = target.lexically_normal();
  ensureWritableFolder(file.parent_path());
  ensureNotASpecialFile(file);
  const fs::path tmp = temporarySiblingPath(file);
  try {
    write(tmp);
    if (!fs::exists(tmp))
      throw ProcessingError(fmt::format("writer produced no file for '{}'", target.string()));
    fs::rename(tmp, file);
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

CreatedOutputFolder::CreatedOutputFolder(const fs::path& folder) {
  std::error_code ec;
  m_Folder = fs::absolute(folder.empty() ? fs::path{"."} : folder, ec).lexically_normal();
  m_HighestCreated = highestMissingFolder(m_Folder);
  ensureWritableFolder(m_Folder);
}

CreatedOutputFolder::~CreatedOutputFolder() {
  if (m_Kept || m_HighestCreated.empty())
    return;
  std::error_code ignored;
  // fs::remove takes empty folders only: anything written there meanwhile stays.
  for (fs::path p = m_Folder; p.string().size() >= m_HighestCreated.string().size(); p = p.parent_path())
    if (!fs::remove(p, ignored))
      break;
}

namespace {

fs::path withoutTrailingSeparator(fs::path p) { return p.filename().empty() ? p.parent_path() : p; } // "out/" -> "out"

fs::path parentOf(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path{"."}; }

} // namespace

void checkOutputFolderReplaceable(const fs::path& folder, const std::string& owner) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    return;
  const std::vector<std::string> entries = listEntries(folder);
  if (entries.empty())
    return;
  const std::optional<OutputRecord> record = readOutputRecord(folder);
  if (record && record->command != owner) {
    throw InputError(fmt::format("output folder '{}' is an output of lesionkit {}, not of lesionkit {}; replacing it "
                                 "would delete it: choose a new or empty folder",
                                 folder.string(), record->command, owner));
  }
  const auto unexpected = std::find_if(entries.begin(), entries.end(),
                                       [&](const std::string& e) { return !record || !record->entries.count(e); });
  if (unexpected == entries.end())
    return;
  const std::string unrecorded =
      record ? std::string()
             : fmt::format("; it has no {} record: if it is an output of an older LesionKit, delete it yourself",
                           kOutputRecordName);
  throw InputError(fmt::format("output folder '{}' exists and holds other files ('{}'); replacing it would delete "
                               "them: choose a new or empty folder (only an earlier output of lesionkit {} that holds "
                               "nothing else is replaced{})",
                               folder.string(), *unexpected, owner, unrecorded));
}

void claimOutputFolder(const fs::path& folder, const std::string& owner, const std::string& legacyMarker) {
  ensureWritableFolder(folder);
  std::error_code ec;
  const std::optional<OutputRecord> record = readOutputRecord(folder);
  if (record && record->command == owner)
    return;
  if (record) {
    throw InputError(fmt::format("output folder '{}' is an output of lesionkit {}, not of lesionkit {}: choose a new "
                                 "or empty folder",
                                 folder.string(), record->command, owner));
  }
  // Only the top level: a batch folder of an older version holds thousands of patients.
  // (ensureWritableFolder has made the folder.)
  if (!fs::is_directory(folder / legacyMarker, ec)) {
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      // Another run claiming the same new folder at the same moment (shards started together) is
      // writing its record: not someone else's file.
      const fs::path name = entry.path().filename();
      if (name == kOutputRecordName || isTemporaryOutputName(name))
        continue;
      throw InputError(fmt::format("output folder '{}' exists and holds other files ('{}'), not an output of lesionkit "
                                   "{}: its files could be overwritten; choose a new or empty folder",
                                   folder.string(), name.string(), owner));
    }
  }
  writeTextFileAtomically(folder / kOutputRecordName, outputRecordText(owner, {}));
}

StagedOutputFolder::StagedOutputFolder(fs::path target, std::string owner)
    : m_Target(withoutTrailingSeparator(target.lexically_normal())), m_Owner(std::move(owner)),
      m_Parent(parentOf(m_Target)) {
  // m_Target is normalised so that "out/ro/../x" stages beside "out/x", creating no "out/ro".
  std::error_code ec;
  if (fs::exists(m_Target, ec) && !fs::is_directory(m_Target, ec)) {
    throw InputError(fmt::format("output '{}' exists and is not a folder", m_Target.string()));
  }
  if (!m_Owner.empty())
    checkOutputFolderReplaceable(m_Target, m_Owner);
  m_Staging = hiddenSibling(parentOf(m_Target), m_Target.filename().string(), ".part-" + uniqueTag(), "");
  fs::create_directories(m_Staging, ec);
  if (ec) throw InputError(fmt::format("cannot create '{}': {}", m_Staging.string(), ec.message()));
}

StagedOutputFolder::~StagedOutputFolder() {
  if (!m_Committed) {
    std::error_code ignored;
    fs::remove_all(m_Staging, ignored); // then m_Parent removes the folders made for the target
  }
}

fs::path StagedOutputFolder::path(const fs::path& relative) const {
  return relative.empty() ? m_Staging : m_Staging / relative;
}

void StagedOutputFolder::commit() {
  if (!m_Owner.empty()) {
    checkOutputFolderReplaceable(m_Target, m_Owner); // again: the user may have added files while the command ran
    writeTextFileAtomically(m_Staging / kOutputRecordName, outputRecordText(m_Owner, listEntries(m_Staging)));
  }
  std::error_code ec;
  fs::path old;
  if (fs::exists(m_Target, ec)) {
    old = hiddenSibling(m_Target.parent_path(), m_Target.filename().string(), ".old-" + uniqueTag(), "");
    fs::rename(m_Target, old, ec);
    if (ec) throw InputError(fmt::format("cannot replace '{}': {}", m_Target.string(), ec.message()));
  }
  fs::rename(m_Staging, m_Target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, m_Target, ec);
    throw InputError(fmt::format("cannot move outputs into '{}': {}", m_Target.string(), ec.message()));
  }
  m_Committed = true;
  m_Parent.keep();
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace lesion
