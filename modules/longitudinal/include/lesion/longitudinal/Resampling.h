#pragma once
/// \file Resampling.h
/// Moving images between the baseline and follow-up grids through a rigid transform
/// (baseline → follow-up LPS, see Registration.h) or a deformable one. Plain C++: an affine
/// index map per output voxel (deformable: the transform per voxel), only over the output box
/// that can receive data.

#include <cstdint>
#include <optional>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/longitudinal/Registration.h"

namespace lesion::longitudinal {

/// Carries baseline labels onto `followupGrid` by nearest neighbour: follow-up voxel q takes the
/// baseline label at T^-1(q). Only labels in `values` are carried (all when empty); the rest of
/// the output is 0.
[[nodiscard]] LabelMap mapLabelsToFollowup(const LabelMap& baselineLabels, const RigidTransform& baselineToFollowup,
                                           const ImageGeometry& followupGrid,
                                           const std::vector<std::uint16_t>& values = {});

/// The same through a deformable transform: follow-up voxel q takes the baseline label at
/// T^-1(q) (DeformableTransform::applyInverse).
[[nodiscard]] LabelMap mapLabelsToFollowup(const LabelMap& baselineLabels, const DeformableTransform& baselineToFollowup,
                                           const ImageGeometry& followupGrid,
                                           const std::vector<std::uint16_t>& values = {});

/// Follow-up intensities on `grid` (usually a crop of the baseline grid), trilinear: the value at
/// grid point p is the follow-up at T(p); points outside the follow-up get `outside`.
[[nodiscard]] Volume sampleFollowupOnGrid(const Volume& followup, const RigidTransform& baselineToFollowup,
                                          const ImageGeometry& grid, float outside);

/// The same through a deformable transform: the value at grid point p is the follow-up at T(p).
[[nodiscard]] Volume sampleFollowupOnGrid(const Volume& followup, const DeformableTransform& baselineToFollowup,
                                          const ImageGeometry& grid, float outside);

/// Trilinear value of `volume` at an LPS point; unset outside the grid (beyond half a voxel).
[[nodiscard]] std::optional<double> sampleAt(const Volume& volume, const Vec3& point);

/// The sub-grid of `g` whose voxel centres cover the LPS box [minimum, maximum] (clamped to `g`;
/// size 0 along an axis when the box misses the grid).
[[nodiscard]] ImageGeometry cropGrid(const ImageGeometry& g, const Vec3& minimum, const Vec3& maximum);

/// The voxels of `image` on `crop`, a sub-grid of the image's grid made by cropGrid().
template <typename T>
[[nodiscard]] Image<T> cropImage(const Image<T>& image, const ImageGeometry& crop) {
  Image<T> out(crop);
  const Vec3 first = image.geometry.pointToIndex(crop.origin);
  const auto i0 = static_cast<std::size_t>(first.x + 0.5), j0 = static_cast<std::size_t>(first.y + 0.5),
             k0 = static_cast<std::size_t>(first.z + 0.5);
  for (std::size_t k = 0; k < crop.size[2]; ++k)
    for (std::size_t j = 0; j < crop.size[1]; ++j)
      for (std::size_t i = 0; i < crop.size[0]; ++i) out.at(i, j, k) = image.at(i0 + i, j0 + j, k0 + k);
  return out;
}

} // namespace lesion::longitudinal
