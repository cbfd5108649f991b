#pragma once
/// \file ConvertSidecar.h
/// The JSON sidecar `lesionkit convert` writes next to a NRRD/NIfTI: what a volume file alone does
/// not say (patient, study, series, frame of reference, slice thickness).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/ScanIdentity.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::commands {

/// volume.nii.gz → volume.json, volume.nrrd → volume.json: the sidecar `lesionkit convert` writes
/// (the dcm2niix convention). It records the file it describes ("volumeFile") and its grid: readers
/// of another file of that stem (ct.nrrd next to ct.nii.gz's ct.json) ignore it, with a warning,
/// while that file is there; an image renamed with its sidecar keeps it, with a warning, when the
/// sidecar records the image's grid (a sidecar left over from a deleted image of another grid does not).
[[nodiscard]] std::filesystem::path sidecarPath(const std::filesystem::path& volumeFile);

/// Throws InputError (naming both files) when the sidecar of `volumeFile` exists and describes another
/// image that exists (converting ct.nrrd next to ct.nii.gz would give ct.nii.gz ct.nrrd's metadata).
/// A sidecar of `volumeFile` itself, or of an image no longer there, may be replaced.
void ensureSidecarIsFree(const std::filesystem::path& volumeFile);

/// ensureOutputSparesInputs for `inputs`, and for the convert sidecars that lie next to them: a
/// report named after its volume (`measure ct.nrrd -o ct.json`) would replace ct.nrrd's patient,
/// study and series with itself. Throws lesion::UsageError naming `option`.
void ensureOutputSparesScanFiles(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs,
                                 const std::string& option);

/// What a convert sidecar records. Empty strings and no thickness when there is no sidecar, it is
/// not one, it describes another file (a warning) or the field is absent (never an error: the
/// sidecar is optional).
struct ConvertSidecar {
  /// Patient (ID, name, sex, birth date), study (UID, ID, date, time, accession number), modality
  /// and frame of reference as the source DICOM carried them, for the SEG and SR of a NRRD/NIfTI (so
  /// they join the scan's patient, study and frame in a PACS). Its series stays empty: the sidecar
  /// has no slice positions to reference instances by.
  reporting::DicomSourceInfo source{};
  std::string seriesInstanceUid{};
  std::optional<double> sliceThicknessMm{}; ///< the DICOM Slice Thickness; only a positive number
  std::vector<std::string> warnings{};      ///< what was said about the sidecar (logged once as well)

  /// PatientID, study date and series.
  [[nodiscard]] ScanIdentity scanIdentity() const { return {source.patientId, source.studyDate, seriesInstanceUid}; }
};

/// The convert sidecar of the volume at `volumePath`, parsed once for every field a command needs.
/// `geometry`: the volume's grid, compared with the recorded one when the sidecar names a file
/// that is not there (nullptr: not loaded yet, not compared).
[[nodiscard]] ConvertSidecar readConvertSidecar(const std::filesystem::path& volumePath, const ImageGeometry* geometry);

} // namespace lesion::commands
