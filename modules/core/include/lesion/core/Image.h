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

/// True when at least 1 % of the voxels lie below -50: fat (about -100 HU) or air (-1000 HU). A CT
/// of the body holds some even when cropped to one vertebra (12-14 % in a 33 mm crop around L4 or a
/// 96 mm patch at a lumbar body, where air was 40 voxels or none); MR magnitude, PET and derived
/// maps are not negative, and interpolation undershoot at a few edges stays far below 1 %. So a
/// volume without a DICOM Modality (NRRD, NIfTI) is taken as CT or MR by this ("auto" of segment,
/// measure, report and followup).
[[nodiscard]] bool looksLikeHounsfieldUnits(const Volume& volume);

} // namespace lesion
