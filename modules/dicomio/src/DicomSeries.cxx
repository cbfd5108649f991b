#include "lesion/dicomio/DicomSeries.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::dicomio {

namespace {

constexpr double kSamePositionMm = 0.01; // slices closer than this are duplicates
constexpr double kSameCosine = 1e-3;     // IOP components equal within this are one orientation
constexpr double kPi = 3.14159265358979323846;

std::string sliceName(const DicomSeries& series, const DicomSliceRef& s) {
  const DicomInstance& inst = series.instanceOf(s);
  return inst.numberOfFrames > 1 ? fmt::format("{}#{}", inst.path.string(), s.frame + 1) : inst.path.string();
}

bool sameOrientation(const std::array<double, 6>& a, const std::array<double, 6>& b) {
  for (std::size_t i = 0; i < 6; ++i)
    if (std::abs(a[i] - b[i]) > kSameCosine)
      return false;
  return true;
}

bool samePixelSpacing(const std::optional<std::array<double, 2>>& a, const std::optional<std::array<double, 2>>& b) {
  constexpr double kSameSpacingMm = 1e-3;
  return a.has_value() == b.has_value() &&
         (!a || (std::abs((*a)[0] - (*b)[0]) <= kSameSpacingMm && std::abs((*a)[1] - (*b)[1]) <= kSameSpacingMm));
}

std::optional<Vec3> normalOf(const DicomFrameGeometry& f) {
  if (!f.imageOrientationPatient)
    return std::nullopt;
  const auto& o = *f.imageOrientationPatient;
  return normalized(cross(Vec3{o[0], o[1], o[2]}, Vec3{o[3], o[4], o[5]}));
}

/// Slices grouped by position (within kSamePositionMm), groups ordered along the normal; inside a
/// group by instance number then file name. Slices without a position are left out.
std::vector<std::vector<std::size_t>> positionGroups(const DicomSeries& series) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < series.slices.size(); ++i)
    if (series.frameOf(series.slices[i]).imagePositionPatient)
      idx.push_back(i);
  if (idx.empty())
    return {};
  const Vec3 n = normalOf(series.frameOf(series.slices[idx.front()])).value_or(Vec3{0, 0, 1});
  auto proj = [&](std::size_t i) { return dot(*series.frameOf(series.slices[i]).imagePositionPatient, n); };
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    const double pa = proj(a), pb = proj(b);
    if (std::abs(pa - pb) > kSamePositionMm)
      return pa < pb;
    const auto ia = series.instanceOf(series.slices[a]).instanceNumber.value_or(0);
    const auto ib = series.instanceOf(series.slices[b]).instanceNumber.value_or(0);
    if (ia != ib)
      return ia < ib;
    const auto& fa = series.instanceOf(series.slices[a]).path;
    const auto& fb = series.instanceOf(series.slices[b]).path;
    if (fa != fb)
      return fa < fb;
    return series.slices[a].frame < series.slices[b].frame;
  });
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i : idx) {
    if (!groups.empty()) {
      const Vec3 p = *series.frameOf(series.slices[i]).imagePositionPatient;
      const Vec3 q = *series.frameOf(series.slices[groups.back().front()]).imagePositionPatient;
      if (distance(p, q) < kSamePositionMm) {
        groups.back().push_back(i);
        continue;
      }
    }
    groups.push_back({i});
  }
  return groups;
}

void fillDuplicates(DicomSeries& series) {
  series.duplicatePositions.clear();
  for (const auto& group : positionGroups(series)) {
    if (group.size() < 2)
      continue;
    DuplicatePosition dup;
    dup.positionMm = *series.frameOf(series.slices[group.front()]).imagePositionPatient;
    for (std::size_t i : group)
      dup.files.push_back(sliceName(series, series.slices[i]));
    series.duplicatePositions.push_back(std::move(dup));
  }
}

/// One frame of one file: the unit series are split into.
struct SliceUnit {
  const DicomInstance* instance;
  int frame;
  [[nodiscard]] const DicomFrameGeometry& geometry() const {
    return instance->frames.size() > std::size_t(frame) ? instance->frames[frame] : instance->frames.front();
  }
};

DicomSeries makeSeries(const std::vector<SliceUnit>& units) {
  DicomSeries s;
  s.seriesInstanceUid = units.front().instance->seriesInstanceUid;
  s.specialKind = units.front().instance->specialImageKind();
  std::map<const DicomInstance*, std::size_t> index;
  for (const SliceUnit& u : units) {
    auto it = index.find(u.instance);
    if (it == index.end()) {
      s.instances.push_back(*u.instance);
      it = index.emplace(u.instance, s.instances.size() - 1).first;
    }
    s.slices.push_back({it->second, u.frame});
  }
  fillDuplicates(s);
  return s;
}

struct Part {
  std::vector<SliceUnit> members;
  std::string description; // what identifies this part within its UID
};

std::string partDescription(const SliceUnit& u) {
  const DicomInstance& d = *u.instance;
  const DicomFrameGeometry& f = u.geometry();
  std::string text = fmt::format("{}x{}", d.columns, d.rows);
  if (d.echoNumber)
    text += fmt::format(", echo {}", *d.echoNumber);
  if (f.effectiveEchoTimeMs)
    text += fmt::format(", TE {} ms", *f.effectiveEchoTimeMs);
  if (!f.frameType.empty())
    text += ", frame type " + f.frameType;
  if (f.temporalPositionIndex)
    text += fmt::format(", time point {}", *f.temporalPositionIndex);
  if (!f.stackId.empty())
    text += ", stack " + f.stackId;
  const std::string kind = d.specialImageKind();
  if (!kind.empty())
    text += ", " + kind;
  if (f.pixelSpacing)
    text += fmt::format(", pixel spacing {:g}\\{:g} mm", (*f.pixelSpacing)[0], (*f.pixelSpacing)[1]);
  if (f.imageOrientationPatient) {
    const auto& o = *f.imageOrientationPatient;
    text +=
        fmt::format(", orientation {:.3f}\\{:.3f}\\{:.3f}\\{:.3f}\\{:.3f}\\{:.3f}", o[0], o[1], o[2], o[3], o[4], o[5]);
  }
  return text;
}

bool samePart(const SliceUnit& ua, const SliceUnit& ub) {
  const DicomInstance& a = *ua.instance;
  const DicomInstance& b = *ub.instance;
  if (a.rows != b.rows || a.columns != b.columns)
    return false;
  if (a.echoNumber != b.echoNumber)
    return false;
  if (a.specialImageKind() != b.specialImageKind())
    return false;
  const DicomFrameGeometry& fa = ua.geometry();
  const DicomFrameGeometry& fb = ub.geometry();
  // Enhanced objects keep several volumes in one file (magnitude + field map, echoes, time points).
  if (fa.frameType != fb.frameType || fa.effectiveEchoTimeMs != fb.effectiveEchoTimeMs ||
      fa.temporalPositionIndex != fb.temporalPositionIndex || fa.stackId != fb.stackId)
    return false;
  // A slice of another pixel spacing (a different reconstruction, or a damaged header) stacked with
  // the rest took the first slice's spacing without a word.
  if (!samePixelSpacing(fa.pixelSpacing, fb.pixelSpacing))
    return false;
  const auto& oa = fa.imageOrientationPatient;
  const auto& ob = fb.imageOrientationPatient;
  if (oa.has_value() != ob.has_value())
    return false;
  return !oa || sameOrientation(*oa, *ob);
}

} // namespace

const DicomFrameGeometry& DicomSeries::frameOf(const DicomSliceRef& s) const {
  const DicomInstance& inst = instanceOf(s);
  return inst.frames.size() > std::size_t(s.frame) ? inst.frames[s.frame] : inst.frames.front();
}

std::size_t DicomSeries::distinctPositionCount() const {
  const auto groups = positionGroups(*this);
  return groups.empty() ? slices.size() : groups.size();
}

std::string DicomSeries::summary() const {
  const DicomInstance& d = first();
  std::string text =
      fmt::format("{}  {} '{}' {} slices {}x{}", id, d.modality, d.seriesDescription, slices.size(), d.columns, d.rows);
  if (!specialKind.empty())
    text += " [" + specialKind + "]";
  if (!splitReason.empty())
    text += " (split: " + splitReason + ")";
  if (!duplicatePositions.empty())
    text += fmt::format(" ({} duplicate positions)", duplicatePositions.size());
  return text;
}

std::vector<DicomSeries> splitDicomSeries(const std::vector<DicomInstance>& instances) {
  std::map<std::string, std::vector<const DicomInstance*>> byUid;
  for (const DicomInstance& d : instances)
    byUid[d.seriesInstanceUid].push_back(&d);

  std::vector<DicomSeries> result;
  for (auto& [uid, members] : byUid) {
    std::sort(members.begin(), members.end(),
              [](const DicomInstance* a, const DicomInstance* b) { return a->path < b->path; });
    std::vector<Part> parts;
    for (const DicomInstance* m : members) {
      for (int f = 0; f < m->numberOfFrames; ++f) {
        const SliceUnit unit{m, f};
        auto it =
            std::find_if(parts.begin(), parts.end(), [&](const Part& p) { return samePart(p.members.front(), unit); });
        if (it == parts.end()) {
          parts.push_back({{unit}, partDescription(unit)});
        } else {
          it->members.push_back(unit);
        }
      }
    }
    // Acquisition Number splits a part only when it separates repeated positions.
    std::vector<Part> finalParts;
    for (Part& part : parts) {
      DicomSeries whole = makeSeries(part.members);
      if (!whole.duplicatePositions.empty()) {
        std::map<int, std::vector<SliceUnit>> byAcq;
        for (const SliceUnit& u : part.members)
          byAcq[u.instance->acquisitionNumber.value_or(0)].push_back(u);
        bool separates = byAcq.size() > 1;
        for (const auto& [acq, acqMembers] : byAcq)
          if (!makeSeries(acqMembers).duplicatePositions.empty())
            separates = false;
        if (separates) {
          for (auto& [acq, acqMembers] : byAcq)
            finalParts.push_back({acqMembers, part.description + fmt::format(", acquisition {}", acq)});
          continue;
        }
      }
      finalParts.push_back(std::move(part));
    }
    // The main part first: ordinary images before localizers etc., then the most slices.
    std::stable_sort(finalParts.begin(), finalParts.end(), [](const Part& a, const Part& b) {
      const bool sa = !a.members.front().instance->specialImageKind().empty();
      const bool sb = !b.members.front().instance->specialImageKind().empty();
      if (sa != sb)
        return !sa;
      return a.members.size() > b.members.size();
    });
    for (std::size_t p = 0; p < finalParts.size(); ++p) {
      DicomSeries s = makeSeries(finalParts[p].members);
      s.id = uid.empty() ? std::string("(no SeriesInstanceUID)") : uid;
      if (p > 0)
        s.id += fmt::format("#{}", p + 1);
      if (finalParts.size() > 1)
        s.splitReason = finalParts[p].description;
      result.push_back(std::move(s));
    }
  }
  return result;
}

SliceStackGeometry analyzeSliceStack(const DicomSeries& series) {
  if (series.slices.empty())
    throw DicomError("series " + series.id + " has no slices");
  for (const DicomInstance& inst : series.instances) {
    if (inst.isMosaic()) {
      throw DicomError(fmt::format("'{}': a Siemens mosaic (Image Type MOSAIC): the slices of a volume tiled in one "
                                   "{}x{} image, which LesionKit does not unpack (it would be read as one slice); "
                                   "convert it with dcm2niix first and give LesionKit the NIfTI",
                                   inst.path.string(), inst.columns, inst.rows));
    }
    // Without per-frame functional groups all frames would share one position.
    if (inst.numberOfFrames > 1 && !inst.enhancedMultiframe) {
      throw DicomError(fmt::format("'{}': {} frames without per-frame positions (no Per-frame Functional Groups "
                                   "Sequence): expected an Enhanced multiframe object or single-frame images",
                                   inst.path.string(), inst.numberOfFrames));
    }
  }
  SliceStackGeometry g;
  const DicomInstance& firstInst = series.first();
  DicomFrameGeometry f0 = series.frameOf(series.slices.front());
  if (series.slices.size() == 1 && (!f0.imagePositionPatient || !f0.imageOrientationPatient)) {
    g.warnings.push_back("no Image Position/Orientation (Patient): identity geometry at (0, 0, 0) assumed");
    if (!f0.imagePositionPatient)
      f0.imagePositionPatient = Vec3{};
    if (!f0.imageOrientationPatient)
      f0.imageOrientationPatient = std::array<double, 6>{1, 0, 0, 0, 1, 0};
  }
  for (const DicomSliceRef& s : series.slices) {
    if (series.slices.size() == 1)
      break; // a lone slice has nothing to be consistent with
    const DicomFrameGeometry& f = series.frameOf(s);
    if (!f.imagePositionPatient || !f.imageOrientationPatient) {
      throw DicomError(fmt::format("'{}' (series {}): expected Image Position and Image Orientation (Patient) to "
                                   "place the slice, found {}",
                                   sliceName(series, s), series.id,
                                   f.imagePositionPatient ? "no orientation" : "no position"));
    }
    if (!sameOrientation(*f.imageOrientationPatient, *f0.imageOrientationPatient)) {
      throw DicomError(fmt::format("'{}' (series {}): Image Orientation differs from the first slice of the series",
                                   sliceName(series, s), series.id));
    }
    if (series.instanceOf(s).rows != firstInst.rows || series.instanceOf(s).columns != firstInst.columns) {
      throw DicomError(fmt::format("'{}' (series {}): expected {}x{} pixels like the first slice, found {}x{}",
                                   sliceName(series, s), series.id, firstInst.columns, firstInst.rows,
                                   series.instanceOf(s).columns, series.instanceOf(s).rows));
    }
  }
  const auto& o = *f0.imageOrientationPatient;
  g.rowCosine = normalized(Vec3{o[0], o[1], o[2]});
  g.columnCosine = normalized(Vec3{o[3], o[4], o[5]});
  g.normal = normalized(cross(g.rowCosine, g.columnCosine));
  if (std::abs(dot(g.rowCosine, g.columnCosine)) > 1e-3 || norm(cross(g.rowCosine, g.columnCosine)) < 0.5) {
    throw DicomError(
        fmt::format("'{}': Image Orientation (Patient) cosines are not orthonormal", firstInst.path.string()));
  }
  if (f0.pixelSpacing) {
    g.pixelSpacingY = (*f0.pixelSpacing)[0];
    g.pixelSpacingX = (*f0.pixelSpacing)[1];
  } else {
    g.warnings.push_back("no Pixel Spacing: 1 mm assumed in-plane");
  }
  if (!(g.pixelSpacingX > 0) || !(g.pixelSpacingY > 0)) {
    throw DicomError(fmt::format("'{}': expected positive Pixel Spacing, found {}\\{}", firstInst.path.string(),
                                 g.pixelSpacingY, g.pixelSpacingX));
  }
  g.columns = std::size_t(firstInst.columns);
  g.rows = std::size_t(firstInst.rows);

  const auto groups = positionGroups(series);
  for (const auto& group : groups)
    g.order.push_back(group.front());
  if (g.order.empty())
    g.order.push_back(0); // the lone slice without a position
  for (const DuplicatePosition& dup : series.duplicatePositions) {
    g.warnings.push_back(fmt::format("{} slices share position {}: only '{}' is used", dup.files.size(),
                                     formatPoint(dup.positionMm), dup.files.front()));
  }
  for (std::size_t k = 0; k < g.order.size(); ++k) {
    const auto& p = series.frameOf(series.slices[g.order[k]]).imagePositionPatient;
    g.imagePositions.push_back(p ? *p : *f0.imagePositionPatient);
    g.positionsMm.push_back(dot(g.imagePositions.back(), g.normal));
  }
  auto ipp = [&](std::size_t k) { return g.imagePositions[k]; };

  const std::size_t n = g.order.size();
  if (n < 2) {
    g.stackDirection = g.normal;
    return g;
  }
  g.stackDirection = normalized(ipp(n - 1) - ipp(0));
  g.tiltDeg = std::acos(std::min(1.0, std::abs(dot(g.stackDirection, g.normal)))) * 180.0 / kPi;
  if (g.tilted()) {
    std::string recorded =
        firstInst.gantryTiltDeg ? fmt::format(" (Gantry/Detector Tilt tag: {:.2f} deg)", *firstInst.gantryTiltDeg) : "";
    g.warnings.push_back(
        fmt::format("gantry tilt: slices are stacked {:.2f} deg off their normal{}", g.tiltDeg, recorded));
  } else if (firstInst.gantryTiltDeg && std::abs(*firstInst.gantryTiltDeg) > 0.05) {
    // The tag alone proves nothing: many scanners record the tilt yet store corrected slices.
    g.warnings.push_back(fmt::format("Gantry/Detector Tilt tag says {:.2f} deg but the slices are stacked along their "
                                     "normal: no tilt correction needed",
                                     *firstInst.gantryTiltDeg));
  }
  std::vector<double> steps;
  for (std::size_t k = 1; k < n; ++k)
    steps.push_back(g.positionsMm[k] - g.positionsMm[k - 1]);
  std::vector<double> sorted = steps;
  std::sort(sorted.begin(), sorted.end());
  g.minStepMm = sorted.front();
  g.maxStepMm = sorted.back();
  g.medianStepMm = sorted[sorted.size() / 2];
  const double tolerance = std::max(0.02, 0.01 * g.medianStepMm);
  g.unevenSpacing = (g.maxStepMm - g.minStepMm) > tolerance;
  auto gapAt = [&](std::size_t k, double ratio) {
    return SliceGap{g.positionsMm[k], g.positionsMm[k + 1], ipp(k), ipp(k + 1), int(std::lround(ratio)) - 1};
  };
  for (std::size_t k = 0; k + 1 < n; ++k) {
    // A gap is a step close to a whole multiple (>= 2) of the usual step; other odd steps
    // (e.g. 4 mm then 7 mm sections) are uneven spacing, not missing slices.
    const double ratio = g.medianStepMm > 0 ? steps[k] / g.medianStepMm : 0.0;
    if (ratio >= 1.8 && std::abs(ratio - std::round(ratio)) < 0.2) {
      const SliceGap gap = gapAt(k, ratio);
      g.gaps.push_back(gap);
      g.warnings.push_back(fmt::format("missing slices: about {} between {} and {} ({:.2f} mm step, usual {:.2f} mm)",
                                       gap.missingSlices, formatPoint(gap.fromPoint), formatPoint(gap.toPoint),
                                       steps[k], g.medianStepMm));
    }
    if (isTooWideToInterpolate(steps[k], g.medianStepMm))
      g.wideGaps.push_back(gapAt(k, ratio));
  }
  if (g.unevenSpacing) {
    // Runs of equal steps, each with the Image Position where it starts.
    std::string runs;
    for (std::size_t k = 0; k < steps.size();) {
      std::size_t end = k + 1;
      while (end < steps.size() && std::abs(steps[end] - steps[k]) <= tolerance)
        ++end;
      runs += fmt::format("{}{} x {:.3f} mm from {}", runs.empty() ? "" : ", ", end - k, steps[k], formatPoint(ipp(k)));
      k = end;
    }
    g.warnings.push_back(fmt::format("uneven slice spacing: steps from {:.3f} to {:.3f} mm (median {:.3f} mm): {}",
                                     g.minStepMm, g.maxStepMm, g.medianStepMm, runs));
  }
  return g;
}

} // namespace lesion::dicomio
