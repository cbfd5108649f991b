#pragma once
/// \file Commands.h
/// Every sub-command of lesionkit, each declared once (parameter table + run function).

#include <string>
#include <vector>

#include "lesion/cli/Command.h"
#include "lesion/core/Log.h"

namespace lesion::commands {

/// Says each warning once, on stderr (the log, as the libraries say theirs when they find them); stdout
/// keeps the results and "wrote" lines, so a script reading them never meets a warning twice.
inline void logWarnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings)
    logWarning("{}", w);
}

[[nodiscard]] cli::ToolInfo toolInfo(const std::string& program = "lesionkit");
[[nodiscard]] std::vector<cli::Command> allCommands();

[[nodiscard]] cli::Command demoCommand();
[[nodiscard]] cli::Command convertCommand();
[[nodiscard]] cli::Command phantomCommand();
[[nodiscard]] cli::Command measureCommand();
[[nodiscard]] cli::Command reportCommand();
[[nodiscard]] cli::Command segmentCommand();
[[nodiscard]] cli::Command followupCommand();
[[nodiscard]] cli::Command spineCommand();
[[nodiscard]] cli::Command indexCommand();
[[nodiscard]] cli::Command seriesCommand();
[[nodiscard]] cli::Command patientCommand();
[[nodiscard]] cli::Command batchCommand();
[[nodiscard]] cli::Command pullCommand();
[[nodiscard]] cli::Command pushCommand();

} // namespace lesion::commands
