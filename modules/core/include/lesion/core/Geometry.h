#pragma once
/// \file Geometry.h
/// Points, vectors and direction matrices in patient LPS millimetres (DICOM convention:
/// +x towards the patient's Left, +y Posterior, +z Superior).

#include <array>
#include <cmath>
#include <cstddef>
#include <string>

namespace lesion {

/// A point or vector in LPS millimetres.
struct Vec3 {
  double x{0.0};
  double y{0.0};
  double z{0.0};

  constexpr double& operator[](std::size_t i) { return i == 0 ? x : (i == 1 ? y : z); }
  constexpr double operator[](std::size_t i) const { return i == 0 ? x : (i == 1 ? y : z); }
  constexpr Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
  constexpr Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
  constexpr Vec3 operator*(double s) const { return {x * s, y * s, z * s}; }
  constexpr Vec3 operator/(double s) const { return {x / s, y / s, z / s}; }
  constexpr Vec3 operator-() const { return {-x, -y, -z}; }
  constexpr Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
  constexpr Vec3& operator-=(const Vec3& o) { x -= o.x; y -= o.y; z -= o.z; return *this; }
  constexpr bool operator==(const Vec3& o) const { return x == o.x && y == o.y && z == o.z; }
};

inline constexpr Vec3 operator*(double s, const Vec3& v) { return v * s; }
[[nodiscard]] inline constexpr double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
[[nodiscard]] inline constexpr Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
[[nodiscard]] inline double norm(const Vec3& v) { return std::sqrt(dot(v, v)); }
[[nodiscard]] inline double distance(const Vec3& a, const Vec3& b) { return norm(a - b); }
[[nodiscard]] inline Vec3 normalized(const Vec3& v) { const double n = norm(v); return n > 0 ? v / n : v; }

/// Row-major 3x3 matrix. As an image direction, column j is the LPS direction of index axis j.
struct Mat3 {
  std::array<double, 9> m{1, 0, 0, 0, 1, 0, 0, 0, 1};

  [[nodiscard]] static constexpr Mat3 identity() { return {}; }
  /// Matrix whose columns are a, b, c.
  [[nodiscard]] static constexpr Mat3 fromColumns(const Vec3& a, const Vec3& b, const Vec3& c) {
    return {{a.x, b.x, c.x, a.y, b.y, c.y, a.z, b.z, c.z}};
  }
  /// Rotation by `angleRad` about unit axis `axis` (right-handed).
  [[nodiscard]] static Mat3 rotation(const Vec3& axis, double angleRad);

  constexpr double operator()(std::size_t r, std::size_t c) const { return m[r * 3 + c]; }
  constexpr double& operator()(std::size_t r, std::size_t c) { return m[r * 3 + c]; }
  [[nodiscard]] constexpr Vec3 column(std::size_t c) const { return {m[c], m[3 + c], m[6 + c]}; }
  [[nodiscard]] constexpr Vec3 operator*(const Vec3& v) const {
    return {m[0] * v.x + m[1] * v.y + m[2] * v.z, m[3] * v.x + m[4] * v.y + m[5] * v.z,
            m[6] * v.x + m[7] * v.y + m[8] * v.z};
  }
  [[nodiscard]] Mat3 operator*(const Mat3& o) const;
  [[nodiscard]] Mat3 transposed() const;
  [[nodiscard]] double determinant() const;
  /// General inverse; throws lesion::InputError when singular.
  [[nodiscard]] Mat3 inverse() const;
};

/// Rigid transform p' = R p + t in LPS mm.
struct RigidTransform {
  Mat3 rotation{};
  Vec3 translation{};

  [[nodiscard]] Vec3 apply(const Vec3& p) const { return rotation * p + translation; }
  [[nodiscard]] RigidTransform inverse() const;
  /// (a ∘ b)(p) = a(b(p))
  [[nodiscard]] RigidTransform compose(const RigidTransform& inner) const;
  /// Rotation angle in degrees (0..180).
  [[nodiscard]] double angleDegrees() const;
};

/// Sampling grid of a 3D image: voxel centre of index (i,j,k) is
/// origin + direction * diag(spacing) * (i,j,k), the ITK/DICOM convention.
struct ImageGeometry {
  std::array<std::size_t, 3> size{0, 0, 0};
  Vec3 spacing{1.0, 1.0, 1.0};
  Vec3 origin{};
  Mat3 direction{};

  [[nodiscard]] std::size_t voxelCount() const { return size[0] * size[1] * size[2]; }
  [[nodiscard]] double voxelVolumeMm3() const { return spacing.x * spacing.y * spacing.z; }
  /// Length of one voxel's diagonal: the stated uncertainty of a distance between voxel centres.
  [[nodiscard]] double voxelDiagonalMm() const { return norm(spacing); }
  [[nodiscard]] Vec3 indexToPoint(const Vec3& continuousIndex) const;
  [[nodiscard]] Vec3 indexToPoint(std::size_t i, std::size_t j, std::size_t k) const {
    return indexToPoint(Vec3{double(i), double(j), double(k)});
  }
  [[nodiscard]] Vec3 pointToIndex(const Vec3& point) const;
  [[nodiscard]] std::size_t linearIndex(std::size_t i, std::size_t j, std::size_t k) const {
    return i + size[0] * (j + size[1] * k);
  }
  [[nodiscard]] bool containsIndex(long i, long j, long k) const {
    return i >= 0 && j >= 0 && k >= 0 && std::size_t(i) < size[0] && std::size_t(j) < size[1] &&
           std::size_t(k) < size[2];
  }
  /// True when `point` (LPS mm) rounds to a voxel of the grid.
  [[nodiscard]] bool containsPoint(const Vec3& point) const {
    const Vec3 index = pointToIndex(point);
    return containsIndex(std::lround(index.x), std::lround(index.y), std::lround(index.z));
  }
  /// Same size, and spacing/origin/direction equal within `toleranceMm` (and 1e-6 in cosines).
  [[nodiscard]] bool sameGrid(const ImageGeometry& other, double toleranceMm = 1e-4) const;
  /// Throws lesion::InputError naming `what` when the grid is empty, spacing not positive or
  /// outside 0.001..100 mm, or the direction not orthonormal.
  /// `sheared`: the third direction may lean (a gantry-tilted series kept as acquired, `--tilt
  /// keep-sheared`); its columns must still be finite unit vectors.
  void validate(const std::string& what, bool sheared = false) const;
  /// Direction columns are unit vectors at right angles (within 1e-3, a lean of 0.06 deg): false for
  /// a sheared grid (`--tilt keep-sheared`), which validate(what, true) accepts.
  [[nodiscard]] bool hasOrthonormalAxes() const;
};

/// Compact human text for a point: "(x, y, z)" in mm with one decimal.
[[nodiscard]] std::string formatPoint(const Vec3& p);

} // namespace lesion
