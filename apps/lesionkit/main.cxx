// lesionkit: one binary, sub-commands. All logic lives in the modules and lesion::commands.
#include "Commands.h"
#include "lesion/cli/Runner.h"

int main(int argc, char** argv) {
  return lesion::cli::runMultiCommand(lesion::commands::toolInfo(), lesion::commands::allCommands(), argc, argv);
}
