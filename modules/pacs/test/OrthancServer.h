#pragma once
/// \file OrthancServer.h
/// A real Orthanc (Debian orthanc + orthanc-dicomweb) on 127.0.0.1 for the pacs tests: free ports
/// picked at run time, storage and configuration in a scratch folder, stopped (SIGTERM, then
/// SIGKILL) when the object goes away -- also when a test fails or the test process dies.

#include <filesystem>
#include <memory>
#include <string>

#include "lesion/testing/TestHarness.h"

namespace lesion::test {

struct HttpReply {
  long status{0};
  std::string body;
};

/// Plain HTTP for checking the server side (libcurl); status 0 when nothing answered.
HttpReply httpRequest(const std::string& method, const std::string& url, const std::string& body = {},
                      const std::string& contentType = {}, double timeoutSeconds = 10);

/// A TCP port on 127.0.0.1 that was free a moment ago.
int freeTcpPort();

class OrthancServer {
public:
  /// Starts Orthanc and waits until GET /system answers (at most `startupSeconds`). `callingAeTitle`
  /// is declared in DicomModalities (C-FIND and C-GET allowed). Throws std::runtime_error with the
  /// end of Orthanc's log when it does not come up.
  OrthancServer(const std::string& orthancExecutable, const std::string& dicomWebPlugin,
                const std::string& callingAeTitle, double startupSeconds = 20);
  ~OrthancServer();
  OrthancServer(const OrthancServer&) = delete;
  OrthancServer& operator=(const OrthancServer&) = delete;

  [[nodiscard]] std::string dimseUrl() const; ///< dicom://ORTHANC@127.0.0.1:<port>
  [[nodiscard]] std::string restUrl() const;  ///< http://127.0.0.1:<port>
  [[nodiscard]] std::string dicomWebUrl() const { return restUrl() + "/dicom-web"; }
  /// Orthanc's id of the instance with this SOP Instance UID ("" when it does not hold it).
  [[nodiscard]] std::string instanceId(const std::string& sopInstanceUid) const;
  [[nodiscard]] std::string log() const;

private:
  void stop(); ///< SIGTERM, then SIGKILL after 1 s; waits for the process
  ScratchFolder m_Folder{"lesionkit-orthanc"};
  int m_Pid{-1};
  int m_DicomPort{0};
  int m_HttpPort{0};
};

} // namespace lesion::test
