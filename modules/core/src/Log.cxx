#include "lesion/core/Log.h"

#include <atomic>
#include <mutex>

namespace lesion {
namespace {
std::mutex g_SinkMutex;
LogSink g_Sink;
std::atomic<int> g_Level{static_cast<int>(LogLevel::Info)};
std::atomic<bool> g_HasSink{false};
} // namespace

void setLogSink(LogSink sink) {
  const std::lock_guard lock(g_SinkMutex);
  g_HasSink = static_cast<bool>(sink);
  g_Sink = std::move(sink);
}

void setLogLevel(LogLevel level) { g_Level = static_cast<int>(level); }

bool logEnabled(LogLevel level) { return g_HasSink && static_cast<int>(level) >= g_Level; }

void logMessage(LogLevel level, std::string_view message) {
  const std::lock_guard lock(g_SinkMutex);
  if (g_Sink && static_cast<int>(level) >= g_Level) g_Sink(level, message);
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
