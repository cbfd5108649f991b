#pragma once
/// \file SliceThickness.h
/// The slice thickness measure and report use for RECIST 1.1 measurability.

#include <filesystem>
#include <optional>

#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"

#include "ConvertSidecar.h"

namespace lesion::commands {

/// --slice-thickness-mm when given, else the series' DICOM Slice Thickness (for a NRRD/NIfTI, as its
/// convert sidecar recorded it), else (left unset) the slice spacing: RECIST means the reconstructed
/// thickness, which thin or overlapping slices make differ from the spacing.
inline void useSeriesSliceThickness(measurement::MeasurementOptions& options, const dicomio::LoadedVolume& loaded,
                                    const std::filesystem::path& volumePath) {
  if (options.sliceThicknessMm)
    return;
  const std::optional<double> thickness =
      loaded.sliceThicknessMm ? loaded.sliceThicknessMm : sliceThicknessFromSidecar(volumePath);
  if (!thickness)
    return;
  options.sliceThicknessMm = thickness;
  options.sliceThicknessSource = "dicom";
}

} // namespace lesion::commands
