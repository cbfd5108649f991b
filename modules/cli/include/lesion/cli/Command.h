#pragma once
/// \file Command.h
/// A sub-command: its description, its parameter table and the function that runs it.

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "lesion/cli/Arguments.h"
#include "lesion/cli/Parameter.h"
#include "lesion/core/Progress.h"

namespace lesion::cli {

/// What a running command can use besides its arguments.
struct CommandContext {
  std::ostream& out; ///< human summary (stdout)
  Progress progress; ///< bar on a terminal, <filter-progress> under Slicer, or nothing
  /// Scalar results by parameter name, written to --returnparameterfile as "name = value".
  std::map<std::string, std::string> returnValues{};
  /// Set by a command that ran to the end without a result for every item it was given (a batch
  /// with failed patients): printed as one line on stderr, and the process exits with
  /// ExitCode::SomeItemsFailed, so scripts tell that run from a clean one.
  std::string someItemsFailed{};
};

struct Command {
  std::string name;        ///< sub-command name ("phantom")
  std::string title;       ///< Slicer title ("LesionKit Phantom")
  std::string summary;     ///< one line for the command list
  std::string description; ///< a paragraph for --help and the XML description
  std::vector<std::string> examples; ///< full command lines shown in --help
  std::vector<Parameter> parameters;
  std::function<void(const Arguments&, CommandContext&)> run;
  /// Its run can finish without every item's result (sets CommandContext::someItemsFailed): --help
  /// then lists exit code 4 (ExitCode::SomeItemsFailed) too.
  bool canLeaveItemsWithoutResult{false};

  [[nodiscard]] const Parameter* find(const std::string& name) const;
  /// Appends a parameter to the table and returns it for Parameter's chainable setters.
  Parameter& add(Parameter parameter) {
    parameters.push_back(std::move(parameter));
    return parameters.back();
  }
};

/// Metadata shared by every command's XML description.
struct ToolInfo {
  std::string program{"lesionkit"};
  /// A single-command executable (a Slicer CLI module): invoked without a sub-command name.
  bool singleCommand{false};

  /// How users invoke `command`: "lesionkit measure", or just "LesionKitMeasure".
  [[nodiscard]] std::string invocation(const std::string& command) const {
    return singleCommand ? program : program + " " + command;
  }
  std::string version;
  std::string category{"Quantification.LesionKit"};
  std::string documentationUrl;
  std::string contributor{"LesionKit developers"};
  std::string license{"BSD-3-Clause"};
  std::string acknowledgements;
};

[[nodiscard]] std::string formatHelp(const ToolInfo& tool, const Command& command);
[[nodiscard]] std::string formatXml(const ToolInfo& tool, const Command& command);

} // namespace lesion::cli
