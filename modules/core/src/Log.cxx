#include "lesion/core/Log.h"

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

namespace lesion {
namespace {
std::mutex g_SinkMutex;
LogSink g_Sink;
std::atomic<int> g_Level{static_cast<int>(LogLevel::Info)};
std::atomic<bool> g_HasSink{false};
thread_local std::vector<std::string> t_Contexts;
thread_local std::vector<std::vector<std::string>*> t_Captures; // WarningCapture's, innermost last
} // namespace

WarningCapture::WarningCapture() { t_Captures.push_back(&m_Warnings); }
WarningCapture::~WarningCapture() { t_Captures.pop_back(); }

bool firstTimeFor(const std::string& key) {
  static std::mutex mutex;
  static std::set<std::string> seen;
  const std::lock_guard lock(mutex);
  return seen.insert(key).second;
}

LogContext::LogContext(std::string label) { t_Contexts.push_back(std::move(label)); }
LogContext::~LogContext() { t_Contexts.pop_back(); }

void setLogSink(LogSink sink) {
  const std::lock_guard lock(g_SinkMutex);
  g_HasSink = static_cast<bool>(sink);
  g_Sink = std::move(sink);
}

void setLogLevel(LogLevel level) { g_Level = static_cast<int>(level); }

bool logEnabled(LogLevel level) {
  return (g_HasSink && static_cast<int>(level) >= g_Level) || (level == LogLevel::Warning && !t_Captures.empty());
}

void logMessage(LogLevel level, std::string_view message) {
  if (level == LogLevel::Warning)
    for (std::vector<std::string>* capture : t_Captures)
      capture->emplace_back(message);
  std::string text; // "context, context: message", built only inside a LogContext
  for (const std::string& label : t_Contexts)
    text += (text.empty() ? "" : ", ") + label;
  if (!text.empty())
    text += ": " + std::string(message);
  const std::lock_guard lock(g_SinkMutex);
  if (g_Sink && static_cast<int>(level) >= g_Level)
    g_Sink(level, text.empty() ? message : std::string_view(text));
}

std::string_view logLevelName(LogLevel level) {
  switch (level) {
  case LogLevel::Debug: return "debug";
  case LogLevel::Info: return "info";
  case LogLevel::Warning: return "warning";
  case LogLevel::Error: return "error";
  }
  return "?";
}

} // namespace lesion
