#pragma once
/// \file LabelMapLoader.h
/// One entry point for a label map from a file, whatever its format: NRRD/NIfTI label maps and
/// DICOM SEG objects, so a SEG is accepted wherever a label map is.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

/// .nrrd/.nhdr/.nii/.nii.gz → dicomio::readLabelMapFile (as stored; `referenceGrid` is not used
/// so callers keep their own grid check). Anything else is read as a DICOM SEG (readDicomSeg)
/// and, when `referenceGrid` is given, put onto that grid by nearest neighbour (voxels outside
/// the SEG's frames are 0); with `segment`, a SEG's segments and references (all but its labels)
/// are kept there, so a caller that needs them does not read the file again. With `algorithm`,
/// also what made the segments (a NRRD's LesionKit record, segmentAlgorithmOfSeg), and in
/// `algorithmWarnings` why that is MANUAL when the file seemed to say otherwise (a record that no
/// longer matches edited labels, a SEG's segments that disagree or name no algorithm). Throws
/// lesion::InputError / DicomError naming the file.
[[nodiscard]] LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid = nullptr,
                                    SegmentationImage* segment = nullptr, SegmentAlgorithm* algorithm = nullptr,
                                    std::vector<std::string>* algorithmWarnings = nullptr);

/// A NRRD/NIfTI label map (dicomio::readLabelMapFile) and what made it: with `algorithm`, the one its
/// LesionKit record names (MANUAL without one), and in `algorithmWarnings` why that is MANUAL when
/// the record no longer matches edited labels; with `record`, the record itself (the version that
/// made it). Throws lesion::InputError naming the file.
[[nodiscard]] LabelMap loadLabelMapFile(const std::filesystem::path& path, SegmentAlgorithm* algorithm = nullptr,
                                        std::vector<std::string>* algorithmWarnings = nullptr,
                                        dicomio::LabelMapOrigin* record = nullptr);

/// What made a SEG's segments when they all agree and say it (a known type, and a name unless
/// MANUAL); MANUAL with a warning naming `path` otherwise (one algorithm is written for every
/// segment, and DICOM requires a name for the other types).
[[nodiscard]] SegmentAlgorithm segmentAlgorithmOfSeg(const SegmentationImage& seg, const std::filesystem::path& path,
                                                     std::vector<std::string>* warnings = nullptr);

/// The algorithm a label map's LesionKit record names (SEMIAUTOMATIC/AUTOMATIC by LesionKit);
/// MANUAL when it has none.
[[nodiscard]] SegmentAlgorithm segmentAlgorithmOfRecord(const dicomio::LabelMapOrigin& origin);
/// The record for a label map `algorithm` made, written with `version`: a record only when that is
/// LesionKit's own SEMIAUTOMATIC or AUTOMATIC segmentation (none for MANUAL or another tool's).
[[nodiscard]] dicomio::LabelMapOrigin labelMapRecordOf(const SegmentAlgorithm& algorithm, const std::string& version);
/// LesionKit's record with `version`: AUTOMATIC when `automatic`, else SEMIAUTOMATIC.
[[nodiscard]] dicomio::LabelMapOrigin lesionKitRecord(bool automatic, const std::string& version);

} // namespace lesion::reporting
