#pragma once
/// \file HttpClient.h
/// A small blocking HTTP client on libcurl for DICOMweb: one connection reused across requests,
/// a timeout on connecting and on every request. libcurl stays inside HttpClient.cxx.

#include <memory>
#include <string>

namespace lesion::pacs::detail {

struct HttpResponse {
  long status{0};
  std::string contentType{};
  std::string body{};
  [[nodiscard]] bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
public:
  explicit HttpClient(int timeoutSeconds);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Throws lesion::ProcessingError naming the URL when no answer came (refused, timeout, ...).
  [[nodiscard]] HttpResponse get(const std::string& url, const std::string& accept);
  [[nodiscard]] HttpResponse post(const std::string& url, const std::string& contentType, const std::string& body,
                                  const std::string& accept);
  /// Percent-encodes a query parameter value.
  [[nodiscard]] std::string escape(const std::string& value);

private:
  [[nodiscard]] HttpResponse perform(const std::string& url, const std::string& accept, const std::string* contentType,
                                     const std::string* body);
  struct Impl;
  std::unique_ptr<Impl> m_Impl;
};

/// "404 Not Found: <first 200 characters of the body>" for messages.
[[nodiscard]] std::string describeHttpFailure(const HttpResponse& response);

} // namespace lesion::pacs::detail
