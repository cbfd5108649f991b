// LesionKitSpine: the Slicer CLI module for 'lesionkit spine' (same parameter table and code path).
#include "Commands.h"
#include "lesion/cli/Runner.h"

int main(int argc, char** argv) {
  return lesion::cli::runSingleCommand(lesion::commands::toolInfo("LesionKitSpine"), lesion::commands::spineCommand(), argc, argv);
}
