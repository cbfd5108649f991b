#pragma once
/// \file DicomHeader.h
/// Header scan of DICOM files with DCMTK: one plain struct per instance, read without the
/// pixel data, for every file of a folder tree. `.dcm.gz` files are gunzipped in memory.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Progress.h"

namespace lesion::dicomio {

/// Position, orientation and value transform of one frame. Classic single-frame images have
/// one; Enhanced multiframe objects one per frame (from the per-frame / shared functional groups).
struct DicomFrameGeometry {
  std::optional<Vec3> imagePositionPatient{};                     ///< (0020,0032), LPS mm
  std::optional<std::array<double, 6>> imageOrientationPatient{}; ///< (0020,0037) row\column cosines
  std::optional<std::array<double, 2>>
      pixelSpacing{}; ///< (0028,0030) as in DICOM: row spacing (between rows), column spacing
  std::optional<double> sliceThicknessMm{};
  double rescaleSlope{1.0};
  double rescaleIntercept{0.0};
  // Enhanced objects only (functional groups): what tells the frames of one file apart.
  std::string frameType{};                     ///< Frame Type (0008,9007), values joined by '\\'
  std::optional<double> effectiveEchoTimeMs{}; ///< MR Echo Sequence (0018,9082)
  std::optional<long> temporalPositionIndex{}; ///< Frame Content (0020,9128)
  std::string stackId{};                       ///< Frame Content (0020,9056)
};

/// The header of one DICOM instance (file), as read from the file.
struct DicomInstance {
  std::filesystem::path path{};
  bool gzipped{false}; ///< read from a .dcm.gz file

  std::string sopClassUid{};
  std::string sopInstanceUid{};
  std::string seriesInstanceUid{};
  std::string studyInstanceUid{};
  std::string frameOfReferenceUid{};
  std::string transferSyntaxUid{};

  std::string patientId{};
  std::string patientName{};
  std::string patientBirthDate{};
  std::string patientSex{};
  std::string modality{};
  std::string manufacturer{};
  std::string seriesDescription{};
  std::string studyDescription{};
  std::string accessionNumber{};
  std::string studyId{};
  std::string referringPhysicianName{};
  std::string bodyPartExamined{};
  std::string convolutionKernel{}; ///< (0018,1210), values joined by '\'
  std::string studyDate{};
  std::string studyTime{};
  std::string seriesDate{};
  std::string acquisitionDate{};
  std::string contentDate{};
  std::vector<std::string> imageType{}; ///< (0008,0008) values

  int rows{0};
  int columns{0};
  int numberOfFrames{1};
  int samplesPerPixel{1};
  int bitsAllocated{0};
  int bitsStored{0};
  int pixelRepresentation{0}; ///< 0 unsigned, 1 two's complement
  std::string photometricInterpretation{};
  bool hasPixelData{false};

  std::optional<int> seriesNumber{};
  std::optional<int> instanceNumber{};
  std::optional<int> acquisitionNumber{};
  std::optional<int> echoNumber{};
  std::optional<double> gantryTiltDeg{};          ///< (0018,1120) Gantry/Detector Tilt as recorded
  std::optional<double> spacingBetweenSlicesMm{}; ///< (0018,0088), informative only
  std::optional<long> pixelPaddingValue{};        ///< (0028,0120), stored-value units
  std::optional<long> pixelPaddingRangeLimit{};   ///< (0028,0121)

  /// True when the object carries per-frame functional groups (Enhanced CT/MR/...).
  bool enhancedMultiframe{false};
  /// One entry per frame (size numberOfFrames) for Enhanced objects; one entry otherwise,
  /// holding the classic top-level attributes.
  std::vector<DicomFrameGeometry> frames{};

  /// Localizer / scout, secondary capture, dose report or screen save: never a diagnostic volume.
  [[nodiscard]] std::string specialImageKind() const;
  /// A Siemens mosaic: Image Type holds MOSAIC, the slices of a volume tiled in one image
  /// (their number in the private (0019,100A)).
  [[nodiscard]] bool isMosaic() const;
};

/// Objects that carry pixels but are results or annotations (SEG, SR, RTDOSE...), not acquisitions.
[[nodiscard]] bool isDerivedObjectModality(const std::string& modality);

/// A file under the scanned folder that is not a readable DICOM image, and why.
struct SkippedFile {
  std::filesystem::path path{};
  std::string reason{};
  bool damaged{false}; ///< starts like a DICOM file (the "DICM" preamble) but cannot be parsed, e.g. truncated, a
                       ///< .dcm file too short to be one (an interrupted copy), or a file that cannot be opened
};

struct DicomScanResult {
  std::vector<DicomInstance> instances{}; ///< sorted by path
  std::vector<SkippedFile> skipped{};     ///< non-DICOM, unreadable or pixel-less files
};

/// Reads the header of one file (stops before the pixel data). Throws lesion::DicomError
/// naming the file when it is not DICOM or cannot be parsed.
[[nodiscard]] DicomInstance readDicomHeader(const std::filesystem::path& path);

/// The files a DICOMDIR references that do not exist, each with a reason naming the DICOMDIR
/// (its own read failure when it cannot be read). The images themselves are always found by
/// scanning the folder, never through the DICOMDIR.
[[nodiscard]] std::vector<SkippedFile> missingDicomdirReferences(const std::filesystem::path& dicomdir);

/// Reads the headers of `files` on `threads` threads, the way scanDicomFolder does (files that
/// are not DICOM images are listed in `skipped` with the reason, never thrown; for a DICOMDIR,
/// also the files it references that are missing). Unfinished temporary files of a killed write,
/// also those in a staging folder below `scanRoot` (isInTemporaryOutput), are skipped unread. A file
/// that no longer exists when it is read (deleted or moved since it was listed) is left out.
[[nodiscard]] DicomScanResult readDicomHeaders(std::vector<std::filesystem::path> files, const Progress& progress = {},
                                               unsigned threads = 2, const std::filesystem::path& scanRoot = {});

/// Scans `folder` recursively (a single file is accepted too) on `threads` threads. Every
/// regular file is tried; files that are not DICOM images are listed in `skipped`, never
/// thrown. Throws lesion::InputError when `folder` does not exist.
[[nodiscard]] DicomScanResult scanDicomFolder(const std::filesystem::path& folder, const Progress& progress = {},
                                              unsigned threads = 2);

} // namespace lesion::dicomio
