#pragma once
/// \file LabelMapLoader.h
/// One entry point for a label map from a file, whatever its format: NRRD/NIfTI label maps and
/// DICOM SEG objects, so a SEG is accepted wherever a label map is.

#include <filesystem>

#include "lesion/core/Image.h"

namespace lesion::reporting {

/// .nrrd/.nhdr/.nii/.nii.gz → dicomio::readLabelMapFile (as stored; `referenceGrid` is not used
/// so callers keep their own grid check). Anything else is read as a DICOM SEG (readDicomSeg)
/// and, when `referenceGrid` is given, put onto that grid by nearest neighbour (voxels outside
/// the SEG's frames are 0). Throws lesion::InputError / DicomError naming the file.
[[nodiscard]] LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid = nullptr);

} // namespace lesion::reporting
