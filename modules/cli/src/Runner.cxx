#include "lesion/cli/Runner.h"

#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::cli {
namespace {

/// Options every command understands, handled here rather than in each table.
struct CommonOptions {
  bool help{false};
  bool xml{false};
  bool verbose{false};
  bool quiet{false};
  std::string returnParameterFile;
  std::vector<std::string> rest;
};

CommonOptions splitCommonOptions(const std::vector<std::string>& args) {
  CommonOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") o.help = true;
    else if (a == "--xml") o.xml = true;
    else if (a == "-v" || a == "--verbose") o.verbose = true;
    else if (a == "-q" || a == "--quiet") o.quiet = true;
    else if (a == "--returnparameterfile" || a == "--processinformationaddress") {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      if (a == "--returnparameterfile") o.returnParameterFile = args[i + 1];
      ++i; // Slicer's shared-memory progress address: we report progress on stdout instead.
    } else if (a.rfind("--returnparameterfile=", 0) == 0) {
      o.returnParameterFile = a.substr(std::string("--returnparameterfile=").size());
    } else {
      o.rest.push_back(a);
    }
  }
  return o;
}

/// A one-line bar on stderr, redrawn at most every 1 % or 100 ms.
Progress::Sink terminalBar(std::ostream& err, std::string title) {
  struct State {
    std::mutex mutex;
    int lastPercent{-1};
    std::chrono::steady_clock::time_point last{};
  };
  auto state = std::make_shared<State>();
  return [&err, title = std::move(title), state](double f, std::string_view stage) {
    const std::lock_guard lock(state->mutex);
    const int percent = static_cast<int>(f * 100.0 + 0.5);
    const auto now = std::chrono::steady_clock::now();
    if (percent == state->lastPercent || (percent < 100 && now - state->last < std::chrono::milliseconds(100))) return;
    state->lastPercent = percent;
    state->last = now;
    constexpr int width = 30;
    const int filled = percent * width / 100;
    err << '\r' << title << " [" << std::string(filled, '#') << std::string(width - filled, '-') << "] "
        << fmt::format("{:3d}%", percent) << ' ' << std::string(stage).substr(0, 40) << "\x1b[K";
    if (percent >= 100) err << '\n';
    err.flush();
  };
}

/// Slicer reads <filter-progress> lines from the module's stdout.
Progress::Sink slicerTags(std::ostream& out) {
  auto last = std::make_shared<int>(-1);
  auto mutex = std::make_shared<std::mutex>();
  return [&out, last, mutex](double f, std::string_view stage) {
    const std::lock_guard lock(*mutex);
    const int permille = static_cast<int>(f * 1000.0 + 0.5);
    if (permille / 10 == *last / 10 && permille < 1000) return;
    *last = permille;
    if (!stage.empty()) out << "<filter-comment>" << stage << "</filter-comment>\n";
    out << fmt::format("<filter-progress>{:.3f}</filter-progress>", f) << std::endl;
  };
}

/// Every declared result, empty when this run has none: Slicer keeps a result missing from the file at its
/// value from the last run, which would then be shown as this run's. Undeclared values follow.
void writeReturnParameters(const std::string& file, const Command& command, std::map<std::string, std::string> values) {
  std::ostringstream text;
  for (const auto& p : command.parameters) {
    if (p.isReturnValue()) {
      text << p.name << " = " << values[p.name] << '\n';
      values.erase(p.name);
    }
  }
  for (const auto& [name, value] : values) text << name << " = " << value << '\n';
  writeTextFileAtomically(file, text.str());
}

} // namespace

int runCommand(const ToolInfo& tool, const Command& command, const std::vector<std::string>& args,
               std::ostream& out, std::ostream& err, ProgressStyle style) {
  const std::string who = tool.invocation(command.name);
  auto fail = [&](const std::string& message, ExitCode code) {
    err << who << ": error: " << message << '\n';
    if (code == ExitCode::Usage) err << "Run '" << who << " --help' for usage.\n";
    return static_cast<int>(code);
  };
  try {
    const CommonOptions o = splitCommonOptions(args);
    if (o.help) {
      out << formatHelp(tool, command);
      return 0;
    }
    if (o.xml) {
      out << formatXml(tool, command);
      return 0;
    }
    const Arguments parsed = Arguments::parse(command.parameters, o.rest);

    setLogLevel(o.verbose ? LogLevel::Debug : (o.quiet ? LogLevel::Error : LogLevel::Info));
    setLogSink([&err, who](LogLevel level, std::string_view message) {
      err << who << ": " << (level >= LogLevel::Warning ? std::string(logLevelName(level)) + ": " : "") << message << '\n';
    });

    ProgressStyle chosen = style;
    if (chosen == ProgressStyle::Automatic) {
      if (!o.returnParameterFile.empty()) chosen = ProgressStyle::SlicerTags;
      else if (!o.quiet && ::isatty(STDERR_FILENO)) chosen = ProgressStyle::TerminalBar;
      else chosen = ProgressStyle::None;
    }
    CommandContext context{out, Progress{}, {}};
    if (chosen == ProgressStyle::TerminalBar) context.progress = Progress{terminalBar(err, command.name)};
    if (chosen == ProgressStyle::SlicerTags) {
      out << "<filter-start><filter-name>" << command.title << "</filter-name></filter-start>" << std::endl;
      context.progress = Progress{slicerTags(out)};
    }
    command.run(parsed, context);
    if (chosen == ProgressStyle::SlicerTags) {
      out << "<filter-end><filter-name>" << command.title << "</filter-name></filter-end>" << std::endl;
    }
    if (!o.returnParameterFile.empty())
      writeReturnParameters(o.returnParameterFile, command, context.returnValues);
    setLogSink({});
    if (!context.someItemsFailed.empty())
      return fail(context.someItemsFailed, ExitCode::SomeItemsFailed);
    return 0;
  } catch (const Error& e) {
    setLogSink({});
    return fail(e.what(), e.exitCode());
  } catch (const std::bad_alloc&) {
    setLogSink({});
    return fail("out of memory", ExitCode::ProcessingFailure);
  } catch (const std::exception& e) {
    setLogSink({});
    return fail(std::string("unexpected failure: ") + e.what(), ExitCode::ProcessingFailure);
  }
}

int runMultiCommand(const ToolInfo& tool, const std::vector<Command>& commands, int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto list = [&](std::ostream& os) {
    os << "Usage: " << tool.program << " <command> [arguments] [options]\n\n"
       << "Finds, measures and follows lesions on CT and MRI (LesionKit " << tool.version << ").\n\nCommands:\n";
    for (const auto& c : commands) os << "  " << c.name << std::string(c.name.size() < 12 ? 12 - c.name.size() : 1, ' ') << c.summary << '\n';
    os << "\nRun '" << tool.program << " <command> --help' for a command's arguments and an example;\n"
       << "'" << tool.program << " <command> --xml' prints its 3D Slicer CLI description.\n"
       << "Exit codes: 0 ok, 1 usage, 2 bad input, 3 processing failure, 4 finished but some items failed (batch).\n";
  };
  if (args.empty()) {
    list(std::cerr);
    return static_cast<int>(ExitCode::Usage);
  }
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    list(std::cout);
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << tool.program << ' ' << tool.version << '\n';
    return 0;
  }
  for (const auto& c : commands) {
    if (c.name == args[0]) return runCommand(tool, c, {args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  std::cerr << tool.program << ": error: unknown command '" << args[0] << "'\n\n";
  list(std::cerr);
  return static_cast<int>(ExitCode::Usage);
}

int runSingleCommand(const ToolInfo& tool, const Command& command, int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  ToolInfo single = tool;
  single.singleCommand = true;
  return runCommand(single, command, args, std::cout, std::cerr, ProgressStyle::SlicerTags);
}

} // namespace lesion::cli
