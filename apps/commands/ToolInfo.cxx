#include "Commands.h"

namespace lesion::commands {

cli::ToolInfo toolInfo(const std::string& program) {
  cli::ToolInfo info;
  info.program = program;
  info.version = LESIONKIT_VERSION;
  info.documentationUrl = "https://github.com/lesionkit/lesionkit#readme";
  info.acknowledgements = "Built on ITK, VTK, DCMTK and OpenCV.";
  return info;
}

std::vector<cli::Command> allCommands() {
  return {demoCommand(), phantomCommand(), convertCommand(), measureCommand(), reportCommand(), segmentCommand(), followupCommand(), spineCommand()};
}

} // namespace lesion::commands
