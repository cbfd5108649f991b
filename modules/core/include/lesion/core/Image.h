#pragma once
/// \file Image.h
/// Plain value types for images: a scalar volume (HU on CT) and a label map on a geometry.
/// No ITK here; modules convert to itk::Image inside their .cxx files (see ItkBridge.h).

#include <cstdint>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion {

/// A 3D image: geometry plus voxels in x-fastest order (i + nx*(j + ny*k)).
template <typename T>
struct Image {
  using PixelType = T;
  ImageGeometry geometry{};
  std::vector<T> voxels{};

  Image() = default;
  explicit Image(const ImageGeometry& g, T fill = T{}) : geometry(g), voxels(g.voxelCount(), fill) {}

  [[nodiscard]] bool empty() const { return voxels.empty(); }
  [[nodiscard]] T& at(std::size_t i, std::size_t j, std::size_t k) { return voxels[geometry.linearIndex(i, j, k)]; }
  [[nodiscard]] const T& at(std::size_t i, std::size_t j, std::size_t k) const {
    return voxels[geometry.linearIndex(i, j, k)];
  }
};

/// Scalar volume: Hounsfield units on CT, arbitrary units on MR.
using Volume = Image<float>;
/// Label map: 0 is background, each positive value one structure or lesion.
using LabelMap = Image<std::uint16_t>;

/// True when some voxel lies below -300: air in Hounsfield units (about -1000). MR and other
/// magnitude images are never far below zero, so a volume without a DICOM Modality (NRRD, NIfTI)
/// that holds air is taken as CT, one without as MR ("auto" of segment, measure and followup).
[[nodiscard]] bool looksLikeHounsfieldUnits(const Volume& volume);

} // namespace lesion
