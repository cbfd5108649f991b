#pragma once
/// \file DicomSeg.h
/// DICOM Segmentation (SEG, PS3.3 A.51) out and in: one binary segment per lesion with coded
/// category/type (SNOMED CT), tracking identifier and UID, per-frame Plane Position and, when the
/// volume came from DICOM, Derivation Image references to the source instances. The reader turns
/// any binary or fractional SEG (ours or another tool's) into a LabelMap on the grid its frames
/// describe. DCMTK stays inside DicomSeg.cxx.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"

namespace lesion::reporting {

/// A coded concept (CodeValue, CodingSchemeDesignator, CodeMeaning).
struct CodedConcept {
  std::string value{};
  std::string scheme{};
  std::string meaning{};
  [[nodiscard]] bool empty() const { return value.empty(); }
  [[nodiscard]] bool operator==(const CodedConcept& o) const { return value == o.value && scheme == o.scheme; }
};

/// The source series a result derives from: patient and study identity copied into SEG and SR,
/// and the source instances with their positions so frames can reference the slice they lie on.
/// Empty (NRRD/NIfTI input): SEG and SR get a new study and frame of reference.
struct DicomSourceInfo {
  std::string patientName{};
  std::string patientId{};
  std::string patientBirthDate{};
  std::string patientSex{};
  std::string studyInstanceUid{};
  std::string studyDate{};
  std::string studyTime{};
  std::string studyId{};
  std::string accessionNumber{};
  std::string referringPhysicianName{};
  std::string studyDescription{};
  std::string frameOfReferenceUid{};
  std::string seriesInstanceUid{}; ///< source series; empty when not DICOM
  std::string modality{};
  struct Instance {
    std::string sopClassUid{};
    std::string sopInstanceUid{};
    Vec3 imagePositionPatient{}; ///< first pixel's centre, LPS mm
    int frameNumber{0};          ///< 1-based frame of a multi-frame instance (Referenced Frame Number); 0 otherwise
  };
  /// One entry per source slice: a multi-frame instance has one per frame of the loaded part.
  std::vector<Instance> instances{};
  [[nodiscard]] bool fromDicom() const { return !seriesInstanceUid.empty(); }
};

/// Reads patient/study identity and the slices (instances, and frames of multi-frame ones) of
/// series `seriesId` from a DICOM folder or file, found as dicomio::loadVolume finds them. Give
/// the loaded part's id (LoadedVolume::seriesId, "UID" or "UID#2"; a bare UID names the first
/// part, as for the loader): the frames of a multi-frame file split into parts (time points,
/// echoes) are then that part's. When `sopInstanceUids` is not empty only those instances are
/// kept, from every part of the UID when the named part holds none of them. Throws
/// lesion::DicomError naming the folder when no file of that series is found.
[[nodiscard]] DicomSourceInfo readDicomSourceInfo(const std::filesystem::path& dicomFolderOrFile,
                                                  const std::string& seriesId,
                                                  const std::vector<std::string>& sopInstanceUids = {});

/// One segment of a SEG: a lesion label with what it is.
struct SegmentInfo {
  std::uint16_t label{1};
  std::string kind{"soft-tissue"}; ///< measurement::LesionSpec kinds: soft-tissue, lytic-bone, sclerotic-bone, lymph-node, other
  std::string name{};              ///< SegmentLabel; "lesion <label>" when empty
  /// Tracking Identifier shared by every time point of this lesion; the name (or "lesion <label>") when empty.
  std::string trackingId{};
  /// Tracking UID; when empty derived from patient ID and tracking identifier (2.25 form), so
  /// baseline and follow-up objects of one patient share it for the same tracking identifier.
  std::string trackingUid{};
};

/// Segmented Property Category / Type / Anatomic Region for a lesion kind (SNOMED CT):
/// category Morphologically Altered Structure (49755003); type Mass (4147007) for soft tissue,
/// Lesion (52988006) otherwise; region Bone structure (272673000) for bone kinds, Lymph node
/// structure (59441001) for nodes, none otherwise.
struct LesionCodes {
  CodedConcept category{};
  CodedConcept type{};
  CodedConcept anatomicRegion{};
};
[[nodiscard]] LesionCodes lesionCodes(const std::string& kind);

/// The tracking UID used when SegmentInfo::trackingUid is empty: "2.25." + a 128-bit hash of
/// patient ID and tracking identifier (deterministic across time points and runs).
[[nodiscard]] std::string derivedTrackingUid(const std::string& patientId, const std::string& trackingId);

/// Fills trackingId/trackingUid/name defaults as writeDicomSeg and writeDicomSr use them.
[[nodiscard]] SegmentInfo resolvedSegmentInfo(const SegmentInfo& segment, const std::string& patientId);

/// How the segments were made (Segment Description Macro, PS3.3 C.8.20.4): Segment Algorithm
/// Type and, unless MANUAL, Segment Algorithm Name (Type 1C: required for AUTOMATIC and
/// SEMIAUTOMATIC).
enum class SegmentAlgorithmType { Manual, SemiAutomatic, Automatic };
struct SegmentAlgorithm {
  SegmentAlgorithmType type{SegmentAlgorithmType::Manual};
  std::string name{}; ///< empty for Manual
};
inline constexpr const char* kLesionKitAlgorithmName = "LesionKit";
/// LesionKit's own segmentation of that type (named kLesionKitAlgorithmName).
[[nodiscard]] SegmentAlgorithm lesionKitAlgorithm(SegmentAlgorithmType type = SegmentAlgorithmType::SemiAutomatic);
/// The DICOM term: "MANUAL", "SEMIAUTOMATIC", "AUTOMATIC".
[[nodiscard]] std::string segmentAlgorithmTypeTerm(SegmentAlgorithmType type);
/// The type of a DICOM term (any case); std::nullopt for anything else.
[[nodiscard]] std::optional<SegmentAlgorithmType> segmentAlgorithmTypeOfTerm(const std::string& term);

struct DicomSegOptions {
  std::string seriesDescription{"LesionKit lesion segmentation"};
  int seriesNumber{900};
  std::string contentCreatorName{};
  /// What made the segments, for every segment. MANUAL (no algorithm claimed) unless the caller
  /// knows better: LesionKit's segmentation, or what the user stated.
  SegmentAlgorithm algorithm{};
  std::string algorithmVersion{}; ///< LesionKit's version: the SEG's Software Versions
  /// Reuse these UIDs (e.g. to refer to the SEG from an SR written before); generated when empty.
  std::string seriesInstanceUid{};
  std::string sopInstanceUid{};
};

/// What was written, for references from other objects (SR).
struct DicomObjectInfo {
  std::filesystem::path path{};
  std::string sopClassUid{};
  std::string sopInstanceUid{};
  std::string seriesInstanceUid{};
  std::string studyInstanceUid{};
  std::string frameOfReferenceUid{};
  /// SEG only: segment number of each written segment, in the order of `segments`.
  std::vector<std::uint16_t> segmentNumbers{};
  std::size_t frameCount{0};
};

/// Writes a binary SEG, atomically: segments numbered 1..n in the order given, each with
/// `options.algorithm` (InputError when its name is empty and the type is not MANUAL), one frame per
/// slice (constant k) holding voxels of that label; frame rows/columns are the label map's j/i
/// axes. Labels without voxels are left out with a warning (a segment needs a frame).
/// Throws lesion::InputError when no segment has voxels or a label is listed twice, and
/// lesion::DicomError naming the file when DCMTK refuses the object.
DicomObjectInfo writeDicomSeg(const LabelMap& labels, const std::vector<SegmentInfo>& segments,
                              const DicomSourceInfo& source, const std::filesystem::path& path,
                              const DicomSegOptions& options = {});

/// A segment as read from a SEG.
struct SegmentRecord {
  std::uint16_t segmentNumber{0};
  std::uint16_t label{0}; ///< value in SegmentationImage::labels
  std::string segmentLabel{};
  std::string segmentDescription{};
  std::string algorithmType{}; ///< the DICOM term as stored: MANUAL, SEMIAUTOMATIC, AUTOMATIC
  std::string algorithmName{}; ///< empty for MANUAL
  CodedConcept category{};
  CodedConcept type{};
  CodedConcept anatomicRegion{};
  std::string trackingId{};
  std::string trackingUid{};
  std::size_t frameCount{0};
};

struct SegmentationImage {
  /// One label per segment (see SegmentRecord::label) on the grid spanned by the frames.
  LabelMap labels{};
  std::vector<SegmentRecord> segments{};
  std::size_t overlappingVoxels{0}; ///< voxels claimed by several segments (the higher number wins)
  std::string sopInstanceUid{};
  std::string seriesInstanceUid{};
  std::string studyInstanceUid{};
  std::string frameOfReferenceUid{};
  std::vector<std::string> referencedSeriesUids{};
};

/// Reads a SEG. Segments get label = segment number, except segments written by LesionKit,
/// whose description carries the original label ("LesionKit label 5: ..."). Fractional
/// segments count as inside at >= half the maximum fractional value. The grid: orientation and
/// pixel spacing from the functional groups, slices along the normal from the frame positions
/// (step = Spacing Between Slices, else the smallest step between frames), so slices without
/// frames are empty. Throws lesion::DicomError naming the file when it is not a SEG or its
/// frames do not lie on one grid.
[[nodiscard]] SegmentationImage readDicomSeg(const std::filesystem::path& path);

/// Puts `labels` onto `grid` (nearest neighbour on voxel centres; outside = 0).
[[nodiscard]] LabelMap resampleLabelMapNearest(const LabelMap& labels, const ImageGeometry& grid);

} // namespace lesion::reporting
