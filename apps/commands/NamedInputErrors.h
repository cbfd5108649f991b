#pragma once
/// \file NamedInputErrors.h
/// A library step that finds the loaded volume unfit (too few slices, a point outside it) does not
/// know which file it came from; the command puts the file's name in front, as the loaders do.

#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::commands {

/// Runs `step` (work on the volume read from `path`); its lesion::InputError comes out naming the file.
template <typename Step> decltype(auto) namingTheFileOnInputError(const std::filesystem::path& path, Step&& step) {
  try {
    return std::forward<Step>(step)();
  } catch (const InputError& e) {
    throw InputError(fmt::format("'{}': {}", path.string(), e.what()));
  }
}

} // namespace lesion::commands
