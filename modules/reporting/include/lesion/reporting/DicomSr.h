#pragma once
/// \file DicomSr.h
/// DICOM SR "Imaging Measurement Report" (TID 1500; Enhanced SR, the simplest IOD that holds it,
/// as DCMTK picks): one Measurement Group
/// (TID 1411 Volumetric ROI Measurements) per lesion with tracking identifier/UID (shared across
/// time points), finding, reference to its segment in our SEG and the source series, and the
/// measurements: volume, RECIST long and short axis, 3D maximum diameter, mean and SD of the
/// density, calcified volume with the threshold it was counted at (a derivation parameter: 130 HU,
/// a soft-tissue rule or the patient's reference bone). The reader accepts TID 1500 documents from other tools too
/// (dcmqi), including the old SRT codes. DCMTK stays inside DicomSr.cxx.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

/// An INFERRED FROM NUM child of a measurement (TID 1419 row 13, Derivation Parameter).
struct SrDerivationParameter {
  CodedConcept name{};
  double value{0.0};
  CodedConcept units{};
};

/// One NUM content item of a measurement group.
struct SrNumericMeasurement {
  CodedConcept quantity{};   ///< concept name, e.g. (118565006, SCT, Volume)
  double value{0.0};
  CodedConcept units{};      ///< UCUM
  CodedConcept derivation{}; ///< HAS CONCEPT MOD (121401, DCM, Derivation), e.g. Mean
  CodedConcept method{};     ///< HAS CONCEPT MOD (370129005, SCT, Measurement Method)
  std::vector<SrDerivationParameter> derivationParameters{};
};

/// One TID 1411 measurement group.
struct SrMeasurementGroup {
  std::string trackingId{};
  std::string trackingUid{};
  std::string timePoint{};
  CodedConcept finding{};
  CodedConcept findingSite{};
  std::string segmentationSopInstanceUid{};
  std::uint16_t referencedSegmentNumber{0};
  std::string sourceSeriesUid{};
  std::vector<SrNumericMeasurement> measurements{};
};

struct SrDocument {
  std::string sopInstanceUid{};
  std::string seriesInstanceUid{};
  std::string studyInstanceUid{};
  std::string patientId{};
  std::string documentTitle{}; ///< code meaning of the root container
  std::vector<SrMeasurementGroup> groups{};
};

/// Our figures of one lesion as stored in (or read back from) an SR, in our units.
struct SrLesionValues {
  std::string trackingId{};
  std::string trackingUid{};
  std::uint16_t referencedSegmentNumber{0};
  std::optional<double> volumeMl{};          ///< Volume, method "Sum of segmented voxel volumes" or none
  std::optional<double> longAxisMm{};        ///< Long Axis (RECIST)
  std::optional<double> shortAxisMm{};       ///< Short Axis (RECIST)
  std::optional<double> maxDiameter3dMm{};   ///< Diameter, derivation Maximum
  std::optional<double> meanHu{};            ///< Attenuation Coefficient, derivation Mean
  std::optional<double> standardDeviationHu{}; ///< Attenuation Coefficient, derivation Standard Deviation
  std::optional<double> calcifiedVolumeMl{}; ///< (CALCVOL, 99LESIONKIT) volume >= calcification threshold
  /// (CALCTHR, 99LESIONKIT) derivation parameter of the calcified volume, in HU ([hnsf'U])
  std::optional<double> calcificationThresholdHu{};
};

/// Values of a measurement group in our units (mm3/cm3/l → mL, cm → mm); figures the group
/// does not hold stay empty. Old SRT codes (G-D705 Volume, R-00317 Mean, ...) are recognised.
[[nodiscard]] SrLesionValues lesionValuesFromGroup(const SrMeasurementGroup& group);

struct DicomSrOptions {
  std::string seriesDescription{"LesionKit lesion measurements"};
  int seriesNumber{901};
  std::string timePoint{"baseline"}; ///< TID 1502 Time Point, same text as the JSON/CSV report
  std::string algorithmVersion{};
};

/// Writes the SR atomically. `segments` give kind/name/tracking of each lesion (matched by
/// label; defaults as SegmentInfo documents); `seg` is the written SEG (its segment numbers are
/// matched to `segments` by position) or empty (no segment reference then). The source series is
/// `source`'s, or the SEG's series for NRRD input (there is no image series then). Throws
/// lesion::InputError when `lesions` is empty and lesion::DicomError naming the file when DCMTK
/// refuses the document.
DicomObjectInfo writeDicomSr(const std::vector<measurement::LesionMeasurement>& lesions,
                             const std::vector<SegmentInfo>& segments, const DicomObjectInfo& seg,
                             const DicomSourceInfo& source, const std::filesystem::path& path,
                             const DicomSrOptions& options = {});

/// Reads the measurement groups of a TID 1500 SR. Throws lesion::DicomError naming the file when
/// it is not an SR document.
[[nodiscard]] SrDocument readDicomSr(const std::filesystem::path& path);

} // namespace lesion::reporting
