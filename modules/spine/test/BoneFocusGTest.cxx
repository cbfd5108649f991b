// Skeleton-wide bone foci on a small synthetic bone built in memory: a long "bone" (cortex 700 HU
// around marrow 250 HU with noise) holding one sclerotic and one lytic sphere of known centre.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "lesion/spine/BoneFocusDetection.h"

namespace lesion::spine {
namespace {

struct SyntheticBone {
  Volume ct;
  Vec3 scleroticCentre{}, lyticCentre{};
  double radiusMm{5.0};
};

/// 1 mm grid; a cylinder along z (radius 15 mm, cortex 2 mm) in fat (-80 HU).
SyntheticBone makeBone(bool withFoci) {
  SyntheticBone s;
  ImageGeometry g;
  g.size = {48, 48, 64};
  g.spacing = {1.0, 1.0, 1.0};
  g.origin = {-24.0, -24.0, 0.0};
  s.ct = Volume(g, -80.0f);
  s.scleroticCentre = {-4.0, 2.0, 20.0};
  s.lyticCentre = {3.0, -2.0, 44.0};
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 25.0f);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 p = g.indexToPoint(i, j, k);
        const double r = std::hypot(p.x, p.y);
        float v = -80.0f;
        if (r <= 15.0)
          v = r > 13.0 ? 700.0f : 250.0f;
        if (withFoci && norm(p - s.scleroticCentre) <= s.radiusMm)
          v = 800.0f;
        if (withFoci && norm(p - s.lyticCentre) <= s.radiusMm)
          v = 40.0f;
        s.ct.at(i, j, k) = v + noise(rng);
      }
  return s;
}

TEST(BoneFoci, FindsScleroticAndLyticSpheresWithTheirCentresAndExtents) {
  const SyntheticBone s = makeBone(true);
  const BoneFocusResult r = detectBoneFoci(s.ct, nullptr);
  int sclerotic = 0, lytic = 0;
  for (const BoneFocus& f : r.candidates) {
    if (!f.labelled)
      continue;
    const bool isSclerotic = f.kind == "sclerotic-bone";
    const Vec3 truth = isSclerotic ? s.scleroticCentre : s.lyticCentre;
    const Vec3 extent = f.boundsMax - f.boundsMin;
    EXPECT_LT(norm(f.centroid - truth), 1.0) << f.reason; // one voxel
    for (int a = 0; a < 3; ++a)
      EXPECT_NEAR(extent[std::size_t(a)], 2.0 * s.radiusMm + 1.0, 2.0) << f.reason;
    EXPECT_EQ(f.bone, "bone");
    EXPECT_GE(f.confidence, 0.5);
    (isSclerotic ? sclerotic : lytic) += 1;
    EXPECT_EQ(r.foci.voxels[r.foci.geometry.linearIndex(std::size_t(std::lround(truth.x + 24)),
                                                        std::size_t(std::lround(truth.y + 24)),
                                                        std::size_t(std::lround(truth.z)))],
              f.id);
  }
  EXPECT_EQ(sclerotic, 1);
  EXPECT_EQ(lytic, 1);
}

TEST(BoneFoci, NothingOnNormalBoneAndItsCortex) {
  const BoneFocusResult r = detectBoneFoci(makeBone(false).ct, nullptr);
  for (const BoneFocus& f : r.candidates)
    EXPECT_FALSE(f.labelled) << f.kind << ": " << f.reason;
  EXPECT_GT(r.interiorVolumeMl, 10.0); // the marrow was filled and kept
}

} // namespace
} // namespace lesion::spine
