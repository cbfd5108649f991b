#pragma once
/// \file Runner.h
/// Runs commands the way users and Slicer call them: common options (--help, --xml,
/// --returnparameterfile, --verbose), progress output, and errors mapped to exit codes.

#include <iosfwd>
#include <string>
#include <vector>

#include "lesion/cli/Command.h"

namespace lesion::cli {

enum class ProgressStyle { Automatic, TerminalBar, SlicerTags, None };

/// Runs one command with the arguments that follow its name. Returns the process exit code:
/// 0 ok, 1 usage, 2 bad input, 3 processing failure, 4 finished but some items failed
/// (CommandContext::someItemsFailed). Never throws.
int runCommand(const ToolInfo& tool, const Command& command, const std::vector<std::string>& args,
               std::ostream& out, std::ostream& err, ProgressStyle style = ProgressStyle::Automatic);

/// `program <command> ...` dispatch with a command list for --help and --version.
int runMultiCommand(const ToolInfo& tool, const std::vector<Command>& commands, int argc, char** argv);

/// A single-command executable (a Slicer CLI module): always reports progress as Slicer tags.
int runSingleCommand(const ToolInfo& tool, const Command& command, int argc, char** argv);

} // namespace lesion::cli
