#pragma once
// Internal: convex hulls used by the diameter measurements (2D own code, 3D through qhull).

#include <cstddef>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion::measurement::detail {

struct Point2 {
  double x{0.0};
  double y{0.0};
};

/// Indices of the 2D convex hull vertices of `points` (Andrew's monotone chain), counter-clockwise,
/// collinear points dropped. One index for a single (or all identical) point(s).
[[nodiscard]] std::vector<std::size_t> convexHull2d(const std::vector<Point2>& points);

/// Indices of the 3D convex hull vertices of `points` (qhull). Returns an empty vector when the
/// points do not span 3D (fewer than 4, or coplanar): callers then fall back to all points.
[[nodiscard]] std::vector<std::size_t> convexHull3d(const std::vector<Vec3>& points);

} // namespace lesion::measurement::detail
