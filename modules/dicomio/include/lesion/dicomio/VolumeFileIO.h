#pragma once
/// \file VolumeFileIO.h
/// NRRD and NIfTI volumes and label maps in and out, with exact geometry (LPS; NIfTI's RAS
/// convention is converted by ITK's NIfTI reader/writer). Writes are atomic.

#include <filesystem>

#include "lesion/core/Image.h"

namespace lesion::dicomio {

/// True for .nrrd, .nhdr, .nii and .nii.gz names.
[[nodiscard]] bool isVolumeFileName(const std::filesystem::path& path);

/// Reads a scalar volume as float. Throws lesion::InputError naming the file when it is
/// missing, unreadable, not 3D or not scalar.
[[nodiscard]] Volume readVolumeFile(const std::filesystem::path& path);
/// Reads a label map; values must be whole numbers in 0..65535.
[[nodiscard]] LabelMap readLabelMapFile(const std::filesystem::path& path);

/// Writes float voxels (int16 when `asInt16` and every value is a whole number in range).
void writeVolumeFile(const Volume& volume, const std::filesystem::path& path, bool asInt16 = false);
void writeLabelMapFile(const LabelMap& labels, const std::filesystem::path& path);

} // namespace lesion::dicomio
