// FollowupMaskMethod::BaselineModel: the follow-up mask of a lesion from what its baseline
// gives, a two-class intensity model (lesion under the baseline mask vs the tissue around it)
// applied around the mapped mask, with region competition (Potts prior, iterated conditional
// modes; Besag 1986, doi:10.1111/j.2517-6161.1986.tb01412.x) started from the mapped mask.
#include "BaselineModelMask.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include "lesion/core/Error.h"
#include "lesion/core/ItkBridge.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/longitudinal/Resampling.h"

#include "TrackingUtilities.h"

namespace lesion::longitudinal::detail {

namespace {

using Mask = Image<std::uint8_t>;

/// A scan cropped around a lesion mask, the mask on the crop and its signed distance (mm,
/// negative inside) to the mask with its in-plane holes filled.
struct LesionCrop {
  Volume image;
  Mask mask;
  Mask filled;
  std::vector<float> distanceMm;
};

std::vector<float> signedDistanceMm(const Mask& inside) {
  using Filter = itk::SignedMaurerDistanceMapImageFilter<itkbridge::ItkImage<std::uint8_t>, itkbridge::ItkImage<float>>;
  auto filter = Filter::New();
  filter->SetInput(itkbridge::toItk(inside));
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(false);
  filter->SetBackgroundValue(0);
  filter->Update();
  const float* d = filter->GetOutput()->GetBufferPointer();
  return {d, d + inside.voxels.size()};
}

/// The mask with the holes of each axial slice (index k) filled: pixels the slice's border
/// cannot reach without crossing the mask. In-plane, because on thick slices a necrotic core
/// is often open through its first and last slice.
Mask inPlaneHolesFilled(const Mask& mask) {
  const ImageGeometry& g = mask.geometry;
  Mask out = mask;
  std::vector<std::uint8_t> reached(g.size[0] * g.size[1]);
  std::vector<std::size_t> stack;
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    std::fill(reached.begin(), reached.end(), 0);
    auto visit = [&](long i, long j) {
      if (i < 0 || j < 0 || std::size_t(i) >= g.size[0] || std::size_t(j) >= g.size[1])
        return;
      const std::size_t p = std::size_t(i) + g.size[0] * std::size_t(j);
      if (reached[p] || mask.at(std::size_t(i), std::size_t(j), k))
        return;
      reached[p] = 1;
      stack.push_back(p);
    };
    for (long i = 0; i < long(g.size[0]); ++i) {
      visit(i, 0);
      visit(i, long(g.size[1]) - 1);
    }
    for (long j = 0; j < long(g.size[1]); ++j) {
      visit(0, j);
      visit(long(g.size[0]) - 1, j);
    }
    while (!stack.empty()) {
      const std::size_t p = stack.back();
      stack.pop_back();
      const long i = long(p % g.size[0]), j = long(p / g.size[0]);
      visit(i - 1, j);
      visit(i + 1, j);
      visit(i, j - 1);
      visit(i, j + 1);
    }
    for (std::size_t p = 0; p < reached.size(); ++p)
      if (!reached[p])
        out.voxels[p + k * reached.size()] = 1;
  }
  return out;
}

LesionCrop cropAround(const Volume& image, const LabelMap& labels, std::uint16_t label, double marginMm) {
  const Vec3 s = image.geometry.spacing;
  const RegionOfInterest box = regionAroundLabels(labels, {label}, marginMm + 2.0 * std::max({s.x, s.y, s.z}));
  const ImageGeometry grid = cropGrid(image.geometry, box.minimum, box.maximum);
  LesionCrop c;
  c.image = cropImage(image, grid);
  const LabelMap cropped = cropImage(labels, grid);
  c.mask = Mask(grid, 0);
  for (std::size_t n = 0; n < cropped.voxels.size(); ++n)
    c.mask.voxels[n] = cropped.voxels[n] == label;
  c.filled = inPlaneHolesFilled(c.mask);
  c.distanceMm = signedDistanceMm(c.filled);
  return c;
}

/// Intensity → 0 at the tissue around the lesion, 1 at the lesion's bright part: MR scans differ
/// by gain and offset, and the lesion's enhancement relative to its surroundings changes with
/// the contrast timing (BrainTumorProgression 01: rim / brain 1.51 before, 1.34 after). Identity
/// on CT, whose units are calibrated.
struct Normaliser {
  double median{0.0};
  double scale{1.0};
  [[nodiscard]] double operator()(float v) const { return (double(v) - median) / scale; }
};

/// Intensities of the shell (innerMm, outerMm] around the crop's mask: the tissue around the lesion.
std::vector<float> shellValues(const LesionCrop& c, const BaselineModelOptions& o) {
  std::vector<float> shell;
  for (std::size_t n = 0; n < c.distanceMm.size(); ++n)
    if (c.distanceMm[n] > o.shellInnerMm && c.distanceMm[n] <= o.shellOuterMm)
      shell.push_back(c.image.voxels[n]);
  if (shell.empty())
    throw ProcessingError("baseline model: no tissue around the lesion in the scan");
  return shell;
}

/// The bright level: the `brightFraction` upper quantile of the voxels within `bandMm` of the
/// crop's mask, the mask included.
double brightLevel(const LesionCrop& c, const BaselineModelOptions& o, double bandMm) {
  std::vector<float> band;
  for (std::size_t n = 0; n < c.distanceMm.size(); ++n)
    if (c.distanceMm[n] <= bandMm)
      band.push_back(c.image.voxels[n]);
  if (band.empty())
    throw ProcessingError("baseline model: no tissue around the lesion in the scan");
  return quantileOf(std::move(band), 1.0 - o.brightFraction);
}

/// The median of the shell around the crop's mask (0) and the bright level (1).
Normaliser twoLevelNormaliser(const RobustSpread& shell, double bright) {
  if (!(bright > shell.median))
    throw ProcessingError("baseline model: nothing around the lesion is brighter than its surroundings");
  return {shell.median, bright - shell.median};
}

/// The follow-up's normaliser: its own two levels while its bright level is lesion signal (stands
/// above the shell median, in robust SDs of the shell, at least minContrastFraction as far as the
/// baseline's). Otherwise (the lesion shrank below brightFraction of the band, or is gone, and the
/// bright level is background texture) the baseline's scale, carried over by the ratio of the
/// shells' robust SDs (the scan's gain), so background noise is not stretched to the lesion's range.
Normaliser followupNormaliser(const RobustSpread& shellBefore, const Normaliser& baseline, const RobustSpread& shell,
                              double bright, const BaselineModelOptions& o) {
  const double sdBefore = std::max(shellBefore.sd, 1e-6);
  const double sdAfter = std::max(shell.sd, 1e-6);
  if ((bright - shell.median) / sdAfter >= o.minContrastFraction * baseline.scale / sdBefore)
    return {shell.median, bright - shell.median};
  return {shell.median, baseline.scale * sdAfter / sdBefore};
}

std::size_t countOn(const Mask& m) { return std::size_t(std::count(m.voxels.begin(), m.voxels.end(), 1)); }

/// Contrast-to-noise ratio of a region of the crop: its median intensity above the shell's median,
/// in robust SDs of the shell, so a scan's gain and offset leave it unchanged.
double contrastToNoise(const LesionCrop& c, const Mask& region, const RobustSpread& shell) {
  std::vector<float> inside;
  for (std::size_t n = 0; n < region.voxels.size(); ++n)
    if (region.voxels[n])
      inside.push_back(c.image.voxels[n]);
  return (quantileOf(std::move(inside), 0.5) - shell.median) / std::max(shell.sd, 1e-6);
}

/// Why the region `kept` of the follow-up crop is no lesion (empty when it is one): nothing, fewer
/// voxels than a measurable lesion has, or (MR) no lesion-class signal: its contrast-to-noise ratio,
/// unlike the normalised intensities the model saw, compares with the baseline lesion's. The
/// shells' spreads are given on MR only (arbitrary units).
std::string whyNoLesion(const LesionCrop& before, const LesionCrop& after, const Mask& kept,
                        const BaselineModelOptions& o, const std::optional<RobustSpread>& shellBefore,
                        const std::optional<RobustSpread>& shellAfter) {
  const std::size_t voxels = countOn(kept);
  if (voxels == 0)
    return fmt::format("the baseline model finds no lesion-like tissue within {:.0f} mm of the mapped mask", o.bandMm);
  if (voxels < o.minVoxels)
    return fmt::format("the baseline model finds only {} voxel(s) of lesion-like tissue (fewer than {}: not "
                       "measurable)",
                       voxels, o.minVoxels);
  if (!shellBefore || !shellAfter)
    return {};
  const double baselineContrast = contrastToNoise(before, before.mask, *shellBefore);
  const double followupContrast = contrastToNoise(after, kept, *shellAfter);
  if (followupContrast >= o.minContrastFraction * baselineContrast)
    return {};
  return fmt::format("the baseline model's lesion-like region ({} voxels) stands {:.2f} robust SDs above the "
                     "tissue around it, the baseline lesion {:.2f} (below {:.0f} %: no lesion signal left)",
                     voxels, followupContrast, baselineContrast, 100.0 * o.minContrastFraction);
}

/// Log-likelihood ratio lesion : surroundings of a normalised intensity, from smoothed histograms.
class IntensityModel {
public:
  IntensityModel(const std::vector<double>& lesion, const std::vector<double>& surroundings) {
    std::vector<float> all(lesion.begin(), lesion.end());
    all.insert(all.end(), surroundings.begin(), surroundings.end());
    m_lo = quantileOf(all, 0.005);
    const double hi = quantileOf(all, 0.995);
    m_width = std::max(hi - m_lo, 1e-6) / double(kBins);
    const std::vector<double> pl = density(lesion), ps = density(surroundings);
    m_llr.resize(kBins);
    for (std::size_t b = 0; b < kBins; ++b)
      m_llr[b] = std::clamp(std::log(pl[b] / ps[b]), -kClamp, kClamp);
  }
  /// Interpolated between bin centres, so a bias moves the boundary continuously.
  [[nodiscard]] double logRatio(double z) const {
    const double x = std::clamp((z - m_lo) / m_width - 0.5, 0.0, double(kBins - 1));
    const auto b = std::min(std::size_t(x), kBins - 2);
    const double f = x - double(b);
    return (1.0 - f) * m_llr[b] + f * m_llr[b + 1];
  }

private:
  static constexpr std::size_t kBins = 128;
  static constexpr double kClamp = 4.0;
  [[nodiscard]] std::size_t binOf(double z) const {
    return std::size_t(std::clamp(long(std::floor((z - m_lo) / m_width)), 0L, long(kBins) - 1));
  }
  /// Histogram smoothed by a Gaussian of Silverman's bandwidth, with a floor so no bin is impossible.
  [[nodiscard]] std::vector<double> density(const std::vector<double>& values) const {
    std::vector<double> counts(kBins, 0.0);
    for (double z : values)
      counts[binOf(z)] += 1.0;
    std::vector<float> v(values.begin(), values.end());
    const double iqr = quantileOf(v, 0.75) - quantileOf(v, 0.25);
    const double bandwidth = 0.9 * std::max(iqr / 1.34, m_width) * std::pow(double(values.size()), -0.2);
    const double sigma = std::max(1.0, bandwidth / m_width);
    std::vector<double> out(kBins, 0.0);
    double total = 0.0;
    for (std::size_t b = 0; b < kBins; ++b) {
      for (std::size_t a = 0; a < kBins; ++a) {
        const double d = (double(a) - double(b)) / sigma;
        out[b] += counts[a] * std::exp(-0.5 * d * d);
      }
      total += out[b];
    }
    for (double& p : out)
      p = (p + 1e-3 * total / kBins) / (1.001 * total);
    return out;
  }
  double m_lo{0.0};
  double m_width{1.0};
  std::vector<double> m_llr;
};

/// Voxels of the 6-connected component of `on` that overlaps `reference` most (0 elsewhere).
Mask largestOverlap(const Mask& on, const Mask& reference) {
  const Components c = heaviestComponent(
      on.geometry, [&](std::size_t n) { return on.voxels[n] != 0; },
      [&](std::size_t n) { return std::size_t(reference.voxels[n]); });
  Mask out(on.geometry, 0);
  for (std::size_t n = 0; n < out.voxels.size(); ++n)
    out.voxels[n] = c.heaviest >= 0 && c.id[n] == c.heaviest;
  return out;
}

/// Per crop voxel: log-odds lesion : surroundings of its intensity, plus `bias`.
std::vector<double> lesionLogOdds(const LesionCrop& c, const IntensityModel& model, const Normaliser& normalise,
                                  double bias = 0.0) {
  std::vector<double> logOdds(c.image.voxels.size());
  for (std::size_t n = 0; n < logOdds.size(); ++n)
    logOdds[n] = model.logRatio(normalise(c.image.voxels[n])) + bias;
  return logOdds;
}

/// Region competition within `bandMm` of the crop's mask: from each voxel's own best class, each
/// voxel takes the class its log-odds (+ bias) and its face neighbours' classes favour, until no
/// voxel changes. Then the 6-connected part that overlaps the mask most.
Mask competeRegions(const LesionCrop& c, const std::vector<double>& logOdds, double bias, double bandMm,
                    double smoothness) {
  const ImageGeometry& g = c.image.geometry;
  Mask lesion(g, 0);
  for (std::size_t n = 0; n < logOdds.size(); ++n)
    lesion.voxels[n] = c.distanceMm[n] <= bandMm && logOdds[n] + bias > 0.0;
  for (int sweep = 0; sweep < 50; ++sweep) {
    std::size_t changed = 0;
    for (std::size_t n = 0; n < logOdds.size(); ++n) {
      if (c.distanceMm[n] > bandMm)
        continue;
      double vote = logOdds[n] + bias;
      forEachFaceNeighbour(g, n, [&](std::size_t m) { vote += smoothness * (lesion.voxels[m] ? 1.0 : -1.0); });
      const std::uint8_t now = vote > 0.0;
      changed += now != lesion.voxels[n];
      lesion.voxels[n] = now;
    }
    if (changed == 0)
      break;
  }
  return largestOverlap(lesion, c.filled);
}

/// The bias that makes region competition on the baseline give the baseline mask's volume: the
/// reader's boundary, in the model's terms (bisection; the volume grows with the bias).
double calibratedBias(const LesionCrop& before, const std::vector<double>& logOdds, double bandMm, double smoothness,
                      bool fillHoles) {
  const double target = double(countOn(before.mask));
  double lo = -3.0, hi = 3.0;
  for (int step = 0; step < 14; ++step) {
    const double mid = 0.5 * (lo + hi);
    Mask m = competeRegions(before, logOdds, mid, bandMm, smoothness);
    if (fillHoles)
      m = inPlaneHolesFilled(m);
    (double(countOn(m)) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

} // namespace

LabelMap baselineModelMask(const Volume& baseline, const LabelMap& lesions, const Volume& followup,
                           const LabelMap& mapped, std::uint16_t label, const BaselineModelOptions& options,
                           bool arbitraryUnits, BaselineModelReport* report) {
  const double bandMm = options.bandMm, cropMarginMm = std::max(bandMm, options.shellOuterMm);
  // The model, on the baseline: the lesion under its mask, the surroundings within the band
  // (the necrotic core of a mask that leaves it out counts as surroundings).
  const LesionCrop before = cropAround(baseline, lesions, label, cropMarginMm);
  // MR: each scan's shell spread, computed once for the normalisers and the lesion-signal check.
  std::optional<RobustSpread> shellBefore, shellAfter;
  if (arbitraryUnits)
    shellBefore = robustSpreadOf(shellValues(before, options));
  const Normaliser normaliseBefore =
      shellBefore ? twoLevelNormaliser(*shellBefore, brightLevel(before, options, bandMm)) : Normaliser{};
  std::vector<double> lesionValues, surroundingValues;
  for (std::size_t n = 0; n < before.mask.voxels.size(); ++n) {
    if (before.mask.voxels[n])
      lesionValues.push_back(normaliseBefore(before.image.voxels[n]));
    else if (before.distanceMm[n] <= bandMm)
      surroundingValues.push_back(normaliseBefore(before.image.voxels[n]));
  }
  if (lesionValues.size() < 20 || surroundingValues.size() < 20)
    throw ProcessingError("baseline model: too few baseline voxels in the lesion or around it");
  const IntensityModel model(lesionValues, surroundingValues);
  const std::size_t baselineVoxels = countOn(before.mask);
  const double holeFraction = double(countOn(before.filled) - baselineVoxels) / double(baselineVoxels);
  const bool fillHoles = holeFraction < 0.02; // the baseline mask is solid: so is the follow-up's
  const double bias =
      calibratedBias(before, lesionLogOdds(before, model, normaliseBefore), bandMm, options.smoothness, fillHoles);

  // The follow-up: the same model and threshold within the band around the mapped mask.
  const LesionCrop after = cropAround(followup, mapped, label, cropMarginMm);
  if (arbitraryUnits)
    shellAfter = robustSpreadOf(shellValues(after, options));
  const Normaliser normaliseAfter = shellAfter ? followupNormaliser(*shellBefore, normaliseBefore, *shellAfter,
                                                                    brightLevel(after, options, bandMm), options)
                                               : Normaliser{};
  const std::vector<double> logOdds = lesionLogOdds(after, model, normaliseAfter, bias);
  Mask kept = competeRegions(after, logOdds, 0.0, bandMm, options.smoothness);
  const std::string gone = whyNoLesion(before, after, kept, options, shellBefore, shellAfter);
  if (report)
    *report = {baselineVoxels, holeFraction, bias, gone};
  if (!gone.empty())
    return LabelMap(followup.geometry, 0);

  // Leak check: the lesion's surface continuing as lesion-like tissue past the band.
  const ImageGeometry& g = after.image.geometry;
  const double leakingFraction = leakingSurfaceFraction(
      g, [&](std::size_t n) { return kept.voxels[n] != 0; },
      [&](std::size_t m) { return after.distanceMm[m] > bandMm && logOdds[m] > 0.0; });
  if (leakingFraction > 0.05)
    throw ProcessingError(fmt::format("baseline model: {:.0f} % of the lesion's surface continues as lesion-like "
                                      "tissue beyond {:.0f} mm of the mapped mask (a touching structure or growth "
                                      "beyond it)",
                                      100.0 * leakingFraction, bandMm));
  if (fillHoles)
    kept = inPlaneHolesFilled(kept);

  LabelMap out(followup.geometry, 0);
  const Vec3 first = followup.geometry.pointToIndex(g.origin);
  const auto i0 = std::size_t(first.x + 0.5), j0 = std::size_t(first.y + 0.5), k0 = std::size_t(first.z + 0.5);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (kept.at(i, j, k))
          out.at(i0 + i, j0 + j, k0 + k) = label;
  return out;
}

} // namespace lesion::longitudinal::detail
