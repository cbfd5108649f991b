// The project's digital reference object (modules/phantom): the axillary soft-tissue mass (45 HU,
// ellipsoid 32 x 26 x 24 mm rotated 25 degrees about z, shrinking to 0.8 and 0.7 per axis on
// follow-up) lies in the lateral wall against a chest-wall muscle (55 HU), the abdominal-wall
// muscle (50 HU) and fat; noise SD 12 HU, 1 x 1 x 2 mm voxels, patient moved between time points.
// Every time point is segmented from the truth seed point and from the truth RECIST line and
// compared with the truth label map (label 2) and the analytic volume.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/measurement/Overlap.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace lesion::segmentation {
namespace {

constexpr std::uint16_t kMassLabel = 2; // modules/phantom/README.md, "Label values"

/// Which scan of the phantom: its noise realisation and voxel size (1 x 1 x 2 mm, seed 1 is the
/// default study).
struct Scan {
  std::uint64_t noiseSeed{1};
  double pixelMm{1.0};
  double sliceMm{2.0};
  phantom::Contrast contrast{phantom::Contrast::CT};
  double noiseSd{12.0};
  bool operator<(const Scan& o) const {
    return std::tie(noiseSeed, pixelMm, sliceMm, contrast, noiseSd) <
           std::tie(o.noiseSeed, o.pixelMm, o.sliceMm, o.contrast, o.noiseSd);
  }
  [[nodiscard]] std::string label() const {
    char text[128];
    std::snprintf(text, sizeof text, "%snoise seed %d%s, %.2g x %.2g x %.3g mm",
                  contrast == phantom::Contrast::MR ? "MR, " : "", int(noiseSeed),
                  noiseSd == 12.0 ? "" : (" SD " + std::to_string(int(noiseSd))).c_str(), pixelMm, pixelMm, sliceMm);
    return text;
  }
};

/// How the reader initialises: a click, the RECIST line, or a box 3 mm loose around the mass.
enum class Init { Seed, RecistLine, Box };
const char* initName(Init init) {
  return init == Init::Seed ? "seed" : init == Init::RecistLine ? "RECIST line" : "box";
}

/// Three time points (default course of disease), scanned only on a slab around the mass (+-12 mm
/// beyond it for the follow-up motion) to keep the test fast; truth and labels hold on that grid.
/// Each scan is generated once.
const phantom::PhantomStudy& study(const Scan& scan = {}) {
  static std::map<Scan, phantom::PhantomStudy> studies;
  auto it = studies.find(scan);
  if (it != studies.end())
    return it->second;
  const phantom::PhantomAnatomy baseline = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
  Vec3 lo, hi;
  baseline.mass.bounds(lo, hi);
  phantom::PhantomOptions o; // 3 time points, CT, noise SD 12 HU
  o.seed = scan.noiseSeed;
  o.pixelSizeMm = scan.pixelMm;
  o.sliceThicknessMm = scan.sliceMm;
  o.contrast = scan.contrast;
  o.noiseSd = scan.noiseSd;
  o.zFromMm = lo.z - 12.0;
  o.zToMm = hi.z + 12.0;
  return studies.emplace(scan, phantom::generatePhantomStudy(o)).first->second;
}

const phantom::LesionTruth& massTruth(const phantom::PhantomTimePoint& tp) {
  for (const auto& l : tp.truth.lesions)
    if (l.id == "axillary-mass") return l;
  throw std::runtime_error("phantom truth has no axillary-mass");
}

/// What a set of rows reached: lowest Dice, largest |volume error|, refusals (exit 3).
struct Reached {
  double dice;
  double errorPercent;
  int refusals;
};

/// Over noise seeds 1-6 (PhantomMassNoise, docs/segmentation.md "Noise seeds", "Border fitted as one
/// surface"): every segmented row within the goal (35 of 36), worst |volume error| 4.2 %, worst Dice
/// 0.962, 1 row refused (21 of 36, 22.3 % and 0.870 before the border was fitted as one surface).
constexpr Reached kReachedNoise{0.95, 5.0, 1};
/// The default realisation at other voxel sizes (PhantomMassResolution, docs/segmentation.md "Voxel
/// size"): 0.7 x 0.7 x 1.25 mm worst 2.9 %, Dice 0.984; 1 x 1 x 3 mm worst 5.0 %, Dice 0.959 (0 of 6,
/// 11.9 %, 0.879 before the fitted surface); 0.8 x 0.8 x 5 mm 4 of 6, worst +8.3 %, Dice 0.955 (+35.6 %,
/// 0.828 before it; +151.8 %, 0.552 before a neighbour hidden in the first interval was seen).
constexpr Reached kReachedThinSlices{0.97, 3.5, 0};
constexpr Reached kReachedThreeMmSlices{0.95, 5.5, 0};
constexpr Reached kReachedFiveMmSlices{0.95, 8.5, 0};
/// The MR phantom over noise seeds 1-3 (PhantomMassMr): the goal, every row.
constexpr Reached kReachedMr{0.90, 5.0, 0};
/// The MR phantom at noise SD 25 / on 0.8 x 0.8 x 5 mm slices (PhantomMassMr, docs/segmentation.md
/// "MR: the bias field's span and the ring"): SD 25 every row within the goal (worst 1.1 %); 5 mm
/// slices 7 of 9, worst -6.1 %, Dice 0.931 (the cap slices' partial volume).
constexpr Reached kReachedMrNoisy{0.90, 5.0, 0};
constexpr Reached kReachedMrFiveMmSlices{0.92, 6.5, 0};

struct Outcome {
  double dice{0};
  double volumeErrorPercent{0};
  double volumeMl{0};
};

/// The reader's initialisation of the mass from the truth.
SoftTissueInit initialisation(Init init, const phantom::LesionTruth& truth) {
  switch (init) {
  case Init::Seed:
    return SoftTissueInit::fromSeeds({truth.seed});
  case Init::RecistLine:
    return SoftTissueInit::fromRecist(truth.longAxisFrom, truth.longAxisTo);
  case Init::Box:
    break;
  }
  const Vec3 loose{3.0, 3.0, 3.0};
  return SoftTissueInit::fromBox(truth.boundsMin - loose, truth.boundsMax + loose);
}

/// Segments time point `timePoint` (`tp`) of the scan labelled `scanLabel` from `init`, named `what`
/// in the printed row.
Outcome segmentAndCompare(const phantom::PhantomTimePoint& tp, int timePoint, const std::string& scanLabel,
                          const SoftTissueInit& init, const char* what, const SoftTissueOptions& options = {}) {
  const phantom::LesionTruth& truth = massTruth(tp);
  if (std::getenv("LESIONKIT_SEG_DEBUG")) { // the pipeline's levels and passes, between the rows
    setLogLevel(LogLevel::Debug);
    setLogSink([](LogLevel, std::string_view m) { std::printf("  %.*s\n", int(m.size()), m.data()); });
  }
  const auto start = std::chrono::steady_clock::now();
  const SegmentationResult r = segmentSoftTissueMass(tp.image, init, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Outcome o;
  o.dice = measurement::diceCoefficient(r.labels, std::uint16_t(1), tp.labels, kMassLabel);
  o.volumeErrorPercent = 100.0 * (r.volumeMl - truth.volumeMl) / truth.volumeMl;
  o.volumeMl = r.volumeMl;
  const auto& m = r.diagnostics.intensity;
  std::printf("[phantom mass, %s, time point %d, %s] Dice %.3f, volume %.2f mL vs truth %.2f mL (%+.1f %%), "
              "interval "
              "%.3g..%.3g %s (median %.3g, SD %.2g), split off %d (%.1f mL), prior contact %.2f, %s (spread %.2f, "
              "noise %.2f HU on the 2 mm average), %.2f s\n",
              scanLabel.c_str(), timePoint, what, o.dice, r.volumeMl, truth.volumeMl, o.volumeErrorPercent, m.lower,
              m.upper, m.unit.c_str(), m.median, m.robustSd, r.diagnostics.componentsSplitOff,
              r.diagnostics.leakRemovedMl, r.diagnostics.priorContactFraction,
              r.diagnostics.twoClassModel ? "two-class" : "one-class", r.diagnostics.contextSpreadHu,
              r.diagnostics.contextNoiseHu, seconds);
  for (const std::string& w : r.diagnostics.warnings) std::printf("  warning: %s\n", w.c_str());
  if (std::getenv("LESIONKIT_SEG_DEBUG")) {
    // On request: which tissues the disagreeing voxels belong to (tissue at the voxel centre in
    // the model; a missed mass voxel is named by the nearest other tissue), and how far the
    // false positives lie from the truth.
    std::map<std::string, std::pair<int, int>> byTissue; // false positives, false negatives
    const RigidTransform toPatient = tp.truth.transformFromBaseline.inverse();
    const ImageGeometry& g = tp.image.geometry;
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const bool ours = r.labels.at(i, j, k) != 0, theirs = tp.labels.at(i, j, k) == kMassLabel;
          if (ours == theirs) continue;
          const Vec3 q = toPatient.apply(g.indexToPoint(i, j, k));
          std::string name = phantom::tissueName(tp.anatomy.classify(q));
          if (!ours) { // a missed mass voxel: name the nearest other tissue (within 3 mm)
            const std::uint8_t self = tp.anatomy.classify(q);
            for (double rr = 0.5; rr <= 3.0 && name == phantom::tissueName(self); rr += 0.5)
              for (const Vec3& d : {Vec3{rr, 0, 0}, Vec3{-rr, 0, 0}, Vec3{0, rr, 0}, Vec3{0, -rr, 0}, Vec3{0, 0, rr},
                                    Vec3{0, 0, -rr}}) {
                const std::uint8_t t = tp.anatomy.classify(q + d);
                if (t != self) { name = std::string("mass near ") + phantom::tissueName(t); break; }
              }
          }
          (ours ? byTissue[name].first : byTissue[name].second)++;
        }
    for (const auto& [name, c] : byTissue) std::printf("  %-20s FP %6d FN %6d\n", name.c_str(), c.first, c.second);
    int hist[6] = {0, 0, 0, 0, 0, 0};
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          if (!r.labels.at(i, j, k) || tp.labels.at(i, j, k) == kMassLabel) continue;
          double best = 1e9;
          for (long dk = -4; dk <= 4; ++dk)
            for (long dj = -8; dj <= 8; ++dj)
              for (long di = -8; di <= 8; ++di) {
                const long a = long(i) + di, b = long(j) + dj, c = long(k) + dk;
                if (!g.containsIndex(a, b, c) || tp.labels.at(a, b, c) != kMassLabel) continue;
                best = std::min(best, std::sqrt(double(di * di + dj * dj) + 4.0 * double(dk * dk)));
              }
          hist[best <= 1.01 ? 0 : best <= 2.01 ? 1 : best <= 3.01 ? 2 : best <= 5.01 ? 3 : best <= 8.01 ? 4 : 5]++;
        }
    std::printf("  FP by distance to the truth: <=1 mm %d, <=2 %d, <=3 %d, <=5 %d, <=8 %d, more %d\n", hist[0], hist[1],
                hist[2], hist[3], hist[4], hist[5]);
  }
  return o;
}

Outcome segmentAndCompare(int timePoint, Init how, const Scan& scan = {}, const SoftTissueOptions& options = {}) {
  const phantom::PhantomTimePoint& tp = study(scan).timePoints.at(std::size_t(timePoint));
  return segmentAndCompare(tp, timePoint, scan.label(), initialisation(how, massTruth(tp)), initName(how), options);
}

class PhantomMass : public ::testing::TestWithParam<int> {};

TEST_P(PhantomMass, SeedAndRecistLineAgainstTruth) {
  const int timePoint = GetParam();
  ASSERT_EQ(study().timePoints.size(), 3u);
  for (const Init init : {Init::Seed, Init::RecistLine}) {
    SCOPED_TRACE(initName(init));
    Outcome o;
    ASSERT_NO_THROW(o = segmentAndCompare(timePoint, init));
    RecordProperty(init == Init::RecistLine ? "dice_recist" : "dice_seed", std::to_string(o.dice));
    EXPECT_GE(o.dice, 0.90);
    EXPECT_LE(std::abs(o.volumeErrorPercent), 5.0);
  }
}

INSTANTIATE_TEST_SUITE_P(TimePoints, PhantomMass, ::testing::Values(0, 1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Baseline") : "FollowUp" + std::to_string(info.param);
                         });

// RECIST lines a reader might draw wrong at baseline: 8 mm above the widest slice (still across the
// mass, whose section there is about 23 mm against the line's 32 mm) and 10 mm too long at each end.
// Their outer parts lie in the muscle and fat; the line's homogeneity is judged on its middle half,
// and when the outer parts alone made the sample look textured the two-class level comes from the
// middle half too. Judged on the middle 60 % (balls reaching out of the mass) such lines went to the
// one-class interval and leaked into the muscle, kept with exit 0: on the slab the long line Dice
// 0.654, +73.7 % (now 0.961, -0.0 %; the line 8 mm up +4.9 % either way), on the full scan of
// `lesionkit phantom` (another noise field) the line 8 mm up 0.592, +100.6 % and the long line 0.666,
// +69.6 % (now 0.949, +3.5 % and 0.964, -0.0 %) (docs/segmentation.md "A RECIST line drawn long or
// off the widest slice"). The truth line on the slab: 0.958, +1.3 %.
TEST(PhantomMassRecistLine, OffTheWidestSliceOrTooLongSegmentsTheMass) {
  phantom::PhantomOptions fullScan; // `lesionkit phantom OUT --time-points 1`
  fullScan.timePoints = 1;
  const phantom::PhantomStudy full = phantom::generatePhantomStudy(fullScan);
  for (const auto& [scanLabel, tp] : {std::pair{Scan{}.label(), &study().timePoints.at(0)},
                                      std::pair{std::string("full scan, noise seed 1"), &full.timePoints.at(0)}}) {
    const phantom::LesionTruth& truth = massTruth(*tp);
    const Vec3 up = normalized(tp->image.geometry.direction.column(2)) * 8.0;
    const Vec3 along = normalized(truth.longAxisTo - truth.longAxisFrom) * 10.0;
    for (const auto& [what, from, to] :
         {std::tuple{"RECIST line 8 mm above the widest slice", truth.longAxisFrom + up, truth.longAxisTo + up},
          std::tuple{"RECIST line 10 mm too long at each end", truth.longAxisFrom - along, truth.longAxisTo + along}}) {
      SCOPED_TRACE(testing::Message() << scanLabel << ", " << what);
      Outcome o;
      ASSERT_NO_THROW(o = segmentAndCompare(*tp, 0, scanLabel, SoftTissueInit::fromRecist(from, to), what));
      EXPECT_GE(o.dice, 0.93);
      EXPECT_LE(std::abs(o.volumeErrorPercent), 6.0);
    }
  }
}

// The final border against the voxel by voxel one, which at the 5 HU muscle follows the noise: smoothed at
// constant volume (SoftTissueOptions::borderSmoothingMm; docs/segmentation.md "Border smoothed at constant
// volume": Dice +0.007 to +0.018 per row), and, for a homogeneous mass on CT, fitted as one surface on the
// raw voxels instead (SoftTissueOptions::fitBorderSurface; "Border fitted as one surface").
TEST(PhantomMassBorder, SmoothedKeepsTheVolumeAndTheFittedSurfaceComesCloser) {
  SoftTissueOptions voxelwise, smoothed;
  voxelwise.fitBorderSurface = smoothed.fitBorderSurface = false;
  voxelwise.borderSmoothingMm = 0.0;
  for (int timePoint = 0; timePoint < 3; ++timePoint)
    for (const Init init : {Init::Seed, Init::RecistLine}) {
      SCOPED_TRACE(testing::Message() << "time point " << timePoint << ", " << initName(init));
      const Outcome before = segmentAndCompare(timePoint, init, {}, voxelwise);
      const Outcome smooth = segmentAndCompare(timePoint, init, {}, smoothed);
      const Outcome fitted = segmentAndCompare(timePoint, init, {});
      EXPECT_NEAR(smooth.volumeMl, before.volumeMl, 0.005 * before.volumeMl);
      EXPECT_GE(smooth.dice, before.dice + 0.005);
      EXPECT_GE(fitted.dice, smooth.dice + 0.005);
    }
}

// A second seed 20 mm below the truth seed, in the abdominal-wall muscle under the mass (an
// exploratory test's repro 07, on the whole default scan, where the muscle does not run out of it):
// alone it is refused as a leak, and with the mass's seed the region reached the search sphere and
// the one wider search kept it (76 mL for the 10.5 mL mass, Dice 0.21). Several seeds are not
// searched wider: refused as the muscle seed alone is.
TEST(PhantomMassSeveralSeeds, ASecondSeedInTheMuscleBelowKeepsNoLeak) {
  phantom::PhantomOptions o;
  o.timePoints = 1;
  const phantom::PhantomStudy whole = phantom::generatePhantomStudy(o);
  const phantom::PhantomTimePoint& tp = whole.timePoints.at(0);
  const Vec3 mass = massTruth(tp).seed, muscle = mass + Vec3{0.0, 0.0, -20.0};
  const auto outcome = [&](const std::vector<Vec3>& seeds) -> std::string {
    try {
      const SegmentationResult r = segmentSoftTissueMass(tp.image, SoftTissueInit::fromSeeds(seeds));
      return "segmented " + std::to_string(r.volumeMl) + " mL";
    } catch (const ProcessingError& e) {
      return e.what();
    }
  };
  const std::string both = outcome({mass, muscle});
  std::printf("[phantom mass, seeds in the mass and in the muscle below] %s\n", both.c_str());
  EXPECT_EQ(both.rfind("soft-tissue segmentation: leak", 0), 0u) << both;
  EXPECT_NE(both.find("with several seeds, check that every seed lies inside the mass"), std::string::npos) << both;
  EXPECT_EQ(outcome({muscle}).rfind("soft-tissue segmentation: leak", 0), 0u);
}

/// The rows (3 time points x the initialisations, seed and RECIST line unless given) of each scan,
/// counted against the goal (Dice 0.90, 5 %) and asserted as reached (`Reached`).
void segmentScansAgainstGoal(const std::string& what, const std::vector<Scan>& scans, const Reached& reached,
                             const std::vector<Init>& inits = {Init::Seed, Init::RecistLine}) {
  int rows = 0, withinGoal = 0, refused = 0;
  double worstError = 0.0, worstDice = 1.0, sumSquares = 0.0;
  for (const Scan& scan : scans)
    for (int timePoint = 0; timePoint < 3; ++timePoint)
      for (const Init init : inits) {
        SCOPED_TRACE(testing::Message() << scan.label() << ", time point " << timePoint << ", " << initName(init));
        Outcome o;
        ++rows;
        try {
          o = segmentAndCompare(timePoint, init, scan);
        } catch (const ProcessingError& e) { // a refusal (exit 3); anything else fails the test
          std::printf("[phantom mass, %s, time point %d, %s] refused: %s\n", scan.label().c_str(), timePoint,
                      initName(init), e.what());
          ++refused;
          continue;
        }
        withinGoal += o.dice >= 0.90 && std::abs(o.volumeErrorPercent) <= 5.0;
        worstError = std::max(worstError, std::abs(o.volumeErrorPercent));
        worstDice = std::min(worstDice, o.dice);
        sumSquares += o.volumeErrorPercent * o.volumeErrorPercent;
        EXPECT_GE(o.dice, reached.dice);
        EXPECT_LE(std::abs(o.volumeErrorPercent), reached.errorPercent);
      }
  const int segmented = rows - refused;
  std::printf("[phantom mass over %s] %d of %d rows within the goal (Dice >= 0.90, |error| <= 5 %%), %d refused; over "
              "the segmented rows RMS volume error %.1f %%, worst %.1f %%, worst Dice %.3f\n",
              what.c_str(), withinGoal, rows, refused, std::sqrt(sumSquares / std::max(segmented, 1)), worstError,
              worstDice);
  if (withinGoal < rows)
    std::printf("gap: phantom mass over %s: %d of %d rows within Dice >= 0.90 and 5 %% (goal: all)\n", what.c_str(),
                withinGoal, rows);
  EXPECT_LE(refused, reached.refusals);
}

// The same rows over other noise realisations (seeds 1-6; LESIONKIT_PHANTOM_SEEDS=n for 1..n):
// the border against the 5 HU muscle hangs on level estimates and on the local noise of the
// average (correlated over millimetres), so one realisation says little. Asserted as reached
// (other seeds may refuse or miss these: set LESIONKIT_PHANTOM_SEEDS only to measure); the gap to
// the goal is printed.
TEST(PhantomMassNoise, SeedsOneToSix) {
  const char* env = std::getenv("LESIONKIT_PHANTOM_SEEDS");
  const int seeds = env ? std::max(1, std::atoi(env)) : 6;
  std::vector<Scan> scans;
  for (int seed = 1; seed <= seeds; ++seed)
    scans.push_back({std::uint64_t(seed)});
  segmentScansAgainstGoal(std::to_string(seeds) + " noise seeds", scans, kReachedNoise);
}

// The default realisation at other voxel sizes (docs/segmentation.md "Voxel size"): thin slices,
// and the 3 and 5 mm slices of routine and older archives. Each asserted as reached, gap printed.
TEST(PhantomMassResolution, ThinAndThickSlices) {
  for (const auto& [scan, reached] : {std::pair<Scan, Reached>{{1, 0.7, 1.25}, kReachedThinSlices},
                                      {{1, 1.0, 3.0}, kReachedThreeMmSlices},
                                      {{1, 0.8, 5.0}, kReachedFiveMmSlices}}) {
    SCOPED_TRACE(scan.label());
    segmentScansAgainstGoal(scan.label(), {scan}, reached);
  }
}

// LesionKit's MR phantom (`lesionkit phantom --contrast mr`, T1-like: mass 430, skin 420, chest-wall
// muscle 360, muscle 350, fat 900, noise SD 12) over noise seeds 1-3, from the seed, the RECIST line
// and a box 3 mm loose around the mass (docs/segmentation.md "MR phantom"): before the bias field
// was fitted beyond a box's crop every box and 4 of 9 RECIST lines were refused as leaks.
TEST(PhantomMassMr, SeedRecistLineAndBoxOverNoiseSeeds) {
  std::vector<Scan> scans;
  for (std::uint64_t seed = 1; seed <= 3; ++seed)
    scans.push_back({seed, 1.0, 2.0, phantom::Contrast::MR});
  segmentScansAgainstGoal("MR, noise seeds 1-3", scans, kReachedMr, {Init::Seed, Init::RecistLine, Init::Box});
}

// The MR phantom at twice the noise and on 5 mm slices (docs/segmentation.md "MR: the bias field's
// span and the ring"): before, a bias field fitted into a phantom that has none (+-7 %) widened
// the RECIST line's interval into the muscle and the baseline line was refused on both.
TEST(PhantomMassMr, HeavyNoiseAndThickSlices) {
  for (const auto& [scan, reached] :
       {std::pair<Scan, Reached>{{1, 1.0, 2.0, phantom::Contrast::MR, 25.0}, kReachedMrNoisy},
        {{1, 0.8, 5.0, phantom::Contrast::MR}, kReachedMrFiveMmSlices}}) {
    SCOPED_TRACE(scan.label());
    segmentScansAgainstGoal(scan.label(), {scan}, reached, {Init::Seed, Init::RecistLine, Init::Box});
  }
}

} // namespace
} // namespace lesion::segmentation
