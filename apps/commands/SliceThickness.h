#pragma once
/// \file SliceThickness.h
/// The slice thickness of a scan file for RECIST 1.1 measurability, as every command reads it.

#include <filesystem>
#include <optional>
#include <utility>

#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"

#include "ConvertSidecar.h"

namespace lesion::commands {

/// The Slice Thickness of the scan at `volumePath`: the one every slice of its DICOM series shares,
/// else for a NRRD/NIfTI the one its convert sidecar recorded; unset when neither says (the slice
/// spacing then stands in).
[[nodiscard]] inline std::optional<double> scanSliceThicknessMm(const dicomio::LoadedVolume& loaded,
                                                                const std::filesystem::path& volumePath) {
  return loaded.sliceThicknessMm ? loaded.sliceThicknessMm : sliceThicknessFromSidecar(volumePath);
}

/// --slice-thickness-mm when given, else the scan's Slice Thickness, else (left unset) the slice
/// spacing: measurement::withScanSliceThickness, as followup, patient and demo decide it.
inline void useSeriesSliceThickness(measurement::MeasurementOptions& options, const dicomio::LoadedVolume& loaded,
                                    const std::filesystem::path& volumePath) {
  options = measurement::withScanSliceThickness(std::move(options), scanSliceThicknessMm(loaded, volumePath));
}

} // namespace lesion::commands
