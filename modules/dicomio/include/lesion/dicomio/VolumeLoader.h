#pragma once
/// \file VolumeLoader.h
/// One entry point for "a volume" on the command line: a NRRD/NIfTI file or a DICOM folder.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/core/ScanIdentity.h"
#include "lesion/dicomio/VolumeFileIO.h"

namespace lesion::dicomio {

/// What to do with a gantry-tilted stack (slices stacked off their normal).
enum class TiltHandling {
  Resample,   ///< resample onto an orthogonal grid (rows, columns, normal): default
  KeepSheared ///< keep the acquired slices; the third direction column is the (non-orthogonal) stacking direction
};

/// What to do with uneven slice steps or missing slices.
enum class SpacingHandling {
  /// Linear interpolation onto the smallest step found (shortened so that a whole number of steps
  /// spans the stack: the grid ends on the last acquired slice), with a warning: default. A step too wide
  /// to interpolate across (isTooWideToInterpolate) throws lesion::DicomError naming it.
  Resample,
  ResampleAcrossWideGaps, ///< as Resample, interpolating across wide gaps too (with the same warnings)
  Refuse                  ///< throw lesion::DicomError naming the positions of any uneven step
};

/// What to do with an "image" whose voxels look like a label map (two values only, or a few
/// small non-negative whole numbers): the mask given where the image belongs.
enum class LabelMapCheck {
  Accept, ///< load it as it is: default (convert, spine, followup, report)
  Warn,   ///< load it with a warning (measure: a mask measured on itself still has right sizes)
  Refuse  ///< throw lesion::InputError naming the file and its values (segment: nothing to segment)
};

/// Voxel type of a loaded DICOM series.
enum class VoxelStorage {
  Float,         ///< LoadedVolume::volume (float): default, what the rest of the pipeline uses
  Int16WhenExact ///< LoadedVolume::volumeInt16 when every value is a whole number in int16 range and no
                 ///< resampling is needed (plain CT): decoded straight into the final buffer, half the
                 ///< memory of float; float otherwise, with the reason in LoadedVolume::voxelStorageNote
};

struct LoadOptions {
  /// Pick this series when a folder holds several: a SeriesInstanceUID (its main part) or a
  /// part id from splitDicomSeries ("UID#2").
  std::string seriesInstanceUid{};
  TiltHandling tilt{TiltHandling::Resample};
  SpacingHandling unevenSpacing{SpacingHandling::Resample};
  LabelMapCheck labelMaps{LabelMapCheck::Accept};
  unsigned threads{2}; ///< slices decoded in parallel
  VoxelStorage storage{VoxelStorage::Float};
  /// VoxelStorage::Int16WhenExact only, optional: where int16 voxels go (e.g. a memory-mapped
  /// output file, MappedInt16NiftiFile). When the int16 path is taken the loader calls it once with
  /// the volume's geometry and decodes into the buffer it returns (geometry.voxelCount() values)
  /// instead of LoadedVolume::volumeInt16.voxels; see LoadedVolume::int16InDestination.
  std::function<std::int16_t*(const ImageGeometry&)> int16Destination{};
  /// Optional, DICOM input: called with the series' grid as acquired (its axes final: sheared only
  /// when a tilt is kept) before any pixel is decoded; may throw to refuse it (convert: a NIfTI
  /// output cannot hold a sheared grid, requireFileFormatHoldsGrid).
  std::function<void(const ImageGeometry&)> checkGrid{};
};

struct LoadedVolume {
  Volume volume;                  ///< float voxels; empty when the voxels are in volumeInt16
  Int16Volume volumeInt16{};      ///< VoxelStorage::Int16WhenExact only: the voxels when they fit int16 exactly
  std::string voxelStorageNote{}; ///< VoxelStorage::Int16WhenExact only: why the voxels stayed float
  /// The int16 voxels are in LoadOptions::int16Destination's buffer; volumeInt16 holds only the geometry.
  bool int16InDestination{false};
  std::vector<std::string> warnings{};        ///< tilt, uneven spacing, gaps, ... in words
  std::string seriesInstanceUid{};            ///< empty for NRRD/NIfTI input
  std::vector<std::string> sopInstanceUids{}; ///< per acquired slice, in stack order (DICOM input)
  // DICOM input only:
  std::string seriesId{}; ///< part id when a SeriesInstanceUID was split ("UID#2")
  std::string studyInstanceUid{};
  std::string patientId{};
  // Patient and study identity as the source carried it (empty when it did not), for the SEG/SR of a converted volume.
  std::string patientName{};
  std::string patientBirthDate{};
  std::string patientSex{};
  std::string accessionNumber{};
  std::string studyId{};
  std::string studyTime{};
  std::string studyDate{}; ///< YYYYMMDD
  std::string frameOfReferenceUid{};
  std::string modality{};
  std::string seriesDescription{};
  double tiltDeg{0.0};                     ///< measured gantry tilt (0 when none)
  /// Slice Thickness (0018,0050) of the series' slices, the largest when they differ (with a
  /// warning); unset when a slice lacks it or the input is NRRD/NIfTI. Not the spacing: thin or
  /// overlapping slices differ.
  std::optional<double> sliceThicknessMm{};
  bool resampled{false};                   ///< voxels were interpolated (tilt or uneven spacing)
  float paddingValue{0.0f};                ///< value given to padding and outside-the-scan voxels
  std::vector<std::string> skippedFiles{}; ///< files of the folder that were not DICOM images, with reasons
  std::vector<std::string> otherSeries{};  ///< summaries of the series not loaded

  [[nodiscard]] bool hasInt16Voxels() const { return !volumeInt16.voxels.empty(); }
  /// The grid of whichever of volume / volumeInt16 holds the voxels.
  [[nodiscard]] const ImageGeometry& geometry() const {
    return hasInt16Voxels() || int16InDestination ? volumeInt16.geometry : volume.geometry;
  }
};

/// The voxels are Hounsfield units: a CT series, or a NRRD/NIfTI volume (no Modality) that holds
/// air (lesion::looksLikeHounsfieldUnits). What "auto" intensity units mean for measure and followup.
[[nodiscard]] bool inHounsfieldUnits(const LoadedVolume& loaded);

/// "values 0 and 1 only" when the voxels of `volume` take at most two values, or at most 16 small
/// non-negative whole numbers (0..255) as a label map does; nothing for an image (thousands of
/// values on any real CT or MR).
[[nodiscard]] std::optional<std::string> labelMapLikeValues(const Volume& volume);

/// Reads `path`: a volume file by extension, or the requested series of a DICOM folder, its only
/// series, or the only one of its series that forms a volume (3+ slices, consistent geometry,
/// not a localizer or derived object); several candidates are an InputError listing them
/// (never a guess). Throws lesion::InputError / lesion::DicomError naming the file and the problem.
/// LoadOptions::labelMaps says what happens when the float voxels look like a label map.
/// `progress` covers the header scan (first 20 %) and the decoding of the chosen series.
[[nodiscard]] LoadedVolume loadVolume(const std::filesystem::path& path, const LoadOptions& options = {},
                                      const Progress& progress = {});

/// The identity of the series loadVolume(path, options) would load, from its headers alone (no
/// voxels decoded); empty for a NRRD/NIfTI file (its convert sidecar may know: the caller's job).
/// Throws as loadVolume does when the folder holds no series or several volumes to choose from.
[[nodiscard]] ScanIdentity readScanIdentity(const std::filesystem::path& path, const LoadOptions& options = {});

} // namespace lesion::dicomio
