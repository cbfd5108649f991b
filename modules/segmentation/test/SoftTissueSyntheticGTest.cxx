// Synthetic soft-tissue mass: an ellipsoid of 32 x 26 x 24 mm at 45 HU touching a muscle slab at
// 55 HU, in fat (-100 HU) with air in front, Gaussian noise SD 12 HU, partial volume at every
// boundary (4^3 sub-samples per voxel). Ground truth: voxel centres inside the ellipsoid, and the
// analytic volume.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "SegmentationTestUtil.h"
#include "lesion/core/Error.h"
#include "lesion/segmentation/SegmentationKind.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace lesion::segmentation {
namespace {

/// The mass's semi-axes along L-R, A-P, S-I (mm).
using SemiAxes = std::array<double, 3>;
constexpr SemiAxes kSemiAxes = {16.0, 13.0, 12.0};
constexpr double kMuscleFromX = 14.0; // the slab overlaps the ellipsoid's cap: a 2 mm deep contact
double ellipsoidVolumeMl(const SemiAxes& s) { return 4.0 / 3.0 * M_PI * s[0] * s[1] * s[2] / 1000.0; }
const double kTrueVolumeMl = ellipsoidVolumeMl(kSemiAxes);

struct Phantom {
  Volume image;
  LabelMap truth;
};

enum class Contrast { CT, MR };

bool insideMass(const Vec3& p, const SemiAxes& s) {
  return std::pow(p.x / s[0], 2) + std::pow(p.y / s[1], 2) + std::pow(p.z / s[2], 2) <= 1.0;
}

double tissueAt(const Vec3& p, Contrast contrast, const SemiAxes& mass = kSemiAxes) {
  const bool mr = contrast == Contrast::MR;
  if (insideMass(p, mass))
    return mr ? 350.0 : 45.0;                             // mass
  if (p.y < -40.0) return mr ? 5.0 : -1000.0;             // air in front of the body
  if (p.x >= kMuscleFromX) return mr ? 380.0 : 55.0;      // muscle
  return mr ? 900.0 : -100.0;                             // fat
}

/// 96 x 96 x 80 mm around the mass's centre, axial slices 2 mm apart.
ImageGeometry axialGrid() {
  ImageGeometry g;
  g.size = {96, 96, 40};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {-47.5, -47.5, -39.0};
  return g;
}

/// The same field of view acquired sagittally: rows towards P, columns towards I (1 mm), sagittal
/// slices 2 mm apart from left to right.
ImageGeometry sagittalGrid() {
  ImageGeometry g;
  g.size = {96, 80, 48};
  g.spacing = {1.0, 1.0, 2.0};
  g.direction = Mat3::fromColumns({0, 1, 0}, {0, 0, -1}, {-1, 0, 0});
  g.origin = -g.indexToPoint(Vec3{47.5, 39.5, 23.5}); // centred on (0, 0, 0)
  return g;
}

Phantom makePhantom(Contrast contrast, std::uint32_t seed = 7, const ImageGeometry& g = axialGrid(),
                    const SemiAxes& mass = kSemiAxes) {
  Phantom ph{Volume(g), LabelMap(g)};
  std::mt19937 rng(seed);
  const double noiseSd = contrast == Contrast::MR ? 25.0 : 12.0;
  std::normal_distribution<double> noise(0.0, noiseSd);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 c = g.indexToPoint(i, j, k);
        double value = test::partialVolumeMean(g, c, [&](const Vec3& p) { return tissueAt(p, contrast, mass); });
        // MR: a smooth multiplicative bias field, +-15 % across the field of view.
        if (contrast == Contrast::MR) value *= 1.0 + 0.15 * (c.x + c.y) / 67.0;
        ph.image.at(i, j, k) = float(value + noise(rng));
        ph.truth.at(i, j, k) = insideMass(c, mass) ? 1 : 0;
      }
  return ph;
}

const Phantom& ctPhantom() {
  static const Phantom phantom = makePhantom(Contrast::CT);
  return phantom;
}

double volumeErrorPercent(const SegmentationResult& r) { return 100.0 * (r.volumeMl - kTrueVolumeMl) / kTrueVolumeMl; }

TEST(SoftTissueSynthetic, SeedAtCentreSegmentsTheMassNotTheMuscle) {
  const auto& ph = ctPhantom();
  const auto start = std::chrono::steady_clock::now();
  const auto r = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{0, 0, 0}}));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double d = test::dice(r.labels, ph.truth);
  std::printf("[synthetic CT, seed] Dice %.4f, volume %.3f mL (true %.3f, error %+.2f %%), split off %d, "
              "interval %.1f..%.1f HU, %.2f s\n",
              d, r.volumeMl, kTrueVolumeMl, volumeErrorPercent(r), r.diagnostics.componentsSplitOff,
              r.diagnostics.intensity.lower, r.diagnostics.intensity.upper, seconds);
  RecordProperty("dice", std::to_string(d));
  EXPECT_GE(d, 0.90);
  EXPECT_LE(std::abs(volumeErrorPercent(r)), 5.0);
  EXPECT_EQ(r.diagnostics.modality, Modality::CT);
  // The muscle slab (10 HU brighter) must stay out, whether the intensity model excludes it or
  // the neck split cuts it off: mask voxels in the slab beyond the 2 mm contact cap.
  std::size_t inSlab = 0, inMask = 0;
  const ImageGeometry& g = ph.image.geometry;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        if (!r.labels.at(i, j, k)) continue;
        ++inMask;
        inSlab += g.indexToPoint(i, j, k).x >= kSemiAxes[0] + 1.0;
      }
  EXPECT_LE(inSlab * 200, inMask) << inSlab << " mask voxels lie in the muscle slab";
  EXPECT_TRUE(r.labels.geometry.sameGrid(ph.image.geometry));
}

TEST(SoftTissueSynthetic, SeedShiftsOfThreeMillimetresBarelyChangeTheResult) {
  const auto& ph = ctPhantom();
  const auto reference = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{0, 0, 0}}));
  const double d0 = test::dice(reference.labels, ph.truth);
  const Vec3 shifts[6] = {{3, 0, 0}, {-3, 0, 0}, {0, 3, 0}, {0, -3, 0}, {0, 0, 3}, {0, 0, -3}};
  for (const Vec3& shift : shifts) {
    const auto r = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({shift}));
    const double d = test::dice(r.labels, ph.truth);
    std::printf("[synthetic CT, seed shifted %s] Dice %.4f (change %+.4f), volume error %+.2f %%, interval %.1f..%.1f HU\n",
                formatPoint(shift).c_str(), d, d - d0, volumeErrorPercent(r), r.diagnostics.intensity.lower,
                r.diagnostics.intensity.upper);
    EXPECT_LT(std::abs(d - d0), 0.03) << "seed shifted by " << formatPoint(shift);
  }
}

TEST(SoftTissueSynthetic, BoxAndRecistLineInitialisations) {
  const auto& ph = ctPhantom();
  const auto box = segmentSoftTissueMass(ph.image, SoftTissueInit::fromBox({-17, -14, -13}, {17, 14, 13}));
  const auto recist = segmentSoftTissueMass(ph.image, SoftTissueInit::fromRecist({-16, 0, 0}, {16, 0, 0}));
  const double dBox = test::dice(box.labels, ph.truth), dRecist = test::dice(recist.labels, ph.truth);
  std::printf("[synthetic CT, box] Dice %.4f, volume error %+.2f %%\n", dBox, volumeErrorPercent(box));
  std::printf("[synthetic CT, RECIST] Dice %.4f, volume error %+.2f %%\n", dRecist, volumeErrorPercent(recist));
  EXPECT_GE(dBox, 0.90);
  EXPECT_GE(dRecist, 0.90);
  EXPECT_LE(std::abs(volumeErrorPercent(box)), 5.0);
  EXPECT_LE(std::abs(volumeErrorPercent(recist)), 5.0);
}

/// The message of what `segmentSoftTissueMass(image, init)` throws as `E`; empty when it does not.
template <class E> std::string errorOf(const Volume& image, const SoftTissueInit& init) {
  try {
    (void)segmentSoftTissueMass(image, init);
  } catch (const E& e) {
    return e.what();
  }
  return {};
}

TEST(SoftTissueSynthetic, ABoxReachingPastTheScanIsClippedToIt) {
  // A box dragged past the scan's edge (a Slicer ROI a little wide) had its centre, where the
  // intensity sample is taken, off the scan or in its air, and was refused as a misplaced "seed".
  const auto& ph = ctPhantom();
  const ImageGeometry& full = ph.image.geometry;
  ImageGeometry g = full; // the scan cut at x = -24 mm (its voxel faces), 8 mm from the mass
  g.size[0] = full.size[0] - 24;
  g.origin = full.indexToPoint(24, 0, 0);
  const auto cutOff = [&g](const auto& image) {
    auto out = image;
    out.geometry = g;
    out.voxels.assign(g.voxelCount(), 0);
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i)
          out.at(i, j, k) = image.at(i + 24, j, k);
    return out;
  };
  const Volume cut = cutOff(ph.image);
  const LabelMap truth = cutOff(ph.truth);
  const auto box = segmentSoftTissueMass(cut, SoftTissueInit::fromBox({-70, -14, -13}, {17, 14, 13}));
  EXPECT_GE(test::dice(box.labels, truth), 0.90);
  EXPECT_LE(std::abs(volumeErrorPercent(box)), 5.0);
  ASSERT_FALSE(box.diagnostics.warnings.empty());
  EXPECT_EQ(box.diagnostics.warnings.front(),
            "the box (-70.0, -14.0, -13.0) – (17.0, 14.0, 13.0) (LPS mm) reaches past the scan, which spans "
            "(-24.0, -48.0, -40.0) – (48.0, 48.0, 40.0): clipped to (-24.0, -14.0, -13.0) – (17.0, 14.0, 13.0)");
  // Entirely off the scan, or less than 2 mm into it: bad input naming the box and the scan.
  EXPECT_EQ(errorOf<InputError>(cut, SoftTissueInit::fromBox({-100, -14, -13}, {-30, 14, 13})),
            "soft-tissue segmentation: the box (-100.0, -14.0, -13.0) – (-30.0, 14.0, 13.0) (LPS mm) lies outside the "
            "scan, which spans (-24.0, -48.0, -40.0) – (48.0, 48.0, 40.0); check the coordinate system (LPS by "
            "default, --ras flips x and y)");
  EXPECT_NE(errorOf<InputError>(cut, SoftTissueInit::fromBox({-100, -14, -13}, {-23, 14, 13}))
                .find("(it reaches less than 2 mm into it)"),
            std::string::npos);
  // A box in the air in front of the body: its centre is named, not a seed nobody gave.
  const std::string inAir = errorOf<ProcessingError>(ph.image, SoftTissueInit::fromBox({-10, -47, -5}, {10, -42, 5}));
  EXPECT_EQ(inAir.rfind("soft-tissue segmentation: the neighbourhood of the box's centre has a median of -", 0), 0u)
      << inAir;
  EXPECT_NE(inAir.find("HU): the box's centre is probably in air or lung; place it inside the mass"), std::string::npos)
      << inAir;
}

// A mass taller (31 mm S-I) than its 20 mm axial diameter, acquired axially and sagittally, from
// the RECIST line on its widest axial plane. The line's prior allows more along the axial normal
// than in the plane, so on the sagittal scan that normal must be the patient's S-I axis, not the
// slices' (L-R); and the line, on one axial plane, is not "across the slices" there either.
TEST(SoftTissueSynthetic, ARecistLineOnASagittalScanIsReadOnAnAxialPlane) {
  constexpr SemiAxes tall = {10.0, 8.0, 15.5};
  for (const auto& [name, grid] : {std::pair{"axial", axialGrid()}, std::pair{"sagittal", sagittalGrid()}}) {
    const Phantom ph = makePhantom(Contrast::CT, 7, grid, tall);
    const auto r = segmentSoftTissueMass(ph.image, SoftTissueInit::fromRecist({-10, 0, 0}, {10, 0, 0}));
    const double d = test::dice(r.labels, ph.truth);
    const double error = 100.0 * (r.volumeMl - ellipsoidVolumeMl(tall)) / ellipsoidVolumeMl(tall);
    std::printf("[synthetic CT, tall mass, %s, RECIST] Dice %.4f, volume error %+.2f %%, prior contact %.1f %%\n", name,
                d, error, 100.0 * r.diagnostics.priorContactFraction);
    EXPECT_GE(d, 0.90) << name;
    EXPECT_LE(std::abs(error), 5.0) << name;
    // Its 15.5 mm tips lie within the prior's reach along the axial normal (18 mm), beyond its
    // in-plane one (14.5 mm): the prior holds none of its border (11 % laid on the sagittal slices).
    EXPECT_LT(r.diagnostics.priorContactFraction, 0.005) << name;
    for (const std::string& warning : r.diagnostics.warnings)
      EXPECT_EQ(warning.find("RECIST line's ends"), std::string::npos) << name << ": " << warning;
  }
}

TEST(SoftTissueSynthetic, SeedInFatOrAirIsRefused) {
  const auto& ph = ctPhantom();
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{-30, 0, 0}})), ProcessingError);
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{0, -45, 0}})), ProcessingError);
  try {
    (void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{-30, 0, 0}}));
  } catch (const ProcessingError& e) {
    EXPECT_NE(std::string(e.what()).find("fat"), std::string::npos) << e.what();
  }
}

TEST(SoftTissueSynthetic, SeedInTheMuscleSlabIsALeakItCannotStop) {
  // The slab runs out of every side of the search region: no mass there to stand behind.
  const auto& ph = ctPhantom();
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{35, 0, 0}})), ProcessingError);
}

TEST(SoftTissueSynthetic, InitialisationOutsideTheVolumeIsAnInputError) {
  const auto& ph = ctPhantom();
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{0, 0, 500}})), InputError);
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromRecist({0, 0, 0}, {1, 0, 0})), InputError);
  EXPECT_THROW((void)segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({})), InputError);
}

TEST(SoftTissueSynthetic, MrWithBiasFieldIsCorrectedAndSegmented) {
  const Phantom ph = makePhantom(Contrast::MR);
  const auto r = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{0, 0, 0}}));
  const double d = test::dice(r.labels, ph.truth);
  std::printf("[synthetic MR, seed] Dice %.4f, volume error %+.2f %%\n", d, volumeErrorPercent(r));
  EXPECT_EQ(r.diagnostics.modality, Modality::MR);
  EXPECT_TRUE(r.diagnostics.biasFieldCorrected);
  EXPECT_GE(d, 0.88);
  EXPECT_LE(std::abs(volumeErrorPercent(r)), 8.0);
}

/// A CT scene of 1 x 1 x 2 mm voxels around the origin: `tissue(p)` in HU with partial volume
/// (4^3 sub-samples per voxel) and Gaussian noise of 10 HU; truth = voxel centres at 45 HU.
Phantom makeScene(double (*tissue)(const Vec3&)) {
  ImageGeometry g;
  g.size = {72, 72, 32};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {-35.5, -35.5, -31.0};
  Phantom ph{Volume(g), LabelMap(g)};
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 10.0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 c = g.indexToPoint(i, j, k);
        ph.image.at(i, j, k) = float(test::partialVolumeMean(g, c, tissue) + noise(rng));
        ph.truth.at(i, j, k) = tissue(c) == 45.0 ? 1 : 0;
      }
  return ph;
}

/// Mean intensity of the mask's voxels and how many lie above `above` or below `below`.
struct MaskIntensities {
  double mean{0};
  int over{0}, under{0};
};
MaskIntensities intensitiesIn(const Volume& image, const LabelMap& mask, double above, double below) {
  MaskIntensities m;
  std::size_t count = 0;
  for (std::size_t i = 0; i < mask.voxels.size(); ++i) {
    if (!mask.voxels[i])
      continue;
    const double v = image.voxels[i];
    m.mean += v;
    ++count;
    m.over += v > above;
    m.under += v < below;
  }
  m.mean /= double(std::max<std::size_t>(count, 1));
  return m;
}

// The border smoothing (SoftTissueOptions::borderSmoothingMm) moves the border only where the
// intensities cannot place it: a mass whose border is held by fat, bone or lung keeps every voxel
// the intensities decided (a review found fat, bone and lung voxels joining masks, and a 4 mm
// plate's mean falling from 45 to 28 HU, when any voxel inside the prior could join).
TEST(SoftTissueSynthetic, BorderSmoothingDoesNotCrossBordersTheIntensitiesHold) {
  struct Scene {
    const char* name;
    double (*tissue)(const Vec3&);
  };
  const Scene scenes[] = {
      {"sphere of 12 mm in fat", [](const Vec3& p) -> double { return norm(p) <= 12.0 ? 45.0 : -100.0; }},
      {"mass against bone and lung",
       [](const Vec3& p) -> double {
         if (p.x > 8.0)
           return 700.0; // bone cuts the sphere flat
         if (p.y < -8.0)
           return -850.0; // aerated lung on another side
         return norm(p) <= 12.0 ? 45.0 : -100.0;
       }},
      {"plate 4 mm thick in fat",
       [](const Vec3& p) -> double {
         return std::abs(p.x) <= 2.0 && std::abs(p.y) <= 15.0 && std::abs(p.z) <= 10.0 ? 45.0 : -100.0;
       }},
  };
  SoftTissueOptions unsmoothed;
  unsmoothed.borderSmoothingMm = 0.0;
  for (const Scene& scene : scenes) {
    SCOPED_TRACE(scene.name);
    const Phantom ph = makeScene(scene.tissue);
    const SoftTissueInit click = SoftTissueInit::fromSeeds({Vec3{0.0, 0.0, 0.0}});
    const SegmentationResult before = segmentSoftTissueMass(ph.image, click, unsmoothed);
    const SegmentationResult after = segmentSoftTissueMass(ph.image, click);
    const MaskIntensities b = intensitiesIn(ph.image, before.labels, 130.0, -300.0);
    const MaskIntensities a = intensitiesIn(ph.image, after.labels, 130.0, -300.0);
    std::printf("[border smoothing, %s] Dice %.4f -> %.4f, mean %.1f -> %.1f HU, voxels %zu -> %zu\n", scene.name,
                test::dice(before.labels, ph.truth), test::dice(after.labels, ph.truth), b.mean, a.mean,
                before.voxelCount, after.voxelCount);
    EXPECT_GE(test::dice(after.labels, ph.truth), test::dice(before.labels, ph.truth) - 0.002);
    // The count the smoothing hands back is the smoothed mask's.
    EXPECT_EQ(after.voxelCount, std::size_t(std::count_if(after.labels.voxels.begin(), after.labels.voxels.end(),
                                                          [](std::uint16_t v) { return v != 0; })));
    EXPECT_NEAR(a.mean, b.mean, 1.0);
    EXPECT_EQ(a.over, b.over);
    EXPECT_EQ(a.under, b.under);
  }
}

/// Two 20 mm masses at 45 HU in fat, centred at x = -20 and +20 mm (20 mm of fat between them).
double twoMasses(const Vec3& p) {
  return norm(p - Vec3{-20.0, 0.0, 0.0}) <= 10.0 || norm(p - Vec3{20.0, 0.0, 0.0}) <= 10.0 ? 45.0 : -100.0;
}

std::string refusal(const Volume& image, const std::vector<Vec3>& seeds, const SoftTissueOptions& options = {}) {
  try {
    const auto r = segmentSoftTissueMass(image, SoftTissueInit::fromSeeds(seeds), options);
    return "segmented " + std::to_string(r.volumeMl) + " mL";
  } catch (const InputError& e) {
    return std::string("input error: ") + e.what();
  } catch (const ProcessingError& e) {
    return std::string("processing error: ") + e.what();
  }
}

// Several seeds are points of one lesion. A seed in each of two masses grew both, and the mask was
// one label in two pieces (a review: 20.9 mL, and measure's 3D diameter spanned both masses).
TEST(SoftTissueSynthetic, SeedsInTwoSeparateMassesAreRefusedNotMerged) {
  const Phantom ph = makeScene(twoMasses);
  EXPECT_NE(refusal(ph.image, {{-20, 0, 0}, {20, 0, 0}})
                .find("processing error: soft-tissue segmentation: the seeds (-20.0, 0.0, 0.0) and (20.0, 0.0, 0.0) "
                      "lie in separate parts of the region (2 parts that do not touch), not in one lesion; several "
                      "seeds are points of one lesion: segment each lesion on its own"),
            std::string::npos)
      << refusal(ph.image, {{-20, 0, 0}, {20, 0, 0}});
  // Two seeds in one of them: that mass, as from one seed.
  const auto one = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{-20, 0, 0}}));
  const auto two = segmentSoftTissueMass(ph.image, SoftTissueInit::fromSeeds({{-20, 0, 0}, {-16, 3, 2}}));
  const double trueMl = 4.0 / 3.0 * M_PI * 1000.0 / 1000.0;
  std::printf("[two masses] one seed %.3f mL, two seeds in one mass %.3f mL (true %.3f), Dice between %.4f\n",
              one.volumeMl, two.volumeMl, trueMl, test::dice(one.labels, two.labels));
  EXPECT_NEAR(two.volumeMl, trueMl, 0.08 * trueMl);
  EXPECT_GE(test::dice(one.labels, two.labels), 0.97);
}

// Seeds farther apart than the largest lesion cannot be in one: said before any work (they were
// refused with "nothing to grow at the seed" and an interval from no sample, -16 to 16 HU).
TEST(SoftTissueSynthetic, SeedsFartherApartThanTheLargestLesionAreAnInputError) {
  const Phantom ph = makeScene(twoMasses);
  SoftTissueOptions options;
  options.maxDiameterMm = 30.0;
  EXPECT_EQ(refusal(ph.image, {{-20, 0, 0}, {20, 0, 0}}, options),
            "input error: soft-tissue segmentation: the seeds (-20.0, 0.0, 0.0) and (20.0, 0.0, 0.0) lie 40 mm apart, "
            "more than the largest lesion (--max-diameter-mm 30); several seeds are points of one lesion: segment "
            "each lesion on its own");
}

TEST(SoftTissueSynthetic, AnEnormousBoxIsClampedToTheVolumeLikeALargeOne) {
  // long(1e300) is undefined (LONG_MIN on x86): the search region became one voxel wide and
  // ITK's smoothing threw its own exception ("unexpected failure", no word of the box).
  const auto& ph = ctPhantom();
  auto outcome = [&](double h) -> std::string {
    try {
      const auto r = segmentSoftTissueMass(ph.image, SoftTissueInit::fromBox({-h, -h, -h}, {h, h, h}));
      return std::to_string(r.voxelCount) + " voxels";
    } catch (const Error& e) {
      return e.what();
    }
  };
  EXPECT_EQ(outcome(1e300), outcome(1e6));
}

TEST(SoftTissueSynthetic, SlicesTooThickForTheSmoothingAreRefusedInWordsNotByItk) {
  // 60 mm slices: the search region around the click spans 3 of them, and ITK's recursive
  // Gaussian threw "The number of pixels along dimension 2 is less than 4" (not a lesion::Error).
  ImageGeometry g;
  g.size = {96, 96, 6};
  g.spacing = {1.0, 1.0, 60.0};
  g.origin = {-47.5, -47.5, -120.0};
  Volume image(g);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        image.at(i, j, k) = float(tissueAt(g.indexToPoint(i, j, k), Contrast::CT));
  std::string message;
  try {
    (void)segmentSoftTissueMass(image, SoftTissueInit::fromSeeds({Vec3{0.0, 0.0, 0.0}}));
  } catch (const ProcessingError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("the search region around (0.0, 0.0, 0.0) holds only 3 voxel(s) along image axis 3 (voxels "
                         "60 mm apart), fewer than the 4 its smoothing needs"),
            std::string::npos)
      << message;
}

TEST(SegmentationKind, NamesRoundTripAndUnknownNamesAreUsageErrors) {
  for (const std::string& name : segmentationKindNames())
    EXPECT_EQ(segmentationKindName(parseSegmentationKind(name)), name);
  EXPECT_THROW((void)parseSegmentationKind("lytic-ish"), UsageError);
  EXPECT_EQ(parseModality("CT"), Modality::CT);
  EXPECT_EQ(parseModality("mr"), Modality::MR);
  EXPECT_THROW((void)parseModality("pet"), UsageError);
}

} // namespace
} // namespace lesion::segmentation
