#pragma once
/// \file Log.h
/// Library-side logging. Libraries never print: messages go to a sink that the application
/// installs (the lesionkit apps send them to stderr). Without a sink, messages are dropped.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace lesion {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

using LogSink = std::function<void(LogLevel, std::string_view)>;

/// Installs the process-wide sink (thread-safe); an empty function drops messages.
void setLogSink(LogSink sink);
/// Messages below `level` are dropped before formatting reaches the sink.
void setLogLevel(LogLevel level);
[[nodiscard]] bool logEnabled(LogLevel level);
void logMessage(LogLevel level, std::string_view message);
[[nodiscard]] std::string_view logLevelName(LogLevel level);

/// While alive, this thread's messages start with `label: ` (nested labels joined by ", "): a
/// library step run for one lesion or one time point says which, without knowing it.
class LogContext {
public:
  explicit LogContext(std::string label);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;
};

/// While alive, also keeps the warnings this thread logs (as given, without LogContext labels), with or
/// without a sink: for a caller that must report what a library step said, e.g. in a JSON's notes.
class WarningCapture {
public:
  WarningCapture();
  ~WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
  [[nodiscard]] const std::vector<std::string>& warnings() const { return m_Warnings; }

private:
  std::vector<std::string> m_Warnings;
};

/// True the first time `key` is given in this process (thread-safe): for a warning said once however
/// often its cause is met (a sidecar read by several steps, a character set on every slice). Keys
/// start with what says it, so two sayers never share one.
[[nodiscard]] bool firstTimeFor(const std::string& key);

template <typename... Args>
void logDebug(fmt::format_string<Args...> f, Args&&... args) {
  if (logEnabled(LogLevel::Debug)) logMessage(LogLevel::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void logInfo(fmt::format_string<Args...> f, Args&&... args) {
  if (logEnabled(LogLevel::Info)) logMessage(LogLevel::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void logWarning(fmt::format_string<Args...> f, Args&&... args) {
  if (logEnabled(LogLevel::Warning)) logMessage(LogLevel::Warning, fmt::format(f, std::forward<Args>(args)...));
}

} // namespace lesion
