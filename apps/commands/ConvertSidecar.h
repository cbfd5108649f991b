#pragma once
/// \file ConvertSidecar.h
/// The JSON sidecar `lesionkit convert` writes next to a NRRD/NIfTI: what a volume file alone does
/// not say (patient, study, series, frame of reference, slice thickness).

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "lesion/core/ScanIdentity.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::commands {

/// volume.nii.gz → volume.json, volume.nrrd → volume.json: the sidecar `lesionkit convert` writes
/// (the dcm2niix convention).
[[nodiscard]] std::filesystem::path sidecarPath(const std::filesystem::path& volumeFile);

/// The text fields of a convert sidecar, read once: `text("patientId")`; empty strings when there is
/// no sidecar, it is not one or the field is absent (never an error: the sidecar is optional).
[[nodiscard]] std::function<std::string(const char*)> sidecarTextFields(const std::filesystem::path& volumePath);

/// PatientID, study date and series of a convert sidecar; empty when there is none.
[[nodiscard]] ScanIdentity scanIdentityFromSidecar(const std::filesystem::path& volumePath);

/// The DICOM Slice Thickness a convert sidecar recorded; nullopt when there is none or no sidecar.
[[nodiscard]] std::optional<double> sliceThicknessFromSidecar(const std::filesystem::path& volumePath);

/// Patient, study, date, modality and frame of reference of a convert sidecar, for the SEG and SR
/// of a NRRD/NIfTI (so they join the scan's patient, study and frame in a PACS); empty when none.
/// The series stays empty: the sidecar has no slice positions to reference instances by.
[[nodiscard]] reporting::DicomSourceInfo sourceFromSidecar(const std::filesystem::path& volumePath);

} // namespace lesion::commands
