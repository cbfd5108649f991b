#pragma once
/// \file PhantomModel.h
/// The continuous (resolution-free) anatomy of the LesionKit digital reference object: a torso
/// cross-section with skin, fat, muscles, ribs and a lumbar spine T12..S1, an osteolytic L4 lesion
/// that calcifies on follow-up and an axillary soft-tissue mass that shrinks. Every structure is
/// an analytic solid, so the voxeliser (PhantomGenerator.cxx) and the ground truth
/// (PhantomTruth.cxx) read the same definition. All coordinates are LPS millimetres in the
/// *patient frame* (the baseline scanner frame); a follow-up scan sees the model moved by a rigid
/// transform.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion::phantom {

/// Tissue classes of the model. Vertebral body tissues are per level (see bodyTissue()).
enum Tissue : std::uint8_t {
  Air = 0,
  Skin,
  Fat,
  Muscle,          ///< abdominal wall muscle
  Viscera,         ///< homogeneous abdominal content
  Paraspinal,      ///< erector spinae
  ChestWallMuscle, ///< lateral chest-wall muscle touching the mass
  Mass,            ///< axillary soft-tissue mass
  Disc,            ///< intervertebral disc
  Canal,           ///< spinal canal (CSF)
  PosteriorBone,   ///< pedicles, laminae, spinous processes
  Rib,
  Lytic,           ///< non-calcified part of the osteolytic lesion
  SclerosisRim,    ///< calcified rim of the lytic lesion
  CalcifiedNodule, ///< calcified spheres inside the lytic lesion
  TissueCount,
  /// First vertebral body code: level L (0 = T12 .. 6 = S1) has cortical = base + 2L, trabecular = base + 2L + 1.
  VertebralBodyBase = 32
};

constexpr int kLevelCount = 7;
/// Level names from top to bottom of the spine model.
[[nodiscard]] const char* levelName(int level); ///< "T12", "L1", ..., "S1"
[[nodiscard]] constexpr std::uint8_t bodyTissue(int level, bool trabecular) {
  return static_cast<std::uint8_t>(VertebralBodyBase + 2 * level + (trabecular ? 1 : 0));
}
/// Level (0..6) of a vertebral body tissue code, or -1.
[[nodiscard]] constexpr int levelOfTissue(std::uint8_t code) {
  return code >= VertebralBodyBase && code < VertebralBodyBase + 2 * kLevelCount ? (code - VertebralBodyBase) / 2 : -1;
}

/// Label values of the ground-truth label maps.
namespace labels {
constexpr std::uint16_t LyticLesion = 1;   ///< non-calcified part of the L4 lesion
constexpr std::uint16_t SoftTissueMass = 2;
constexpr std::uint16_t CalcifiedPart = 3; ///< calcified rim + nodules inside the L4 lesion (lesion = 1 ∪ 3)
constexpr std::uint16_t FirstVertebralBody = 11; ///< T12 = 11, L1 = 12, ..., L5 = 16, S1 = 17 (lesion excluded)
} // namespace labels

/// Label of a tissue code in the truth label maps (0 for tissues that are not labelled).
[[nodiscard]] std::uint16_t labelOfTissue(std::uint8_t code);

/// A star-shaped solid: p = centre + axes * (r u) for unit u and 0 <= r <= radius(u), where
/// radius(u) = 1 + sum_i coefficient_i * h_i(u) with low-order spherical-harmonic-like
/// polynomials h_i (|h_i| <= 1 on the unit sphere). All-zero coefficients give an ellipsoid.
struct StarShape {
  Vec3 centre{};
  Mat3 axes{};                              ///< rotation * diag(semi-axes): local unit sphere -> mm
  std::array<double, 4> coefficients{0, 0, 0, 0};
  double scale{1.0};                        ///< radius(u) is multiplied by this (sclerotic rim core)
  Mat3 inverseAxes{};                       ///< cache of axes.inverse(): call update() after changing axes

  /// Recomputes inverseAxes; call after setting `axes`.
  void update();

  [[nodiscard]] double radius(const Vec3& unitDirection) const;
  /// Lower/upper bound of radius() over the sphere, from the coefficient magnitudes.
  [[nodiscard]] double minRadius() const;
  [[nodiscard]] double maxRadius() const;
  [[nodiscard]] bool contains(const Vec3& p) const;
  /// Surface point in direction u (unit, local frame).
  [[nodiscard]] Vec3 surfacePoint(const Vec3& unitDirection) const;
  /// Axis-aligned bounding box (conservative), LPS mm.
  void bounds(Vec3& lo, Vec3& hi) const;
  /// Same solid scaled by `factor` about its centre.
  [[nodiscard]] StarShape scaled(double factor) const;
};

/// A tube of radius r around a circular arc in the axial plane z = zc (a simple rib).
struct RibArc {
  double cx{0}, cy{0}, zc{0}, R{0}, a0{0}, a1{0}, r{0}; ///< centre, arc radius, polar angles (rad), tube radius
  [[nodiscard]] bool contains(const Vec3& p) const;
};

struct Sphere {
  Vec3 centre{};
  double radiusMm{0.0};
};

/// A vertebral body: an elliptic cylinder along z cut by two endplate planes. The bottom
/// endplate is z = bottomZ; the top endplate is the plane z = bottomZ + h(y) with h linear in y,
/// h = anteriorHeight at the anterior edge (centre.y - semiAxisAp) and posteriorHeight at the
/// posterior edge, so the middle height (at centre.y) is their mean: heights are analytic.
struct VertebralBody {
  int level{0};
  Vec3 centre{};            ///< x, y of the footprint centre; z unused
  double semiAxisLrMm{25};
  double semiAxisApMm{17};
  double bottomZ{0};
  double anteriorHeightMm{28};
  double posteriorHeightMm{28};
  double corticalThicknessMm{1.2};

  [[nodiscard]] double middleHeightMm() const { return 0.5 * (anteriorHeightMm + posteriorHeightMm); }
  [[nodiscard]] double heightAt(double y) const;
  [[nodiscard]] double topZAt(double y) const { return bottomZ + heightAt(y); }
  [[nodiscard]] double maxTopZ() const;
};

/// Everything that is present at one time point, in the patient frame.
struct PhantomAnatomy {
  std::array<VertebralBody, kLevelCount> bodies{};
  StarShape lyticLesion{};          ///< whole lesion (lytic + calcified), never changes shape
  double rimFraction{0.0};          ///< s: rim between surface and surface scaled by (1 - s); 0 = none
  std::vector<Sphere> nodules{};    ///< calcified spheres, inside the rim's inner surface
  StarShape mass{};                 ///< an ellipsoid (no perturbation), shrinking on follow-up
  StarShape chestWallMuscle{};      ///< touches the baseline mass
  std::vector<RibArc> ribs{};       ///< 11th and 12th (floating) ribs, both sides
  double zMin{0}, zMax{0};          ///< axial range of the model (S1 bottom .. T12 top, with margins)
  /// Axis-aligned box that contains the torso: the FOV is cropped to it.
  Vec3 boxMin{}, boxMax{};

  /// Tissue code at a patient-frame point (the single source of truth for the images).
  [[nodiscard]] std::uint8_t classify(const Vec3& p) const;
};

/// Calcification and mass scale at one time point (index 0 = baseline).
struct TimePointState {
  double massScale{1.0};
  double rimFraction{0.0};
  std::vector<Sphere> nodules{}; ///< offsets from the lesion centre in the lesion's local mm frame
};

/// The default course of disease for time point `index` (0 = baseline): mass 1.0, 0.8, 0.7, ...;
/// rim s = 0, 0.12, 0.22, 0.28, 0.32, 0.35; 0, 1, 3, 3, ... nodules.
[[nodiscard]] TimePointState defaultTimePointState(int index);

/// Builds the anatomy of one time point. Throws lesion::ProcessingError if the calcified
/// nodules would not lie inside the rim's inner surface (a model inconsistency).
[[nodiscard]] PhantomAnatomy buildPhantomAnatomy(const TimePointState& state);

/// Patient motion between baseline and follow-up `index` (identity for 0): small rotations
/// about the torso centre plus a translation; maps baseline scanner LPS to follow-up scanner LPS.
[[nodiscard]] RigidTransform defaultFollowUpMotion(int index, const Vec3& rotationCentre);

/// Tissue intensities: CT in HU, or a T1-weighted-like MR contrast in arbitrary units.
enum class Contrast { CT, MR };
/// Mean intensity of every tissue code (256 entries).
[[nodiscard]] std::array<float, 256> tissueIntensities(Contrast contrast);
[[nodiscard]] const char* tissueName(std::uint8_t code);

} // namespace lesion::phantom
