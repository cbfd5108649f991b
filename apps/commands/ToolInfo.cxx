#include "Commands.h"
#include "LesionKitVersion.h"

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
  return {demoCommand(), phantomCommand(), convertCommand(), indexCommand(), seriesCommand(), patientCommand(), batchCommand(), measureCommand(), reportCommand(), segmentCommand(), followupCommand(), spineCommand(), pullCommand(), pushCommand()};
}

} // namespace lesion::commands
