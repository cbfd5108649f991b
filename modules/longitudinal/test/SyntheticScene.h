#pragma once
// A small analytic CT-like scene for registration and tracking tests: a body with organs, a
// spine-like column and a few blobs, sampled on any grid after any rigid motion, so the moved
// image has no interpolation error and the true transform is known exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"

namespace lesion::longitudinal::test {

struct Blob {
  Vec3 centre;
  Vec3 semiAxes;
  float value; ///< added HU inside
};

/// Soft step: 1 inside, 0 outside, about 1 mm wide, so sampling does not alias.
inline double inside(const Vec3& p, const Blob& b) {
  const Vec3 d{(p.x - b.centre.x) / b.semiAxes.x, (p.y - b.centre.y) / b.semiAxes.y, (p.z - b.centre.z) / b.semiAxes.z};
  const double r = norm(d);
  const double minSemi = std::min({b.semiAxes.x, b.semiAxes.y, b.semiAxes.z});
  return 1.0 / (1.0 + std::exp((r - 1.0) * minSemi / 0.4));
}

inline std::vector<Blob> sceneBlobs() {
  std::vector<Blob> blobs{{{0, 0, 0}, {70, 55, 200}, 1040.0f},     // body: air -1000 → soft tissue 40
          {{-30, -10, 10}, {22, 18, 30}, 20.0f},   // organ
          {{28, -5, -15}, {18, 20, 25}, -140.0f},  // fatty organ
          {{0, 30, 0}, {12, 10, 200}, 300.0f},     // spine column
          {{0, 30, 20}, {6, 5, 8}, -280.0f},       // lytic spot in the column
          {{-15, 20, -30}, {8, 8, 8}, 500.0f},     // rib-like dense spot
          {{35, 25, 30}, {10, 7, 6}, 60.0f},       // mass
          {{10, -35, 25}, {5, 9, 7}, -60.0f}};
  // Texture like vessels and bowel loops, so every local region has structure to register on
  // (deterministic positions from a small linear congruential generator).
  std::uint32_t state = 12345u;
  auto next = [&state](double lo, double hi) {
    state = state * 1664525u + 1013904223u;
    return lo + (hi - lo) * double(state >> 8) / double(1u << 24);
  };
  for (int n = 0; n < 60; ++n) {
    const Vec3 c{next(-60, 60), next(-45, 45), next(-60, 60)};
    const Vec3 axes{next(2.5, 6), next(2.5, 6), next(2.5, 6)};
    const float value = static_cast<float>(next(0, 1) < 0.5 ? next(-150, -60) : next(80, 300));
    // Keep the mass (blob 6) in plain soft tissue, so its analytic volume is what can be seen.
    if (distance(c, blobs[6].centre) < 17.0) continue;
    blobs.push_back({c, axes, value});
  }
  return blobs;
}

/// HU of the scene at a baseline (patient) point.
/// The mass (blob 6) can be scaled about its centre (0 = gone) to simulate response.
inline float sceneValue(const Vec3& p, double massScale = 1.0) {
  static const std::vector<Blob> blobs = sceneBlobs();
  double v = -1000.0;
  for (std::size_t n = 0; n < blobs.size(); ++n) {
    Blob b = blobs[n];
    if (n == 6) {
      if (massScale <= 0.0) continue;
      b.semiAxes = b.semiAxes * massScale;
    }
    v += b.value * inside(p, b);
  }
  return static_cast<float>(v);
}

inline ImageGeometry sceneGrid(std::size_t nx = 80, std::size_t ny = 72, std::size_t nz = 48, Vec3 spacing = {2.0, 2.0, 2.5}) {
  ImageGeometry g;
  g.size = {nx, ny, nz};
  g.spacing = spacing;
  g.origin = {-0.5 * spacing.x * double(nx - 1), -0.5 * spacing.y * double(ny - 1), -0.5 * spacing.z * double(nz - 1)};
  return g;
}

/// The scene as seen by a scanner after the patient moved by `baselineToFollowup`
/// (follow-up point q shows the baseline anatomy at T^-1(q)).
inline Volume sceneVolume(const ImageGeometry& g, const RigidTransform& baselineToFollowup = {}, double massScale = 1.0) {
  const RigidTransform back = baselineToFollowup.inverse();
  Volume v(g);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) v.at(i, j, k) = sceneValue(back.apply(g.indexToPoint(i, j, k)), massScale);
  return v;
}

inline RigidTransform knownMotion() {
  constexpr double deg = 3.14159265358979323846 / 180.0;
  RigidTransform t;
  t.rotation = Mat3::rotation({0, 0, 1}, 4.0 * deg) * Mat3::rotation({1, 0, 0}, -2.5 * deg) *
               Mat3::rotation({0, 1, 0}, 1.5 * deg);
  t.translation = {5.0, -3.5, 6.0};
  return t;
}

} // namespace lesion::longitudinal::test
