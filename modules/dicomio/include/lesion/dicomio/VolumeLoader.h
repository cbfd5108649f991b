#pragma once
/// \file VolumeLoader.h
/// One entry point for "a volume" on the command line: a NRRD/NIfTI file or a DICOM folder.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"

namespace lesion::dicomio {

struct LoadOptions {
  std::string seriesInstanceUid{}; ///< pick this series when a folder holds several
};

struct LoadedVolume {
  Volume volume;
  std::vector<std::string> warnings{};   ///< tilt, uneven spacing, gaps, ... in words
  std::string seriesInstanceUid{};       ///< empty for NRRD/NIfTI input
  std::vector<std::string> sopInstanceUids{}; ///< per slice, in volume k order (DICOM input)
};

/// Reads `path`: a volume file by extension, or the best (or requested) series of a DICOM
/// folder. Throws lesion::InputError / lesion::DicomError naming the file and the problem.
[[nodiscard]] LoadedVolume loadVolume(const std::filesystem::path& path, const LoadOptions& options = {});

} // namespace lesion::dicomio
