// Lesion tracking across time points: registration, mask transfer, re-segmentation or
// measurement inside the mapped mask, change figures, change maps and the response timeline.
#include "lesion/longitudinal/LesionTracking.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/core/RobustStatistics.h"
#include "lesion/longitudinal/Resampling.h"

#include "BaselineModelMask.h"
#include "TrackingUtilities.h"

namespace lesion::longitudinal {

namespace {

using detail::Components;
using detail::forEachFaceNeighbour;
using detail::heaviestComponent;
using detail::leakingSurfaceFraction;

bool hounsfield(const FollowupOptions& o) {
  return o.measurement.intensityUnit == measurement::IntensityUnit::HounsfieldUnit;
}

/// The labels followed, in order, each with its spec.
std::vector<measurement::LesionSpec> followedLesions(const LabelMap& lesions, const FollowupOptions& options) {
  std::vector<std::uint16_t> labels = options.measurement.labels;
  for (const measurement::LesionSpec& s : options.measurement.lesions)
    if (std::find(labels.begin(), labels.end(), s.label) == labels.end())
      labels.push_back(s.label);
  if (labels.empty()) {
    for (std::uint16_t v : measurement::labelsPresent(lesions))
      if (std::find(options.referenceLabels.begin(), options.referenceLabels.end(), v) == options.referenceLabels.end())
        labels.push_back(v);
  }
  if (labels.empty())
    throw InputError("baseline lesion map: no lesion label to follow (the map is empty)");
  std::vector<measurement::LesionSpec> specs;
  for (std::uint16_t label : labels) {
    measurement::LesionSpec spec;
    spec.label = label;
    for (const measurement::LesionSpec& s : options.measurement.lesions)
      if (s.label == label)
        spec = s;
    if (spec.name.empty())
      spec.name = fmt::format("label {}", label);
    specs.push_back(spec);
  }
  return specs;
}

std::size_t countLabel(const LabelMap& map, std::uint16_t label) {
  return static_cast<std::size_t>(std::count(map.voxels.begin(), map.voxels.end(), label));
}

/// Measures one label, on a crop around it (the measurement only needs the lesion's box).
measurement::LesionMeasurement measureOne(const Volume& volume, const LabelMap& mask,
                                          const measurement::LesionSpec& spec,
                                          const measurement::MeasurementOptions& options) {
  const Vec3 s = volume.geometry.spacing;
  const RegionOfInterest box = regionAroundLabels(mask, {spec.label}, 2.0 * std::max({s.x, s.y, s.z}), spec.name);
  const ImageGeometry crop = cropGrid(volume.geometry, box.minimum, box.maximum);
  measurement::MeasurementOptions o = options;
  o.labels = {spec.label};
  o.lesions = {spec};
  auto result = measurement::measureLesions(cropImage(volume, crop), cropImage(mask, crop), o);
  // The crop's slice k is not the scan's: reports and QC pictures read the index on the scan's grid.
  result.front().recist.sliceIndex +=
      static_cast<std::size_t>(std::lround(volume.geometry.pointToIndex(crop.origin).z));
  return result.front();
}

void fillFigures(TrackedLesion& t, const measurement::LesionMeasurement& m, bool hu) {
  t.volumeMl = m.voxelVolumeMl;
  t.longAxisMm = m.recist.longAxisMm;
  t.shortAxisMm = m.recist.shortAxisMm;
  t.meanHu = m.intensity.mean;
  if (hu && m.calcification) {
    t.calcifiedVolumeMl = m.calcification->volumeMl;
    t.calcifiedFraction = m.calcification->fraction;
    t.nonCalcifiedVolumeMl = std::max(0.0, m.voxelVolumeMl - m.calcification->volumeMl);
  }
  t.measurement = m;
}

/// Calls visit(linear index) for the interior of the reference region (voxels whose 6 face
/// neighbours are in it too): boundary voxels mix in the surroundings (a cortical shell next to
/// fat) and would move a mean by tens of HU for a sub-voxel shift.
template <typename Visit>
void forReferenceInterior(const LabelMap& reference, const std::vector<std::uint16_t>& labels, Visit visit) {
  const auto& s = reference.geometry.size;
  auto in = [&](std::size_t i) {
    const std::uint16_t v = reference.voxels[i];
    return v != 0 && std::find(labels.begin(), labels.end(), v) != labels.end();
  };
  const std::size_t sx = 1, sy = s[0], sz = s[0] * s[1];
  for (std::size_t k = 1; k + 1 < s[2]; ++k)
    for (std::size_t j = 1; j + 1 < s[1]; ++j)
      for (std::size_t i = 1, idx = reference.geometry.linearIndex(1, j, k); i + 1 < s[0]; ++i, ++idx)
        if (in(idx) && in(idx - sx) && in(idx + sx) && in(idx - sy) && in(idx + sy) && in(idx - sz) && in(idx + sz))
          visit(idx, i, j, k);
}

/// The reference region's interior voxel values on its own grid.
std::vector<float> referenceInteriorValues(const Volume& volume, const LabelMap& reference,
                                           const std::vector<std::uint16_t>& labels) {
  std::vector<float> values;
  if (labels.empty())
    return values;
  forReferenceInterior(reference, labels, [&](std::size_t idx, std::size_t, std::size_t, std::size_t) {
    values.push_back(volume.voxels[idx]);
  });
  return values;
}

/// The reference region on a follow-up, for the baseline's interior voxels p the follow-up covers.
struct PairedReference {
  double medianHu{0.0}; ///< of the follow-up at T(p), trilinear
  double shiftHu{0.0};  ///< that median minus the baseline median over the same voxels
  /// The follow-up's own voxel nearest to T(p): its noise and texture, not smoothed by
  /// interpolation (the calcification threshold reads the spread of these).
  std::vector<float> ownValues;
};

// Reference figures are medians: the interior of a vertebral body is trabecular bone, but
// interpolation across a 2 mm slice still blends in the dense endplates near them, which would
// bias a mean by ten HU or more.
std::optional<PairedReference> pairedReference(const Volume& baseline, const LabelMap& reference,
                                               const std::vector<std::uint16_t>& labels, const Volume& followup,
                                               const RigidTransform& transform) {
  std::vector<float> before, after;
  PairedReference paired;
  forReferenceInterior(reference, labels, [&](std::size_t idx, std::size_t i, std::size_t j, std::size_t k) {
    const Vec3 p = transform.apply(baseline.geometry.indexToPoint(i, j, k));
    const std::optional<double> v = sampleAt(followup, p);
    if (!v)
      return;
    before.push_back(baseline.voxels[idx]);
    after.push_back(float(*v));
    const Vec3 q = followup.geometry.pointToIndex(p);
    const long a = std::lround(q.x), b = std::lround(q.y), c = std::lround(q.z);
    if (followup.geometry.containsIndex(a, b, c))
      paired.ownValues.push_back(followup.at(std::size_t(a), std::size_t(b), std::size_t(c)));
  });
  if (before.empty())
    return std::nullopt;
  paired.medianHu = quantileOf(std::move(after), 0.5);
  paired.shiftHu = paired.medianHu - quantileOf(std::move(before), 0.5);
  return paired;
}

/// The time point's calcification threshold (see CalcificationThresholdOptions); `referenceValues`
/// are the reference region's interior voxels on this time point (empty: no reference region).
/// A fallback adds a note to `notes`.
CalcificationThreshold chooseCalcificationThreshold(const FollowupOptions& options,
                                                    const std::vector<float>& referenceValues,
                                                    const std::string& timePoint, std::vector<std::string>& notes) {
  CalcificationThreshold t;
  const double floorHu = options.measurement.calcificationThresholdHu;
  t.hu = floorHu;
  if (!options.calcification.fromReference) {
    t.basis = "fixed";
    return t;
  }
  if (referenceValues.size() < options.calcification.minReferenceVoxels) {
    t.basis = "fallback";
    const std::string why =
        options.referenceLabels.empty()
            ? (options.referenceRegion.note.empty() ? std::string("no unaffected vertebra given (reference labels)")
                                                    : "no unaffected vertebra: " + options.referenceRegion.note)
            : fmt::format("only {} interior voxels of the reference region on this scan (at least {} needed)",
                          referenceValues.size(), options.calcification.minReferenceVoxels);
    notes.push_back(fmt::format("calcification threshold: {}, so the fixed floor of {:.0f} HU is used; it can count "
                                "normal trabecular bone (often 150-250 HU) at the lesion border as calcified",
                                why, floorHu));
    logWarning("{}: {}", timePoint, notes.back());
    return t;
  }
  const RobustSpread bone = robustSpreadOf(referenceValues);
  t.referenceMedianHu = bone.median;
  t.referenceRobustSdHu = bone.sd;
  t.referenceVoxels = referenceValues.size();
  t.hu = std::max(floorHu, bone.median + options.calcification.referenceSdFactor * bone.sd);
  t.basis = "reference";
  return t;
}

/// The measurement options of a time point: its calcification threshold (CT), recorded in `tp`
/// with the rest (tp.measuredWith).
measurement::MeasurementOptions measurementOptionsFor(TimePointResult& tp, const FollowupOptions& options,
                                                      const std::vector<float>& referenceValues) {
  tp.measuredWith = options.measurement;
  if (hounsfield(options)) {
    tp.calcificationThreshold = chooseCalcificationThreshold(options, referenceValues, tp.label, tp.notes);
    tp.measuredWith.calcificationThresholdHu = tp.calcificationThreshold->hu;
  }
  return tp.measuredWith;
}

void checkSameGrid(const ImageGeometry& a, const ImageGeometry& b, const char* what) {
  if (!a.sameGrid(b))
    throw InputError(fmt::format("{} is not on the baseline volume's grid: resample it onto the baseline first", what));
}

/// Mean of a voxel and its 6 face neighbours (those present): takes noise down by about 2.6
/// while blurring a small lesion much less than a 3x3x3 box would.
Volume crossSmooth(const Volume& in) {
  Volume out = in;
  const ImageGeometry& g = in.geometry;
  for (std::size_t v = 0; v < in.voxels.size(); ++v) {
    double sum = in.voxels[v];
    int n = 1;
    forEachFaceNeighbour(g, v, [&](std::size_t m) {
      sum += in.voxels[m];
      ++n;
    });
    out.voxels[v] = float(sum / n);
  }
  return out;
}

/// Intensity window of a lesion for gating, and whether to gate smoothed values.
struct GateWindow {
  double lo{0.0};
  double hi{0.0};
  bool smooth{false};
  double contextMedian{0.0}; ///< baseline median around the lesion (outside it)
};

/// The baseline lesion's intensity window. Values are smoothed (crossSmooth) only when the noise
/// inside the lesion (robust SD) is more than a sixth of its contrast to the surroundings:
/// smoothing erodes a small lesion by about half a voxel. Towards its surroundings the
/// bound is halfway between the lesion's interior median and the median of a shell just outside
/// it (a partial-volume voxel counts when it is more lesion than surroundings, so volumes are not
/// biased by the blur); on the other side, the 98th (2nd) percentile of the interior ± 10.
GateWindow lesionWindow(const Volume& baseline, const LabelMap& lesions, std::uint16_t label) {
  const Vec3 sp = baseline.geometry.spacing;
  const RegionOfInterest box = regionAroundLabels(lesions, {label}, 5.0 * std::max({sp.x, sp.y, sp.z}));
  const ImageGeometry crop = cropGrid(baseline.geometry, box.minimum, box.maximum);
  const Volume raw = cropImage(baseline, crop);
  const LabelMap mask = cropImage(lesions, crop);
  // Noise and contrast from raw values decide whether to smooth.
  std::vector<float> rawInside, rawShell;
  const auto& s = crop.size;
  // Distance (in voxel steps, chessboard) from the lesion, up to 4, for the shell.
  auto near = [&](std::size_t i, std::size_t j, std::size_t k, long r) {
    for (long c = -r; c <= r; ++c)
      for (long b = -r; b <= r; ++b)
        for (long a = -r; a <= r; ++a) {
          const long x = long(i) + a, y = long(j) + b, z = long(k) + c;
          if (crop.containsIndex(x, y, z) && mask.at(std::size_t(x), std::size_t(y), std::size_t(z)) == label)
            return true;
        }
    return false;
  };
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t i = 0; i < s[0]; ++i) {
        if (mask.at(i, j, k) == label)
          rawInside.push_back(raw.at(i, j, k));
        else if (!near(i, j, k, 1) && near(i, j, k, 3))
          rawShell.push_back(raw.at(i, j, k));
      }
  GateWindow w;
  if (!rawShell.empty()) {
    const RobustSpread inside = robustSpreadOf(rawInside);
    w.smooth = 6.0 * inside.sd > std::abs(inside.median - quantileOf(rawShell, 0.5));
  }
  const Volume smooth = w.smooth ? crossSmooth(raw) : raw;
  std::vector<float> interior, all, shell;
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t i = 0; i < s[0]; ++i) {
        if (mask.at(i, j, k) != label) {
          if (!near(i, j, k, 1) && near(i, j, k, 3))
            shell.push_back(smooth.at(i, j, k));
          continue;
        }
        all.push_back(smooth.at(i, j, k));
        bool inner = i > 0 && j > 0 && k > 0 && i + 1 < s[0] && j + 1 < s[1] && k + 1 < s[2];
        inner = inner && mask.at(i - 1, j, k) == label && mask.at(i + 1, j, k) == label &&
                mask.at(i, j - 1, k) == label && mask.at(i, j + 1, k) == label && mask.at(i, j, k - 1) == label &&
                mask.at(i, j, k + 1) == label;
        if (inner)
          interior.push_back(smooth.at(i, j, k));
      }
  const std::vector<float>& use = interior.size() >= 20 ? interior : all;
  double lo = quantileOf(use, 0.02) - 10.0, hi = quantileOf(use, 0.98) + 10.0;
  if (!shell.empty()) {
    // The surroundings are mixed (fat, vessels, a neighbour): the boundary that matters is the
    // one to the contrasting side, so take the shell's quartile away from the lesion.
    const double inside = quantileOf(use, 0.5);
    if (quantileOf(shell, 0.5) < inside)
      lo = std::min(hi, 0.5 * (inside + quantileOf(shell, 0.25)));
    else
      hi = std::max(lo, 0.5 * (inside + quantileOf(shell, 0.75)));
  }
  w.lo = lo;
  w.hi = hi;
  std::vector<float> context;
  for (std::size_t n = 0; n < mask.voxels.size(); ++n)
    if (mask.voxels[n] != label)
      context.push_back(raw.voxels[n]);
  w.contextMedian = context.empty() ? 0.0 : quantileOf(context, 0.5);
  return w;
}

/// IntensityGated (see FollowupMaskMethod): returns a mask on the follow-up grid.
LabelMap intensityGatedMask(const Volume& followup, const LabelMap& mapped, std::uint16_t label, GateWindow window,
                            double growthMarginMm, bool rescale) {
  LabelMap out(followup.geometry, 0);
  const RegionOfInterest box = regionAroundLabels(mapped, {label}, growthMarginMm + 2.0);
  const ImageGeometry crop = cropGrid(followup.geometry, box.minimum, box.maximum);
  const Volume raw = cropImage(followup, crop);
  const Volume smooth = window.smooth ? crossSmooth(raw) : raw;
  const LabelMap core = cropImage(mapped, crop);
  if (rescale) {
    // Arbitrary units (MR): scans differ by a gain, so the window follows the ratio of the
    // median intensity around the lesion.
    std::vector<float> context;
    for (std::size_t n = 0; n < core.voxels.size(); ++n)
      if (core.voxels[n] != label)
        context.push_back(raw.voxels[n]);
    const double now = context.empty() ? 0.0 : quantileOf(context, 0.5);
    if (window.contextMedian > 0.0 && now > 0.0) {
      const double gain = now / window.contextMedian;
      window.lo *= gain;
      window.hi *= gain;
    }
  }
  const auto& s = crop.size;
  // Box dilation by the margin along each axis (separable running maximum).
  std::vector<std::uint8_t> grown(crop.voxelCount(), 0);
  for (std::size_t n = 0; n < grown.size(); ++n)
    grown[n] = core.voxels[n] == label;
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const long r = std::lround(growthMarginMm / crop.spacing[axis]);
    const std::vector<std::uint8_t> src = grown;
    for (std::size_t k = 0; k < s[2]; ++k)
      for (std::size_t j = 0; j < s[1]; ++j)
        for (std::size_t i = 0; i < s[0]; ++i) {
          if (!src[crop.linearIndex(i, j, k)])
            continue;
          std::array<std::size_t, 3> idx{i, j, k};
          const long c = long(idx[axis]);
          for (long d = std::max(0L, c - r); d <= std::min(long(s[axis]) - 1, c + r); ++d) {
            std::array<std::size_t, 3> q = idx;
            q[axis] = std::size_t(d);
            grown[crop.linearIndex(q[0], q[1], q[2])] = 1;
          }
        }
  }
  auto candidate = [&](std::size_t n) {
    return grown[n] && smooth.voxels[n] >= window.lo && smooth.voxels[n] <= window.hi;
  };
  // 6-connected components; keep the one holding the most mapped-mask voxels.
  const Components components =
      heaviestComponent(crop, candidate, [&](std::size_t n) { return std::size_t(core.voxels[n] == label); });
  const std::vector<std::int32_t>& component = components.id;
  const std::int32_t best = components.heaviest;
  if (best < 0)
    return out;
  // Leak check: component voxels with an in-window neighbour just outside the grown region mean
  // the same density continues past the margin.
  const double leakingFraction = leakingSurfaceFraction(
      crop, [&](std::size_t n) { return component[n] == best; },
      [&](std::size_t m) { return !grown[m] && smooth.voxels[m] >= window.lo && smooth.voxels[m] <= window.hi; });
  if (leakingFraction > 0.05)
    throw ProcessingError(
        fmt::format("intensity-gated tracking: {:.0f} % of the lesion's surface continues at the same "
                    "density beyond the {:.0f} mm growth margin (a touching structure or growth "
                    "beyond the margin)",
                    100.0 * leakingFraction, growthMarginMm));
  // Fill holes (noise outliers inside the lesion): voxels not reachable from the crop's border
  // without crossing the lesion.
  std::vector<std::uint8_t> outside(component.size(), 0);
  std::vector<std::size_t> stack;
  for (std::size_t n = 0; n < component.size(); ++n) {
    const std::size_t i = n % s[0], j = (n / s[0]) % s[1], k = n / (s[0] * s[1]);
    const bool border = i == 0 || j == 0 || k == 0 || i + 1 == s[0] || j + 1 == s[1] || k + 1 == s[2];
    if (border && component[n] != best && !outside[n]) {
      outside[n] = 1;
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    const std::size_t n = stack.back();
    stack.pop_back();
    forEachFaceNeighbour(crop, n, [&](std::size_t m) {
      if (!outside[m] && component[m] != best) {
        outside[m] = 1;
        stack.push_back(m);
      }
    });
  }
  const Vec3 first = followup.geometry.pointToIndex(crop.origin);
  const auto i0 = std::size_t(first.x + 0.5), j0 = std::size_t(first.y + 0.5), k0 = std::size_t(first.z + 0.5);
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t i = 0; i < s[0]; ++i)
        if (!outside[crop.linearIndex(i, j, k)])
          out.at(i0 + i, j0 + j, k0 + k) = label;
  return out;
}

std::string trackingIdOf(std::uint16_t label) { return fmt::format("T{:03d}", label); }

} // namespace

std::string maskMethodName(FollowupMaskMethod method) {
  switch (method) {
  case FollowupMaskMethod::Resegment:
    return "resegment";
  case FollowupMaskMethod::IntensityGated:
    return "intensity-gated";
  case FollowupMaskMethod::MappedMask:
    return "mapped-mask";
  case FollowupMaskMethod::BaselineModel:
    return "baseline-model";
  }
  return "mapped-mask";
}

FollowupMaskMethod parseMaskMethod(const std::string& text) {
  if (text == "resegment")
    return FollowupMaskMethod::Resegment;
  if (text == "intensity-gated")
    return FollowupMaskMethod::IntensityGated;
  if (text == "mapped-mask")
    return FollowupMaskMethod::MappedMask;
  if (text == "baseline-model")
    return FollowupMaskMethod::BaselineModel;
  throw UsageError(fmt::format(
      "follow-up mask method '{}': expected resegment, baseline-model, intensity-gated or mapped-mask", text));
}

std::string softTissueRegistrationName(SoftTissueRegistration method) {
  return method == SoftTissueRegistration::BSpline ? "bspline" : "rigid";
}

SoftTissueRegistration parseSoftTissueRegistration(const std::string& text) {
  if (text == "rigid")
    return SoftTissueRegistration::Rigid;
  if (text == "bspline")
    return SoftTissueRegistration::BSpline;
  throw UsageError(fmt::format("soft-tissue registration '{}': expected rigid or bspline", text));
}

namespace {

/// The reference region without an automatic search: the caller's labels, or none and why.
ReferenceRegion plainReferenceRegion(const FollowupOptions& options, bool hasMap) {
  ReferenceRegion region;
  if (hasMap && !options.referenceLabels.empty()) {
    region.source = "given";
    for (std::uint16_t v : options.referenceLabels)
      region.structures.push_back(fmt::format("label {}", v));
  } else {
    region.note =
        hasMap ? "a reference label map without reference labels" : "no reference labels given and no automatic search";
  }
  return region;
}

} // namespace

std::optional<LabelMap> resolveReference(const Volume& baseline, const LabelMap& lesions, const LabelMap* given,
                                         FollowupOptions& options) {
  ReferenceRegion& region = options.referenceRegion;
  region = plainReferenceRegion(options, given != nullptr);
  if (given || !options.referenceFinder)
    return std::nullopt;
  if (!hounsfield(options)) {
    region.note = "not CT (no automatic reference region on MR)";
    return std::nullopt;
  }
  checkSameGrid(lesions.geometry, baseline.geometry, "the baseline lesion map");
  const std::vector<measurement::LesionSpec> followed = followedLesions(lesions, options);
  options.measurement.labels.clear(); // pinned: the reference labels must not change which lesions are followed
  for (const measurement::LesionSpec& spec : followed)
    options.measurement.labels.push_back(spec.label);
  const auto start = std::chrono::steady_clock::now();
  try {
    FoundReference found = options.referenceFinder(baseline, lesions, followed);
    checkSameGrid(found.map.geometry, baseline.geometry, "the automatic reference map");
    if (found.labels.empty())
      throw ProcessingError("the reference finder returned no structure");
    options.referenceLabels = std::move(found.labels);
    region = std::move(found.region);
    region.source = "automatic";
    region.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(found.map);
  } catch (const UsageError&) {
    throw; // a caller's mistake, not a scan without a reference
  } catch (const std::exception& e) {
    // Any other failure (a lesion::Error, or e.g. std::bad_alloc from the spine step on a huge
    // CT) leaves the follow-up without a reference region, not without a result.
    region.note = fmt::format("none found automatically ({})", e.what());
    region.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    logWarning("reference region: {}", region.note);
    return std::nullopt;
  }
}

FollowupOptions forScan(FollowupOptions options, std::optional<double> sliceThicknessMm) {
  options.measurement = measurement::withScanSliceThickness(std::move(options.measurement), sliceThicknessMm);
  return options;
}

bool resegmentsSoftTissue(const FollowupOptions& options) {
  return options.softTissueMethod == FollowupMaskMethod::Resegment && options.segmenter;
}

namespace {

/// The segmenter's mask of `spec`'s lesion on `scan` started from `start`: that label only. Throws
/// ProcessingError when the segmenter refuses or answers on another grid.
LabelMap resegmentedLesion(const FollowupOptions& options, const Volume& scan, const LabelMap& start,
                           const measurement::LesionSpec& spec) {
  LabelMap segmented = options.segmenter(scan, start, spec);
  if (!segmented.geometry.sameGrid(scan.geometry))
    throw ProcessingError("the segmenter returned a mask on another grid");
  for (auto& v : segmented.voxels)
    v = v == spec.label ? spec.label : 0;
  return segmented;
}

} // namespace

LabelMap resegmentBaselineLesions(const Volume& baseline, const LabelMap& lesions, const FollowupOptions& options,
                                  std::vector<std::string>& notes) {
  checkSameGrid(lesions.geometry, baseline.geometry, "the baseline lesion map");
  LabelMap measured = lesions;
  if (!resegmentsSoftTissue(options))
    return measured;
  const double voxelMl = baseline.geometry.voxelVolumeMm3() / 1000.0;
  for (const measurement::LesionSpec& spec : followedLesions(lesions, options)) {
    if (measurement::isBoneKind(spec.kind))
      continue;
    LabelMap given(lesions.geometry, 0);
    for (std::size_t i = 0; i < lesions.voxels.size(); ++i)
      given.voxels[i] = lesions.voxels[i] == spec.label ? spec.label : 0;
    const std::size_t givenCount = countLabel(given, spec.label);
    if (givenCount == 0)
      continue; // measureBaseline says the label is absent
    try {
      const LogContext context(fmt::format("baseline lesion {}", spec.label));
      const LabelMap segmented = resegmentedLesion(options, baseline, given, spec);
      std::size_t count = 0;
      for (std::size_t i = 0; i < measured.voxels.size(); ++i) {
        if (measured.voxels[i] == spec.label)
          measured.voxels[i] = 0;
        if (segmented.voxels[i] == spec.label && (measured.voxels[i] == 0 || measured.voxels[i] == spec.label)) {
          measured.voxels[i] = spec.label;
          ++count;
        }
      }
      notes.push_back(fmt::format("lesion {} ({}): measured at baseline in LesionKit's re-segmentation started from "
                                  "the given mask, as at the follow-ups ({:.2f} mL; the given mask {:.2f} mL)",
                                  spec.label, spec.name, double(count) * voxelMl, double(givenCount) * voxelMl));
      logInfo("{}", notes.back());
    } catch (const ProcessingError& e) { // thrown before `measured` changed: the given mask stays
      notes.push_back(fmt::format("lesion {} ({}): re-segmentation at baseline failed ({}); the given mask is "
                                  "measured, so its change also holds the difference between the given mask and "
                                  "LesionKit's",
                                  spec.label, spec.name, e.what()));
      logWarning("{}", notes.back());
    }
  }
  return measured;
}

TimePointResult measureBaseline(const Volume& baseline, const LabelMap& lesions, const LabelMap* reference,
                                const FollowupOptions& options, const std::string& label) {
  baseline.geometry.validate("baseline volume");
  checkSameGrid(lesions.geometry, baseline.geometry, "the baseline lesion map");
  if (reference)
    checkSameGrid(reference->geometry, baseline.geometry, "the reference label map");
  TimePointResult tp;
  tp.label = label;
  tp.grid = baseline.geometry;
  tp.labels = LabelMap(baseline.geometry, 0);
  const bool resolved = options.referenceRegion.source != "none" || !options.referenceRegion.note.empty();
  tp.referenceRegion = resolved ? options.referenceRegion : plainReferenceRegion(options, reference != nullptr);
  std::vector<float> referenceValues;
  if (reference)
    referenceValues = referenceInteriorValues(baseline, *reference, options.referenceLabels);
  if (!referenceValues.empty()) {
    tp.referenceMedianHu = quantileOf(referenceValues, 0.5);
    tp.referenceShiftHu = 0.0;
  }
  if (reference && !options.referenceLabels.empty() && !tp.referenceMedianHu)
    throw InputError("reference label map: none of the reference labels is present on the baseline");
  const measurement::MeasurementOptions measuring = measurementOptionsFor(tp, options, referenceValues);
  for (const measurement::LesionSpec& spec : followedLesions(lesions, options)) {
    if (countLabel(lesions, spec.label) == 0)
      throw InputError(fmt::format("baseline lesion map has no voxel with label {} ({})", spec.label, spec.name));
    TrackedLesion t;
    t.trackingId = trackingIdOf(spec.label);
    t.spec = spec;
    t.maskMethod = "baseline";
    fillFigures(t, measureOne(baseline, lesions, spec, measuring), hounsfield(options));
    if (tp.referenceMedianHu && t.meanHu)
      t.normalisedMeanHu = t.meanHu;
    tp.lesions.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < lesions.voxels.size(); ++i)
    for (const TrackedLesion& t : tp.lesions)
      if (lesions.voxels[i] == t.spec.label)
        tp.labels.voxels[i] = t.spec.label;
  return tp;
}

TimePointResult analyzeFollowup(const Volume& baseline, const LabelMap& lesions, const LabelMap* reference,
                                const TimePointResult& baselineResult, const Volume& followup, const std::string& label,
                                const FollowupOptions& options, Progress progress) {
  baseline.geometry.validate("baseline volume");
  followup.geometry.validate(fmt::format("follow-up volume '{}'", label));
  checkSameGrid(lesions.geometry, baseline.geometry, "the baseline lesion map");
  if (reference)
    checkSameGrid(reference->geometry, baseline.geometry, "the reference label map");
  TimePointResult tp;
  tp.label = label;
  tp.grid = followup.geometry;
  tp.labels = LabelMap(followup.geometry, 0);

  progress.report(0.0, "global registration");
  tp.globalRegistration = registerRigid(baseline, followup, options.globalRegistration, progress.sub(0.0, 0.4));
  const RigidTransform& global = tp.globalRegistration->baselineToFollowup;

  std::vector<float> referenceValues;
  if (reference && !options.referenceLabels.empty()) {
    if (auto paired = pairedReference(baseline, *reference, options.referenceLabels, followup, global)) {
      tp.referenceMedianHu = paired->medianHu;
      tp.referenceShiftHu = paired->shiftHu;
      referenceValues = std::move(paired->ownValues);
    } else {
      logWarning("{}: the reference region is outside the follow-up scan; HU change is not normalised", label);
    }
  }
  const measurement::MeasurementOptions measuring = measurementOptionsFor(tp, options, referenceValues);

  // Local refinement regions: the lesion (bone: its anchor structure) with a margin.
  std::vector<RegistrationResult> local;
  if (options.localRefinement) {
    std::vector<RegionOfInterest> regions;
    for (const TrackedLesion& b : baselineResult.lesions) {
      const auto anchor = options.anchorLabels.find(b.spec.label);
      if (anchor != options.anchorLabels.end() && measurement::isBoneKind(b.spec.kind)) {
        if (!reference)
          throw UsageError(fmt::format("lesion {}: an anchor label needs a reference label map", b.spec.label));
        regions.push_back(regionAroundLabels(*reference, {anchor->second}, options.localMarginMm,
                                             fmt::format("{} anchor {}", b.trackingId, anchor->second)));
      } else {
        regions.push_back(regionAroundLabels(lesions, {b.spec.label}, options.localMarginMm, b.trackingId));
      }
    }
    progress.report(0.4, "local registration");
    local = registerRigidLocal(baseline, followup, regions, global, options.localRegistration, progress.sub(0.4, 0.8));
  }

  const bool hu = hounsfield(options);
  for (std::size_t n = 0; n < baselineResult.lesions.size(); ++n) {
    const TrackedLesion& before = baselineResult.lesions[n];
    const measurement::LesionSpec& spec = before.spec;
    TrackedLesion t;
    t.trackingId = before.trackingId;
    t.spec = spec;
    t.registration = tp.globalRegistration;
    // A local level that wandered off (little structure in the region) must not carry the mask
    // away: compare where the transforms send the lesion centre.
    constexpr double kMaxLocalShiftMm = 10.0;
    const Vec3 centre = before.measurement ? before.measurement->principalAxes.centroid : Vec3{};
    if (!local.empty()) {
      const double shift = distance(local[n].baselineToFollowup.apply(centre), global.apply(centre));
      if (shift <= kMaxLocalShiftMm) {
        t.registration = local[n];
      } else {
        t.notes.push_back(
            fmt::format("local registration moved the lesion centre {:.1f} mm away from the global result; "
                        "the global transform is used",
                        shift));
        logWarning("lesion {} at {}: {}", t.trackingId, label, t.notes.back());
      }
    }
    const RigidTransform& transform = t.registration->baselineToFollowup;
    if (!measurement::isBoneKind(spec.kind) && options.softTissueRegistration == SoftTissueRegistration::BSpline) {
      progress.report(0.8 + 0.2 * double(n) / double(baselineResult.lesions.size()), "B-spline registration");
      try {
        t.deformable = registerBSplineLocal(
            baseline, followup, regionAroundLabels(lesions, {spec.label}, options.deformableMarginMm, t.trackingId),
            transform, options.deformableRegistration);
        const double shift = distance(t.deformable->baselineToFollowup.apply(centre), transform.apply(centre));
        if (t.deformable->finalMetricValue >= t.deformable->rigidMetricValue)
          t.notes.push_back(fmt::format("the B-spline level did not improve the metric ({:.4f} vs rigid {:.4f}); the "
                                        "rigid transform is used",
                                        t.deformable->finalMetricValue, t.deformable->rigidMetricValue));
        else if (shift > kMaxLocalShiftMm)
          t.notes.push_back(fmt::format("the B-spline level moved the lesion centre {:.1f} mm away from the rigid "
                                        "result; the rigid transform is used",
                                        shift));
        else
          t.deformableUsed = true;
      } catch (const Error& e) {
        t.notes.push_back(fmt::format("B-spline registration failed ({}); the rigid transform is used", e.what()));
      }
      if (!t.deformableUsed)
        logWarning("lesion {} at {}: {}", t.trackingId, label, t.notes.back());
    }
    const LabelMap mapped = t.deformableUsed ? mapLabelsToFollowup(lesions, t.deformable->baselineToFollowup,
                                                                   followup.geometry, {spec.label})
                                             : mapLabelsToFollowup(lesions, transform, followup.geometry, {spec.label});
    const std::size_t mappedCount = countLabel(mapped, spec.label);
    if (mappedCount == 0) {
      t.notEvaluable = true;
      t.maskMethod = "mapped-mask";
      t.notes.push_back("the mapped lesion mask lies outside the follow-up scan: not evaluable");
      tp.lesions.push_back(std::move(t));
      continue;
    }

    // No tissue left where the lesion was: it has disappeared (soft-tissue kinds on CT only;
    // a bone lesion that fills in is a response, not a disappearance).
    if (hu && !measurement::isBoneKind(spec.kind)) {
      std::size_t tissue = 0;
      for (std::size_t i = 0; i < mapped.voxels.size(); ++i)
        if (mapped.voxels[i] == spec.label && followup.voxels[i] >= options.softTissueMinHu &&
            followup.voxels[i] <= options.softTissueMaxHu)
          ++tissue;
      const double fraction = double(tissue) / double(mappedCount);
      if (fraction < options.minSoftTissueFraction) {
        t.disappeared = true;
        t.maskMethod = "mapped-mask";
        t.notes.push_back(fmt::format("only {:.1f} % of the mapped mask is soft tissue ({:.0f}..{:.0f} HU): the lesion "
                                      "has disappeared",
                                      100.0 * fraction, options.softTissueMinHu, options.softTissueMaxHu));
        tp.lesions.push_back(std::move(t));
        continue;
      }
    }

    const FollowupMaskMethod method =
        measurement::isBoneKind(spec.kind) ? options.boneMethod : options.softTissueMethod;
    if (method == FollowupMaskMethod::Resegment && (measurement::isBoneKind(spec.kind) || !options.segmenter))
      throw UsageError(fmt::format("lesion {} ({}): no re-segmentation is available for kind '{}'; use the "
                                   "baseline-model, intensity-gated or mapped-mask method",
                                   spec.label, spec.name, spec.kind));
    LabelMap mask;
    detail::BaselineModelReport modelReport;
    FollowupMaskMethod used = method;
    if (method == FollowupMaskMethod::Resegment) {
      try {
        const LogContext context(fmt::format("lesion {} at {}", t.trackingId, label));
        const WarningCapture said; // the segmenter's warnings, also kept in the lesion's notes
        mask = resegmentedLesion(options, followup, mapped, spec);
        t.maskMethod = "resegment";
        t.notes.insert(t.notes.end(), said.warnings().begin(), said.warnings().end());
      } catch (const ProcessingError& e) {
        // MR: the baseline model (BrainTumorProgression 01: +30 % vs +78 % gated, truth +21 %);
        // CT: gating, which reports a touching structure as not evaluable where the model takes it.
        used = hu ? FollowupMaskMethod::IntensityGated : FollowupMaskMethod::BaselineModel;
        t.notes.push_back(
            fmt::format("re-segmentation failed ({}); tracked {} instead", e.what(), maskMethodName(used)));
        logWarning("lesion {} at {}: {}", t.trackingId, label, t.notes.back());
      }
    }
    if (used == FollowupMaskMethod::IntensityGated || used == FollowupMaskMethod::BaselineModel) {
      t.maskMethod = maskMethodName(used);
      try {
        mask = used == FollowupMaskMethod::IntensityGated
                   ? intensityGatedMask(followup, mapped, spec.label, lesionWindow(baseline, lesions, spec.label),
                                        options.growthMarginMm, !hu)
                   : detail::baselineModelMask(baseline, lesions, followup, mapped, spec.label, options.baselineModel,
                                               !hu, &modelReport);
      } catch (const ProcessingError& e) {
        t.notEvaluable = true;
        t.notes.push_back(std::string(e.what()) + ": not evaluable");
        logWarning("lesion {} at {}: {}", t.trackingId, label, t.notes.back());
        tp.lesions.push_back(std::move(t));
        continue;
      }
    } else if (used == FollowupMaskMethod::MappedMask) {
      mask = mapped;
      t.maskMethod = "mapped-mask";
    }
    if (countLabel(mask, spec.label) == 0) {
      t.disappeared = true;
      t.notes.push_back(modelReport.disappearedBecause.empty()
                            ? "the follow-up mask has no voxel: the lesion has disappeared"
                            : modelReport.disappearedBecause + ": the lesion has disappeared");
      tp.lesions.push_back(std::move(t));
      continue;
    }
    fillFigures(t, measureOne(followup, mask, spec, measuring), hu);
    if (t.meanHu && tp.referenceShiftHu)
      t.normalisedMeanHu = *t.meanHu - *tp.referenceShiftHu;
    for (std::size_t i = 0; i < mask.voxels.size(); ++i)
      if (mask.voxels[i] == spec.label)
        tp.labels.voxels[i] = spec.label;

    if (options.changeMaps) {
      const RegionOfInterest box = regionAroundLabels(lesions, {spec.label}, options.changeMapMarginMm, t.trackingId);
      const ImageGeometry crop = cropGrid(baseline.geometry, box.minimum, box.maximum);
      constexpr float kNoData = std::numeric_limits<float>::quiet_NaN();
      Volume change = t.deformableUsed ? sampleFollowupOnGrid(followup, t.deformable->baselineToFollowup, crop, kNoData)
                                       : sampleFollowupOnGrid(followup, transform, crop, kNoData);
      const Volume before = cropImage(baseline, crop);
      const LabelMap lesionCrop = cropImage(lesions, crop);
      double sum = 0.0;
      std::size_t count = 0;
      for (std::size_t i = 0; i < change.voxels.size(); ++i) {
        const bool noData = std::isnan(change.voxels[i]);
        change.voxels[i] = noData ? 0.0f : change.voxels[i] - before.voxels[i];
        if (!noData && lesionCrop.voxels[i] == spec.label) {
          sum += change.voxels[i];
          ++count;
        }
      }
      t.changeMapMeanHu = count ? sum / double(count) : 0.0;
      t.changeMap = std::move(change);
    }
    tp.lesions.push_back(std::move(t));
    progress.report(0.8 + 0.2 * double(n + 1) / double(baselineResult.lesions.size()), "tracking lesions");
  }
  return tp;
}

bool isRecistTarget(const TrackedLesion& baselineLesion) {
  return baselineLesion.spec.target && baselineLesion.measurement &&
         baselineLesion.measurement->measurability.measurable;
}

std::set<std::string> recistTargets(const TimePointResult& baseline) {
  std::set<std::string> targets;
  for (const TrackedLesion& l : baseline.lesions)
    if (isRecistTarget(l))
      targets.insert(l.trackingId);
  return targets;
}

LesionObservation observationOf(const TrackedLesion& lesion, bool recistTarget) {
  LesionObservation o;
  o.id = lesion.trackingId;
  o.name = lesion.spec.name;
  o.lymphNode = lesion.spec.lymphNode;
  o.bone = measurement::isBoneKind(lesion.spec.kind);
  o.target = recistTarget;
  o.present = !lesion.disappeared;
  o.longAxisMm = lesion.disappeared ? 0.0 : lesion.longAxisMm;
  o.shortAxisMm = lesion.disappeared ? 0.0 : lesion.shortAxisMm;
  o.meanHu = lesion.normalisedMeanHu ? lesion.normalisedMeanHu : lesion.meanHu;
  o.calcifiedFraction = lesion.calcifiedFraction;
  if (o.bone)
    o.lyticVolumeMl = lesion.nonCalcifiedVolumeMl;
  if (!lesion.disappeared)
    o.volumeMl = lesion.volumeMl;
  return o;
}

Timeline buildTimeline(std::vector<TimePointResult> timePoints, const TimelineFlags& flags) {
  if (timePoints.empty())
    throw InputError("follow-up timeline: no time point");
  Timeline tl;
  const std::set<std::string> targets = recistTargets(timePoints.front());
  for (std::size_t t = 0; t < timePoints.size(); ++t) {
    TimePointObservation obs;
    obs.label = timePoints[t].label;
    for (const TrackedLesion& l : timePoints[t].lesions) {
      if (l.notEvaluable)
        continue;
      obs.lesions.push_back(observationOf(l, targets.count(l.trackingId) > 0));
    }
    auto flagged = [t](const std::vector<std::size_t>& at) { return std::find(at.begin(), at.end(), t) != at.end(); };
    obs.newLesions = flagged(flags.newLesionsAt) || flagged(flags.newBoneLesionsAt);
    obs.newBoneLesions = flagged(flags.newBoneLesionsAt);
    tl.observations.push_back(obs);
  }
  tl.recist = assessRecist(tl.observations);
  tl.mdAnderson = assessMdAnderson(tl.observations);
  tl.inverseChoi = assessInverseChoi(tl.observations);
  for (const TrackedLesion& l : timePoints.front().lesions)
    tl.recistPerLesion[l.trackingId] = assessRecistForLesion(tl.observations, l.trackingId);
  tl.timePoints = std::move(timePoints);
  return tl;
}

} // namespace lesion::longitudinal
