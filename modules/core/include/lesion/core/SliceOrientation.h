#pragma once
/// \file SliceOrientation.h
/// Which way a scan's slices face, and which sections of it are axial for RECIST 1.1.

#include <string>

#include "lesion/core/Geometry.h"

namespace lesion {

/// "axial", "coronal" or "sagittal" when a slice normal lies within ~25 deg of that LPS axis, else "oblique".
[[nodiscard]] std::string orientationName(const Vec3& sliceNormal);

/// The sections RECIST 1.1 diameters are measured on for a scan on a grid: axial sections of the
/// patient. A scan whose slices face the patient's S-I axis within 45 deg (axial, gantry-tilted or
/// slightly oblique axial) is read on its own slices, as a reader sees them; any other (sagittal,
/// coronal, steeply oblique) on planes LPS z = const, which its voxels must be resampled onto.
struct AxialSections {
  bool acquisitionSlices{true};     ///< the scan's own slices (constant k); false: LPS z = const
  Vec3 normal{0, 0, 1};             ///< unit normal: direction column 2 (the slice step), or +z
  double spacingMm{1.0};            ///< between sections: the slice spacing, or the finest in-plane spacing
  std::string acquisition{"axial"}; ///< orientationName of the scan's slice plane
  /// "acquisition slices (constant k)" or e.g. "axial sections (resampled from sagittal acquisition)".
  [[nodiscard]] std::string description() const;
};

/// Which sections are axial for a scan on `grid` (see AxialSections).
[[nodiscard]] AxialSections axialSectionsOf(const ImageGeometry& grid);

} // namespace lesion
