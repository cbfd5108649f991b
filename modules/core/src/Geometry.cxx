#include "lesion/core/Geometry.h"

#include <algorithm>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion {

Mat3 Mat3::rotation(const Vec3& axis, double angleRad) {
  const Vec3 u = normalized(axis);
  const double c = std::cos(angleRad);
  const double s = std::sin(angleRad);
  const double t = 1.0 - c;
  return {{t * u.x * u.x + c, t * u.x * u.y - s * u.z, t * u.x * u.z + s * u.y,
           t * u.x * u.y + s * u.z, t * u.y * u.y + c, t * u.y * u.z - s * u.x,
           t * u.x * u.z - s * u.y, t * u.y * u.z + s * u.x, t * u.z * u.z + c}};
}

Mat3 Mat3::operator*(const Mat3& o) const {
  Mat3 r;
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < 3; ++k) s += (*this)(i, k) * o(k, j);
      r(i, j) = s;
    }
  }
  return r;
}

Mat3 Mat3::transposed() const {
  Mat3 r;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) r(i, j) = (*this)(j, i);
  return r;
}

double Mat3::determinant() const {
  return dot(column(0), cross(column(1), column(2)));
}

Mat3 Mat3::inverse() const {
  const double det = determinant();
  if (std::abs(det) < 1e-12) throw InputError("singular 3x3 matrix (determinant " + std::to_string(det) + ")");
  // Rows of the inverse are the cross products of the columns, divided by the determinant.
  const Vec3 r0 = cross(column(1), column(2)) / det;
  const Vec3 r1 = cross(column(2), column(0)) / det;
  const Vec3 r2 = cross(column(0), column(1)) / det;
  return {{r0.x, r0.y, r0.z, r1.x, r1.y, r1.z, r2.x, r2.y, r2.z}};
}

RigidTransform RigidTransform::inverse() const {
  const Mat3 rt = rotation.transposed();
  return {rt, -(rt * translation)};
}

RigidTransform RigidTransform::compose(const RigidTransform& inner) const {
  return {rotation * inner.rotation, rotation * inner.translation + translation};
}

double RigidTransform::angleDegrees() const {
  const double trace = rotation(0, 0) + rotation(1, 1) + rotation(2, 2);
  const double c = std::clamp((trace - 1.0) / 2.0, -1.0, 1.0);
  return std::acos(c) * 180.0 / M_PI;
}

Vec3 ImageGeometry::indexToPoint(const Vec3& idx) const {
  return origin + direction * Vec3{idx.x * spacing.x, idx.y * spacing.y, idx.z * spacing.z};
}

Vec3 ImageGeometry::pointToIndex(const Vec3& point) const {
  // Direction is orthonormal in valid geometry, so its inverse is its transpose; use the general
  // inverse anyway so that sheared (gantry-tilted) grids kept on request also map correctly.
  const Vec3 d = direction.inverse() * (point - origin);
  return {d.x / spacing.x, d.y / spacing.y, d.z / spacing.z};
}

bool ImageGeometry::sameGrid(const ImageGeometry& o, double tol) const {
  if (size != o.size) return false;
  for (std::size_t a = 0; a < 3; ++a) {
    if (std::abs(spacing[a] - o.spacing[a]) > tol || std::abs(origin[a] - o.origin[a]) > tol) return false;
  }
  for (std::size_t i = 0; i < 9; ++i) {
    if (std::abs(direction.m[i] - o.direction.m[i]) > 1e-6) return false;
  }
  return true;
}

void ImageGeometry::validate(const std::string& what, bool sheared) const {
  if (voxelCount() == 0) {
    throw InputError(fmt::format("{}: empty image (size {} x {} x {})", what, size[0], size[1], size[2]));
  }
  for (std::size_t a = 0; a < 3; ++a) {
    if (!(spacing[a] > 0.0) || !std::isfinite(spacing[a])) {
      throw InputError(fmt::format("{}: voxel spacing must be positive, found {} x {} x {} mm", what,
                                   spacing.x, spacing.y, spacing.z));
    }
    if (!std::isfinite(origin[a])) throw InputError(what + ": origin is not a finite number");
  }
  // Far beyond any CT or MR voxel (micro-CT of 5 um included): a header in metres or with a typo.
  // Such a grid failed deep inside ITK filters, ran for minutes, or was measured as 1e31 mL. The
  // limits tolerate float rounding (a NIfTI pixdim of 0.001 is stored as 0.00099999997).
  constexpr double kSmallestSpacingMm = 0.001, kLargestSpacingMm = 100.0, kRounding = 1e-6;
  for (std::size_t a = 0; a < 3; ++a) {
    if (spacing[a] < kSmallestSpacingMm * (1.0 - kRounding) || spacing[a] > kLargestSpacingMm * (1.0 + kRounding)) {
      throw InputError(
          fmt::format("{}: voxel spacing {:.9g} x {:.9g} x {:.9g} mm is outside {:g} to {:g} mm: not the grid "
                      "of a scan (check the spacing and its unit in the header)",
                      what, spacing.x, spacing.y, spacing.z, kSmallestSpacingMm, kLargestSpacingMm));
    }
  }
  // Written as "not within" so that a NaN direction fails too (every comparison with NaN is false).
  for (std::size_t a = 0; a < 3; ++a) {
    if (!(std::abs(norm(direction.column(a)) - 1.0) <= 1e-3)) {
      throw InputError(fmt::format("{}: direction column {} is not a unit vector", what, a));
    }
  }
  const double volumeFactor = std::abs(direction.determinant());
  if (sheared ? !(volumeFactor >= 0.5) : !(std::abs(volumeFactor - 1.0) <= 1e-3)) {
    throw InputError(what + ": direction cosines are not orthogonal (sheared or degenerate grid)");
  }
}

bool ImageGeometry::hasOrthonormalAxes() const {
  constexpr double kTolerance = 1e-3; // a lean of 0.06 deg: what analyzeSliceStack calls no tilt
  for (std::size_t a = 0; a < 3; ++a) {
    const Vec3 column = direction.column(a);
    if (!(std::abs(norm(column) - 1.0) <= kTolerance) ||
        !(std::abs(dot(column, direction.column((a + 1) % 3))) <= kTolerance))
      return false;
  }
  return true;
}

std::string formatPoint(const Vec3& p) { return fmt::format("({:.1f}, {:.1f}, {:.1f})", p.x, p.y, p.z); }

} // namespace lesion
