#pragma once
/// \file ItkBridge.h
/// Conversion between lesion::Image and itk::Image. Include it only from .cxx files of modules
/// that link lesion::dep_itk, so ITK templates stay out of public headers.

#include <algorithm>

#include <itkImage.h>

#include "lesion/core/Image.h"

namespace lesion::itkbridge {

template <typename T>
using ItkImage = itk::Image<T, 3>;

template <typename T>
void copyGeometryTo(const ImageGeometry& g, ItkImage<T>* image) {
  typename ItkImage<T>::RegionType region;
  typename ItkImage<T>::SizeType size;
  typename ItkImage<T>::SpacingType spacing;
  typename ItkImage<T>::PointType origin;
  typename ItkImage<T>::DirectionType direction;
  for (unsigned a = 0; a < 3; ++a) {
    size[a] = g.size[a];
    spacing[a] = g.spacing[a];
    origin[a] = g.origin[a];
    for (unsigned b = 0; b < 3; ++b) direction(a, b) = g.direction(a, b);
  }
  region.SetSize(size);
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
}

template <typename T>
[[nodiscard]] ImageGeometry geometryOf(const ItkImage<T>* image) {
  ImageGeometry g;
  const auto region = image->GetLargestPossibleRegion();
  for (unsigned a = 0; a < 3; ++a) {
    g.size[a] = region.GetSize()[a];
    g.spacing[a] = image->GetSpacing()[a];
    g.origin[a] = image->GetOrigin()[a];
    for (unsigned b = 0; b < 3; ++b) g.direction(a, b) = image->GetDirection()(a, b);
  }
  return g;
}

/// Deep copy into a new itk::Image with the same geometry.
template <typename T>
[[nodiscard]] typename ItkImage<T>::Pointer toItk(const Image<T>& in) {
  auto out = ItkImage<T>::New();
  copyGeometryTo(in.geometry, out.GetPointer());
  out->Allocate();
  std::copy(in.voxels.begin(), in.voxels.end(), out->GetBufferPointer());
  return out;
}

/// Deep copy of an itk::Image (its largest possible region must be buffered) into a lesion::Image.
template <typename T>
[[nodiscard]] Image<T> fromItk(const ItkImage<T>* in) {
  Image<T> out;
  out.geometry = geometryOf(in);
  const T* buffer = in->GetBufferPointer();
  out.voxels.assign(buffer, buffer + out.geometry.voxelCount());
  return out;
}

} // namespace lesion::itkbridge
