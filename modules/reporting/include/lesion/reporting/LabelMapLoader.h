#pragma once
/// \file LabelMapLoader.h
/// One entry point for a label map from a file, whatever its format: NRRD/NIfTI label maps and
/// DICOM SEG objects, so a SEG is accepted wherever a label map is.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

/// .nrrd/.nhdr/.nii/.nii.gz → dicomio::readLabelMapFile (as stored; `referenceGrid` is not used
/// so callers keep their own grid check). Anything else is read as a DICOM SEG (readDicomSeg)
/// and, when `referenceGrid` is given, put onto that grid by nearest neighbour (voxels outside
/// the SEG's frames are 0); with `segment`, a SEG's segments and references (all but its labels)
/// are kept there, so a caller that needs them does not read the file again. With `algorithm`,
/// also what made the segments (maskSegmentAlgorithm). Throws lesion::InputError / DicomError
/// naming the file.
[[nodiscard]] LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid = nullptr,
                                    SegmentationImage* segment = nullptr, SegmentAlgorithm* algorithm = nullptr);

/// What made a SEG's segments when they all agree (type and name as stored); MANUAL with a
/// warning naming `path` when they do not (one algorithm is written for every segment).
[[nodiscard]] SegmentAlgorithm segmentAlgorithmOfSeg(const SegmentationImage& seg, const std::filesystem::path& path,
                                                     std::vector<std::string>* warnings = nullptr);

} // namespace lesion::reporting
