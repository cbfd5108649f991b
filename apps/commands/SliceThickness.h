#pragma once
/// \file SliceThickness.h
/// The slice thickness of a scan file for RECIST 1.1 measurability, as every command reads it.

#include <optional>
#include <utility>

#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"

#include "ConvertSidecar.h"

namespace lesion::commands {

/// The Slice Thickness of a scan: its DICOM series' (the largest when its slices differ), else for a
/// NRRD/NIfTI the one its convert sidecar recorded; unset when neither says (the slice spacing then
/// stands in).
[[nodiscard]] inline std::optional<double> scanSliceThicknessMm(const dicomio::LoadedVolume& loaded,
                                                                const ConvertSidecar& sidecar) {
  return loaded.sliceThicknessMm ? loaded.sliceThicknessMm : sidecar.sliceThicknessMm;
}

/// --slice-thickness-mm when given, else the scan's Slice Thickness, else (left unset) the slice
/// spacing: measurement::withScanSliceThickness, as followup, patient and demo decide it.
inline void useSeriesSliceThickness(measurement::MeasurementOptions& options, const dicomio::LoadedVolume& loaded,
                                    const ConvertSidecar& sidecar) {
  options = measurement::withScanSliceThickness(std::move(options), scanSliceThicknessMm(loaded, sidecar));
}

} // namespace lesion::commands
