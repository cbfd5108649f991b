#pragma once
/// \file ScanIdentity.h
/// Whose scan, when, and which series: what tells follow-up scans of one patient apart.

#include <string>

namespace lesion {

/// Empty fields when unknown (a NRRD/NIfTI file without a convert sidecar).
struct ScanIdentity {
  std::string patientId{};         ///< DICOM PatientID
  std::string studyDate{};         ///< DICOM StudyDate, YYYYMMDD
  std::string seriesInstanceUid{}; ///< the series the voxels come from
};

} // namespace lesion
