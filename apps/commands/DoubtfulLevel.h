#pragma once
/// \file DoubtfulLevel.h
/// How a command prints a vertebral level whose name the spine's count may have got wrong.

#include <string>
#include <vector>

#include "lesion/spine/SpineSegmentation.h"

namespace lesion::commands {

/// " (level doubtful)" after a level counted across merged bodies (spine::markDoubtfulLevels), else
/// empty: the warning names the merged body, this marks each level it puts in doubt.
[[nodiscard]] inline std::string doubtfulMark(const std::vector<spine::VertebraMeasurement>& levels,
                                              const std::string& level) {
  return spine::levelIsDoubtful(levels, level) ? " (level doubtful)" : "";
}

} // namespace lesion::commands
