#include "lesion/pacs/Retrieve.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "PacsInternal.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"

namespace lesion::pacs {

std::string StudyQuery::toString() const {
  std::vector<std::string> keys;
  if (!studyInstanceUid.empty()) keys.push_back("StudyInstanceUID=" + studyInstanceUid);
  if (!patientId.empty()) keys.push_back("PatientID=" + patientId);
  if (!accessionNumber.empty()) keys.push_back("AccessionNumber=" + accessionNumber);
  return fmt::format("{}", fmt::join(keys, ", "));
}

std::string safeFileName(const std::string& identifier) {
  std::string s;
  for (const char c : identifier) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
                    c == '_' || c == '-';
    s += ok ? c : '_';
  }
  s.erase(0, s.find_first_not_of('.'));
  if (s.size() > 64) s.resize(64);
  return s.empty() ? "unknown" : s;
}

namespace detail {

std::filesystem::path instancePath(const std::filesystem::path& outputFolder, const std::string& study,
                                   const std::string& series, const std::string& instance) {
  return outputFolder / safeFileName(study) / safeFileName(series) / (safeFileName(instance) + ".dcm");
}

void writeInstanceFile(const std::filesystem::path& target,
                       const std::function<void(const std::filesystem::path&)>& write) {
  std::error_code ec;
  std::filesystem::create_directories(target.parent_path(), ec);
  if (ec) throw InputError(fmt::format("cannot create folder '{}': {}", target.parent_path().string(), ec.message()));
  writeFileAtomically(target, write);
}

void listMissingInstances(const std::vector<std::string>& expectedSopInstanceUids, PullResult& result,
                          const std::string& reason) {
  std::set<std::string> have;
  for (const RetrievedInstance& i : result.instances) have.insert(i.sopInstanceUid);
  for (const TransferFailure& f : result.failures) have.insert(f.item);
  for (const std::string& uid : expectedSopInstanceUids) {
    if (have.insert(uid).second) result.failures.push_back({uid, reason});
  }
}

} // namespace detail

PullResult pullStudies(const PeerAddress& peer, const StudyQuery& query, const std::filesystem::path& outputFolder,
                       const ConnectionOptions& options, Progress progress) {
  if (query.empty()) throw UsageError("give --study, --patient or --accession: which studies to pull");
  options.validate();
  std::error_code ec;
  const bool existed = std::filesystem::exists(outputFolder, ec);
  ensureWritableFolder(outputFolder);
  // A folder we created stays only when something was written into it.
  struct RemoveIfEmpty {
    const std::filesystem::path& folder;
    bool active;
    ~RemoveIfEmpty() {
      std::error_code e;
      if (active && std::filesystem::is_empty(folder, e)) std::filesystem::remove(folder, e);
    }
  } cleanup{outputFolder, !existed};
  return peer.protocol == PeerProtocol::Dimse ? detail::pullDimse(peer, query, outputFolder, options, progress)
                                              : detail::pullDicomWeb(peer, query, outputFolder, options, progress);
}

} // namespace lesion::pacs
