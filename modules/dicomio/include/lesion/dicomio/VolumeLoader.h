#pragma once
/// \file VolumeLoader.h
/// One entry point for "a volume" on the command line: a NRRD/NIfTI file or a DICOM folder.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"

namespace lesion::dicomio {

/// What to do with a gantry-tilted stack (slices stacked off their normal).
enum class TiltHandling {
  Resample,   ///< resample onto an orthogonal grid (rows, columns, normal): default
  KeepSheared ///< keep the acquired slices; the third direction column is the (non-orthogonal) stacking direction
};

/// What to do with uneven slice steps or missing slices.
enum class SpacingHandling {
  Resample, ///< linear interpolation onto the smallest step found, with a warning: default
  Refuse    ///< throw lesion::DicomError naming the positions
};

struct LoadOptions {
  /// Pick this series when a folder holds several: a SeriesInstanceUID (its main part) or a
  /// part id from splitDicomSeries ("UID#2").
  std::string seriesInstanceUid{};
  TiltHandling tilt{TiltHandling::Resample};
  SpacingHandling unevenSpacing{SpacingHandling::Resample};
  unsigned threads{2}; ///< slices decoded in parallel
};

struct LoadedVolume {
  Volume volume;
  std::vector<std::string> warnings{};   ///< tilt, uneven spacing, gaps, ... in words
  std::string seriesInstanceUid{};       ///< empty for NRRD/NIfTI input
  std::vector<std::string> sopInstanceUids{}; ///< per acquired slice, in stack order (DICOM input)
  // DICOM input only:
  std::string seriesId{};        ///< part id when a SeriesInstanceUID was split ("UID#2")
  std::string studyInstanceUid{};
  std::string frameOfReferenceUid{};
  std::string modality{};
  std::string seriesDescription{};
  double tiltDeg{0.0};           ///< measured gantry tilt (0 when none)
  bool resampled{false};         ///< voxels were interpolated (tilt or uneven spacing)
  float paddingValue{0.0f};      ///< value given to padding and outside-the-scan voxels
  std::vector<std::string> skippedFiles{}; ///< files of the folder that were not DICOM images, with reasons
  std::vector<std::string> otherSeries{};  ///< summaries of the series not loaded
};

/// Reads `path`: a volume file by extension, or the best (or requested) series of a DICOM
/// folder. Throws lesion::InputError / lesion::DicomError naming the file and the problem.
/// `progress` covers the header scan (first 20 %) and the decoding of the chosen series.
[[nodiscard]] LoadedVolume loadVolume(const std::filesystem::path& path, const LoadOptions& options = {},
                                      const Progress& progress = {});

} // namespace lesion::dicomio
