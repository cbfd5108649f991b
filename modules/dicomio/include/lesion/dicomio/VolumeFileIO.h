#pragma once
/// \file VolumeFileIO.h
/// NRRD and NIfTI volumes and label maps in and out, with exact geometry (LPS; NIfTI's RAS
/// convention is converted by ITK's NIfTI reader/writer). Writes are atomic.

#include <cstdint>
#include <filesystem>
#include <string>

#include "lesion/core/Image.h"

namespace lesion::dicomio {

/// Whole-number voxels (e.g. Hounsfield units of a plain CT), same layout as Volume.
using Int16Volume = Image<std::int16_t>;

/// "NRRD" for .nrrd and .nhdr names, "NIfTI" for .nii and .nii.gz, else empty.
[[nodiscard]] std::string volumeFileFormat(const std::filesystem::path& path);
/// True for .nrrd, .nhdr, .nii and .nii.gz names.
[[nodiscard]] bool isVolumeFileName(const std::filesystem::path& path);
/// Throws lesion::UsageError naming `path` when its format cannot hold `geometry`: a NIfTI name
/// for a grid whose axes are not at right angles (a tilted series kept sheared). NIfTI's qform is a
/// rotation, ITK writes the sform from the same rotation, and ITK-based readers (3D Slicer,
/// SimpleITK, LesionKit) ignore a sheared sform anyway: the voxels would land elsewhere, silently.
/// NRRD holds any grid. Every writer below checks this first.
void requireFileFormatHoldsGrid(const ImageGeometry& geometry, const std::filesystem::path& path);

/// Reads a scalar volume as float. Throws lesion::InputError naming the file when it is
/// missing, unreadable, not 3D or not scalar.
[[nodiscard]] Volume readVolumeFile(const std::filesystem::path& path);
/// Which LesionKit step made a label map, recorded in the file so that a DICOM SEG written from
/// it later can say so (and a mask drawn by a reader or another tool is not passed off as ours):
/// NRRD key/value fields LesionKit_SegmentAlgorithmType, LesionKit_Version and
/// LesionKit_LabelsHash (labelMapHash of what was written). Tools that edit the voxels keep the
/// header (pynrrd, SimpleITK), so the record counts only while the hash still matches. NIfTI files
/// carry no record (no key/value fields; ITK 5.2 does not write the free-text descrip field).
struct LabelMapOrigin {
  /// DICOM Segment Algorithm Type of LesionKit's step: SEMIAUTOMATIC (from seeds, a box, a RECIST
  /// line, tracked from a baseline) or AUTOMATIC; empty: no record (not made by LesionKit).
  std::string algorithmType{};
  std::string version{}; ///< LesionKit version that made it
  /// Read only: the file has a record, but its voxels or grid no longer match it (edited after
  /// LesionKit wrote it), so the record is dropped (algorithmType empty).
  bool editedAfterWriting{false};
  [[nodiscard]] bool byLesionKit() const { return !algorithmType.empty(); }
};

/// FNV-1a (64 bit, 16 hex digits) of a label map's voxel values and grid (size; spacing and origin
/// to 0.1 µm, direction to 1e-9): what LesionKit_LabelsHash records.
[[nodiscard]] std::string labelMapHash(const LabelMap& labels);

/// "label map 'PATH' carries LesionKit's record but was edited after LesionKit wrote it ...": why
/// a label map with LabelMapOrigin::editedAfterWriting is not called LesionKit's.
[[nodiscard]] std::string editedLabelMapNote(const std::filesystem::path& path);

/// Reads a label map; values must be whole numbers in 0..65535. With `origin`, also the record
/// of which LesionKit step made it (empty when the file has none or it does not match the labels).
[[nodiscard]] LabelMap readLabelMapFile(const std::filesystem::path& path, LabelMapOrigin* origin = nullptr);

/// The writers below take .nrrd, .nii and .nii.gz names (in any case); a detached NRRD header (.nhdr)
/// is read but not written (lesion::UsageError naming the file): its data file would be a second
/// file, named after the header's temporary name.
///
/// Writes float voxels (int16 when `asInt16` and every value is a whole number in range).
/// Returns true when the file holds int16. The voxels are written from `volume`'s own buffer
/// (no copy unless converted to int16); gzip for .nii.gz and NRRD (gzip encoding), raw for .nii.
bool writeVolumeFile(const Volume& volume, const std::filesystem::path& path, bool asInt16 = false);
/// Writes int16 voxels straight from `volume`'s buffer (no copy).
void writeVolumeFile(const Int16Volume& volume, const std::filesystem::path& path);

/// True for uncompressed NIfTI names (.nii), which MappedInt16NiftiFile can write.
[[nodiscard]] bool isUncompressedNiftiFileName(const std::filesystem::path& path);

/// An int16 NIfTI-1 file (.nii) written in place: the header (ITK's own, so the geometry
/// convention is that of writeVolumeFile) goes to a temporary sibling, whose voxel data is then
/// memory-mapped, so a loader decodes straight into the page cache: no buffer of its own, no
/// copy at write time. commit() moves the file into place; without it the destructor removes it.
/// Throws lesion::InputError naming the file when it cannot be created.
class MappedInt16NiftiFile {
public:
  MappedInt16NiftiFile(const std::filesystem::path& target, const ImageGeometry& geometry);
  ~MappedInt16NiftiFile();
  MappedInt16NiftiFile(const MappedInt16NiftiFile&) = delete;
  MappedInt16NiftiFile& operator=(const MappedInt16NiftiFile&) = delete;

  /// geometry.voxelCount() values, x fastest, as in Image.
  [[nodiscard]] std::int16_t* voxels() { return m_Voxels; }
  void commit();

private:
  void unmap();
  std::filesystem::path m_Target;
  std::filesystem::path m_Temporary;
  int m_File{-1};
  void* m_Map{nullptr};
  std::size_t m_MapBytes{0};
  std::int16_t* m_Voxels{nullptr};
  bool m_Committed{false};
};
/// Writes a label map (uint16), with `origin` recorded when it is LesionKit's (see LabelMapOrigin).
void writeLabelMapFile(const LabelMap& labels, const std::filesystem::path& path, const LabelMapOrigin& origin = {});

} // namespace lesion::dicomio
