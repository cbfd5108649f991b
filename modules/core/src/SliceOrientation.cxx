#include "lesion/core/SliceOrientation.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace lesion {

std::string orientationName(const Vec3& sliceNormal) {
  const Vec3 n = normalized(sliceNormal);
  constexpr double kAligned = 0.9;
  if (std::abs(n.z) >= kAligned)
    return "axial";
  if (std::abs(n.y) >= kAligned)
    return "coronal";
  if (std::abs(n.x) >= kAligned)
    return "sagittal";
  return "oblique";
}

std::string AxialSections::description() const {
  return acquisitionSlices ? "acquisition slices (constant k)"
                           : fmt::format("axial sections (resampled from {} acquisition)", acquisition);
}

AxialSections axialSectionsOf(const ImageGeometry& grid) {
  // The plane the slices lie in (spanned by the row and column directions, also on a sheared grid).
  const Vec3 sliceNormal = normalized(cross(grid.direction.column(0), grid.direction.column(1)));
  AxialSections sections;
  sections.acquisition = orientationName(sliceNormal);
  sections.acquisitionSlices = std::abs(sliceNormal.z) >= std::sqrt(0.5); // within 45 deg
  if (sections.acquisitionSlices) {
    sections.normal = normalized(grid.direction.column(2));
    sections.spacingMm = grid.spacing.z;
  } else {
    sections.normal = {0, 0, 1};
    sections.spacingMm = std::min(grid.spacing.x, grid.spacing.y);
  }
  return sections;
}

} // namespace lesion
