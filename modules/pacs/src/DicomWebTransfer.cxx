// DICOMweb side of pacs: QIDO-RS + WADO-RS (pull) and STOW-RS (push) over libcurl.
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "HttpClient.h"
#include "PacsInternal.h"
#include "lesion/core/Error.h"
#include "lesion/pacs/Multipart.h"

namespace lesion::pacs::detail {

namespace {

constexpr const char* kDicomJson = "application/dicom+json";

/// First value of attribute `tag` ("0020000D") of a DICOM JSON object, as text ("" when absent).
std::string firstValue(const nlohmann::json& object, const char* tag) {
  const auto a = object.find(tag);
  if (a == object.end() || !a->is_object()) return {};
  const auto v = a->find("Value");
  if (v == a->end() || !v->is_array() || v->empty()) return {};
  const nlohmann::json& first = (*v)[0];
  if (first.is_string()) return first.get<std::string>();
  if (first.is_number_integer()) return std::to_string(first.get<long long>());
  return first.dump();
}

/// A QIDO-RS answer: a JSON array of DICOM JSON objects (204 No Content: none).
nlohmann::json qido(HttpClient& http, const std::string& url) {
  const HttpResponse r = http.get(url, kDicomJson);
  if (r.status == 204) return nlohmann::json::array();
  if (!r.ok()) throw ProcessingError(fmt::format("QIDO-RS query {} failed: {}", url, describeHttpFailure(r)));
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_array()) throw ProcessingError(fmt::format("QIDO-RS query {}: the answer is not a DICOM JSON array", url));
  return j;
}

bool looksLikePart10(const std::string& bytes) { return bytes.size() > 132 && bytes.compare(128, 4, "DICM") == 0; }

std::string randomBoundary() {
  std::random_device rd;
  return fmt::format("lesionkit-{:08x}{:08x}{:08x}", rd(), rd(), rd());
}

std::string readFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) throw InputError(fmt::format("cannot read '{}'", path.string()));
  return s.str();
}

} // namespace

PullResult pullDicomWeb(const PeerAddress& peer, const StudyQuery& query, const std::filesystem::path& outputFolder,
                        const ConnectionOptions& options, const Progress& progress) {
  HttpClient http(options.timeoutSeconds);
  PullResult result;
  std::vector<std::string> params;
  if (!query.studyInstanceUid.empty()) params.push_back("StudyInstanceUID=" + http.escape(query.studyInstanceUid));
  if (!query.patientId.empty()) params.push_back("PatientID=" + http.escape(query.patientId));
  if (!query.accessionNumber.empty()) params.push_back("AccessionNumber=" + http.escape(query.accessionNumber));
  const std::string studiesUrl = fmt::format("{}/studies?{}", peer.baseUrl, fmt::join(params, "&"));
  struct Instance {
    std::string study, series, sop, sopClass;
  };
  std::vector<Instance> instances;
  for (const nlohmann::json& study : qido(http, studiesUrl)) {
    const std::string uid = firstValue(study, "0020000D");
    if (uid.empty()) continue;
    result.studyInstanceUids.push_back(uid);
    const std::string url = fmt::format("{}/studies/{}/instances", peer.baseUrl, http.escape(uid));
    for (const nlohmann::json& i : qido(http, url)) {
      instances.push_back({uid, firstValue(i, "0020000E"), firstValue(i, "00080018"), firstValue(i, "00080016")});
    }
  }
  result.expectedInstanceCount = instances.size();
  progress.report(0.05, "retrieving");
  // transfer-syntax=* asks for the instances as stored; servers that refuse it get the default.
  std::string accept = "multipart/related; type=\"application/dicom\"; transfer-syntax=*";
  std::size_t done = 0;
  for (const Instance& i : instances) {
    const std::string url = fmt::format("{}/studies/{}/series/{}/instances/{}", peer.baseUrl, http.escape(i.study),
                                        http.escape(i.series), http.escape(i.sop));
    try {
      HttpResponse r = http.get(url, accept);
      if (r.status == 406 || r.status == 400) {
        accept = "multipart/related; type=\"application/dicom\"";
        r = http.get(url, accept);
      }
      if (!r.ok()) throw ProcessingError(fmt::format("WADO-RS {} failed: {}", url, describeHttpFailure(r)));
      const std::vector<MultipartPart> parts = parseMultipart(r.body, multipartBoundary(r.contentType));
      if (parts.size() != 1 || !looksLikePart10(parts.front().body)) {
        throw ProcessingError(fmt::format("WADO-RS {}: expected one application/dicom part, got {} part(s)", url,
                                          parts.size()));
      }
      RetrievedInstance out{i.study, i.series, i.sop, i.sopClass, instancePath(outputFolder, i.study, i.series, i.sop)};
      writeInstanceFile(out.path, [&](const std::filesystem::path& tmp) {
        std::ofstream f(tmp, std::ios::binary);
        f.write(parts.front().body.data(), static_cast<std::streamsize>(parts.front().body.size()));
        if (!f.flush()) throw InputError(fmt::format("cannot write '{}'", tmp.string()));
      });
      result.instances.push_back(out);
    } catch (const ProcessingError& e) {
      result.failures.push_back({i.sop, e.what()});
    }
    progress.report(0.05 + 0.95 * double(++done) / double(instances.size()), "retrieving");
  }
  return result;
}

PushResult pushDicomWeb(const std::vector<PushItem>& items, const PeerAddress& peer, const ConnectionOptions& options,
                        const Progress& progress) {
  HttpClient http(options.timeoutSeconds);
  PushResult result;
  const std::string url = peer.baseUrl + "/studies";
  constexpr std::size_t kMaxBatchBytes = 64u << 20;
  constexpr std::size_t kMaxBatchFiles = 100;
  std::size_t next = 0;
  while (next < items.size()) {
    // One STOW-RS request per batch of files.
    std::vector<MultipartPart> parts;
    std::size_t bytes = 0;
    const std::size_t first = next;
    while (next < items.size() && parts.size() < kMaxBatchFiles && (parts.empty() || bytes < kMaxBatchBytes)) {
      parts.push_back({"application/dicom", readFileBytes(items[next].path)});
      bytes += parts.back().body.size();
      ++next;
    }
    const std::string boundary = randomBoundary();
    const HttpResponse r = http.post(
        url, fmt::format("multipart/related; type=\"application/dicom\"; boundary={}", boundary),
        buildMultipart(parts, boundary), kDicomJson);
    parts.clear();
    // The answer lists stored instances (Referenced SOP Sequence) and failed ones with a reason.
    std::map<std::string, std::string> stored, failed;
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object()) {
      for (const auto& [tag, into] : {std::pair{"00081199", &stored}, std::pair{"00081198", &failed}}) {
        const auto seq = j.find(tag);
        if (seq == j.end() || !seq->contains("Value")) continue;
        for (const nlohmann::json& it : seq->at("Value")) {
          (*into)[firstValue(it, "00081155")] = firstValue(it, "00081197");
        }
      }
    }
    for (std::size_t k = first; k < next; ++k) {
      PushFileResult f{items[k]};
      const std::string& uid = items[k].sopInstanceUid;
      if (const auto it = failed.find(uid); it != failed.end()) {
        f.message = fmt::format("STOW-RS failure reason {} (HTTP {})", it->second.empty() ? "unknown" : it->second, r.status);
        if (!it->second.empty()) f.status = static_cast<std::uint16_t>(std::stoul(it->second));
      } else if (stored.count(uid) != 0 || (r.status == 200 && stored.empty() && failed.empty())) {
        f.stored = true;
        f.message = fmt::format("Success (HTTP {})", r.status);
      } else {
        f.status = static_cast<std::uint16_t>(r.status);
        f.message = r.ok() ? fmt::format("not confirmed by the peer (HTTP {})", r.status)
                           : fmt::format("STOW-RS to {} failed: {}", url, describeHttpFailure(r));
      }
      result.files.push_back(f);
    }
    progress.report(double(next) / double(items.size()), "sending");
  }
  return result;
}

} // namespace lesion::pacs::detail
