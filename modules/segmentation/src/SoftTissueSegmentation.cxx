// Soft-tissue mass segmentation: every ITK template of the module lives in this file.
#include "lesion/segmentation/SoftTissueSegmentation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>

#include <fmt/format.h>

#include <itkBSplineControlPointImageFilter.h>
#include <itkBinaryFillholeImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkConnectedThresholdImageFilter.h>
#include <itkGradientAnisotropicDiffusionImageFilter.h>
#include <itkDanielssonDistanceMapImageFilter.h>
#include <itkMedianImageFilter.h>
#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkShrinkImageFilter.h>
#include <itkSmoothingRecursiveGaussianImageFilter.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include "lesion/core/Error.h"
#include "lesion/core/GridBounds.h"
#include "lesion/core/ItkBridge.h"
#include "lesion/core/Log.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/core/SliceOrientation.h"
#include "lesion/segmentation/StarSurfaceFit.h"

namespace lesion::segmentation {

using Kind = SoftTissueInit::Kind;

SoftTissueInit SoftTissueInit::fromSeeds(std::vector<Vec3> points) {
  SoftTissueInit init;
  init.kind = Kind::Seeds;
  init.seeds = std::move(points);
  return init;
}

SoftTissueInit SoftTissueInit::fromBox(const Vec3& corner1, const Vec3& corner2) {
  SoftTissueInit init;
  init.kind = Kind::Box;
  init.boxCorner1 = corner1;
  init.boxCorner2 = corner2;
  return init;
}

SoftTissueInit SoftTissueInit::fromRecist(const Vec3& from, const Vec3& to) {
  SoftTissueInit init;
  init.kind = Kind::Recist;
  init.recistFrom = from;
  init.recistTo = to;
  return init;
}

std::string SoftTissueInit::problem() const {
  switch (kind) {
  case Kind::Seeds:
    return seeds.empty() ? "no seed point given" : "";
  case Kind::Box: {
    const Vec3 side{std::abs(boxCorner2.x - boxCorner1.x), std::abs(boxCorner2.y - boxCorner1.y),
                    std::abs(boxCorner2.z - boxCorner1.z)};
    if (!(std::min({side.x, side.y, side.z}) > 2.0))
      return fmt::format("the box {} – {} is flat or empty (each side must be over 2 mm)", formatPoint(boxCorner1),
                         formatPoint(boxCorner2));
    return "";
  }
  case Kind::Recist: {
    const double length = norm(recistTo - recistFrom);
    if (!(length >= 3.0))
      return fmt::format("the RECIST line {} – {} is {:.1f} mm long; expected at least 3 mm", formatPoint(recistFrom),
                         formatPoint(recistTo), length);
    return "";
  }
  }
  return "";
}

std::string modalityName(Modality modality) {
  switch (modality) {
  case Modality::CT: return "ct";
  case Modality::MR: return "mr";
  case Modality::Auto: break;
  }
  return "auto";
}

Modality parseModality(const std::string& text) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (t == "ct") return Modality::CT;
  if (t == "mr" || t == "mri") return Modality::MR;
  if (t == "auto") return Modality::Auto;
  throw UsageError(fmt::format("--modality {}: expected ct, mr or auto", text));
}

namespace {

using FloatImage = itk::Image<float, 3>;
using MaskImage = itk::Image<unsigned char, 3>;
using ComponentImage = itk::Image<unsigned int, 3>;
using Index3 = std::array<long, 3>;

/// Where the lesion may be: the size prior derived from the initialisation.
struct Prior {
  enum class Shape { Sphere, Ellipsoid, Box };
  Shape shape{Shape::Sphere};
  Vec3 centre{};
  double radiusMm{0.0};        ///< Sphere (seed-only: the search radius, not a size prior)
  double inPlaneMm{0.0};       ///< Ellipsoid semi-axes (RECIST: around the slice normal)
  double throughPlaneMm{0.0};
  Vec3 normal{0, 0, 1};
  Vec3 halfSize{};             ///< Box half sizes along L, P, S
  bool isSizePrior{false};     ///< false for a seed-only search sphere
  std::vector<Vec3> seeds{};   ///< points known to be inside: region-growing seeds
  double sampleRadiusMm{4.0};  ///< intensity model from balls of this radius around the seeds
  std::string clippedNote{};   ///< Box: how the box was clipped to the scan, empty when it was not

  /// Normalised distance from the centre: < 1 inside the prior.
  [[nodiscard]] double rho(const Vec3& p) const {
    const Vec3 d = p - centre;
    switch (shape) {
    case Shape::Sphere: return norm(d) / radiusMm;
    case Shape::Ellipsoid: {
      const double along = dot(d, normal);
      const double across = norm(d - normal * along);
      return std::sqrt(std::pow(across / inPlaneMm, 2) + std::pow(along / throughPlaneMm, 2));
    }
    case Shape::Box:
      return std::max({std::abs(d.x) / halfSize.x, std::abs(d.y) / halfSize.y, std::abs(d.z) / halfSize.z});
    }
    return 0.0;
  }
  /// Half sizes of an LPS axis-aligned box enclosing the prior.
  [[nodiscard]] Vec3 boundingHalfSize() const {
    switch (shape) {
    case Shape::Sphere: return {radiusMm, radiusMm, radiusMm};
    case Shape::Ellipsoid: {
      const double r = std::max(inPlaneMm, throughPlaneMm);
      return {r, r, r};
    }
    case Shape::Box: return halfSize;
    }
    return {};
  }
};

/// The box [lo, hi] clipped to the scan, with `note` saying so when it reached past it: its centre
/// is where the intensity sample is taken, and a box dragged a little wide (a Slicer ROI) put it
/// in the unscanned air. A box that reaches no more than 2 mm into the scan is refused.
std::pair<Vec3, Vec3> boxWithinScan(const Vec3& lo, const Vec3& hi, const ImageGeometry& geometry, std::string& note) {
  const auto [scanLo, scanHi] = voxelBoxBoundsLps(
      geometry, {0, 0, 0}, {double(geometry.size[0] - 1), double(geometry.size[1] - 1), double(geometry.size[2] - 1)});
  Vec3 clippedLo, clippedHi;
  for (std::size_t a = 0; a < 3; ++a) {
    clippedLo[a] = std::max(lo[a], scanLo[a]);
    clippedHi[a] = std::min(hi[a], scanHi[a]);
    if (!(clippedHi[a] - clippedLo[a] > 2.0))
      throw InputError(fmt::format("soft-tissue segmentation: the box {} – {} (LPS mm) lies outside the scan, which "
                                   "spans {} – {}{}; check the coordinate system (LPS by default, --ras flips x and y)",
                                   formatPoint(lo), formatPoint(hi), formatPoint(scanLo), formatPoint(scanHi),
                                   clippedHi[a] > clippedLo[a] ? " (it reaches less than 2 mm into it)" : ""));
  }
  if (!(clippedLo == lo) || !(clippedHi == hi))
    note = fmt::format("the box {} – {} (LPS mm) reaches past the scan, which spans {} – {}: clipped to {} – {}",
                       formatPoint(lo), formatPoint(hi), formatPoint(scanLo), formatPoint(scanHi),
                       formatPoint(clippedLo), formatPoint(clippedHi));
  return {clippedLo, clippedHi};
}

/// Several seeds are points of one lesion: two farther apart than the largest lesion expected
/// (--max-diameter-mm) cannot be, and are refused before any work (the first search around their
/// mean did not even hold them, and the run failed with "nothing to grow at the seed").
void requireSeedsWithinOneLesion(const std::vector<Vec3>& seeds, double maxDiameterMm) {
  for (std::size_t a = 0; a < seeds.size(); ++a)
    for (std::size_t b = a + 1; b < seeds.size(); ++b)
      if (const double apart = distance(seeds[a], seeds[b]); apart > maxDiameterMm)
        throw InputError(fmt::format("soft-tissue segmentation: the seeds {} and {} lie {:.0f} mm apart, more than the "
                                     "largest lesion (--max-diameter-mm {:.0f}); several seeds are points of one "
                                     "lesion: segment each lesion on its own",
                                     formatPoint(seeds[a]), formatPoint(seeds[b]), apart, maxDiameterMm));
}

Prior makePrior(const SoftTissueInit& init, const SoftTissueOptions& options, const ImageGeometry& geometry) {
  if (const std::string why = init.problem(); !why.empty())
    throw InputError("soft-tissue segmentation: " + why);
  Prior prior;
  switch (init.kind) {
  case Kind::Seeds: {
    requireSeedsWithinOneLesion(init.seeds, options.maxDiameterMm);
    Vec3 mean{};
    for (const Vec3& s : init.seeds) mean += s;
    mean = mean / double(init.seeds.size());
    double spread = 0.0;
    for (const Vec3& s : init.seeds) spread = std::max(spread, distance(s, mean));
    prior.shape = Prior::Shape::Sphere;
    prior.centre = mean;
    prior.radiusMm = options.maxDiameterMm * 0.5 + spread + 5.0;
    prior.seeds = init.seeds;
    prior.sampleRadiusMm = options.seedRadiusMm;
    break;
  }
  case Kind::Box: {
    const Vec3 givenLo{std::min(init.boxCorner1.x, init.boxCorner2.x), std::min(init.boxCorner1.y, init.boxCorner2.y),
                       std::min(init.boxCorner1.z, init.boxCorner2.z)};
    const Vec3 givenHi{std::max(init.boxCorner1.x, init.boxCorner2.x), std::max(init.boxCorner1.y, init.boxCorner2.y),
                       std::max(init.boxCorner1.z, init.boxCorner2.z)};
    const auto [lo, hi] = boxWithinScan(givenLo, givenHi, geometry, prior.clippedNote);
    const Vec3 half = (hi - lo) * 0.5;
    const double minHalf = std::min({half.x, half.y, half.z});
    prior.shape = Prior::Shape::Box;
    prior.isSizePrior = true;
    prior.centre = (lo + hi) * 0.5;
    // A drawn box is loose by a few millimetres; allow 10 % + 2 mm beyond it.
    prior.halfSize = {half.x * 1.1 + 2.0, half.y * 1.1 + 2.0, half.z * 1.1 + 2.0};
    prior.radiusMm = norm(half);
    prior.seeds = {prior.centre};
    prior.sampleRadiusMm = std::clamp(0.3 * minHalf, 2.5, 8.0);
    break;
  }
  case Kind::Recist: {
    const Vec3 line = init.recistTo - init.recistFrom;
    const double length = norm(line);
    prior.shape = Prior::Shape::Ellipsoid;
    prior.isSizePrior = true;
    prior.centre = (init.recistFrom + init.recistTo) * 0.5;
    prior.normal = axialSectionsOf(geometry).normal;
    // The line is the longest axial diameter: nothing in-plane should be much farther from its
    // middle than half of it; the cranio-caudal extent is unknown, so allow more.
    prior.inPlaneMm = 0.5 * length * 1.15 + 3.0;
    prior.throughPlaneMm = 0.5 * length * 1.5 + 3.0;
    prior.radiusMm = 0.5 * length;
    // Seeds along the middle 60 % of the line (its ends sit on the boundary).
    const int steps = std::max(2, int(std::ceil(0.6 * length)));
    for (int s = 0; s <= steps; ++s) prior.seeds.push_back(init.recistFrom + line * (0.2 + 0.6 * s / steps));
    prior.sampleRadiusMm = std::clamp(0.12 * length, 2.5, 8.0);
    break;
  }
  }
  return prior;
}

/// Index box [begin, end) on the input grid.
struct CropBox {
  Index3 begin{};
  Index3 end{};
  [[nodiscard]] std::array<std::size_t, 3> size() const {
    return {std::size_t(end[0] - begin[0]), std::size_t(end[1] - begin[1]), std::size_t(end[2] - begin[2])};
  }
};

CropBox cropFor(const Prior& prior, const ImageGeometry& g, double marginMm) {
  const Vec3 h = prior.boundingHalfSize() + Vec3{marginMm, marginMm, marginMm};
  CropBox box;
  std::array<double, 3> lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (int c = 0; c < 8; ++c) {
    const Vec3 corner = prior.centre + Vec3{(c & 1) ? h.x : -h.x, (c & 2) ? h.y : -h.y, (c & 4) ? h.z : -h.z};
    const Vec3 idx = g.pointToIndex(corner);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], idx[a]);
      hi[a] = std::max(hi[a], idx[a]);
    }
  }
  // Clamped as doubles first: a box of +-1e300 mm gave long(1e300), undefined (LONG_MIN on x86),
  // hence a one-voxel crop that ITK's smoothing refused with its own words.
  for (int a = 0; a < 3; ++a) {
    const double last = double(g.size[a]) - 1.0;
    box.begin[a] = long(std::clamp(std::floor(lo[a]), 0.0, last));
    box.end[a] = long(std::clamp(std::ceil(hi[a]) + 1.0, double(box.begin[a]) + 1.0, last + 1.0));
  }
  return box;
}

/// ITK's recursive Gaussian needs four voxels along each axis, and every smoothing of the pipeline
/// runs on the crop: a crop thinner than that (slices far thicker than the lesion around the
/// initialisation) is refused here, in words, instead of by ITK's exception from within a filter.
void requireSmoothableCrop(const CropBox& box, const ImageGeometry& g, const Vec3& centre) {
  constexpr std::size_t kGaussianMinimumVoxels = 4;
  const auto size = box.size();
  const double spacing[3] = {g.spacing.x, g.spacing.y, g.spacing.z};
  for (int a = 0; a < 3; ++a) {
    if (size[a] >= kGaussianMinimumVoxels)
      continue;
    // The crop is clipped to the scan: a region at its first or last slices is cut by the edge.
    const bool atEdge = box.begin[a] == 0 || std::size_t(box.end[a]) == g.size[a];
    throw ProcessingError(fmt::format(
        "soft-tissue segmentation: the search region around {} holds only {} voxel(s) along image axis {} (voxels "
        "{:g} mm apart), fewer than the {} its smoothing needs: {}",
        formatPoint(centre), size[a], a + 1, spacing[a], kGaussianMinimumVoxels,
        atEdge ? "the scan ends there (a lesion at the scan's edge), or its voxels are too coarse; give a scan that "
                 "covers the lesion with thinner slices"
               : "the voxels are too coarse for this segmentation; give a scan with thinner slices (or smaller "
                 "voxels)"));
  }
}

/// The voxels of `box` (an index box of the grid `from`) as an image of their own.
FloatImage::Pointer extractCrop(const float* voxels, const ImageGeometry& from, const CropBox& box,
                                ImageGeometry& cropGeometry) {
  cropGeometry = from;
  cropGeometry.size = box.size();
  cropGeometry.origin = from.indexToPoint(Vec3{double(box.begin[0]), double(box.begin[1]), double(box.begin[2])});
  auto image = FloatImage::New();
  itkbridge::copyGeometryTo(cropGeometry, image.GetPointer());
  image->Allocate();
  float* out = image->GetBufferPointer();
  const auto s = cropGeometry.size;
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j) {
      const float* row = &voxels[from.linearIndex(box.begin[0], box.begin[1] + j, box.begin[2] + k)];
      std::copy(row, row + s[0], out + cropGeometry.linearIndex(0, j, k));
    }
  return image;
}

FloatImage::Pointer extractCrop(const Volume& volume, const CropBox& box, ImageGeometry& cropGeometry) {
  return extractCrop(volume.voxels.data(), volume.geometry, box, cropGeometry);
}

/// The LPS point of the voxel at linear index `v`.
Vec3 voxelPoint(const ImageGeometry& g, std::size_t v) {
  return g.indexToPoint(v % g.size[0], (v / g.size[0]) % g.size[1], v / (g.size[0] * g.size[1]));
}

/// Crop voxels within `radiusMm` of `p` (index-space ball scaled by spacing).
template <typename Fn>
void forEachInBall(const ImageGeometry& g, const Vec3& p, double radiusMm, Fn&& fn) {
  const Vec3 c = g.pointToIndex(p);
  std::array<long, 3> r{};
  for (int a = 0; a < 3; ++a) r[a] = long(std::ceil(radiusMm / g.spacing[a]));
  for (long k = long(std::lround(c.z)) - r[2]; k <= long(std::lround(c.z)) + r[2]; ++k)
    for (long j = long(std::lround(c.y)) - r[1]; j <= long(std::lround(c.y)) + r[1]; ++j)
      for (long i = long(std::lround(c.x)) - r[0]; i <= long(std::lround(c.x)) + r[0]; ++i) {
        if (!g.containsIndex(i, j, k)) continue;
        const double dx = (i - c.x) * g.spacing.x, dy = (j - c.y) * g.spacing.y, dz = (k - c.z) * g.spacing.z;
        if (dx * dx + dy * dy + dz * dz <= radiusMm * radiusMm + 1e-9) fn(g.linearIndex(i, j, k));
      }
}

/// The lesion's sample for a seed-only initialisation: balls around the seeds, grown in 1 mm
/// shells from `startMm` up to `maxMm` while the lesion goes on. A shell ends the growth when more
/// than 5 % of its voxels lie outside `inClass` (the lesion's tissue class: fat, air, bone) or
/// more than 10 % of its in-class voxels lie outside the sample's median ± 3 robust SDs (at least
/// `noise`) in `values` (a neighbouring soft tissue a few HU away on the tissue-masked average; a
/// texture stays within its own spread; no such test when `values` is null). Voxels outside the
/// class are left out.
std::vector<std::size_t> growSampleBall(const ImageGeometry& g, const std::vector<Vec3>& seeds, double startMm,
                                        double maxMm, const std::vector<char>& inClass, const float* values,
                                        double noise) {
  const int shells = std::max(0, int(std::ceil(maxMm - startMm)));
  std::vector<std::vector<std::size_t>> inShell(std::size_t(shells) + 1);
  std::vector<std::size_t> outside(std::size_t(shells) + 1, 0);
  for (const Vec3& seed : seeds)
    forEachInBall(g, seed, startMm + shells, [&](std::size_t v) {
      const Vec3 p = voxelPoint(g, v);
      double d = 1e300;
      for (const Vec3& s : seeds)
        d = std::min(d, distance(p, s));
      if (distance(p, seed) > d + 1e-9)
        return; // counted with the nearer seed
      const std::size_t shell = d <= startMm ? 0 : std::size_t(std::ceil(d - startMm));
      if (inClass[v])
        inShell[shell].push_back(v);
      else
        ++outside[shell];
    });
  std::vector<std::size_t> sample = inShell[0];
  std::vector<float> sampled;
  if (values != nullptr)
    for (std::size_t v : sample) sampled.push_back(values[v]);
  for (std::size_t s = 1; s < inShell.size() && !sample.empty(); ++s) {
    const double total = double(inShell[s].size() + outside[s]);
    if (total == 0.0 || double(outside[s]) > 0.05 * total) break;
    if (values == nullptr) {
      sample.insert(sample.end(), inShell[s].begin(), inShell[s].end());
      continue;
    }
    const RobustSpread spread = robustSpreadOf(sampled);
    const double median = spread.median;
    const double window = 3.0 * std::max(spread.sd, noise);
    std::size_t off = 0;
    for (std::size_t v : inShell[s]) off += std::abs(values[v] - median) > window;
    if (double(off) > 0.1 * double(inShell[s].size())) break;
    sample.insert(sample.end(), inShell[s].begin(), inShell[s].end());
    for (std::size_t v : inShell[s]) sampled.push_back(values[v]);
  }
  return sample;
}

/// Noise SD of `image` from differences of in-plane neighbours (along the first index axis)
/// among `voxels` whose neighbour is in `inClass`: 1.4826 x MAD / sqrt(2). Texture that is
/// smooth over a voxel cancels in the difference, so this is the noise alone.
double neighbourDifferenceNoise(const float* image, const ImageGeometry& g, const std::vector<std::size_t>& voxels,
                                const std::vector<char>& inClass) {
  std::vector<float> differences;
  for (std::size_t v : voxels)
    if (inClass[v] && v % g.size[0] + 1 < g.size[0] && inClass[v + 1])
      differences.push_back(std::abs(image[v + 1] - image[v]));
  return 1.4826 * quantileOf(differences, 0.5) / std::sqrt(2.0);
}

/// The mode of `values` nearest to `from` on the side of `direction` (+1 brighter, -1 darker):
/// histogram of bin `binWidth` outward from `from`, smoothed; the first local maximum that rises
/// at least 25 % above the lowest bin before it and holds at least a fifth of the highest bin.
/// A shell around a lesion can hold several neighbouring classes, and the nearest one is the one
/// the boundary has to separate from; a tail that only falls away from `from` (the lesion's own
/// noise) is no class. Empty when there is none.
std::optional<double> nearestMode(const std::vector<float>& values, double from, int direction, double binWidth) {
  constexpr int bins = 60;
  std::vector<double> h(bins + 2, 0.0);
  for (float v : values) {
    const double t = (double(v) - from) * direction / binWidth;
    // Bin 0 holds the bin just before `from`: bin 1's smoothing needs its real lower neighbour,
    // or a histogram falling through `from` looks as if it rose again at bin 2.
    if (t >= -1.0 && t < bins)
      h[std::size_t(t + 1.0)] += 1.0;
  }
  std::vector<double> sm(bins + 2, 0.0);
  for (int b = 1; b <= bins; ++b)
    sm[std::size_t(b)] = 0.25 * h[std::size_t(b - 1)] + 0.5 * h[std::size_t(b)] + 0.25 * h[std::size_t(b + 1)];
  const double highest = *std::max_element(sm.begin(), sm.end());
  double lowest = sm[1];
  for (int b = 2; b <= bins && highest > 0.0; ++b) {
    const double c = sm[std::size_t(b)];
    if (c >= 0.2 * highest && c > sm[std::size_t(b - 1)] && c >= sm[std::size_t(b + 1)] && c >= 1.25 * lowest)
      return from + direction * (b - 0.5) * binWidth;
    lowest = std::min(lowest, c);
  }
  return std::nullopt;
}

/// The bias field's finest B-spline span. N4's usual whole-image settings (4 fitting levels over
/// 30-40 cm) leave spans of 4-5 cm; 3 levels over the 12 cm context left 3 cm spans, which fitted
/// a field of +-7 % into a phantom that has none (0.8 x 0.8 x 5 mm: a RECIST line's sample spread
/// 0.054 against the noise's 0.028, its interval reached the muscle and the line was refused).
constexpr double kBiasFieldMinSpanMm = 50.0;

/// N4 fitting levels (each doubles the spans, one span at the first) that keep every span of a
/// `extentMm` wide image at least kBiasFieldMinSpanMm long; 1 to 3.
unsigned biasFieldFittingLevels(double extentMm) {
  const double spans = std::max(1.0, extentMm / kBiasFieldMinSpanMm);
  return unsigned(std::clamp(1.0 + std::floor(std::log2(spans)), 1.0, 3.0));
}

/// N4 on a shrunk copy of the crop; the bias field is evaluated back on the full crop grid.
FloatImage::Pointer correctBiasField(FloatImage* crop, const ImageGeometry& g, std::vector<std::string>& warnings) {
  const float* in = crop->GetBufferPointer();
  const std::size_t n = g.voxelCount();
  std::vector<float> all(in, in + n);
  const double p98 = quantileOf(all, 0.98);
  if (!(p98 > 0.0)) {
    warnings.push_back("bias-field correction skipped: no positive intensities in the crop");
    return crop;
  }
  // N4 works in log space: keep the intensities positive, estimate on tissue (not background air).
  auto positive = FloatImage::New();
  itkbridge::copyGeometryTo(g, positive.GetPointer());
  positive->Allocate();
  auto mask = MaskImage::New();
  itkbridge::copyGeometryTo(g, mask.GetPointer());
  mask->Allocate();
  const float floorValue = float(1e-3 * p98);
  std::size_t tissue = 0;
  for (std::size_t i = 0; i < n; ++i) {
    positive->GetBufferPointer()[i] = std::max(in[i], floorValue);
    const bool t = in[i] > 0.1 * p98;
    mask->GetBufferPointer()[i] = t ? 1 : 0;
    tissue += t;
  }
  if (tissue < 1000) {
    warnings.push_back("bias-field correction skipped: too little tissue in the crop");
    return crop;
  }
  // The field is smooth over a crop of a few centimetres: estimate it on ~4 mm voxels.
  unsigned shrink[3];
  for (int a = 0; a < 3; ++a)
    shrink[a] = unsigned(std::clamp(std::floor(4.0 / g.spacing[a]), 1.0, std::max(1.0, double(g.size[a]) / 8.0)));
  using Shrink = itk::ShrinkImageFilter<FloatImage, FloatImage>;
  auto shrinkImage = Shrink::New();
  shrinkImage->SetInput(positive);
  shrinkImage->SetShrinkFactors(shrink);
  using ShrinkMask = itk::ShrinkImageFilter<MaskImage, MaskImage>;
  auto shrinkMask = ShrinkMask::New();
  shrinkMask->SetInput(mask);
  shrinkMask->SetShrinkFactors(shrink);

  using N4 = itk::N4BiasFieldCorrectionImageFilter<FloatImage, MaskImage, FloatImage>;
  auto n4 = N4::New();
  n4->SetInput(shrinkImage->GetOutput());
  n4->SetMaskImage(shrinkMask->GetOutput());
  double shortestMm = std::numeric_limits<double>::max();
  for (int a = 0; a < 3; ++a)
    shortestMm = std::min(shortestMm, g.size[a] * g.spacing[a]);
  const unsigned levels = biasFieldFittingLevels(shortestMm);
  N4::VariableSizeArrayType iterations(levels);
  iterations.Fill(20);
  n4->SetMaximumNumberOfIterations(iterations);
  n4->SetNumberOfFittingLevels(levels);
  n4->SetConvergenceThreshold(1e-3);
  n4->Update();

  using BSpliner = itk::BSplineControlPointImageFilter<N4::BiasFieldControlPointLatticeType, N4::ScalarImageType>;
  auto bspliner = BSpliner::New();
  bspliner->SetInput(n4->GetLogBiasFieldControlPointLattice());
  bspliner->SetSplineOrder(n4->GetSplineOrder());
  bspliner->SetSize(crop->GetLargestPossibleRegion().GetSize());
  bspliner->SetOrigin(crop->GetOrigin());
  bspliner->SetDirection(crop->GetDirection());
  bspliner->SetSpacing(crop->GetSpacing());
  bspliner->Update();
  const auto* logField = bspliner->GetOutput()->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) positive->GetBufferPointer()[i] = float(in[i] / std::exp(double(logField[i][0])));
  return positive;
}

/// N4's B-spline mesh spans the image it is given (3 fitting levels: 4 spans across it). Over a
/// box's few centimetres that is tissue scale, and the "field" took up the contrast it was to keep
/// (LesionKit's MR phantom, a box 3 mm around the mass: the muscle beside it 0.81 -> 1.0 of the
/// mass's level, and the mass grew into it). So the field is fitted on at least this half size
/// around the crop, as a click's search sphere has, and read back on the crop.
constexpr double kBiasFieldContextHalfMm = 60.0;

/// `box` widened to at least `halfMm` on each side of its centre, within the grid.
CropBox widenedBox(const CropBox& box, const ImageGeometry& grid, double halfMm) {
  CropBox wide = box;
  for (int a = 0; a < 3; ++a) {
    const long centre = (box.begin[a] + box.end[a]) / 2;
    const long half = long(std::ceil(halfMm / grid.spacing[a]));
    wide.begin[a] = std::min(box.begin[a], std::max(0L, centre - half));
    wide.end[a] = std::max(box.end[a], std::min(long(grid.size[a]), centre + half + 1));
  }
  return wide;
}

/// The crop `box` of `volume` corrected for the bias field fitted around it (see
/// kBiasFieldContextHalfMm); the crop itself when the correction is skipped (with a warning).
FloatImage::Pointer correctBiasFieldAround(const Volume& volume, const CropBox& box, FloatImage* crop,
                                           std::vector<std::string>& warnings) {
  const CropBox context = widenedBox(box, volume.geometry, kBiasFieldContextHalfMm);
  ImageGeometry contextGeometry;
  FloatImage::Pointer around = extractCrop(volume, context, contextGeometry);
  FloatImage::Pointer corrected = correctBiasField(around, contextGeometry, warnings);
  if (corrected.GetPointer() == around.GetPointer())
    return crop;
  CropBox within;
  for (int a = 0; a < 3; ++a) {
    within.begin[a] = box.begin[a] - context.begin[a];
    within.end[a] = box.end[a] - context.begin[a];
  }
  ImageGeometry withinGeometry;
  return extractCrop(corrected->GetBufferPointer(), contextGeometry, within, withinGeometry);
}

FloatImage::Pointer denoise(FloatImage* input, const ImageGeometry& g, const SoftTissueOptions& options) {
  // A small median first removes the speckle that would seed holes; the diffusion then smooths
  // within regions while keeping the lesion edge in place.
  using Median = itk::MedianImageFilter<FloatImage, FloatImage>;
  auto median = Median::New();
  median->SetInput(input);
  Median::InputSizeType radius;
  for (int a = 0; a < 3; ++a) radius[a] = g.spacing[a] <= 1.6 ? 1 : 0;
  median->SetRadius(radius);
  median->Update();
  FloatImage::Pointer out = median->GetOutput();
  if (options.diffusionIterations > 0) {
    using Diffusion = itk::GradientAnisotropicDiffusionImageFilter<FloatImage, FloatImage>;
    auto diffusion = Diffusion::New();
    diffusion->SetInput(out);
    const double minSpacing = std::min({g.spacing.x, g.spacing.y, g.spacing.z});
    diffusion->SetTimeStep(std::min(0.0625, 0.95 * minSpacing / 16.0));
    diffusion->SetNumberOfIterations(unsigned(options.diffusionIterations));
    diffusion->SetConductanceParameter(options.diffusionConductance);
    diffusion->Update();
    out = diffusion->GetOutput();
  }
  out->DisconnectPipeline();
  return out;
}

MaskImage::Pointer newMask(const ImageGeometry& g) {
  auto mask = MaskImage::New();
  itkbridge::copyGeometryTo(g, mask.GetPointer());
  mask->Allocate();
  mask->FillBuffer(0);
  return mask;
}

FloatImage::Pointer gaussian(const FloatImage* input, double sigmaMm) {
  using Gaussian = itk::SmoothingRecursiveGaussianImageFilter<FloatImage, FloatImage>;
  auto filter = Gaussian::New();
  filter->SetInput(input);
  filter->SetSigma(sigmaMm);
  filter->SetNormalizeAcrossScale(false);
  filter->Update();
  FloatImage::Pointer out = filter->GetOutput();
  out->DisconnectPipeline();
  return out;
}

/// Normalised convolution (Knutsson & Westin, doi:10.1109/CVPR.1993.341081) restricted to the
/// tissue class of the lesion: a Gaussian of `sigmaMm` that averages only voxels with `inTissue`,
/// so fat, air and bone next to the lesion do not bleed into it; voxels outside keep their value.
/// Soft tissues of nearly equal intensity (mass, muscle, viscera) are averaged across their
/// common border, which keeps the border where a two-class decision puts it (the midpoint of the
/// blurred step lies on the step) while the noise drops by about sqrt(number of voxels averaged).
/// Only `core` voxels (the class without its outer layer of partial-volume voxels) are averaged.
FloatImage::Pointer tissueMaskedGaussian(const FloatImage* raw, const ImageGeometry& g, const std::vector<char>& inTissue,
                                         const std::vector<char>& core, double sigmaMm) {
  const std::size_t n = g.voxelCount();
  auto weighted = FloatImage::New();
  itkbridge::copyGeometryTo(g, weighted.GetPointer());
  weighted->Allocate();
  auto weight = FloatImage::New();
  itkbridge::copyGeometryTo(g, weight.GetPointer());
  weight->Allocate();
  const float* r = raw->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) {
    weight->GetBufferPointer()[i] = core[i] ? 1.0f : 0.0f;
    weighted->GetBufferPointer()[i] = core[i] ? r[i] : 0.0f;
  }
  auto num = gaussian(weighted, sigmaMm);
  auto den = gaussian(weight, sigmaMm);
  for (std::size_t i = 0; i < n; ++i) {
    const float w = den->GetBufferPointer()[i];
    num->GetBufferPointer()[i] = inTissue[i] && w > 1e-3f ? num->GetBufferPointer()[i] / w : r[i];
  }
  return num;
}

MaskImage::Pointer growRegion(const FloatImage* work, const ImageGeometry& g, const std::vector<char>& allowed,
                              const std::vector<std::size_t>& seedVoxels, double lower, double upper) {
  // Voxels outside the size prior get a value no interval contains.
  auto input = FloatImage::New();
  itkbridge::copyGeometryTo(g, input.GetPointer());
  input->Allocate();
  const std::size_t n = g.voxelCount();
  for (std::size_t i = 0; i < n; ++i)
    input->GetBufferPointer()[i] = allowed[i] ? work->GetBufferPointer()[i] : std::numeric_limits<float>::lowest();
  using Grow = itk::ConnectedThresholdImageFilter<FloatImage, MaskImage>;
  auto grow = Grow::New();
  grow->SetInput(input);
  grow->SetLower(float(lower));
  grow->SetUpper(float(upper));
  grow->SetReplaceValue(1);
  std::size_t added = 0;
  for (std::size_t v : seedVoxels) {
    const float value = input->GetBufferPointer()[v];
    if (value < lower || value > upper) continue;
    const std::size_t i = v % g.size[0], j = (v / g.size[0]) % g.size[1], k = v / (g.size[0] * g.size[1]);
    Grow::IndexType index{{long(i), long(j), long(k)}};
    grow->AddSeed(index);
    ++added;
  }
  if (added == 0) return newMask(g);
  grow->Update();
  MaskImage::Pointer out = grow->GetOutput();
  out->DisconnectPipeline();
  return out;
}

FloatImage::Pointer signedDistance(const MaskImage* mask) {
  using Distance = itk::SignedMaurerDistanceMapImageFilter<MaskImage, FloatImage>;
  auto distance = Distance::New();
  distance->SetInput(mask);
  distance->SetBackgroundValue(0);
  distance->SetInsideIsPositive(false);
  distance->SetSquaredDistance(false);
  distance->SetUseImageSpacing(true);
  distance->Update();
  FloatImage::Pointer out = distance->GetOutput();
  out->DisconnectPipeline();
  return out;
}

/// How a message names where the intensity sample was taken: around the seeds, the box's centre
/// or the RECIST line (no seed was given for the last two).
struct SamplePlace {
  const char* neighbourhood;
  const char* point;
};
SamplePlace samplePlaceOf(Kind kind) {
  switch (kind) {
  case Kind::Box:
    return {"the neighbourhood of the box's centre", "the box's centre"};
  case Kind::Recist:
    return {"the neighbourhood of the RECIST line", "the RECIST line"};
  case Kind::Seeds:
    break;
  }
  return {"the seed neighbourhood", "the seed"};
}

/// What a CT seed neighbourhood's median outside soft tissue probably is.
const char* tissueOutside(double medianHu, const SoftTissueOptions& options) {
  return medianHu < -500 ? "air or lung" : (medianHu < options.softTissueMinHu ? "fat" : "bone or contrast");
}

/// Fewest voxels a homogeneity judgement stands on (a 10 mm sample is ~2000 voxels of 1 x 1 x 2 mm).
constexpr std::size_t kMinimumJudgedSample = 100;
/// How far from the region, in widths of the two-class average, a pocket of the lesion's class
/// may reach (fillPocketsAgainstOutside): the noise of the average comes in blobs of about its
/// kernel's width, and a muscle layer is thicker.
constexpr double kPocketReachSigmas = 2.5;
/// A neighbour hidden inside the first interval (hiddenNeighbourFraction): the share of the region
/// above `kHiddenFromLevel` of the way from the lesion's level to the upper bound that reveals it,
/// and the narrower interval (in SDs of the seed sample) the region is grown again in. Measured on
/// the phantom mass: 0.10-0.22 without a hidden neighbour (50 slab rows, 0.7 x 0.7 x 1.25 to 5 mm
/// slices; below 0.20 on 36 full scans), 0.26-0.30 with the muscle layer inside (the three 5 mm seed
/// rows, one 1 x 1 x 2 mm realisation).
constexpr double kHiddenFromLevel = 0.6;
constexpr double kHiddenNeighbourFraction = 0.25;
constexpr double kHiddenRetryToleranceSd = 1.5;

/// One-class ring around the first region, in in-plane voxels beyond its border: from the second
/// layer (the first is the border's partial volume) to the fourth.
constexpr float kRingInnerVoxels = 1.0f, kRingOuterVoxels = 4.0f;

/// The share of `region`'s voxels (those near tissue outside the class left out) whose average
/// lies above `level + kHiddenFromLevel x (upper - level)`. With the upper bound at the midpoint to
/// a brighter neighbour that part holds the lesion's noise tail and the blurred step to it; when
/// the first interval already admitted a neighbour of nearly the lesion's level (the muscle layer
/// 5 HU brighter on 5 mm slices), the bound moved on to the next neighbour and the hidden one's
/// voxels pile up there.
double hiddenNeighbourFraction(const MaskImage* region, const float* average, const std::vector<char>& nearOutside,
                               double level, double upper) {
  const unsigned char* r = region->GetBufferPointer();
  const double from = level + kHiddenFromLevel * (upper - level);
  std::size_t all = 0, above = 0;
  for (std::size_t i = 0; i < nearOutside.size(); ++i) {
    if (!r[i] || nearOutside[i])
      continue;
    ++all;
    above += average[i] > from;
  }
  return all ? double(above) / double(all) : 0.0;
}

/// The voxels of `sample` deeper than `depthMm` inside it (the whole sample when fewer than
/// `minimum` are).
std::vector<std::size_t> sampleInterior(const ImageGeometry& g, const std::vector<std::size_t>& sample, double depthMm,
                                        std::size_t minimum) {
  auto mask = newMask(g);
  for (std::size_t v : sample)
    mask->GetBufferPointer()[v] = 1;
  auto dist = signedDistance(mask);
  std::vector<std::size_t> interior;
  for (std::size_t v : sample)
    if (dist->GetBufferPointer()[v] < -float(depthMm))
      interior.push_back(v);
  return interior.size() >= minimum ? interior : sample;
}

/// The voxels of `sample` at least `clearMm` from every point of `ends` (the whole sample when
/// fewer than `minimum` are).
std::vector<std::size_t> sampleClearOf(const ImageGeometry& g, const std::vector<std::size_t>& sample,
                                       const std::vector<Vec3>& ends, double clearMm, std::size_t minimum) {
  std::vector<std::size_t> clear;
  for (std::size_t v : sample) {
    const Vec3 p = voxelPoint(g, v);
    if (std::all_of(ends.begin(), ends.end(), [&](const Vec3& e) { return distance(p, e) >= clearMm; }))
      clear.push_back(v);
  }
  return clear.size() >= minimum ? clear : sample;
}

/// A RECIST line's sample where the line surely lies inside the lesion: its middle half (clear of
/// both ends by a quarter of its length; the whole `sample` when fewer than `kMinimumJudgedSample`
/// voxels are). The sample's balls (0.12 x the length around the middle 60 %) reach out of the lesion
/// when the line is drawn a little long or off the widest slice: the neighbour in the sample inflated
/// its spread and sent a homogeneous mass to the one-class interval, which leaked into the muscle and
/// was kept (the default phantom's truth line drawn 10 mm too long at each end: +72 %, now +0.5 %).
std::vector<std::size_t> recistMiddleSample(const ImageGeometry& g, const std::vector<std::size_t>& sample,
                                            const SoftTissueInit& init) {
  return sampleClearOf(g, sample, {init.recistFrom, init.recistTo}, 0.25 * distance(init.recistFrom, init.recistTo),
                       kMinimumJudgedSample);
}

/// 2D hole filling per slice (third index axis), then 3D: masses are solid, and holes open
/// towards another slice would survive a 3D fill alone.
void fillHoles(MaskImage* mask, const ImageGeometry& g) {
  unsigned char* m = mask->GetBufferPointer();
  const std::size_t nx = g.size[0], ny = g.size[1];
  std::vector<char> outside(nx * ny);
  std::vector<std::size_t> stack;
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    unsigned char* slice = m + k * nx * ny;
    std::fill(outside.begin(), outside.end(), 0);
    stack.clear();
    auto push = [&](std::size_t i, std::size_t j) {
      const std::size_t p = i + nx * j;
      if (!slice[p] && !outside[p]) {
        outside[p] = 1;
        stack.push_back(p);
      }
    };
    for (std::size_t i = 0; i < nx; ++i) {
      push(i, 0);
      push(i, ny - 1);
    }
    for (std::size_t j = 0; j < ny; ++j) {
      push(0, j);
      push(nx - 1, j);
    }
    while (!stack.empty()) {
      const std::size_t p = stack.back();
      stack.pop_back();
      const std::size_t i = p % nx, j = p / nx;
      if (i > 0) push(i - 1, j);
      if (i + 1 < nx) push(i + 1, j);
      if (j > 0) push(i, j - 1);
      if (j + 1 < ny) push(i, j + 1);
    }
    for (std::size_t p = 0; p < nx * ny; ++p)
      if (!outside[p]) slice[p] = 1;
  }
  using Fill = itk::BinaryFillholeImageFilter<MaskImage>;
  auto fill = Fill::New();
  fill->SetInput(mask);
  fill->SetForegroundValue(1);
  fill->SetFullyConnected(false);
  fill->Update();
  std::copy(fill->GetOutput()->GetBufferPointer(), fill->GetOutput()->GetBufferPointer() + g.voxelCount(), m);
}

/// The face-connected pieces of `mask`, labelled (updated filter: its output and object count).
itk::ConnectedComponentImageFilter<MaskImage, ComponentImage>::Pointer faceConnectedPieces(const MaskImage* mask) {
  auto cc = itk::ConnectedComponentImageFilter<MaskImage, ComponentImage>::New();
  cc->SetInput(mask);
  cc->SetFullyConnected(false);
  cc->Update();
  return cc;
}

/// Several seeds are points of one lesion: the final region must be one face-connected piece
/// holding every seed. A seed within `reachMm` of the region counts as held (its own voxel may fall
/// on the border's partial volume). Refuses (exit 3) seeds in separate pieces (two lesions, each
/// grown from its seed) and a seed the region does not reach.
void requireSeedsInOnePiece(const MaskImage* mask, const ImageGeometry& g, const std::vector<Vec3>& seeds,
                            double reachMm) {
  const auto cc = faceConnectedPieces(mask);
  const unsigned* labels = cc->GetOutput()->GetBufferPointer();
  const auto pieceHolding = [&](const Vec3& seed) {
    unsigned piece = 0;
    double nearest = std::numeric_limits<double>::max();
    forEachInBall(g, seed, reachMm, [&](std::size_t v) {
      const double d = distance(voxelPoint(g, v), seed);
      if (labels[v] && d < nearest) {
        nearest = d;
        piece = labels[v];
      }
    });
    return piece;
  };
  const std::string advice = "several seeds are points of one lesion: segment each lesion on its own (one run per "
                             "lesion), and place every seed inside the mass";
  std::vector<unsigned> pieces;
  for (const Vec3& seed : seeds) {
    pieces.push_back(pieceHolding(seed));
    if (pieces.back() == 0)
      throw ProcessingError(fmt::format("soft-tissue segmentation: the seed {} lies outside the region grown from "
                                        "the seeds (more than {:g} mm from it); {}",
                                        formatPoint(seed), reachMm, advice));
  }
  for (std::size_t b = 1; b < seeds.size(); ++b)
    if (pieces[b] != pieces[0])
      throw ProcessingError(fmt::format("soft-tissue segmentation: the seeds {} and {} lie in separate parts of the "
                                        "region ({} parts that do not touch), not in one lesion; {}",
                                        formatPoint(seeds[0]), formatPoint(seeds[b]), cc->GetObjectCount(), advice));
}

/// Keeps the face-connected component(s) of `mask` holding any of `seedVoxels`.
void keepSeedComponents(MaskImage* mask, const ImageGeometry& g, const std::vector<std::size_t>& seedVoxels) {
  const auto cc = faceConnectedPieces(mask);
  const unsigned* labels = cc->GetOutput()->GetBufferPointer();
  std::set<unsigned> keep;
  for (std::size_t v : seedVoxels)
    if (labels[v]) keep.insert(labels[v]);
  unsigned char* m = mask->GetBufferPointer();
  for (std::size_t i = 0; i < g.voxelCount(); ++i) m[i] = (m[i] && keep.count(labels[i])) ? 1 : 0;
}

/// Smooths the border of `mask` at about its volume: the mask's signed distance averaged by a
/// Gaussian of `sigmaMm` and cut at the level that keeps its voxel count. A voxel may join only
/// when it is a `candidate` (inside the prior, off the crop's faces, its intensity within the
/// lesion's interval): the smoothing moves the border where the contrast is low and the voxel by
/// voxel border follows the noise (5 HU under 12 HU at a muscle), and never across a border the
/// intensities decide (fat, bone, lung). Then the seeds' component is kept and holes filled.
/// `count`: the mask's voxel count, as the caller counted it. Returns the smoothed mask's count, or
/// nothing, leaving `mask` as it was, when that loses the seeds or changes the count by more than
/// 2 % (a lesion thinner than the smoothing).
std::optional<std::size_t> smoothBorderKeepingVolume(MaskImage* mask, std::size_t count, const ImageGeometry& g,
                                                     double sigmaMm, const std::vector<char>& candidates,
                                                     const std::vector<std::size_t>& seedVoxels) {
  const std::size_t n = g.voxelCount();
  const unsigned char* m = mask->GetBufferPointer();
  if (count == 0)
    return std::nullopt;
  const auto smoothed = gaussian(signedDistance(mask), sigmaMm);
  const float* s = smoothed->GetBufferPointer();
  std::vector<float> values;
  for (std::size_t i = 0; i < n; ++i)
    if (candidates[i] || m[i])
      values.push_back(s[i]);
  if (values.size() <= count)
    return std::nullopt;
  std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(count - 1), values.end());
  const float level = values[count - 1];
  MaskImage::Pointer out = newMask(g);
  unsigned char* o = out->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i)
    o[i] = (candidates[i] || m[i]) && s[i] <= level ? 1 : 0;
  keepSeedComponents(out, g, seedVoxels);
  fillHoles(out, g);
  const auto after = std::size_t(std::count_if(o, o + n, [](unsigned char x) { return x != 0; }));
  if (after == 0 || std::abs(double(after) - double(count)) > 0.02 * double(count))
    return std::nullopt;
  std::copy(o, o + n, mask->GetBufferPointer());
  return after;
}

/// A region whose border band a star-shaped surface classifies less alike than this is not such a
/// surface (a C-shape 0.78-0.81, a plate 0.80-0.89, a hollow ball less). The phantom mass's regions
/// read 0.93-0.98 (0.93-0.95 on 5 mm slices); lobulated masses pass (0.93-0.96): the next check.
constexpr double kSurfaceFitMinAgreement = 0.92;
/// A fitted surface that puts more than this share of the clear voxels against fat, air or bone on
/// the wrong side does not fit the mass (StarSurfaceFitResult::contradictedShare): the phantom's rows
/// read 0 on 1-3 mm slices, up to 0.015 on 5 mm; four lobes of 25 % cut off 0.048.
constexpr double kSurfaceFitMaxContradicted = 0.02;

/// Two-class CT: the region's border fitted as one star-shaped surface on the raw voxels
/// (fitStarSurface), degree 2 first (too stiff to follow a leak's or the noise's bumps), then degree
/// 3 from its result when the region spans at least `surfaceFitMinSlices` slices (on fewer, the
/// slices' partial volume leaves too little along the axis for the third degree). Added voxels must
/// lie inside the prior and off the crop's faces. Returns the new count, leaving `region` as it was
/// (and saying why in the debug log) when no such surface fits (kSurfaceFitMinAgreement,
/// kSurfaceFitMaxContradicted), the seeds fall outside it or the volume moves by more than
/// `surfaceFitMaxVolumeChange`.
std::optional<std::size_t> fitBorderSurface(MaskImage* region, const FloatImage* raw, const ImageGeometry& g,
                                            const std::vector<char>& allowed, const std::vector<char>& atLimit,
                                            const std::vector<std::size_t>& seedVoxels, std::size_t count,
                                            const SoftTissueOptions& options, SegmentationDiagnostics& diag) {
  const std::size_t n = g.voxelCount();
  const unsigned char* m = region->GetBufferPointer();
  std::size_t firstSlice = g.size[2], lastSlice = 0;
  for (std::size_t v = 0; v < n; ++v)
    if (m[v]) {
      firstSlice = std::min(firstSlice, v / (g.size[0] * g.size[1]));
      lastSlice = std::max(lastSlice, v / (g.size[0] * g.size[1]));
    }
  std::vector<int> degrees{2};
  if (lastSlice + 1 >= firstSlice + std::size_t(options.surfaceFitMinSlices))
    degrees.push_back(3);
  MaskImage::Pointer current = newMask(g);
  std::copy(m, m + n, current->GetBufferPointer());
  StarSurfaceFitResult fit;
  for (int degree : degrees) {
    StarSurfaceFitOptions o;
    o.degree = degree;
    std::string why;
    auto fitted = fitStarSurface(g, raw->GetBufferPointer(), current->GetBufferPointer(),
                                 signedDistance(current)->GetBufferPointer(), o, kSurfaceFitMinAgreement, why);
    if (!fitted) {
      logDebug("soft-tissue segmentation: border not fitted as a surface of degree {} ({})", degree, why);
      return std::nullopt;
    }
    unsigned char* c = current->GetBufferPointer();
    for (std::size_t v = 0; v < n; ++v)
      c[v] = fitted->mask[v] && (m[v] || (allowed[v] && !atLimit[v])) ? 1 : 0;
    fit = std::move(*fitted);
    logDebug("soft-tissue segmentation: border surface of degree {}: lesion {:.2f}, residual SD {:.2f} on {} voxels, "
             "band agreement at the start {:.3f}, last step {:.3f} mm, contradicted {:.4f}",
             degree, fit.lesionLevel, fit.residualSd, fit.fittedVoxels, fit.startAgreement, fit.lastStepMm,
             fit.contradictedShare);
    if (fit.contradictedShare > kSurfaceFitMaxContradicted) {
      logDebug("soft-tissue segmentation: border surface not kept (it puts {:.1f} % of the clear high-contrast voxels "
               "on the wrong side)",
               100.0 * fit.contradictedShare);
      return std::nullopt;
    }
  }
  const unsigned char* c = current->GetBufferPointer();
  for (std::size_t v : seedVoxels)
    if (!c[v]) {
      logDebug("soft-tissue segmentation: border surface not kept (a seed lies outside it)");
      return std::nullopt;
    }
  keepSeedComponents(current, g, seedVoxels);
  fillHoles(current, g);
  const auto after = std::size_t(std::count_if(c, c + n, [](unsigned char x) { return x != 0; }));
  if (std::abs(double(after) - double(count)) > options.surfaceFitMaxVolumeChange * double(count)) {
    logDebug("soft-tissue segmentation: border surface not kept ({} voxels against {})", after, count);
    return std::nullopt;
  }
  std::copy(c, c + n, region->GetBufferPointer());
  diag.borderSurfaceDegree = degrees.back();
  diag.borderSurfaceResidualHu = fit.residualSd;
  return after;
}

struct NeckSplit {
  double seedDepthMm{0.0};
  double erosionMm{0.0};
  int componentsSplitOff{0};
  std::size_t removedVoxels{0};
};

/// Calls `fn(w, stepMm)` with each face neighbour `w` of voxel `v` inside the grid and the voxel
/// spacing along that step.
template <class Fn> void forEachFaceNeighbour(const ImageGeometry& g, std::size_t v, Fn&& fn) {
  const std::size_t nx = g.size[0], ny = g.size[1], slice = nx * ny;
  const std::size_t i = v % nx, j = (v / nx) % ny, k = v / slice;
  if (i > 0)
    fn(v - 1, g.spacing.x);
  if (i + 1 < nx)
    fn(v + 1, g.spacing.x);
  if (j > 0)
    fn(v - nx, g.spacing.y);
  if (j + 1 < ny)
    fn(v + nx, g.spacing.y);
  if (k > 0)
    fn(v - slice, g.spacing.z);
  if (k + 1 < g.size[2])
    fn(v + slice, g.spacing.z);
}

/// Adds to `mask` the voxels of `allowed` within a geodesic distance of `radiusMm` from it (paths
/// of face-neighbour steps, each as long as the voxel spacing along it, that stay in `allowed`).
void restoreWithin(MaskImage* mask, const std::vector<char>& allowed, const ImageGeometry& g, double radiusMm) {
  const std::size_t n = g.voxelCount();
  unsigned char* m = mask->GetBufferPointer();
  std::vector<float> dist(n, std::numeric_limits<float>::max());
  using Item = std::pair<float, std::size_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue;
  for (std::size_t i = 0; i < n; ++i)
    if (m[i]) {
      dist[i] = 0.0f;
      queue.push({0.0f, i});
    }
  while (!queue.empty()) {
    const auto [d, v] = queue.top();
    queue.pop();
    if (d > dist[v])
      continue;
    forEachFaceNeighbour(g, v, [&](std::size_t w, double stepMm) {
      const float dw = d + float(stepMm);
      if (!allowed[w] || dw > float(radiusMm) || dw >= dist[w])
        return;
      dist[w] = dw;
      m[w] = 1;
      queue.push({dw, w});
    });
  }
}

/// Adds the pockets of the lesion's tissue class that lie between `mask` and tissue outside the
/// class (fat, air, bone): face-connected sets of `inTissue` voxels off the mask, within
/// `reachMm` of it, that touch it and reach no voxel of the class farther out, the crop's faces or
/// the prior's limit (an island of the class apart from the mask is not a pocket). Such a pocket has no neighbour to
/// belong to: its average lies above the interval by noise (next to fat the kernel holds fewer voxels of the class, so
/// its average is noisier), while a neighbouring muscle runs on beyond the reach and stays out.
std::size_t fillPocketsAgainstOutside(MaskImage* mask, const std::vector<char>& inTissue,
                                      const std::vector<char>& allowed, const std::vector<char>& atLimit,
                                      const ImageGeometry& g, double reachMm) {
  const std::size_t n = g.voxelCount();
  unsigned char* m = mask->GetBufferPointer();
  auto dist = signedDistance(mask);
  const float* d = dist->GetBufferPointer();
  const auto inReach = [&](std::size_t v) { return !m[v] && inTissue[v] && d[v] <= float(reachMm); };
  std::vector<char> seen(n, 0);
  std::vector<std::size_t> pocket, stack;
  std::size_t added = 0;
  for (std::size_t start = 0; start < n; ++start) {
    if (seen[start] || !inReach(start))
      continue;
    pocket.clear();
    stack.assign(1, start);
    seen[start] = 1;
    bool open = false, touches = false;
    while (!stack.empty()) {
      const std::size_t v = stack.back();
      stack.pop_back();
      pocket.push_back(v);
      open = open || !allowed[v] || atLimit[v];
      forEachFaceNeighbour(g, v, [&](std::size_t w, double) {
        touches = touches || m[w];
        if (m[w] || !inTissue[w] || seen[w])
          return;
        if (!inReach(w)) {
          open = true; // the class runs on beyond the reach: a neighbour, not a pocket
          return;
        }
        seen[w] = 1;
        stack.push_back(w);
      });
    }
    if (open || !touches)
      continue;
    for (std::size_t v : pocket)
      m[v] = 1;
    added += pocket.size();
  }
  return added;
}

/// The centre of the lobe of a region that holds `start`: from `start`, move to the deepest voxel
/// of the ball inscribed at the current point (`depth`: distance to the region's border, > 0
/// inside) until none is deeper. An inscribed ball lies in the region, so the walk does not pass a
/// neck narrower than the ball, and every point of the lobe leads to the same centre.
std::size_t climbToLobeCentre(const std::vector<float>& depth, const ImageGeometry& g, std::size_t start) {
  std::size_t at = start;
  for (;;) {
    std::size_t deepest = at;
    const Vec3 p = voxelPoint(g, at);
    forEachInBall(g, p, double(depth[at]), [&](std::size_t v) {
      if (depth[v] > depth[deepest])
        deepest = v;
    });
    if (deepest == at) // strictly deeper at every move: the walk ends
      return at;
    at = deepest;
  }
}

/// A voxel that joins the seeds of splitAtNecks: the click's own depth follows where it landed.
struct SplitAnchor {
  /// The centre of the seeds' lobe (climbToLobeCentre from the deepest seed voxel): an MR click
  /// 9 mm deep eroded too little to split the muscle off.
  bool lobeCentre{false};
  /// The region's deepest voxel inside this mask (a necrotic core's filled region, inside the
  /// lesion wherever the click is): a shallow click's opening left the liver on.
  const MaskImage* deepestWithin{nullptr};
};

/// Cuts the grown region at necks, in two steps whose radii scale with the seed's depth inside
/// the region (so they follow the lesion's size):
/// 1. split: erode by `splitFraction` x depth, label the parts, give every voxel to the nearest
///    part (Voronoi partition of the distance map) and drop the cells of parts that run into the
///    crop edge or the size prior with their body (the cell's voxels within the split radius of
///    its part: a thin attachment that reaches the limit is the opening's to remove, not a reason
///    to drop the lobe it hangs on), or outweigh the seed's cell (neighbouring muscle, vessels);
///    enclosed lobes of the lesion itself stay;
/// 2. open by `openFraction` x depth: thin or porous attachments (a muscle at the edge of the
///    intensity interval grows as a sponge that erodes away entirely) are dropped;
/// 3. with `giveBackBorder`, the opened-away voxels within the opening radius (geodesic, inside
///    the region before the opening and off `atLimit`) come back: the lesion's own border where
///    the ball does not fit (bays and pores of a textured rim) returns, while an attachment
///    reaching further than one radius from what the opening kept stays cut.
/// `anchor` adds a voxel to the seeds, for the depth and for the part kept: the radii then follow
/// the lesion, not where in it the click landed (see SplitAnchor).
NeckSplit splitAtNecks(MaskImage* mask, const ImageGeometry& g, const std::vector<std::size_t>& seedVoxels,
                       const std::vector<char>& atLimit, double splitFraction, double openFraction,
                       bool giveBackBorder = false, const SplitAnchor& anchor = {}) {
  NeckSplit split;
  const std::size_t n = g.voxelCount();
  unsigned char* m = mask->GetBufferPointer();
  std::size_t before = 0;
  for (std::size_t i = 0; i < n; ++i) before += m[i];
  auto dist = signedDistance(mask);
  const float* d = dist->GetBufferPointer();
  std::vector<std::size_t> anchors = seedVoxels;
  if (anchor.lobeCentre) {
    std::vector<float> depth(n);
    for (std::size_t i = 0; i < n; ++i)
      depth[i] = -d[i];
    const auto deepestSeed = *std::max_element(seedVoxels.begin(), seedVoxels.end(),
                                               [&](std::size_t a, std::size_t b) { return depth[a] < depth[b]; });
    anchors.push_back(climbToLobeCentre(depth, g, deepestSeed));
  }
  if (anchor.deepestWithin) {
    const unsigned char* w = anchor.deepestWithin->GetBufferPointer();
    std::optional<std::size_t> deepest;
    for (std::size_t i = 0; i < n; ++i)
      if (m[i] && w[i] && (!deepest || d[i] < d[*deepest]))
        deepest = i;
    if (deepest)
      anchors.push_back(*deepest);
  }
  for (std::size_t v : anchors)
    split.seedDepthMm = std::max(split.seedDepthMm, double(-d[v]));
  const double minStep = std::max({g.spacing.x, g.spacing.y}) * 1.01;
  const double splitMm = std::max(splitFraction * split.seedDepthMm, minStep);
  split.erosionMm = std::max(openFraction * split.seedDepthMm, minStep);
  if (split.erosionMm >= split.seedDepthMm) return split; // too thin to erode without losing the seed

  using CC = itk::ConnectedComponentImageFilter<MaskImage, ComponentImage>;
  if (splitMm < split.seedDepthMm) {
    auto eroded = newMask(g);
    for (std::size_t i = 0; i < n; ++i) eroded->GetBufferPointer()[i] = d[i] < -splitMm ? 1 : 0;
    auto cc = CC::New();
    cc->SetInput(eroded);
    cc->SetFullyConnected(false);
    cc->Update();
    const unsigned* labels = cc->GetOutput()->GetBufferPointer();
    std::set<unsigned> seedParts;
    for (std::size_t v : anchors)
      if (labels[v]) seedParts.insert(labels[v]);
    if (!seedParts.empty() && cc->GetObjectCount() > seedParts.size()) {
      using Voronoi = itk::DanielssonDistanceMapImageFilter<ComponentImage, FloatImage, ComponentImage>;
      auto voronoi = Voronoi::New();
      voronoi->SetInput(cc->GetOutput());
      voronoi->SetInputIsBinary(false);
      voronoi->SetUseImageSpacing(true);
      voronoi->Update();
      const unsigned* owner = voronoi->GetVoronoiMap()->GetBufferPointer();
      const float* fromPart = voronoi->GetOutput()->GetBufferPointer();
      // A cell's body: what the opening at the split radius would keep of it (as in step 2).
      const float bodyReach = float(splitMm + std::max({g.spacing.x, g.spacing.y, g.spacing.z}) + 1e-3);
      std::map<unsigned, std::size_t> cellSize;
      std::set<unsigned> runsOut;
      std::size_t seedCells = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!m[i]) continue;
        if (seedParts.count(owner[i])) {
          ++seedCells;
          continue;
        }
        ++cellSize[owner[i]];
        if (atLimit[i] && fromPart[i] <= bodyReach)
          runsOut.insert(owner[i]);
      }
      std::set<unsigned> drop;
      for (const auto& [label, count] : cellSize)
        if (runsOut.count(label) || count > seedCells) {
          drop.insert(label);
          if (count * 20 > seedCells) ++split.componentsSplitOff; // ignore specks below 5 % of the mass
        }
      for (std::size_t i = 0; i < n; ++i)
        if (m[i] && drop.count(owner[i])) m[i] = 0;
      keepSeedComponents(mask, g, anchors);
      dist = signedDistance(mask);
      d = dist->GetBufferPointer();
    }
  }

  std::vector<char> givenBack(giveBackBorder ? n : 0); // what step 3 may restore
  for (std::size_t i = 0; i < givenBack.size(); ++i)
    givenBack[i] = m[i] && !atLimit[i];
  // Opening: erode, then keep what lies within reach of the eroded core.
  auto core = newMask(g);
  for (std::size_t i = 0; i < n; ++i) core->GetBufferPointer()[i] = d[i] < -split.erosionMm ? 1 : 0;
  auto fromCore = signedDistance(core);
  // Maurer puts the border voxels at distance 0, so the opening reaches one voxel step further.
  const float reach = float(split.erosionMm + std::max({g.spacing.x, g.spacing.y, g.spacing.z}) + 1e-3);
  for (std::size_t i = 0; i < n; ++i)
    if (m[i] && fromCore->GetBufferPointer()[i] > reach) m[i] = 0;
  keepSeedComponents(mask, g, anchors);
  if (giveBackBorder)
    restoreWithin(mask, givenBack, g, split.erosionMm);

  std::size_t after = 0;
  for (std::size_t i = 0; i < n; ++i) after += m[i];
  split.removedVoxels = before - after;
  // A porous attachment dropped by the opening counts as a structure cut off when it is sizeable.
  if (split.componentsSplitOff == 0 && split.removedVoxels * 4 > after) split.componentsSplitOff = 1;
  return split;
}

struct BrightNeighbourCut {
  std::optional<double> cutHu{};
  std::size_t removedVoxels{0}; ///< above the cut or cut off from the seeds by it
  FloatImage::Pointer average{}; ///< the soft-tissue average the cut was made on
};

/// A heterogeneous mass (necrotic core, enhancing rim) needs a wide interval, which also holds a
/// homogeneous organ next to it (a lung tumour on the liver dome: rim 50-100 HU, liver 74 HU;
/// no voxel-level contrast, a contact over the whole slice, so no neck). Averaged over
/// `sigmaMm` within soft tissue, the organ collapses to a narrow mode while the mass's own
/// samples (the initialisation's, spanning the lesion) stay spread below it. When the region's
/// histogram has a mode above the samples' 90th percentile (nearestMode, 2 HU bins: there is
/// such an organ), the region's voxels whose average lies above the samples' own upper bound
/// on the average, their median + `tolerance` x robust SD, are removed and the seeds' component
/// kept. Not the midpoint between the percentile and the mode: a heterogeneous mass's brighter
/// part overlaps the organ (IBSI GTV: midpoint 68.8 HU, inside the rim; own bound 82.8 HU, above
/// the liver's mode of 74.3 HU), and what the bound leaves of the organ goes with its slices
/// (stopAtOpenSlices). With `rimVoxels` (a necrotic core's enclosing rim, one class of its own)
/// the bound is the rim's: the click's core sample would mix the core's class in.
BrightNeighbourCut cutBrightNeighbour(MaskImage* region, const FloatImage* raw, const ImageGeometry& g,
                                      const std::vector<std::size_t>& sampleVoxels, double sigmaMm,
                                      const SoftTissueOptions& options, const std::vector<std::size_t>& rimVoxels = {},
                                      double tolerance = 0.0, std::optional<double> givenCutHu = std::nullopt) {
  BrightNeighbourCut cut;
  const std::size_t n = g.voxelCount();
  const float* r = raw->GetBufferPointer();
  // Soft tissue only, so aerated lung and fat next to the mass do not pull the average down.
  std::vector<char> tissue(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    tissue[i] = r[i] >= options.softTissueMinHu - 20.0 && r[i] <= options.softTissueMaxHu;
  cut.average = tissueMaskedGaussian(raw, g, tissue, tissue, sigmaMm);
  const float* a = cut.average->GetBufferPointer();
  unsigned char* m = region->GetBufferPointer();
  std::vector<float> inside, samples;
  for (std::size_t i = 0; i < n; ++i)
    if (m[i]) inside.push_back(a[i]);
  if (givenCutHu) {
    cut.cutHu = givenCutHu;
  } else {
    for (std::size_t v : rimVoxels.empty() ? sampleVoxels : rimVoxels)
      samples.push_back(a[v]);
    if (rimVoxels.empty() && !nearestMode(inside, quantileOf(samples, 0.9), +1, 2.0))
      return cut; // no brighter organ in the region
    const RobustSpread own = robustSpreadOf(std::move(samples));
    cut.cutHu = own.median + tolerance * own.sd;
  }
  const std::size_t before = inside.size();
  for (std::size_t i = 0; i < n; ++i)
    if (m[i] && a[i] > *cut.cutHu) m[i] = 0;
  keepSeedComponents(region, g, sampleVoxels);
  cut.removedVoxels = before - std::size_t(std::count(m, m + n, 1));
  return cut;
}

/// A lesion's axial cross-section is held by contrast on most of its border (lung, fat, a tissue
/// of another level). Where a homogeneous organ was cut out of the region by the brighter-organ
/// cut, the slices below or above the lesion still hold a disc of the organ whose border is
/// mostly tissue of the same intensity interval (`image` raw) or the size prior (outside
/// `allowed`). From the seeds' slice outwards, the first slice whose in-plane border has more
/// than `maxOpenFraction` of such neighbours and every slice beyond it are removed, from the
/// region and from `allowed` (the boundary refinement must not grow them back across a thick
/// slice). Returns the voxels removed. Without a size prior (`priorHolds` false: a click's search
/// sphere, which says nothing about the lesion's border) the tissue beyond `allowed` is judged by
/// its intensity like any other, and the seeds' own slices are kept.
std::size_t stopAtOpenSlices(MaskImage* region, const FloatImage* image, const ImageGeometry& g,
                             std::vector<char>& allowed, double lower, double upper,
                             const std::vector<std::size_t>& seedVoxels, double maxOpenFraction,
                             bool priorHolds = true) {
  const std::size_t nx = g.size[0], ny = g.size[1], nz = g.size[2], slice = nx * ny;
  unsigned char* m = region->GetBufferPointer();
  const float* s = image->GetBufferPointer();
  const std::ptrdiff_t row = std::ptrdiff_t(nx);
  std::vector<double> openFraction(nz, 0.0);
  for (std::size_t k = 0; k < nz; ++k) {
    std::size_t open = 0, border = 0;
    for (std::size_t j = 1; j + 1 < ny; ++j)
      for (std::size_t i = 1; i + 1 < nx; ++i) {
        const std::size_t v = k * slice + j * nx + i;
        if (!m[v])
          continue;
        for (const std::ptrdiff_t o : {std::ptrdiff_t(1), std::ptrdiff_t(-1), row, -row}) {
          const std::size_t w = std::size_t(std::ptrdiff_t(v) + o);
          if (m[w])
            continue;
          ++border;
          open += (priorHolds && !allowed[w]) || (s[w] >= lower && s[w] <= upper); // held by the prior or by nothing
        }
      }
    openFraction[k] = border ? double(open) / double(border) : 0.0;
  }
  std::size_t first = nz, last = 0;
  for (std::size_t v : seedVoxels) {
    first = std::min(first, v / slice);
    last = std::max(last, v / slice);
  }
  std::size_t lowest = 0, highest = nz;
  const std::size_t kept = priorHolds ? 0 : 1; // a click keeps its own slices
  for (std::size_t k = first + 1 - kept; k-- > 0;)
    if (openFraction[k] > maxOpenFraction) {
      lowest = k + 1;
      break;
    }
  for (std::size_t k = last + kept; k < nz; ++k)
    if (openFraction[k] > maxOpenFraction) {
      highest = k;
      break;
    }
  std::size_t removed = 0;
  for (std::size_t k = 0; k < nz; ++k) {
    if (k >= lowest && k < highest)
      continue;
    for (std::size_t v = k * slice; v < (k + 1) * slice; ++v) {
      removed += m[v];
      m[v] = 0;
      allowed[v] = 0;
    }
  }
  return removed;
}

struct EnclosingRim {
  double brightFraction{0.0};       ///< shell voxels above the interval, in soft tissue
  double median{0.0}, upper{0.0};   ///< the rim's median and upper bound (0 when no rim)
  std::vector<std::size_t> voxels;  ///< the shell's bright voxels
};

/// A necrotic core enclosed by a brighter rim: the shell of `enclosingRimShellMm` around `region`
/// (holes filled, inside the prior) is mostly soft tissue above the interval (not fat, air, lung,
/// bone, which lie below it or above soft tissue). Then the rim's upper bound is its median +
/// tolerance x robust SD (at least 4 HU) in `image`, at most the soft-tissue maximum.
EnclosingRim findEnclosingRim(const MaskImage* region, const FloatImage* image, const ImageGeometry& g,
                              const std::vector<char>& allowed, const IntensityModel& model, double tolerance,
                              const SoftTissueOptions& options) {
  EnclosingRim rim;
  const std::size_t n = g.voxelCount();
  auto filled = newMask(g);
  std::copy(region->GetBufferPointer(), region->GetBufferPointer() + n, filled->GetBufferPointer());
  fillHoles(filled, g);
  auto dist = signedDistance(filled);
  const float* d = dist->GetBufferPointer();
  const float* s = image->GetBufferPointer();
  std::size_t shell = 0;
  std::vector<float> bright;
  for (std::size_t i = 0; i < n; ++i) {
    if (!allowed[i] || d[i] <= 0.0f || d[i] > float(options.enclosingRimShellMm)) continue;
    ++shell;
    if (s[i] > model.upper && s[i] <= options.softTissueMaxHu) {
      bright.push_back(s[i]);
      rim.voxels.push_back(i);
    }
  }
  rim.brightFraction = shell ? double(bright.size()) / double(shell) : 0.0;
  if (shell < 50 || rim.brightFraction <= options.enclosingRimFraction) {
    rim.voxels.clear();
    return rim;
  }
  const RobustSpread spread = robustSpreadOf(std::move(bright));
  rim.median = spread.median;
  const double sd = std::max(spread.sd, 4.0);
  rim.upper = std::min(rim.median + tolerance * sd, options.softTissueMaxHu);
  return rim;
}

/// Bin width of the rim's histogram (`rimOfRegrownRegion`): about a quarter of the rim's spread.
constexpr double kRimModeBinHu = 4.0;

/// The rim's level from the region regrown with the shell's bound (`regrown`): the first histogram
/// mode (nearestMode) of its voxels outside the core's filled region (`coreFilled`) and above the
/// core's bound, refined by a mean shift; the bounds' truncation does not move a mode as it moves
/// a median, and the 3 mm shell sees the core-to-rim gradient, not the rim, so the shell's median
/// followed where the click's core region ended (GTV: 53-70 HU over 3 mm moves, the mode 63-68).
/// Bound = the level + the shell's own spread (its upper bound - median); `voxels` = the rim's
/// voxels within that spread of the level (the cut's samples). Empty when there is no mode.
std::optional<EnclosingRim> rimOfRegrownRegion(const MaskImage* regrown, const MaskImage* coreFilled,
                                               const FloatImage* image, const ImageGeometry& g, double coreUpper,
                                               const EnclosingRim& shell, const SoftTissueOptions& options) {
  const unsigned char* r = regrown->GetBufferPointer();
  const unsigned char* core = coreFilled->GetBufferPointer();
  const float* s = image->GetBufferPointer();
  std::vector<std::size_t> outside;
  std::vector<float> values;
  std::vector<float> allOutside; // every regrown voxel outside the core, for the mode's refinement
  for (std::size_t i = 0; i < g.voxelCount(); ++i)
    if (r[i] && !core[i]) {
      allOutside.push_back(s[i]);
      if (s[i] <= coreUpper)
        continue;
      outside.push_back(i);
      values.push_back(s[i]);
    }
  const auto mode = nearestMode(values, coreUpper, +1, kRimModeBinHu);
  if (!mode)
    return std::nullopt;
  const double spread = shell.upper - shell.median;
  // The mode refined by a mean shift over all of the rim's voxels (window +-0.4 of the spread):
  // the cut at the core's bound pushed the histogram's mode up, and a bin's width moved it.
  double level = *mode;
  for (int iteration = 0; iteration < 20; ++iteration) {
    double sum = 0.0;
    std::size_t count = 0;
    for (float v : allOutside)
      if (std::abs(v - level) <= 0.4 * spread) {
        sum += v;
        ++count;
      }
    if (count == 0)
      break;
    const double next = sum / double(count);
    const bool settled = std::abs(next - level) < 0.05;
    level = next;
    if (settled)
      break;
  }
  EnclosingRim rim;
  rim.brightFraction = shell.brightFraction;
  rim.median = level;
  rim.upper = std::min(level + spread, options.softTissueMaxHu);
  for (std::size_t i : outside)
    if (std::abs(s[i] - level) <= spread)
      rim.voxels.push_back(i);
  return rim;
}

/// A core's rim as one search estimated it: a wider retry of the same click keeps it.
struct RimLevel {
  double level{0.0}, upper{0.0};
  std::optional<double> cutHu{};
};

/// Whether voxel `v` has a face neighbour in `region`.
bool touchesRegion(const unsigned char* region, const ImageGeometry& g, std::size_t v) {
  bool touches = false;
  forEachFaceNeighbour(g, v, [&](std::size_t w, double) { touches = touches || region[w]; });
  return touches;
}

/// Aerated lung and air lie below this (fat, about -100 HU, stays well above it with its noise).
constexpr double kAeratedHu = -400.0;

/// A voxel just outside the region next to aerated lung or air is a partial-volume mixture of the
/// lesion and that neighbour, which the soft-tissue floor (there to keep fat out) leaves out: it
/// holds more lesion than air when its raw value lies above the midpoint between the lesion's
/// level and its darkest face neighbour, and it touches the region.
bool mostlyLesionNextToAir(const float* raw, const unsigned char* region, const ImageGeometry& g, std::size_t v,
                           double lesionLevel) {
  float darkest = raw[v];
  forEachFaceNeighbour(g, v, [&](std::size_t w, double) { darkest = std::min(darkest, raw[w]); });
  return darkest < kAeratedHu && raw[v] >= 0.5 * (lesionLevel + darkest) && touchesRegion(region, g, v);
}

Modality resolveModality(const Volume& volume, Modality requested) {
  if (requested != Modality::Auto) return requested;
  return looksLikeHounsfieldUnits(volume) ? Modality::CT : Modality::MR;
}

} // namespace

namespace {

/// How much wider the one extra search is (sphere and diameter limit), for a mass held by contrast.
constexpr double kSearchGrowth = 1.1;

/// The region ran into the rim of a seed-only search sphere, or over the diameter limit by less
/// than the growth: worth a retry with a larger one. `contactFraction`: the part of the region's
/// border at the sphere's rim (its outer 3 %); `regionCentre`: the refused region's centroid
/// (LPS mm), where the wider search is centred.
class SearchLimitReached : public ProcessingError {
public:
  SearchLimitReached(const std::string& message, double contact, const Vec3& centre)
      : ProcessingError(message), contactFraction(contact), regionCentre(centre) {}
  double contactFraction;
  Vec3 regionCentre;
};

/// The checks refused a region grown over a necrotic core's rim: worth a retry without the rim.
class EnclosingRimRefused : public ProcessingError {
public:
  EnclosingRimRefused(const std::string& message, const SearchLimitReached* limit, std::optional<RimLevel> rimLevel)
      : ProcessingError(message), atSearchLimit(limit != nullptr),
        contactFraction(limit ? limit->contactFraction : 1.0), regionCentre(limit ? limit->regionCentre : Vec3{}),
        rim(rimLevel) {}
  bool atSearchLimit;
  double contactFraction;
  Vec3 regionCentre;
  std::optional<RimLevel> rim; ///< the rim as this search estimated it
};

/// `keptRim`: a core's rim estimated by a narrower search of the same click, used instead of
/// estimating it again (a wider search only lets the lesion finish growing).
SegmentationResult runPipeline(const Volume& volume, const SoftTissueInit& init, const SoftTissueOptions& options,
                               const Progress& progress, const Prior& prior, Modality modality,
                               const std::optional<RimLevel>& keptRim = std::nullopt) {
  const ImageGeometry& grid = volume.geometry;
  SegmentationResult result;
  SegmentationDiagnostics& diag = result.diagnostics;
  diag.centreMm = prior.centre;
  diag.priorRadiusMm = prior.isSizePrior ? prior.radiusMm : 0.0;
  diag.modality = modality;
  const bool ct = diag.modality == Modality::CT;
  // An MR click: the model, the bright neighbour and the neck split follow the lesion, not where
  // in it the click landed (see below); box and RECIST samples span the lesion already.
  const bool mrClick = !ct && !prior.isSizePrior;
  if (!prior.clippedNote.empty())
    diag.warnings.push_back(prior.clippedNote);
  // RECIST measures on one axial slice (of a non-axial scan: a plane LPS z = const); a line across
  // them still bounds the mass (the prior is laid on them), but it is not the diameter meant.
  if (init.kind == Kind::Recist) {
    const AxialSections axial = axialSectionsOf(grid);
    const double across = std::abs(dot(init.recistTo - init.recistFrom, axial.normal));
    if (across > 0.5 * axial.spacingMm)
      diag.warnings.push_back(fmt::format("the RECIST line's ends lie {:.1f} mm apart across the {} ({:.1f} mm "
                                          "apart); a RECIST line is drawn on one axial slice",
                                          across, axial.acquisitionSlices ? "slices" : "axial planes",
                                          axial.spacingMm));
  }

  // 1. Crop around the initialisation.
  progress.report(0.0, "cropping");
  const CropBox box = cropFor(prior, grid, 8.0);
  requireSmoothableCrop(box, grid, prior.centre);
  ImageGeometry g;
  FloatImage::Pointer crop = extractCrop(volume, box, g);
  for (int a = 0; a < 3; ++a) {
    diag.cropIndex[a] = std::size_t(box.begin[a]);
    diag.cropSize[a] = g.size[a];
  }
  diag.cropMinMm = g.indexToPoint(0, 0, 0);
  diag.cropMaxMm = g.indexToPoint(g.size[0] - 1, g.size[1] - 1, g.size[2] - 1);
  const std::size_t n = g.voxelCount();

  std::vector<std::size_t> seedVoxels;
  for (const Vec3& s : prior.seeds) {
    const Vec3 idx = g.pointToIndex(s);
    seedVoxels.push_back(g.linearIndex(std::size_t(std::lround(idx.x)), std::size_t(std::lround(idx.y)),
                                       std::size_t(std::lround(idx.z))));
  }
  std::vector<std::size_t> sampleVoxels;
  {
    std::vector<char> taken(n, 0);
    for (const Vec3& s : prior.seeds)
      forEachInBall(g, s, prior.sampleRadiusMm, [&](std::size_t v) {
        if (!taken[v]) {
          taken[v] = 1;
          sampleVoxels.push_back(v);
        }
      });
  }

  // Several CT seeds: one outside soft tissue spoils the common sample ("nothing to grow" at best);
  // name that seed.
  if (ct && init.kind == Kind::Seeds && prior.seeds.size() > 1) {
    for (const Vec3& seed : prior.seeds) {
      std::vector<float> values;
      forEachInBall(g, seed, prior.sampleRadiusMm,
                    [&](std::size_t v) { values.push_back(crop->GetBufferPointer()[v]); });
      const double median = quantileOf(values, 0.5);
      if (median < options.softTissueMinHu || median > options.softTissueMaxHu)
        throw ProcessingError(
            fmt::format("soft-tissue segmentation: the seed {} is probably in {} (its neighbourhood's "
                        "median {:.0f} HU is outside soft tissue, {:.0f} to {:.0f} HU); place every "
                        "seed inside the mass",
                        formatPoint(seed), tissueOutside(median, options), median, options.softTissueMinHu,
                        options.softTissueMaxHu));
    }
  }

  // 2. MR: bias-field correction and normalisation by the seed neighbourhood's median.
  FloatImage::Pointer working = crop;
  if (!ct) {
    progress.report(0.05, "bias-field correction");
    if (options.biasFieldCorrection) {
      working = correctBiasFieldAround(volume, box, crop, diag.warnings);
      diag.biasFieldCorrected = working.GetPointer() != crop.GetPointer();
    }
    std::vector<float> values;
    for (std::size_t v : sampleVoxels) values.push_back(working->GetBufferPointer()[v]);
    const double med = quantileOf(values, 0.5);
    std::vector<float> all(working->GetBufferPointer(), working->GetBufferPointer() + n);
    const double p98 = quantileOf(all, 0.98);
    if (!(med > 0.05 * p98))
      throw ProcessingError(fmt::format("soft-tissue segmentation: {} is background (median {:.4g}, under 5 % of the "
                                        "crop's 98th percentile {:.4g}): place {} inside the mass",
                                        samplePlaceOf(init.kind).neighbourhood, med, p98,
                                        samplePlaceOf(init.kind).point));
    if (working.GetPointer() == crop.GetPointer()) {
      auto copy = FloatImage::New();
      itkbridge::copyGeometryTo(g, copy.GetPointer());
      copy->Allocate();
      std::copy(crop->GetBufferPointer(), crop->GetBufferPointer() + n, copy->GetBufferPointer());
      working = copy;
    }
    for (std::size_t i = 0; i < n; ++i) working->GetBufferPointer()[i] = float(working->GetBufferPointer()[i] / med);
  }

  // 3. Edge-preserving denoising.
  progress.report(0.25, "denoising");
  FloatImage::Pointer smooth = denoise(working, g, options);
  // CT: the two-class decision runs on a Gaussian average within the lesion's tissue class
  // (voxels within 4 noise SDs of the seed neighbourhood's median on the raw image).
  bool twoClass = ct && options.contextSmoothingMm > 0.0;
  // The intensity model's sample: the seed ball; seeds only on CT, grown over the lesion below.
  std::vector<std::size_t> lesionSample = sampleVoxels;
  std::vector<std::size_t> twoClassSample = sampleVoxels; // the two-class model's first level
  std::vector<char> inTissue, tissueEdge, nearOutside;
  double rawMedian = 0.0, rawSd = 0.0, contextNoiseSd = 0.0;
  if (twoClass) {
    const float* raw = working->GetBufferPointer();
    std::vector<float> values;
    for (std::size_t v : sampleVoxels) values.push_back(raw[v]);
    const RobustSpread spread = robustSpreadOf(std::move(values));
    rawMedian = spread.median;
    rawSd = std::max(spread.sd, 4.0);
    inTissue.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) inTissue[i] = std::abs(raw[i] - rawMedian) <= 4.0 * rawSd;
    // The class's outer layer (next to fat, air, bone) is partial volume: not averaged, and
    // decided on raw intensities at the end.
    tissueEdge.assign(n, 0);
    std::vector<char> core(inTissue);
    const std::size_t stride[3] = {1, g.size[0], g.size[0] * g.size[1]};
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const std::size_t v = g.linearIndex(i, j, k);
          if (!inTissue[v]) continue;
          const std::array<std::size_t, 3> idx{i, j, k};
          for (int a = 0; a < 3; ++a) {
            if ((idx[a] > 0 && !inTissue[v - stride[a]]) || (idx[a] + 1 < g.size[a] && !inTissue[v + stride[a]])) {
              core[v] = 0;
              tissueEdge[v] = 1;
            }
          }
        }
    FloatImage::Pointer context = tissueMaskedGaussian(working, g, inTissue, core, options.contextSmoothingMm);
    // Noise left after averaging: sigma / sqrt(effective number of voxels in the kernel).
    double voxels = 1.0;
    for (int a = 0; a < 3; ++a) voxels *= std::max(1.0, 2.0 * std::sqrt(M_PI) * options.contextSmoothingMm / g.spacing[a]);
    contextNoiseSd = rawSd / std::sqrt(voxels);
    // Only a lesion that is homogeneous at the averaging scale (its spread in the averaged image
    // is what the noise explains) is a single class; a textured lesion (sarcoma, necrosis) keeps
    // the diffusion image and the one-class interval. A 4 mm ball holds only a few independent
    // samples of the average, so a click's sample is grown over the lesion first (shells up to
    // `lesionSampleRadiusMm`, stopping at fat / air / bone or where the level changes: a
    // neighbouring soft tissue); box and RECIST samples span the lesion already. The noise is
    // measured on neighbour differences, which texture does not inflate.
    double decisionNoise = neighbourDifferenceNoise(raw, g, sampleVoxels, inTissue) / std::sqrt(voxels);
    if (!prior.isSizePrior && options.lesionSampleRadiusMm > prior.sampleRadiusMm) {
      lesionSample = growSampleBall(g, prior.seeds, prior.sampleRadiusMm, options.lesionSampleRadiusMm, inTissue,
                                    context->GetBufferPointer(), decisionNoise);
      decisionNoise = neighbourDifferenceNoise(raw, g, lesionSample, inTissue) / std::sqrt(voxels);
    }
    // The spread is judged deeper than one sigma inside the sample: a click's sample grows until
    // a shell is more than 10 % off its level, so its last shells can hold the blurred step to a
    // neighbour 5 HU brighter, which inflated the spread of a small mass (the demo's last
    // follow-up, noise seeds 2 and 5: 1.66 and 1.89 HU against 1.41 and 1.29) and sent it to the
    // one-class interval, which leaked.
    // A RECIST line's ends lie on the border: its sample is judged beyond the blur of both ends
    // (the default phantom's last follow-up: the step to the muscle at the ends sent the line to
    // the one-class interval, which leaked and was refused).
    const auto spreadOn = [&](const std::vector<std::size_t>& voxels) {
      std::vector<float> sampled;
      for (std::size_t v : voxels)
        sampled.push_back(context->GetBufferPointer()[v]);
      return robustSpreadOf(std::move(sampled)).sd;
    };
    const double homogeneityLimit = options.homogeneityFactor * std::max(decisionNoise, 0.5);
    std::vector<std::size_t> judged = sampleInterior(g, lesionSample, options.contextSmoothingMm, kMinimumJudgedSample);
    // A RECIST line is judged on its middle half (`recistMiddleSample`). When its outer parts alone
    // made the sample look textured, they lie outside the lesion: the two-class level is taken from
    // the middle half too (the phantom's line 8 mm off the widest slice: the whole sample's SD of
    // 1.95 HU set a first interval up to 49.0 HU, over the muscle 5 HU above the mass, +18.9 %).
    if (init.kind == Kind::Recist) {
      judged = sampleClearOf(g, judged, {init.recistFrom, init.recistTo}, 2.0 * options.contextSmoothingMm,
                             kMinimumJudgedSample);
      const std::vector<std::size_t> middle = recistMiddleSample(g, judged, init);
      if (spreadOn(judged) > homogeneityLimit && spreadOn(middle) <= homogeneityLimit)
        twoClassSample = middle;
      judged = middle;
    }
    const double contextSd = spreadOn(judged);
    diag.contextSpreadHu = contextSd;
    diag.contextNoiseHu = decisionNoise;
    if (contextSd > homogeneityLimit) {
      twoClass = false;
      // A heterogeneous lesion's model has to span its parts (necrotic core and enhancing rim,
      // texture): its sample grows until tissue outside the class, not until the level changes.
      if (!prior.isSizePrior && options.lesionSampleRadiusMm > prior.sampleRadiusMm)
        lesionSample = growSampleBall(g, prior.seeds, prior.sampleRadiusMm, options.lesionSampleRadiusMm, inTissue,
                                      nullptr, 0.0);
    } else {
      smooth = context;
      // Voxels within one sigma of tissue outside the class: their averages are partial-volume
      // mixtures and do not sample a class.
      auto outsideMask = newMask(g);
      for (std::size_t i = 0; i < n; ++i) outsideMask->GetBufferPointer()[i] = inTissue[i] ? 0 : 1;
      auto fromOutside = signedDistance(outsideMask);
      nearOutside.assign(n, 0);
      for (std::size_t i = 0; i < n; ++i)
        nearOutside[i] = fromOutside->GetBufferPointer()[i] <= float(options.contextSmoothingMm);
    }
  }
  diag.twoClassModel = twoClass;
  const float* s = smooth->GetBufferPointer();
  // MR click: as for a textured lesion on CT, the model's sample is the seed ball grown in 1 mm
  // shells up to `lesionSampleRadiusMm` while the shells stay within the sample's level (a
  // neighbour of another level, fat on T1, ends it; the noise from neighbour differences). A 4 mm
  // ball in a darker part of a sarcoma gave an interval that grew only that part (STS_002 MR,
  // Dice 0.79 / -31 %).
  if (mrClick && options.lesionSampleRadiusMm > prior.sampleRadiusMm) {
    const std::vector<char> everywhere(n, 1);
    const double noise = neighbourDifferenceNoise(working->GetBufferPointer(), g, sampleVoxels, everywhere);
    lesionSample =
        growSampleBall(g, prior.seeds, prior.sampleRadiusMm, options.lesionSampleRadiusMm, everywhere, s, noise);
  }

  // 4. Intensity model from the seed neighbourhood (median and MAD resist a seed near the edge);
  // one-class CT and MR from a click: from the sample grown over the lesion (a textured lesion's
  // spread is not seen within 4 mm, and the interval would follow where the click lands).
  progress.report(0.5, "intensity model");
  IntensityModel& model = diag.intensity;
  {
    std::vector<float> values;
    for (std::size_t v : twoClass ? twoClassSample : lesionSample)
      values.push_back(s[v]);
    model.samples = values.size();
    const RobustSpread spread = robustSpreadOf(values);
    model.median = spread.median;
    model.robustSd = spread.sd;
    // Floors: a perfectly flat seed region must still admit noise and partial volume.
    model.robustSd = std::max(model.robustSd, twoClass ? std::max(contextNoiseSd, 0.5) : (ct ? 4.0 : 0.03));
    model.unit = ct ? "HU" : "normalised";
  }
  if (ct && (model.median < options.softTissueMinHu || model.median > options.softTissueMaxHu))
    throw ProcessingError(fmt::format(
        "soft-tissue segmentation: {} has a median of {:.0f} HU, outside soft tissue ({:.0f} to {:.0f} HU): {} is "
        "probably in {}; place it inside the mass",
        samplePlaceOf(init.kind).neighbourhood, model.median, options.softTissueMinHu, options.softTissueMaxHu,
        samplePlaceOf(init.kind).point, tissueOutside(model.median, options)));
  const double tolerance = options.intensityToleranceSd.value_or(ct ? 2.5 : 3.0);
  model.lower = model.median - tolerance * model.robustSd;
  model.upper = model.median + tolerance * model.robustSd;
  if (ct) {
    model.lower = std::max(model.lower, options.softTissueMinHu - 20.0);
    model.upper = std::min(model.upper, options.softTissueMaxHu);
  }
  // MR click: each bound from its own side of the lesion sample (double MAD: 1.4826 x the distance
  // from the median to the quartile on that side, same floor). A sample grown over a textured
  // mass is skewed, and the symmetric MAD set the bright bound by the dark side's spread (STS_002
  // MR, a click 6.7 mm deep, after the re-estimation: 0.59..1.44 -> 0.56..1.18, the ring's bound
  // 1.61 -> 1.54, a leak -> Dice 0.902).
  if (mrClick) {
    std::vector<float> values;
    for (std::size_t v : lesionSample)
      values.push_back(s[v]);
    const double below = std::max(1.4826 * (model.median - quantileOf(values, 0.25)), 0.03);
    const double above = std::max(1.4826 * (quantileOf(values, 0.75) - model.median), 0.03);
    model.lower = model.median - tolerance * below;
    model.upper = model.median + tolerance * above;
  }

  // 5. Region growing inside the prior.
  progress.report(0.55, "region growing");
  std::vector<char> allowed(n, 0);
  std::vector<double> rho(n, 0.0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t v = g.linearIndex(i, j, k);
        rho[v] = prior.rho(g.indexToPoint(i, j, k));
        allowed[v] = rho[v] < 1.0;
      }
  std::vector<char> atLimit(n, 0); // crop faces and the outer rim of the size prior
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t v = g.linearIndex(i, j, k);
        atLimit[v] = i == 0 || j == 0 || k == 0 || i + 1 == g.size[0] || j + 1 == g.size[1] || k + 1 == g.size[2] ||
                     (prior.isSizePrior && rho[v] > 0.9);
      }
  MaskImage::Pointer region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
  // Two-class CT: the lesion's pockets against fat, air or bone (fillPocketsAgainstOutside).
  const auto fillLesionPockets = [&](MaskImage* mask) {
    fillPocketsAgainstOutside(mask, inTissue, allowed, atLimit, g, kPocketReachSigmas * options.contextSmoothingMm);
  };

  // Second pass: move each bound of the interval to the midpoint towards a clearly different
  // neighbouring tissue, so partial-volume voxels split evenly (otherwise the boundary sits
  // inside the mass). CT widens only the dark side: brighter neighbours are vessels/muscle.
  if (options.refineIntensityModel.value_or(!ct)) {
    std::vector<float> values;
    const unsigned char* r = region->GetBufferPointer();
    for (std::size_t i = 0; i < n; ++i)
      if (r[i]) values.push_back(s[i]);
    if (values.size() > model.samples) {
      const RobustSpread spread = robustSpreadOf(std::move(values));
      const double med = spread.median, sd = spread.sd;
      model.lower = std::min(model.lower, med - tolerance * sd);
      model.upper = std::max(model.upper, med + tolerance * sd);
      if (ct) {
        model.lower = std::max(model.lower, options.softTissueMinHu - 20.0);
        model.upper = std::min(model.upper, options.softTissueMaxHu);
      }
      region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
    }
  }
  bool darkWidened = false, brightWidened = false;
  const double firstLower = model.lower, firstUpper = model.upper;
  logDebug(
      "soft-tissue segmentation: first interval {:.2f}..{:.2f} (sample median {:.2f}, robust SD {:.2f}, {} samples)",
      model.lower, model.upper, model.median, model.robustSd, model.samples);
  double fatLower = model.lower; // two-class CT: raw bound towards tissue outside the lesion's class
  const double sampleLevel = model.median, sampleSd = model.robustSd; // the seed sample's
  if (twoClass) {
    // Two-class model: the neighbouring classes are sampled in a shell beyond the blur of the
    // averaging (2 sigma) around the first region; each bound moves to the midpoint between the
    // lesion and its neighbour (Bayes boundary for equal spreads), narrowing or widening. Tissue
    // outside the lesion's class (fat, air, bone) is decided on raw intensities at the midpoint.
    // Returns the brighter neighbour the last pass's shell found, if any.
    const auto boundByNeighbours = [&]() {
      std::optional<double> brighter;
      for (int pass = 0; pass < 3; ++pass) {
        // Levels and shells are taken around the region with its holes and pockets filled: the
        // region leaves out the lesion's voxels whose average lies above the interval by noise, so
        // its own interior reads the lesion low and its shell mixes the lesion into the brighter
        // neighbour (the lesion 0.5 HU too dark, the threshold with it).
        auto solid = newMask(g);
        std::copy(region->GetBufferPointer(), region->GetBufferPointer() + n, solid->GetBufferPointer());
        fillHoles(solid, g);
        fillLesionPockets(solid);
        const unsigned char* r = solid->GetBufferPointer();
        auto dist = signedDistance(solid);
        const float* di = dist->GetBufferPointer();
        const float inPlane = float(std::max(g.spacing.x, g.spacing.y));
        const float from = float(2.0 * options.contextSmoothingMm), to = from + 3.0f * inPlane;
        const float* raw = working->GetBufferPointer();
        std::vector<float> dark, bright, outside, interior;
        // The lesion's level from the grown region's interior beyond the blur (more samples than
        // the seed ball, none of them mixed with a neighbour).
        for (std::size_t i = 0; i < n; ++i)
          if (r[i] && di[i] < -from && inTissue[i] && !nearOutside[i])
            interior.push_back(s[i]);
        if (interior.size() > 50)
          model.median = quantileOf(interior, 0.5);
        for (std::size_t i = 0; i < n; ++i) {
          if (r[i] || !allowed[i] || di[i] <= 0.0f)
            continue;
          if (!inTissue[i]) {
            if (di[i] <= 3.0f * inPlane && raw[i] < rawMedian)
              outside.push_back(raw[i]);
            continue;
          }
          if (di[i] <= from || di[i] > to || nearOutside[i])
            continue;
          if (s[i] < model.lower)
            dark.push_back(s[i]);
          else if (s[i] > model.upper)
            bright.push_back(s[i]);
        }
        const double gap = 4.0 * model.robustSd;
        double lower = model.lower, upper = model.upper;
        // The shell may hold several classes on one side (muscle 10 HU and bone 400 HU brighter):
        // the nearest one decides (nearestMode). No neighbour of the lesion's class on a side (a
        // mass in fat): that side is bounded by the class window only; the raw decision at the end
        // puts the border at the midpoint towards the tissue outside the class (fat, air, bone).
        const double window = 4.0 * rawSd;
        // Assigned, not a conditional expression: GCC 12 warns a conditional optional "may be used
        // uninitialized".
        std::optional<double> darkClass, brightClass;
        if (dark.size() > 20)
          darkClass = nearestMode(dark, model.lower, -1, model.robustSd);
        if (bright.size() > 20)
          brightClass = nearestMode(bright, model.upper, +1, model.robustSd);
        logDebug(
            "soft-tissue segmentation: two-class pass {}: lesion {:.2f}, darker neighbour {}, brighter neighbour {} "
            "({} / {} shell samples)",
            pass, model.median, darkClass ? fmt::format("{:.2f}", *darkClass) : "none",
            brightClass ? fmt::format("{:.2f}", *brightClass) : "none", dark.size(), bright.size());
        if (darkClass) {
          if (model.median - *darkClass > gap)
            lower = 0.5 * (model.median + *darkClass);
        } else {
          lower = std::min(lower, rawMedian - window);
        }
        brighter = brightClass;
        if (brightClass) {
          if (*brightClass - model.median > gap)
            upper = 0.5 * (model.median + *brightClass);
        } else {
          upper = std::max(upper, rawMedian + window);
        }
        if (pass == 0 && outside.size() > 20) {
          const double b = quantileOf(outside, 0.5);
          if (rawMedian - b > 4.0 * rawSd)
            fatLower = 0.5 * (rawMedian + b);
        }
        if (lower == model.lower && upper == model.upper)
          break;
        model.lower = lower;
        model.upper = upper;
        region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
      }
      return brighter;
    };
    const std::optional<double> beyond = boundByNeighbours();
    // A neighbour of nearly the lesion's level inside the first interval (hiddenNeighbourFraction):
    // the upper bound moved to the midpoint towards the next neighbour beyond it and the region
    // holds it (0.8 x 0.8 x 5 mm slices: the 2 mm average spans one slice in z, its noise widened
    // the interval over the muscle layer 5 HU brighter, +44 to +152 %). Grown again from the seed
    // sample in a narrower interval; kept when the shell then finds a brighter neighbour nearer by
    // more than half a histogram bin (the sample's SD). Otherwise the region's upper part was the
    // lesion itself above a level estimated low (2 x 2 x 4 mm slices: a 22-voxel sample 3 HU low;
    // the narrower interval found the same neighbour and leaked into the viscera).
    const double hidden = hiddenNeighbourFraction(region, s, nearOutside, model.median, model.upper);
    if (beyond && hidden > kHiddenNeighbourFraction) {
      const MaskImage::Pointer firstRegion = region;
      const IntensityModel firstModel = model;
      const double firstFatLower = fatLower;
      model.median = sampleLevel;
      model.robustSd = sampleSd;
      model.lower = sampleLevel - kHiddenRetryToleranceSd * sampleSd;
      model.upper = sampleLevel + kHiddenRetryToleranceSd * sampleSd;
      fatLower = model.lower;
      region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
      const std::optional<double> nearer = boundByNeighbours();
      if (nearer && *nearer < *beyond - 0.5 * sampleSd) {
        diag.warnings.push_back(fmt::format(
            "a neighbouring tissue of nearly the lesion's level ({:.1f} {}) lay inside the first intensity interval "
            "({:.0f} % of the region near its upper bound); the region was grown again in a narrower interval",
            *nearer, model.unit, 100.0 * hidden));
      } else {
        region = firstRegion;
        model = firstModel;
        fatLower = firstFatLower;
      }
    }
    fatLower = std::max(std::min(fatLower, model.lower), options.softTissueMinHu - 20.0);
  } else {
    // MR click: the ring is sampled around the lesion's own cell of the region (split at necks,
    // opened by one voxel only: the usual opening moves the border inwards, and the ring then
    // samples the mass's own brighter border). The first region has run into neighbouring muscle of the same T1 level,
    // and the fat around that muscle is not the lesion's neighbour (STS_002 MR, a click 12 mm
    // deep: ring 90th percentile 2.28 -> 2.15, bright bound 1.64 -> 1.57, a leak -> Dice 0.898;
    // with the opening the bound fell to 1.30-1.43 on the clicks looked at, volume to -16 %).
    MaskImage::Pointer ringOf = region;
    if (mrClick) {
      ringOf = newMask(g);
      std::copy(region->GetBufferPointer(), region->GetBufferPointer() + n, ringOf->GetBufferPointer());
      fillHoles(ringOf, g);
      keepSeedComponents(ringOf, g, sampleVoxels);
      splitAtNecks(ringOf, g, sampleVoxels, atLimit, options.neckSplitFraction, 0.0, false,
                   SplitAnchor{/*lobeCentre=*/true});
    }
    const unsigned char* r = ringOf->GetBufferPointer();
    auto dist = signedDistance(ringOf);
    std::vector<float> dark, bright;
    // The ring leaves out the first voxel layer outside the region: that layer is the border's
    // partial volume and pulled the dark median towards the lesion (MR phantom on 5 mm slices:
    // 0.848 against the muscle's 0.81-0.84, the bound above the border's mixed voxels, -5 to -8 %).
    const float inPlane = float(std::max(g.spacing.x, g.spacing.y));
    for (std::size_t i = 0; i < n; ++i) {
      if (r[i] || !allowed[i]) continue;
      const float di = dist->GetBufferPointer()[i];
      if (di > kRingInnerVoxels * inPlane && di <= kRingOuterVoxels * inPlane) {
        if (s[i] < model.lower) dark.push_back(s[i]);
        else if (s[i] > model.upper) bright.push_back(s[i]);
      }
    }
    const double gap = 4.0 * model.robustSd;
    if (dark.size() > 20) {
      const double b = quantileOf(dark, 0.5);
      // MR: the bound moves to the midpoint either way. The first interval (3 robust SD of a
      // sample that spans the lesion's blurred border) reached into the border's mix with a muscle
      // a sixth darker (LesionKit's MR phantom: bound 0.89 against the midpoint 0.92, the mass
      // +5 to +9 % at baseline). CT widens only: its one-class interval is a textured lesion's.
      if (model.median - b > gap)
        model.lower = ct ? std::min(model.lower, 0.5 * (model.median + b)) : 0.5 * (model.median + b);
    }
    if (!ct && bright.size() > 20) {
      // MR: the bright ring mixes the mass's own brighter parts with the neighbour (fat on T1);
      // its upper decile stands for the neighbour.
      const double b = quantileOf(bright, 0.9);
      if (b - model.median > gap) model.upper = std::max(model.upper, 0.5 * (model.median + b));
    }
    if (ct) model.lower = std::max(model.lower, options.softTissueMinHu - 20.0);
    darkWidened = model.lower < firstLower;
    brightWidened = model.upper > firstUpper;
    region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
  }
  // One-class CT with a box or RECIST line (whose samples span the lesion), or a core and its
  // rim (below): cut off a homogeneous brighter organ that the wide interval of a heterogeneous
  // mass also holds.
  FloatImage::Pointer organAverage; // the brighter-organ cut's soft-tissue average
  const auto cutBrighterOrgan = [&](const std::vector<std::size_t>& samples,
                                    const std::vector<std::size_t>& rimVoxels = {},
                                    std::optional<double> givenCutHu = std::nullopt) {
    const BrightNeighbourCut cut = cutBrightNeighbour(region, working, g, samples, options.brightNeighbourSmoothingMm,
                                                      options, rimVoxels, tolerance, givenCutHu);
    diag.brightNeighbourCutHu = cut.cutHu;
    diag.brightNeighbourRemovedMl = double(cut.removedVoxels) * g.voxelVolumeMm3() / 1000.0;
    organAverage = cut.average;
  };
  if (ct && !twoClass && prior.isSizePrior && options.brightNeighbourSmoothingMm > 0.0) cutBrighterOrgan(sampleVoxels);
  std::size_t grown = 0;
  for (std::size_t i = 0; i < n; ++i) grown += region->GetBufferPointer()[i];
  if (grown < 8)
    throw ProcessingError(fmt::format("soft-tissue segmentation: nothing to grow at {} (intensity interval "
                                      "{:.4g} to {:.4g} {}); place it inside the mass",
                                      samplePlaceOf(init.kind).point, model.lower, model.upper, model.unit));

  // 6. Leak control: cut at necks, keep the seed's part; fill holes.
  progress.report(0.7, "leak control");
  fillHoles(region, g);
  // Anchor what is kept on the clicked points themselves when they lie in the region: a sample
  // ball near the mass's edge may also touch a separate structure within the interval.
  const auto anchors = [&]() {
    std::vector<std::size_t> inside;
    for (std::size_t v : seedVoxels)
      if (region->GetBufferPointer()[v]) inside.push_back(v);
    return inside.empty() ? sampleVoxels : inside;
  };
  keepSeedComponents(region, g, anchors());
  // Two-class CT: the lesion's voxels left out next to fat by noise of the average come back
  // before the neck split, whose opening would otherwise eat into the lesion behind them.
  if (twoClass)
    fillLesionPockets(region);
  // 5b. Box or RECIST line, after a brighter-organ cut: the organ's slices beyond the lesion (discs cut
  // out of the organ, their border held by nothing) go as a whole. The neck opening then gives
  // back what it drops within its own radius, as for a core's rim (step 6a): the lesion's own
  // lobes, 15-25 mm wide on the GTV, while the atelectatic lung and chest wall beyond a neck stay
  // off. (A click in a necrotic core: step 6a below.)
  bool organSlicesRemoved = false;
  if (ct && prior.isSizePrior && diag.brightNeighbourCutHu && options.maxOpenSliceFraction < 1.0) {
    const std::size_t removed = stopAtOpenSlices(region, working, g, allowed, model.lower, model.upper, seedVoxels,
                                                 options.maxOpenSliceFraction);
    if (removed > 0) {
      keepSeedComponents(region, g, anchors());
      diag.openSlicesRemovedMl = double(removed) * g.voxelVolumeMm3() / 1000.0;
      organSlicesRemoved = true;
    }
  }
  NeckSplit split =
      splitAtNecks(region, g, sampleVoxels, atLimit, options.neckSplitFraction, options.neckOpeningFraction,
                   /*giveBackBorder=*/organSlicesRemoved, SplitAnchor{/*lobeCentre=*/mrClick});
  if (prior.isSizePrior)
    logDebug("soft-tissue segmentation: {}: interval {:.1f} to {:.1f} {}, organ cut {:.1f} ({:.1f} mL), organ slices "
             "{:.1f} mL, neck split at depth {:.1f} mm: {:.1f} mL removed",
             init.kind == Kind::Box ? "box" : "RECIST line", model.lower, model.upper, model.unit,
             diag.brightNeighbourCutHu.value_or(0.0), diag.brightNeighbourRemovedMl, diag.openSlicesRemovedMl,
             split.seedDepthMm, double(split.removedVoxels) * g.voxelVolumeMm3() / 1000.0);
  std::optional<RimLevel> rimLevel; // step 6a's rim, for a wider retry
  // One-class CT from a click: a click in a necrotic core grows the core only. When the shell
  // around it is mostly brighter soft tissue, the core is enclosed by a rim, which is the lesion
  // too: widen the interval to the rim's, regrow, and cut again (brighter organ at the rim's own
  // upper bound, the organ's slices as for a RECIST line, necks).
  if (ct && !twoClass && !prior.isSizePrior && options.enclosingRimFraction > 0.0) {
    EnclosingRim rim = findEnclosingRim(region, smooth, g, allowed, model, tolerance, options);
    diag.enclosingRimShellFraction = rim.brightFraction;
    if (rim.upper > model.upper) {
      // The shell only says that there is a rim: its level is read on the region regrown with
      // the shell's bound, outside the core (or kept from a narrower search of the same click).
      // The rim's bound is its own spread on the denoised image (not a midpoint towards a
      // neighbour): the boundary refinement keeps testing it there, as raw noise (SD 15-19 HU on
      // the GTV) would take the rim's brighter voxels off its border.
      const double coreUpper = model.upper;
      auto coreFilled = newMask(g);
      std::copy(region->GetBufferPointer(), region->GetBufferPointer() + n, coreFilled->GetBufferPointer());
      fillHoles(coreFilled, g);
      model.upper = keptRim ? keptRim->upper : rim.upper;
      region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
      if (keptRim) {
        rim.median = keptRim->level;
        rim.upper = keptRim->upper;
      } else if (auto grownRim = rimOfRegrownRegion(region, coreFilled, smooth, g, coreUpper, rim, options)) {
        rim = std::move(*grownRim);
        model.upper = rim.upper;
        region = growRegion(smooth, g, allowed, sampleVoxels, model.lower, model.upper);
      }
      diag.enclosingRimHu = rim.median;
      std::vector<std::size_t> samples = lesionSample;
      samples.insert(samples.end(), rim.voxels.begin(), rim.voxels.end());
      if (options.brightNeighbourSmoothingMm > 0.0)
        cutBrighterOrgan(samples, rim.voxels, keptRim ? keptRim->cutHu : std::nullopt);
      rimLevel = RimLevel{rim.median, rim.upper, diag.brightNeighbourCutHu};
      fillHoles(region, g);
      keepSeedComponents(region, g, anchors());
      // The cut is a bound, not a border: the organ's slices below or above the lesion stay
      // joined to it over the whole slice and go as a whole. The opening stays as it is (a
      // gentler one lets the rest of the organ run into the search sphere), but what it drops
      // within its own radius of what it keeps comes back: the rim's bays and pores (its
      // brightest parts lie above the interval and the cut), where the ball does not fit.
      if (diag.brightNeighbourCutHu && options.maxOpenSliceFraction < 1.0) {
        const std::size_t removed = stopAtOpenSlices(region, working, g, allowed, model.lower, model.upper, seedVoxels,
                                                     options.maxOpenSliceFraction, false);
        keepSeedComponents(region, g, anchors());
        diag.openSlicesRemovedMl = double(removed) * g.voxelVolumeMm3() / 1000.0;
      }
      // The rim's wider interval may reach a neighbouring organ: parts that run into the search
      // sphere's rim are leaks (the checks below refuse a region there).
      for (std::size_t i = 0; i < n; ++i) atLimit[i] = atLimit[i] || rho[i] > 0.9;
      // The necks' radii scale with the depth of the split's seeds: the click's own depth followed
      // where it landed (GTV: 12-21 mm for clicks 20-29 mm deep in the expert mask). The core's
      // filled region lies inside the lesion wherever the click is (the organ lies above the
      // core's interval): its deepest voxel joins the seeds.
      split = splitAtNecks(region, g, sampleVoxels, atLimit, options.neckSplitFraction, options.neckOpeningFraction,
                           /*giveBackBorder=*/true, SplitAnchor{/*lobeCentre=*/false, coreFilled});
      logDebug("soft-tissue segmentation: rim (search {:.0f} mm): shell {:.2f} bright, core bound {:.1f} HU, rim "
               "level {:.1f} HU, bound {:.1f} HU, organ cut {:.1f} HU ({:.1f} mL), organ slices {:.1f} mL, neck "
               "split at depth {:.1f} mm: {:.1f} mL removed",
               2 * prior.radiusMm, rim.brightFraction, coreUpper, rim.median, rim.upper,
               diag.brightNeighbourCutHu.value_or(0.0), diag.brightNeighbourRemovedMl, diag.openSlicesRemovedMl,
               split.seedDepthMm, double(split.removedVoxels) * g.voxelVolumeMm3() / 1000.0);
    }
  }
  diag.seedDepthMm = split.seedDepthMm;
  diag.neckErosionMm = split.erosionMm;
  diag.componentsSplitOff = split.componentsSplitOff;
  diag.leakRemovedMl = double(split.removedVoxels) * g.voxelVolumeMm3() / 1000.0;

  // 7. Boundary refinement: denoising moves convex edges inwards (curvature flow, median), so
  // within one voxel of the boundary re-decide on the undenoised intensities against the
  // midpoint bounds; bounds that were not widened to a midpoint (and the rim's bound of step 6a)
  // keep the denoised test.
  {
    auto dist = signedDistance(region);
    const float* d = dist->GetBufferPointer();
    const float* raw = working->GetBufferPointer();
    // Two-class CT: the averaged image has no inward bias; only one in-plane voxel is re-decided
    // (the cut made at necks is not grown back), and a voxel is added only when its own value
    // agrees with its neighbourhood's average (both inside the interval).
    const float wideBand = float(std::max({g.spacing.x, g.spacing.y, g.spacing.z}) + 1e-3);
    const float band = twoClass ? float(std::min(g.spacing.x, g.spacing.y) + 1e-3) : wideBand;
    unsigned char* m = region->GetBufferPointer();
    for (std::size_t i = 0; i < n; ++i) {
      if (twoClass) {
        // Inside the lesion's class the averaged image decides; next to tissue outside it (partial
        // volume with fat, air or bone, where the average is a mixture) the raw value against the
        // midpoint towards that tissue, over the same band as the one-class refinement.
        // Within one sigma of such tissue the average is pulled towards it: there the raw value
        // decides that side and the average the other.
        const bool inClass = inTissue[i] && !tissueEdge[i];
        if (std::abs(d[i]) > (inClass ? band : wideBand) || !allowed[i]) continue;
        if (!inClass) m[i] = raw[i] >= fatLower && raw[i] <= rawMedian + 4.0 * rawSd;
        else if (nearOutside[i]) m[i] = raw[i] >= fatLower && s[i] <= model.upper;
        else m[i] = s[i] >= model.lower && s[i] <= model.upper &&
                    (m[i] || (raw[i] >= model.lower && raw[i] <= model.upper));
        continue;
      }
      if (std::abs(d[i]) > band || !allowed[i]) continue;
      const bool darkOk = darkWidened ? raw[i] >= model.lower : s[i] >= model.lower;
      const bool brightOk = brightWidened ? raw[i] <= model.upper : s[i] <= model.upper;
      m[i] = darkOk && brightOk ? 1 : 0;
    }
    keepSeedComponents(region, g, anchors());
    // One layer of voxels just outside the region (decided all at once, off the limits, where a
    // region is judged a leak).
    const auto addLayer = [&](auto&& belongs) {
      std::vector<std::size_t> layer;
      for (std::size_t i = 0; i < n; ++i)
        if (!m[i] && allowed[i] && !atLimit[i] && belongs(i))
          layer.push_back(i);
      for (std::size_t i : layer)
        m[i] = 1;
    };
    // One-class CT: the partial-volume layer at a border with lung or air (one layer: each voxel
    // is judged against its own darkest neighbour, so it does not walk into a density gradient).
    if (ct && !twoClass)
      addLayer([&](std::size_t i) { return s[i] <= model.upper && mostlyLesionNextToAir(raw, m, g, i, model.median); });
    // A core's rim (step 6a): its brightest voxels lie above the rim's bound, which is a spread,
    // not a border. Where the neighbourhood is at the rim's level (the 5 mm average at or below
    // the brighter-organ cut), the voxel touching the region is the rim's bright texture, not the
    // organ.
    if (diag.enclosingRimHu && diag.brightNeighbourCutHu && organAverage) {
      const float* a = organAverage->GetBufferPointer();
      addLayer([&](std::size_t i) {
        return raw[i] > model.upper && raw[i] <= options.softTissueMaxHu && a[i] <= *diag.brightNeighbourCutHu &&
               touchesRegion(m, g, i);
      });
    }
  }
  fillHoles(region, g);

  // 8. Plausibility: a result held by the crop edge or by the size prior is a leak.
  progress.report(0.9, "checks");
  const unsigned char* r = region->GetBufferPointer();
  std::size_t count = 0, boundary = 0, atPrior = 0, atSearchRim = 0;
  bool touchesCropEdge = false, touchesImageBorder = false;
  Vec3 lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300}, sum{};
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const std::size_t v = g.linearIndex(i, j, k);
        if (!r[v]) continue;
        ++count;
        const Vec3 p = g.indexToPoint(i, j, k);
        sum += p;
        for (int a = 0; a < 3; ++a) {
          lo[a] = std::min(lo[a], p[a]);
          hi[a] = std::max(hi[a], p[a]);
        }
        const std::array<std::size_t, 3> idx{i, j, k};
        bool edge = false;
        for (int a = 0; a < 3; ++a) {
          const bool first = idx[a] == 0, last = idx[a] + 1 == g.size[a];
          if (first || last) {
            edge = true;
            const bool imageEdge = (first && box.begin[a] == 0) || (last && std::size_t(box.end[a]) == grid.size[a]);
            if (imageEdge) touchesImageBorder = true;
            else touchesCropEdge = true;
          }
        }
        if (!edge) {
          const std::size_t stride[3] = {1, g.size[0], g.size[0] * g.size[1]};
          for (int a = 0; a < 3 && !edge; ++a) edge = !r[v - stride[a]] || !r[v + stride[a]];
        }
        if (edge) {
          ++boundary;
          if (rho[v] > 0.9) ++atPrior;
          if (rho[v] > 0.97)
            ++atSearchRim;
        }
      }
  if (count == 0) throw ProcessingError("soft-tissue segmentation: the mask vanished during leak control");
  diag.priorContactFraction = boundary ? double(atPrior) / double(boundary) : 0.0;
  const double volumeMl = double(count) * g.voxelVolumeMm3() / 1000.0;
  const Vec3 extent = hi - lo;
  const double widest = std::max({extent.x, extent.y, extent.z});
  // A region grown over a core's rim that the checks refuse is retried without the rim (the
  // core alone), except at the small search sphere, which is widened first.
  try {
    // A mask cut by the edge of the scan cannot be measured either (RECIST wants the whole lesion).
    if (!prior.isSizePrior) {
      bool atRim = false;
      for (std::size_t i = 0; i < n && !atRim; ++i) atRim = r[i] && rho[i] > 0.97;
      if (atRim)
        throw SearchLimitReached(
            fmt::format(
                "soft-tissue segmentation: leak — the region ({:.1f} mL, intensities {:.4g} to {:.4g} {}) reaches the "
                "edge of the {:.0f} mm search sphere around {} and could not be cut off; try a box or a RECIST line",
                volumeMl, model.lower, model.upper, model.unit, 2.0 * prior.radiusMm, formatPoint(prior.centre)),
            double(atSearchRim) / double(boundary), sum / double(count));
    }
    if (touchesCropEdge || touchesImageBorder)
      throw ProcessingError(fmt::format("soft-tissue segmentation: leak — the region ({:.1f} mL, intensities {:.4g} to "
                                        "{:.4g} {}) reaches the edge of the {} around {} and could not be cut off; try a "
                                        "box or a RECIST line",
                                        volumeMl, model.lower, model.upper, model.unit,
                                        touchesCropEdge ? "search region" : "scan", formatPoint(prior.centre)));
    if (prior.isSizePrior && diag.priorContactFraction > options.maxPriorContactFraction)
      throw ProcessingError(fmt::format(
          "soft-tissue segmentation: leak — {:.0f} % of the boundary is held only by the size prior of the {} "
          "(the mass does not stand out from its surroundings there)",
          100.0 * diag.priorContactFraction, init.kind == Kind::Box ? "box" : "RECIST line"));
    // A click's region over the diameter limit by less than the wider search's growth is a mass a
    // little over the limit as much as one that reaches the sphere (GTV: 101 mm of a 103 mm tumour).
    if (!prior.isSizePrior && widest > options.maxDiameterMm && widest <= kSearchGrowth * options.maxDiameterMm)
      throw SearchLimitReached(
          fmt::format("soft-tissue segmentation: leak — the region is {:.0f} mm wide, more than the "
                      "{:.0f} mm allowed for a mass",
                      widest, options.maxDiameterMm),
          0.0, sum / double(count));
    if (!prior.isSizePrior && widest > options.maxDiameterMm)
      throw ProcessingError(fmt::format("soft-tissue segmentation: leak — the region is {:.0f} mm wide, more than the "
                                        "{:.0f} mm allowed for a mass", widest, options.maxDiameterMm));
  } catch (const ProcessingError& e) {
    if (diag.enclosingRimHu) {
      const auto* limit = dynamic_cast<const SearchLimitReached*>(&e);
      throw EnclosingRimRefused(e.what(), limit, rimLevel);
    }
    throw;
  }
  if (diag.componentsSplitOff > 0)
    diag.warnings.push_back(fmt::format("cut off {} neighbouring structure(s) of similar intensity ({:.1f} mL)",
                                        diag.componentsSplitOff, diag.leakRemovedMl));
  for (const std::string& w : diag.warnings) logWarning("soft-tissue segmentation: {}", w);

  // 8a. Once the checks have judged the mask as decided (a leak must be refused, not smoothed or
  // fitted away): two-class CT's border as one surface fitted on the raw voxels, else the border
  // smoothed at about the same volume.
  bool surfaceFitted = false;
  if (twoClass && options.fitBorderSurface)
    if (const auto fitted = fitBorderSurface(region, working, g, allowed, atLimit, anchors(), count, options, diag)) {
      count = *fitted;
      surfaceFitted = true;
    }
  if (options.borderSmoothingMm > 0.0 && !surfaceFitted) {
    const float* value = smooth->GetBufferPointer();
    std::vector<char> candidates(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      candidates[i] = allowed[i] && !atLimit[i] && value[i] >= model.lower && value[i] <= model.upper;
    if (const auto smoothed =
            smoothBorderKeepingVolume(region, count, g, options.borderSmoothingMm, candidates, anchors()))
      count = *smoothed;
    else
      logDebug("soft-tissue segmentation: border not smoothed (it would lose the seeds or change the volume)");
  }

  if (init.kind == Kind::Seeds && prior.seeds.size() > 1)
    requireSeedsInOnePiece(region, g, prior.seeds, prior.sampleRadiusMm);

  // 9. Back onto the input grid.
  result.labels = LabelMap(grid, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (r[g.linearIndex(i, j, k)])
          result.labels.voxels[grid.linearIndex(box.begin[0] + i, box.begin[1] + j, box.begin[2] + k)] =
              options.labelValue;
  result.voxelCount = count;
  result.volumeMl = double(count) * g.voxelVolumeMm3() / 1000.0;
  progress.report(1.0, "done");
  return result;
}

/// A warning about the result as a whole, found after the pipeline (which says its own as it finds
/// them): kept in the diagnostics and said now, as those are.
void warnAbout(SegmentationResult& result, std::string warning) {
  logWarning("soft-tissue segmentation: {}", warning);
  result.diagnostics.warnings.push_back(std::move(warning));
}

} // namespace

SegmentationResult segmentSoftTissueMass(const Volume& volume, const SoftTissueInit& init,
                                         const SoftTissueOptions& options, Progress progress) {
  volume.geometry.validate("soft-tissue segmentation input volume");
  if (volume.voxels.size() != volume.geometry.voxelCount())
    throw InputError("soft-tissue segmentation: the volume's voxel buffer does not match its grid");
  // The Gaussian smoothing of the intensity model needs four voxels along each axis (a 3D scan).
  if (const auto& n = volume.geometry.size; std::min({n[0], n[1], n[2]}) < 4)
    throw InputError(fmt::format("soft-tissue segmentation needs a 3D scan of at least 4 voxels along each axis, "
                                 "found {} x {} x {}",
                                 n[0], n[1], n[2]));
  const Prior prior = makePrior(init, options, volume.geometry);
  for (const Vec3& s : prior.seeds) {
    if (!volume.geometry.containsPoint(s))
      throw InputError(fmt::format("soft-tissue segmentation: {} {} (LPS mm) lies outside the volume; check the "
                                   "coordinate system (LPS by default, --ras flips x and y)",
                                   init.kind == Kind::Box      ? "the box's centre"
                                   : init.kind == Kind::Recist ? "a point of the RECIST line's middle"
                                                               : "the seed",
                                   formatPoint(s)));
  }
  const Modality modality = resolveModality(volume, options.modality);
  if (prior.isSizePrior) return runPipeline(volume, init, options, progress, prior, modality);
  // Seeds only: most masses are a few centimetres, so search a small sphere first (cost grows
  // with its volume) and only widen it when the region runs into its rim.
  // It holds every seed's sample ball: seeds far from their mean (most of them on one side) lay
  // outside its crop, and their voxels were read off it.
  double seedsReachMm = 0.0;
  for (const Vec3& s : prior.seeds)
    seedsReachMm = std::max(seedsReachMm, distance(s, prior.centre) + prior.sampleRadiusMm + 5.0);
  Prior small = prior;
  small.radiusMm = std::min(prior.radiusMm, std::max(0.5 * prior.radiusMm + 5.0, seedsReachMm));
  const auto search = [&](const SoftTissueOptions& o) {
    if (small.radiusMm < prior.radiusMm) {
      try {
        return runPipeline(volume, init, o, progress.sub(0.0, 0.5), small, modality);
      } catch (const SearchLimitReached&) {
      } catch (const EnclosingRimRefused& e) {
        if (!e.atSearchLimit) throw;
      }
      logDebug("soft-tissue segmentation: widening the search from {:.0f} to {:.0f} mm", 2 * small.radiusMm,
               2 * prior.radiusMm);
    }
    // A region that reaches the full sphere on a small part of its border only (held by contrast
    // elsewhere), or stops inside it a little over the diameter limit, may be a mass a little over
    // the size limit rather than a leak: one search in a
    // sphere 1.1 x wider (diameter limit too), kept only when the region stops inside it on its
    // own; a leak runs on into the wider sphere and is refused as before.
    std::optional<double> contact;
    Vec3 regionCentre{};
    std::optional<RimLevel> rim; // kept by the wider search: it only lets the lesion finish growing
    // Several seeds: the sphere spans them already (radius + their spread), and a wider one let a
    // seed in the neighbouring muscle keep a leak that this seed alone is refused for.
    const bool mayWiden = o.maxSearchContactFraction > 0.0 && prior.seeds.size() == 1;
    try {
      return runPipeline(volume, init, o, progress.sub(0.5, 0.8), prior, modality);
    } catch (const SearchLimitReached& e) {
      if (prior.seeds.size() > 1)
        throw ProcessingError(fmt::format("{}; with several seeds, check that every seed lies inside the mass (one in "
                                          "a neighbouring muscle or organ lets the region grow into it)",
                                          e.what()));
      contact = e.contactFraction;
      regionCentre = e.regionCentre;
      if (!mayWiden || e.contactFraction > o.maxSearchContactFraction)
        throw;
    } catch (const EnclosingRimRefused& e) {
      if (!mayWiden || !e.atSearchLimit || e.contactFraction > o.maxSearchContactFraction)
        throw;
      contact = e.contactFraction;
      regionCentre = e.regionCentre;
      rim = e.rim;
    }
    Prior wider = prior;
    wider.radiusMm *= kSearchGrowth;
    // Centred on the refused region, not on the click: a click off the lesion's centre puts its
    // far side beyond any sphere of the size limit around the click (GTV: clicks 20-29 mm deep
    // have expert voxels up to 65-82 mm away). The clicks stay off the sphere's outer tenth.
    wider.centre = regionCentre;
    for (const Vec3& seed : prior.seeds)
      if (wider.rho(seed) > 0.9)
        wider.centre = prior.centre;
    SoftTissueOptions widerOptions = o;
    widerOptions.maxDiameterMm *= kSearchGrowth;
    logDebug("soft-tissue segmentation: the region reaches the {:.0f} mm search's limits (the sphere on {:.0f} % of "
             "its border); searching {:.0f} mm around {}",
             2 * prior.radiusMm, 100 * *contact, 2 * wider.radiusMm, formatPoint(wider.centre));
    SegmentationResult result = runPipeline(volume, init, widerOptions, progress.sub(0.8, 1.0), wider, modality, rim);
    warnAbout(result, fmt::format("the region reached the limits of the {:.0f} mm search sphere (--max-diameter-mm "
                                  "{:.0f}) but stopped within a {:.0f} mm one around its centre and was kept: check "
                                  "that it is one mass",
                                  2 * prior.radiusMm, o.maxDiameterMm, 2 * wider.radiusMm));
    return result;
  };
  try {
    return search(options);
  } catch (const EnclosingRimRefused& e) {
    // The core's rim took the region too far (a neighbouring organ, or a mass over the size
    // limit): the core alone.
    logDebug("soft-tissue segmentation: {}; segmenting without the enclosing rim", e.what());
    SoftTissueOptions coreOnly = options;
    coreOnly.enclosingRimFraction = 0.0;
    SegmentationResult result = search(coreOnly);
    warnAbout(result, fmt::format("the seed lies in a core enclosed by a brighter rim, but the region with the rim "
                                  "was refused ({}); only the core is segmented",
                                  e.what()));
    return result;
  }
}

} // namespace lesion::segmentation
