#pragma once
/// \file SliceThickness.h
/// The slice thickness measure and report use (RECIST 1.1 measurability, Agatston scaling).

#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::commands {

/// --slice-thickness-mm when given, else the series' DICOM Slice Thickness, else (left unset) the
/// slice spacing: RECIST and Agatston mean the reconstructed thickness, which thin or overlapping
/// slices make differ from the spacing.
inline void useSeriesSliceThickness(measurement::MeasurementOptions& options, const dicomio::LoadedVolume& loaded) {
  if (options.sliceThicknessMm || !loaded.sliceThicknessMm)
    return;
  options.sliceThicknessMm = loaded.sliceThicknessMm;
  options.sliceThicknessSource = "dicom";
}

} // namespace lesion::commands
