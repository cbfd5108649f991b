#include "lesion/pacs/PeerAddress.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::pacs {

namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

int parsePort(const std::string& text, const std::string& what, const std::string& whole) {
  const bool digits = !text.empty() && text.size() <= 5 &&
                      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  const int port = digits ? std::stoi(text) : 0;
  if (port < 1 || port > 65535) {
    throw UsageError(fmt::format("{} '{}': the port '{}' is not a number from 1 to 65535", what, whole, text));
  }
  return port;
}

} // namespace

void validateAeTitle(const std::string& aeTitle, const std::string& what) {
  const bool printable = std::all_of(aeTitle.begin(), aeTitle.end(),
                                     [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
  const bool blank = aeTitle.find_first_not_of(' ') == std::string::npos;
  if (aeTitle.size() > 16 || !printable || blank) {
    throw UsageError(fmt::format("{} '{}': an AE title is 1 to 16 printable characters without '\\'", what, aeTitle));
  }
}

PeerAddress PeerAddress::parse(const std::string& text, const std::string& what) {
  PeerAddress a;
  if (startsWith(text, "http://") || startsWith(text, "https://")) {
    a.protocol = PeerProtocol::DicomWeb;
    a.baseUrl = text;
    while (!a.baseUrl.empty() && a.baseUrl.back() == '/') a.baseUrl.pop_back();
    const std::size_t hostStart = a.baseUrl.find("://") + 3;
    const std::size_t hostEnd = a.baseUrl.find_first_of(":/?#", hostStart);
    a.host = a.baseUrl.substr(hostStart, hostEnd == std::string::npos ? std::string::npos : hostEnd - hostStart);
    if (a.host.empty() || a.baseUrl.find_first_of("?# ") != std::string::npos) {
      throw UsageError(fmt::format("{} '{}': expected a DICOMweb service root such as http://host:8042/dicom-web",
                                   what, text));
    }
    return a;
  }
  const std::string scheme = "dicom://";
  const std::size_t at = text.rfind('@');
  const std::size_t colon = text.rfind(':');
  if (!startsWith(text, scheme) || at == std::string::npos || at < scheme.size() || colon == std::string::npos ||
      colon < at) {
    throw UsageError(fmt::format("{} '{}': expected dicom://AET@host:port (DIMSE) or http://host:port/dicom-web "
                                 "(DICOMweb)",
                                 what, text));
  }
  a.protocol = PeerProtocol::Dimse;
  a.aeTitle = text.substr(scheme.size(), at - scheme.size());
  a.host = text.substr(at + 1, colon - at - 1);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  validateAeTitle(a.aeTitle, what + " (called AE title)");
  if (a.host.empty()) throw UsageError(fmt::format("{} '{}': the host name is missing", what, text));
  a.port = parsePort(text.substr(colon + 1), what, text);
  return a;
}

std::string PeerAddress::toString() const {
  if (protocol == PeerProtocol::DicomWeb) return baseUrl;
  return fmt::format("dicom://{}@{}:{}", aeTitle, host, port);
}

void ConnectionOptions::validate() const {
  validateAeTitle(callingAeTitle, "--aet");
  if (timeoutSeconds < 1) throw UsageError(fmt::format("--timeout {}: expected at least 1 second", timeoutSeconds));
}

} // namespace lesion::pacs
