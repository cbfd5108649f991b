#pragma once
/// \file PeerAddress.h
/// Where a PACS is and how to talk to it: a DIMSE peer (dicom://AET@host:port) or a DICOMweb
/// service root (http://host:port/dicom-web), plus our own AE title and the network timeout.

#include <string>

namespace lesion::pacs {

enum class PeerProtocol {
  Dimse,   ///< DICOM upper layer: C-FIND, C-GET, C-STORE
  DicomWeb ///< HTTP: QIDO-RS, WADO-RS, STOW-RS
};

struct PeerAddress {
  PeerProtocol protocol{PeerProtocol::Dimse};
  std::string aeTitle{}; ///< called AE title (DIMSE)
  std::string host{};
  int port{0};
  std::string baseUrl{}; ///< DICOMweb service root without a trailing '/', e.g. http://host:8042/dicom-web

  /// Parses "dicom://AET@host:port" (AET 1..16 characters, no backslash) or an http(s):// URL.
  /// Throws lesion::UsageError saying what was expected, naming `what` (e.g. "--from").
  [[nodiscard]] static PeerAddress parse(const std::string& text, const std::string& what);
  /// "dicom://AET@host:port" or the base URL: for messages.
  [[nodiscard]] std::string toString() const;
};

struct ConnectionOptions {
  std::string callingAeTitle{"LESIONKIT"}; ///< our AE title (DIMSE)
  /// Seconds allowed for connecting and for each network exchange (DIMSE message, HTTP request);
  /// nothing waits longer than this for the peer.
  int timeoutSeconds{30};

  /// Throws lesion::UsageError for an AE title that is empty, longer than 16 characters or holds
  /// a backslash or control character, or a timeout below 1 s.
  void validate() const;
};

/// Throws lesion::UsageError unless `aeTitle` is a valid AE title (1..16 characters, no '\\' or
/// control characters, not only spaces); `what` names the option in the message.
void validateAeTitle(const std::string& aeTitle, const std::string& what);

} // namespace lesion::pacs
