#include "HttpClient.h"

#include <chrono>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::pacs::detail {

namespace {

std::size_t appendBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

/// Stall detection: aborts the transfer when no byte moved either way for `limit`.
struct StallWatch {
  std::chrono::steady_clock::duration limit;
  std::chrono::steady_clock::time_point lastMove{std::chrono::steady_clock::now()};
  curl_off_t lastTotal{-1};
  bool stalled{false};
};

int watchStall(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* w = static_cast<StallWatch*>(user);
  const auto now = std::chrono::steady_clock::now();
  if (dlnow + ulnow != w->lastTotal) {
    w->lastTotal = dlnow + ulnow;
    w->lastMove = now;
  } else if (now - w->lastMove > w->limit) {
    w->stalled = true;
    return 1; // abort
  }
  return 0;
}

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

struct HttpClient::Impl {
  CURL* curl{nullptr};
  long timeoutSeconds{30};
};

HttpClient::HttpClient(int timeoutSeconds) : m_Impl(std::make_unique<Impl>()) {
  globalInit();
  m_Impl->curl = curl_easy_init();
  if (m_Impl->curl == nullptr) throw ProcessingError("libcurl could not start an HTTP session");
  m_Impl->timeoutSeconds = timeoutSeconds;
}

HttpClient::~HttpClient() {
  if (m_Impl && m_Impl->curl != nullptr) curl_easy_cleanup(m_Impl->curl);
}

std::string HttpClient::escape(const std::string& value) {
  char* e = curl_easy_escape(m_Impl->curl, value.c_str(), static_cast<int>(value.size()));
  std::string s = e != nullptr ? e : "";
  curl_free(e);
  return s;
}

HttpResponse HttpClient::get(const std::string& url, const std::string& accept) {
  return perform(url, accept, nullptr, nullptr);
}

HttpResponse HttpClient::post(const std::string& url, const std::string& contentType, const std::string& body,
                              const std::string& accept) {
  return perform(url, accept, &contentType, &body);
}

HttpResponse HttpClient::perform(const std::string& url, const std::string& accept, const std::string* contentType,
                                 const std::string* body) {
  CURL* c = m_Impl->curl;
  curl_easy_reset(c);
  HttpResponse r;
  char errors[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  if (contentType != nullptr) headers = curl_slist_append(headers, ("Content-Type: " + *contentType).c_str());
  headers = curl_slist_append(headers, "Expect:"); // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errors);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, m_Impl->timeoutSeconds);
  // The whole request may take longer than the timeout (a large study); a stall may not.
  StallWatch watch{std::chrono::seconds(m_Impl->timeoutSeconds)};
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &watchStall);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &watch);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  const CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    const std::string detail = watch.stalled ? fmt::format("the peer sent nothing for {} s", m_Impl->timeoutSeconds)
                               : errors[0] != '\0'  ? std::string(errors)
                                                    : std::string(curl_easy_strerror(code));
    throw ProcessingError(fmt::format("no answer from {}: {} (timeout {} s)", url, detail, m_Impl->timeoutSeconds));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  const char* type = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr) r.contentType = type;
  return r;
}

std::string describeHttpFailure(const HttpResponse& response) {
  std::string text = response.body.substr(0, 200);
  for (char& ch : text) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return fmt::format("HTTP {}{}{}", response.status, text.empty() ? "" : ": ", text);
}

} // namespace lesion::pacs::detail
