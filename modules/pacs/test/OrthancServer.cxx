#include "OrthancServer.h"

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lesion::test {

namespace {
std::size_t append(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}
} // namespace

HttpReply httpRequest(const std::string& method, const std::string& url, const std::string& body,
                      const std::string& contentType, double timeoutSeconds) {
  HttpReply r;
  CURL* c = curl_easy_init();
  curl_slist* headers = nullptr;
  if (!contentType.empty()) headers = curl_slist_append(headers, ("Content-Type: " + contentType).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeoutSeconds * 1000));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  if (headers != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

int freeTcpPort() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) ::close(s);
    throw std::runtime_error("cannot find a free TCP port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

OrthancServer::OrthancServer(const std::string& orthancExecutable, const std::string& dicomWebPlugin,
                             const std::string& callingAeTitle, double startupSeconds) {
  m_DicomPort = freeTcpPort();
  do {
    m_HttpPort = freeTcpPort();
  } while (m_HttpPort == m_DicomPort);
  const fs::path storage = m_Folder / "storage";
  fs::create_directories(storage);
  nlohmann::json config = {
      {"Name", "LesionKitTest"},
      {"StorageDirectory", storage.string()},
      {"IndexDirectory", storage.string()},
      {"HttpPort", m_HttpPort},
      {"DicomPort", m_DicomPort},
      {"DicomAet", "ORTHANC"},
      {"DicomCheckCalledAet", true}, // a wrong called AE title is rejected, as on many PACS
      {"RemoteAccessAllowed", false},
      {"AuthenticationEnabled", false},
      {"DicomAlwaysAllowEcho", true},
      {"DicomAlwaysAllowStore", true},
      {"DicomAlwaysAllowFind", true},
      {"DicomAlwaysAllowGet", true},
      {"DicomModalities",
       {{"lesionkit",
         {{"AET", callingAeTitle}, {"Host", "127.0.0.1"}, {"Port", 104}, {"AllowFind", true}, {"AllowGet", true},
          {"AllowStore", true}, {"AllowEcho", true}}}}},
      {"Plugins", nlohmann::json::array({dicomWebPlugin})},
      {"DicomWeb", {{"Enable", true}, {"Root", "/dicom-web/"}}},
      {"SaveJobs", false},
      {"ConcurrentJobs", 1},
      {"DicomThreadsCount", 2},
      {"HttpThreadsCount", 4},
      {"DicomAssociationCloseDelay", 0},
      {"StorageCompression", false}};
  const fs::path configPath = m_Folder / "orthanc.json";
  std::ofstream(configPath) << config.dump(2);
  const fs::path logPath = m_Folder / "orthanc.log";
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test process
    if (::getppid() != parent) std::_Exit(127);
    if (!std::freopen(logPath.c_str(), "w", stdout) || !std::freopen(logPath.c_str(), "a", stderr)) std::_Exit(127);
    ::execl(orthancExecutable.c_str(), orthancExecutable.c_str(), configPath.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  m_Pid = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(startupSeconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_Pid, &status, WNOHANG) == m_Pid) {
      m_Pid = -1;
      throw std::runtime_error("Orthanc exited during start-up; its log:\n" + log());
    }
    if (httpRequest("GET", restUrl() + "/system", {}, {}, 1.0).status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop(); // the destructor does not run when the constructor throws
  throw std::runtime_error("Orthanc did not answer GET /system within the start-up time; its log:\n" + log());
}

OrthancServer::~OrthancServer() { stop(); }

void OrthancServer::stop() {
  if (m_Pid <= 0) return;
  ::kill(m_Pid, SIGTERM);
  // A clean stop takes Orthanc about 3 s (its threads wake up slowly); its scratch storage is thrown
  // away anyway, so it gets 1 s before SIGKILL.
  for (int i = 0; i < 20; ++i) {
    int status = 0;
    if (::waitpid(m_Pid, &status, WNOHANG) == m_Pid) {
      m_Pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(m_Pid, SIGKILL);
  int status = 0;
  ::waitpid(m_Pid, &status, 0);
  m_Pid = -1;
}

std::string OrthancServer::dimseUrl() const { return "dicom://ORTHANC@127.0.0.1:" + std::to_string(m_DicomPort); }
std::string OrthancServer::restUrl() const { return "http://127.0.0.1:" + std::to_string(m_HttpPort); }

std::string OrthancServer::instanceId(const std::string& sopInstanceUid) const {
  const HttpReply r = httpRequest("POST", restUrl() + "/tools/lookup", sopInstanceUid, "text/plain");
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_array()) return {};
  for (const auto& e : j) {
    if (e.value("Type", "") == "Instance") return e.value("ID", "");
  }
  return {};
}

std::string OrthancServer::log() const {
  std::ifstream in(m_Folder / "orthanc.log");
  std::ostringstream s;
  s << in.rdbuf();
  const std::string all = s.str();
  return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
}

} // namespace lesion::test
