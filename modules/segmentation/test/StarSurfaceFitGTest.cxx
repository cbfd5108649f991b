// The border surface fitted on raw voxels (StarSurfaceFit.h): an ellipsoid of 24 x 20 x 18 mm at
// 45 HU, half against muscle 5 HU brighter and half in fat, Gaussian noise SD 12 HU, partial volume
// (4^3 sub-samples per voxel), 1 x 1 x 2 mm voxels, over six noise realisations. Started from regions
// 5 % too small and too large in every direction (-14 % and +16 % in volume: a voxel off, as the
// pipeline's border can be), the fit must find the same surface from both and the analytic volume.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "SegmentationTestUtil.h"
#include "lesion/segmentation/StarSurfaceFit.h"

namespace lesion::segmentation {
namespace {

constexpr double kA = 12.0, kB = 10.0, kC = 9.0; // semi-axes, mm
constexpr double kMuscleFromX = 2.0;             // muscle beyond this x, fat before it

double ellipsoidLevel(const Vec3& p) { return std::pow(p.x / kA, 2) + std::pow(p.y / kB, 2) + std::pow(p.z / kC, 2); }

struct Scene {
  ImageGeometry grid;
  std::vector<float> image;
  std::vector<unsigned char> truth; // voxel centres inside the ellipsoid
};

/// A 48 x 40 x 20 grid of 1 x 1 x 2 mm about the origin: `tissue(p)` in HU averaged over 4^3 sub-samples
/// per voxel (partial volume), Gaussian noise SD 12; the truth is the voxel centres where `inside(p)`.
template <class Tissue, class Inside> Scene sceneOf(Tissue&& tissue, Inside&& inside, unsigned noiseSeed) {
  Scene s;
  s.grid.size = {48, 40, 20};
  s.grid.spacing = {1.0, 1.0, 2.0};
  s.grid.origin = {-23.5, -19.5, -19.0};
  std::mt19937 rng(noiseSeed);
  std::normal_distribution<double> noise(0.0, 12.0);
  for (std::size_t k = 0; k < s.grid.size[2]; ++k)
    for (std::size_t j = 0; j < s.grid.size[1]; ++j)
      for (std::size_t i = 0; i < s.grid.size[0]; ++i) {
        const Vec3 c = s.grid.indexToPoint(i, j, k);
        s.image.push_back(float(test::partialVolumeMean(s.grid, c, tissue) + noise(rng)));
        s.truth.push_back(inside(c) ? 1 : 0);
      }
  return s;
}

/// The ellipsoid (45 HU) with muscle beyond x = kMuscleFromX and fat elsewhere.
Scene makeScene(unsigned noiseSeed = 1) {
  return sceneOf([](const Vec3& p) { return ellipsoidLevel(p) <= 1.0 ? 45.0
                                            : p.x > kMuscleFromX     ? 50.0
                                                                     : -100.0; },
                 [](const Vec3& p) { return ellipsoidLevel(p) <= 1.0; }, noiseSeed);
}

/// Voxel centres inside the ellipsoid scaled by `scale`.
std::vector<unsigned char> scaledRegion(const ImageGeometry& g, double scale) {
  std::vector<unsigned char> out;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        out.push_back(ellipsoidLevel(g.indexToPoint(i, j, k) / scale) <= 1.0);
  return out;
}

/// Signed distance (mm, negative inside) from each voxel centre to the nearest centre of the other
/// side, searched within 9 mm (farther voxels read +-9: outside any band).
std::vector<float> signedDistance(const ImageGeometry& g, const std::vector<unsigned char>& region) {
  std::vector<float> out(region.size());
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t v = g.linearIndex(i, j, k);
        double best = 9.0;
        for (long dk = -5; dk <= 5; ++dk)
          for (long dj = -9; dj <= 9; ++dj)
            for (long di = -9; di <= 9; ++di) {
              const long a = long(i) + di, b = long(j) + dj, c = long(k) + dk;
              if (!g.containsIndex(a, b, c) || region[g.linearIndex(a, b, c)] == region[v])
                continue;
              best = std::min(best, std::sqrt(double(di * di + dj * dj) + 4.0 * double(dk * dk)));
            }
        out[v] = float(region[v] ? -best : best);
      }
  return out;
}

double volumeMl(const ImageGeometry& g, const std::vector<unsigned char>& m) {
  std::size_t count = 0;
  for (unsigned char x : m)
    count += x != 0;
  return double(count) * g.voxelVolumeMm3() / 1000.0;
}

double dice(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
  std::size_t both = 0, na = 0, nb = 0;
  for (std::size_t v = 0; v < a.size(); ++v) {
    both += a[v] && b[v];
    na += a[v] != 0;
    nb += b[v] != 0;
  }
  return 2.0 * double(both) / double(na + nb);
}

/// The pipeline's two fits (degree 2, then 3 from its result) from `start`; nothing when declined.
std::optional<StarSurfaceFitResult> fitAsThePipeline(const Scene& s, std::vector<unsigned char> start) {
  std::optional<StarSurfaceFitResult> fit;
  for (int degree : {2, 3}) {
    StarSurfaceFitOptions o;
    o.degree = degree;
    std::string why;
    fit = fitStarSurface(s.grid, s.image.data(), start.data(), signedDistance(s.grid, start).data(), o, 0.92, why);
    if (!fit) {
      ADD_FAILURE() << why;
      return std::nullopt;
    }
    start = fit->mask;
  }
  return fit;
}

// Against the analytic volume. Without noise the fit is -2.9 % (the voxel centres inside the ellipsoid
// themselves count -1.3 %: 2 mm slices through its poles); with noise the six realisations read -0.9,
// -3.6, -4.5, -0.3, -4.2, -0.9 % (the 5 HU muscle side is where the noise tells), the same from both
// starts within 0.2 %.
TEST(StarSurfaceFit, FindsTheEllipsoidFromRegionsTooSmallAndTooLarge) {
  const double truthMl = 4.0 / 3.0 * M_PI * kA * kB * kC / 1000.0;
  double sum = 0.0;
  int fits = 0;
  for (unsigned noiseSeed = 1; noiseSeed <= 6; ++noiseSeed) {
    const Scene s = makeScene(noiseSeed);
    std::vector<double> volumes;
    for (const double scale : {0.95, 1.05}) {
      SCOPED_TRACE(testing::Message() << "noise seed " << noiseSeed << ", start scaled " << scale);
      const auto start = scaledRegion(s.grid, scale);
      const auto fit = fitAsThePipeline(s, start);
      ASSERT_TRUE(fit);
      const double startError = 100.0 * (volumeMl(s.grid, start) - truthMl) / truthMl;
      const double error = 100.0 * (volumeMl(s.grid, fit->mask) - truthMl) / truthMl;
      std::printf("[surface fit, noise seed %u, start %+.1f %%] volume %.3f mL vs %.3f mL (%+.1f %%), Dice %.3f "
                  "(start %.3f), lesion %.1f HU, residual SD %.1f HU on %zu voxels\n",
                  noiseSeed, startError, volumeMl(s.grid, fit->mask), truthMl, error, dice(fit->mask, s.truth),
                  dice(start, s.truth), fit->lesionLevel, fit->residualSd, fit->fittedVoxels);
      EXPECT_LE(std::abs(error), 5.0);
      EXPECT_GE(dice(fit->mask, s.truth), 0.95);
      EXPECT_NEAR(fit->lesionLevel, 45.0, 1.0);
      EXPECT_LT(fit->residualSd, 18.0); // the noise (12) and the linear ramp's misfit at the fat (145 HU)
      EXPECT_LT(fit->contradictedShare, 0.005); // the pipeline declines above 0.02
      volumes.push_back(volumeMl(s.grid, fit->mask));
      sum += error;
      ++fits;
    }
    EXPECT_NEAR(volumes[0], volumes[1], 0.01 * truthMl) << "noise seed " << noiseSeed;
  }
  EXPECT_LE(std::abs(sum / fits), 3.0) << "mean volume error over the realisations";
}

// A lobulated mass (r = 12 mm x (1 + 0.25 cos 4 phi sin^4 theta), in fat): its band agrees with a
// surface of degree 2 well enough (0.93-0.96), but the surface cuts its lobes off, and the voxels just
// beyond the ramp against the fat say so: the pipeline declines above 2 % (a review's repro: -18 %
// with the fit, -1.9 % without).
TEST(StarSurfaceFit, CuttingALobulatedMassIsSeenOnTheVoxelsAgainstFat) {
  const auto lobed = [](const Vec3& p) {
    const double r = norm(p), sinTheta = std::sqrt(std::max(0.0, 1.0 - std::pow(p.z / std::max(r, 1e-9), 2)));
    return r <= 12.0 * (1.0 + 0.25 * std::cos(4.0 * std::atan2(p.y, p.x)) * std::pow(sinTheta, 4));
  };
  const Scene s = sceneOf([&](const Vec3& p) { return lobed(p) ? 45.0 : -100.0; }, lobed, 1);
  StarSurfaceFitOptions o;
  o.degree = 2;
  std::string why;
  const auto fit =
      fitStarSurface(s.grid, s.image.data(), s.truth.data(), signedDistance(s.grid, s.truth).data(), o, 0.92, why);
  ASSERT_TRUE(fit) << why;
  std::printf("[surface fit, lobulated mass] band agreement %.3f, contradicted %.4f, volume %.3f mL vs %.3f mL\n",
              fit->startAgreement, fit->contradictedShare, volumeMl(s.grid, fit->mask), volumeMl(s.grid, s.truth));
  EXPECT_GT(fit->contradictedShare, 0.02);
}

TEST(StarSurfaceFit, ARegionThatIsNoStarShapedSurfaceIsDeclined) {
  const Scene s = makeScene();
  // A hollow ball (shell 5..11 mm): rays from its centre cross its border twice.
  std::vector<unsigned char> shell;
  for (std::size_t k = 0; k < s.grid.size[2]; ++k)
    for (std::size_t j = 0; j < s.grid.size[1]; ++j)
      for (std::size_t i = 0; i < s.grid.size[0]; ++i) {
        const double r = norm(s.grid.indexToPoint(i, j, k));
        shell.push_back(r >= 5.0 && r <= 11.0);
      }
  std::string why;
  const auto fit =
      fitStarSurface(s.grid, s.image.data(), shell.data(), signedDistance(s.grid, shell).data(), {}, 0.95, why);
  EXPECT_FALSE(fit);
  EXPECT_NE(why.find("star-shaped surface"), std::string::npos) << why;
}

} // namespace
} // namespace lesion::segmentation
