// The per-patient follow-up timeline as JSON and as a few lines of text.
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/longitudinal/LesionTracking.h"

namespace lesion::longitudinal {

namespace {

// Below the calcification threshold a bone lesion is lytic; a soft-tissue mass is not.
std::string nonCalcifiedWord(const std::string& kind) {
  return measurement::isBoneKind(kind) ? "lytic" : "non-calcified";
}

/// "lyticVolumeMl" for bone lesions (the name MD Anderson's criteria and earlier timelines use),
/// "nonCalcifiedVolumeMl" for the others.
std::string nonCalcifiedKey(const std::string& kind, const std::string& suffix) {
  return (measurement::isBoneKind(kind) ? "lytic" : "nonCalcified") + suffix;
}

using nlohmann::json;

json optionalNumber(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

/// The optimiser's figures, the same for every registration level.
template <typename Result> json runJson(const Result& r) {
  return {{"finalMetricValue", r.finalMetricValue},
          {"iterations", r.iterations},
          {"stopCondition", r.stopCondition},
          {"seconds", r.seconds},
          {"fixedVoxels", r.fixedVoxels}};
}

json transformJson(const RegistrationResult& r) {
  json j = runJson(r);
  const RigidTransform& t = r.baselineToFollowup;
  j["rotation"] = std::vector<double>(t.rotation.m.begin(), t.rotation.m.end());
  j["translationMm"] = {t.translation.x, t.translation.y, t.translation.z};
  j["rotationDegrees"] = t.angleDegrees();
  return j;
}

json deformableJson(const DeformableRegistrationResult& r, bool used) {
  const ImageGeometry& grid = r.baselineToFollowup.controlGrid;
  json j = runJson(r);
  j["used"] = used;
  j["method"] = softTissueRegistrationName(SoftTissueRegistration::BSpline);
  j["controlPoints"] = grid.size;
  j["controlSpacingMm"] = {grid.spacing.x, grid.spacing.y, grid.spacing.z};
  j["controlOriginMm"] = {grid.origin.x, grid.origin.y, grid.origin.z};
  j["rigidMetricValue"] = r.rigidMetricValue;
  j["maxDisplacementMm"] = r.maxDisplacementMm;
  return j;
}

/// Which scan a time point is: only what is known, so a NRRD without sidecar adds nothing.
void addScanIdentity(const ScanIdentity& scan, json& j) {
  if (!scan.patientId.empty())
    j["patientId"] = scan.patientId;
  if (!scan.studyDate.empty())
    j["studyDate"] = scan.studyDate;
  if (!scan.seriesInstanceUid.empty())
    j["seriesInstanceUid"] = scan.seriesInstanceUid;
}

json thresholdJson(const CalcificationThreshold& t) {
  json j = {{"hu", t.hu}, {"basis", t.basis}};
  if (t.basis == "reference") {
    j["referenceMedianHu"] = optionalNumber(t.referenceMedianHu);
    j["referenceRobustSdHu"] = optionalNumber(t.referenceRobustSdHu);
    j["referenceVoxels"] = t.referenceVoxels;
  }
  return j;
}

json referenceRegionJson(const ReferenceRegion& r) {
  json j = {{"source", r.source}, {"structures", r.structures}};
  if (r.source == "automatic") {
    j["method"] = r.method;
    j["excluded"] = r.excluded;
    j["seconds"] = r.seconds;
  }
  if (!r.note.empty())
    j["note"] = r.note;
  return j;
}

/// "reference region: automatic, T12, L1, L2 (vertebral bodies ...; left out: L4: touches lesion 1 (L4); ...)".
std::string referenceRegionText(const ReferenceRegion& r) {
  if (r.source == "none")
    return "reference region: none (" + r.note + ")";
  std::string text = fmt::format("reference region: {}, {}", r.source, fmt::join(r.structures, ", "));
  if (r.source == "automatic") {
    const std::string excluded = r.excluded.empty() ? "none" : fmt::format("{}", fmt::join(r.excluded, "; "));
    text += fmt::format(" ({}; left out: {}; {:.1f} s)", r.method, excluded, r.seconds);
  }
  return text;
}

/// "calcification threshold 242 HU (unaffected bone: median 202 HU, robust SD 13 HU)" and the like.
std::string thresholdText(const CalcificationThreshold& t) {
  if (t.basis == "reference" && t.referenceMedianHu && t.referenceRobustSdHu)
    return fmt::format("calcification threshold {:.0f} HU (unaffected bone: median {:.0f} HU, robust SD {:.0f} HU)",
                       t.hu, *t.referenceMedianHu, *t.referenceRobustSdHu);
  return fmt::format("calcification threshold {:.0f} HU ({})", t.hu, t.basis);
}

std::optional<double> percent(double from, double to) {
  if (from <= 0.0)
    return std::nullopt;
  return 100.0 * (to - from) / from;
}

json changeJson(const TrackedLesion& base, const TrackedLesion& now) {
  json c;
  if (now.notEvaluable)
    return c;
  const double volume = now.disappeared ? 0.0 : now.volumeMl;
  const double longAxis = now.disappeared ? 0.0 : now.longAxisMm;
  const double shortAxis = now.disappeared ? 0.0 : now.shortAxisMm;
  c["volumePercent"] = optionalNumber(percent(base.volumeMl, volume));
  c["volumeMl"] = volume - base.volumeMl;
  c["longAxisPercent"] = optionalNumber(percent(base.longAxisMm, longAxis));
  c["longAxisMm"] = longAxis - base.longAxisMm;
  c["shortAxisPercent"] = optionalNumber(percent(base.shortAxisMm, shortAxis));
  c["shortAxisMm"] = shortAxis - base.shortAxisMm;
  if (base.meanHu && now.meanHu)
    c["meanHu"] = *now.meanHu - *base.meanHu;
  if (base.normalisedMeanHu && now.normalisedMeanHu)
    c["normalisedMeanHu"] = *now.normalisedMeanHu - *base.normalisedMeanHu;
  if (base.calcifiedVolumeMl && now.calcifiedVolumeMl)
    c["calcifiedVolumeMl"] = *now.calcifiedVolumeMl - *base.calcifiedVolumeMl;
  if (base.calcifiedFraction && now.calcifiedFraction)
    c["calcifiedFractionPoints"] = 100.0 * (*now.calcifiedFraction - *base.calcifiedFraction);
  if (base.nonCalcifiedVolumeMl && now.nonCalcifiedVolumeMl)
    c[nonCalcifiedKey(now.spec.kind, "VolumePercent")] =
        optionalNumber(percent(*base.nonCalcifiedVolumeMl, *now.nonCalcifiedVolumeMl));
  return c;
}

json lesionJson(const TrackedLesion& l, const TrackedLesion* base) {
  json j;
  j["trackingId"] = l.trackingId;
  j["label"] = l.spec.label;
  j["kind"] = l.spec.kind;
  j["name"] = l.spec.name;
  j["lymphNode"] = l.spec.lymphNode;
  j["maskMethod"] = l.maskMethod;
  j["disappeared"] = l.disappeared;
  j["notEvaluable"] = l.notEvaluable;
  j["notes"] = l.notes;
  if (l.measurement) {
    j["volumeMl"] = l.volumeMl;
    j["longAxisMm"] = l.longAxisMm;
    j["shortAxisMm"] = l.shortAxisMm;
    j["meanHu"] = optionalNumber(l.meanHu);
    j["calcifiedVolumeMl"] = optionalNumber(l.calcifiedVolumeMl);
    j["calcifiedFraction"] = optionalNumber(l.calcifiedFraction);
    j[nonCalcifiedKey(l.spec.kind, "VolumeMl")] = optionalNumber(l.nonCalcifiedVolumeMl);
    j["normalisedMeanHu"] = optionalNumber(l.normalisedMeanHu);
    j["centroidMm"] = {l.measurement->principalAxes.centroid.x, l.measurement->principalAxes.centroid.y,
                       l.measurement->principalAxes.centroid.z};
  }
  if (l.registration)
    j["registration"] = transformJson(*l.registration);
  if (l.deformable)
    j["deformableRegistration"] = deformableJson(*l.deformable, l.deformableUsed);
  if (l.changeMap)
    j["changeMapMeanHuInLesion"] = l.changeMapMeanHu;
  if (base)
    j["changeFromBaseline"] = changeJson(*base, l);
  return j;
}

json assessmentsJson(const std::vector<ResponseAssessment>& list) {
  json a = json::array();
  for (const ResponseAssessment& r : list) {
    json j;
    j["timepoint"] = r.timepoint;
    j["category"] = std::string(categoryAbbreviation(r.category));
    j["categoryName"] = std::string(categoryName(r.category));
    j["reason"] = r.reason;
    j["sum"] = r.sum;
    j["baselineSum"] = r.baselineSum;
    j["nadirSum"] = r.nadirSum;
    j["changeFromBaselinePercent"] = optionalNumber(r.changeFromBaselinePercent);
    j["changeFromNadirPercent"] = optionalNumber(r.changeFromNadirPercent);
    j["lesions"] = r.lesionIds;
    j["lesionNames"] = r.lesionNames; // lesions[i]'s name, as the lesion tables, SEG and SR call it
    a.push_back(j);
  }
  return a;
}

const TrackedLesion* findById(const TimePointResult& tp, const std::string& id) {
  for (const TrackedLesion& l : tp.lesions)
    if (l.trackingId == id)
      return &l;
  return nullptr;
}

} // namespace

std::string toTimelineJson(const Timeline& timeline) {
  json root;
  root["format"] = "lesionkit-followup-timeline";
  root["formatVersion"] = "1.0.0";
  root["conventions"] = {
      {"transform", "p_followup = rotation * p_baseline + translationMm, LPS millimetres (rotation row-major); "
                    "registration fixed image = baseline, moving image = follow-up"},
      {"metric", "Mattes mutual information, negated by ITK: lower is better"},
      {"deformableRegistration",
       "soft tissue with --soft-tissue-registration bspline: p_followup = rigid(p_baseline + d(p_baseline)), d a cubic "
       "B-spline on the lesion's region (zero outside it); coefficients in transforms/<tp>-<id>-bspline.tfm (ITK "
       "CompositeTransform); rigidMetricValue and finalMetricValue are over every voxel of the region; when used, the "
       "mask and change map follow it"},
      {"lyticVolume", "bone lesion volume below the calcification threshold"},
      {"nonCalcifiedVolume", "the same for a lesion that is not a bone lesion (soft tissue, lymph node, other)"},
      {"calcificationThreshold",
       "per time point (CT): basis reference = max(floor, median + k x robust SD of the reference region's interior "
       "voxels on that scan; robust SD = 1.4826 x median absolute deviation), fixed = the option at every time point, "
       "fallback = the floor because no usable reference region (see the time point's notes)"},
      {"referenceRegion",
       "the unaffected tissue of referenceMedianHu, referenceShiftHu and the reference threshold: given = the "
       "caller's reference labels; automatic = found on the baseline (structures used, excluded with why); none = "
       "note says why"},
      {"sliceThickness",
       "per time point, what RECIST 1.1 measurability (long axis >= max(10 mm, 2 x thickness)) used on that scan: "
       "source option = the caller's, dicom = the series' Slice Thickness (a NRRD/NIfTI: its convert sidecar's), "
       "spacing = the slice spacing; RECIST targets are the target lesions measurable at baseline"},
      {"normalisedMeanHu", "lesion mean HU minus referenceShiftHu: the change since baseline of the reference region's "
                           "median over its interior voxels, paired through the global transform"},
      {"changeMap", "follow-up minus baseline HU on a baseline-grid crop around the lesion; 0 where the follow-up has "
                    "no data"},
      {"axes", "RECIST long/short axes between voxel centres on an acquisition slice (see docs/measurement.md)"}};
  json tps = json::array();
  for (std::size_t t = 0; t < timeline.timePoints.size(); ++t) {
    const TimePointResult& tp = timeline.timePoints[t];
    json j;
    j["index"] = t;
    j["label"] = tp.label;
    addScanIdentity(tp.scan, j);
    j["grid"] = {{"size", tp.grid.size},
                 {"spacingMm", {tp.grid.spacing.x, tp.grid.spacing.y, tp.grid.spacing.z}},
                 {"originMm", {tp.grid.origin.x, tp.grid.origin.y, tp.grid.origin.z}},
                 {"direction", std::vector<double>(tp.grid.direction.m.begin(), tp.grid.direction.m.end())}};
    j["referenceMedianHu"] = optionalNumber(tp.referenceMedianHu);
    j["referenceShiftHu"] = optionalNumber(tp.referenceShiftHu);
    if (tp.calcificationThreshold)
      j["calcificationThreshold"] = thresholdJson(*tp.calcificationThreshold);
    j["sliceThicknessMm"] = measurement::sliceThicknessMmOf(tp.measuredWith, tp.grid);
    j["sliceThicknessSource"] = measurement::sliceThicknessSourceOf(tp.measuredWith);
    j["notes"] = tp.notes;
    if (tp.globalRegistration)
      j["globalRegistration"] = transformJson(*tp.globalRegistration);
    json lesions = json::array();
    for (const TrackedLesion& l : tp.lesions)
      lesions.push_back(lesionJson(l, t == 0 ? nullptr : findById(timeline.timePoints.front(), l.trackingId)));
    j["lesions"] = lesions;
    tps.push_back(j);
  }
  if (!timeline.timePoints.empty() && timeline.timePoints.front().referenceRegion)
    root["referenceRegion"] = referenceRegionJson(*timeline.timePoints.front().referenceRegion);
  root["timepoints"] = tps;
  json response;
  response["RECIST 1.1"] = assessmentsJson(timeline.recist);
  response["MDA bone"] = assessmentsJson(timeline.mdAnderson);
  response["inverse Choi"] = assessmentsJson(timeline.inverseChoi);
  json perLesion;
  for (const auto& [id, list] : timeline.recistPerLesion)
    perLesion[id] = assessmentsJson(list);
  response["RECIST 1.1 per lesion"] = perLesion;
  root["response"] = response;
  return root.dump(2) + "\n";
}

std::string toTimelineSummary(const Timeline& timeline) {
  std::ostringstream out;
  for (std::size_t t = 0; t < timeline.timePoints.size(); ++t) {
    const TimePointResult& tp = timeline.timePoints[t];
    out << fmt::format("{}:", tp.label);
    if (tp.globalRegistration)
      out << fmt::format(" registered (rotation {:.2f} deg, translation {}, metric {:.4f}, {:.1f} s)",
                         tp.globalRegistration->baselineToFollowup.angleDegrees(),
                         formatPoint(tp.globalRegistration->baselineToFollowup.translation),
                         tp.globalRegistration->finalMetricValue, tp.globalRegistration->seconds);
    out << '\n';
    if (tp.referenceRegion)
      out << "  " << referenceRegionText(*tp.referenceRegion) << '\n';
    if (tp.calcificationThreshold)
      out << "  " << thresholdText(*tp.calcificationThreshold) << '\n';
    // tp.notes are warnings, logged (stderr) where they arose and kept in the timeline JSON: not repeated here.
    for (const TrackedLesion& l : tp.lesions) {
      out << fmt::format("  {} {} ({}, {}{}): ", l.trackingId, l.spec.name, l.spec.kind, l.maskMethod,
                         l.deformableUsed ? ", B-spline" : "");
      if (l.notEvaluable)
        out << "not evaluable";
      else if (l.disappeared)
        out << "disappeared";
      else {
        out << fmt::format("{:.2f} mL, {:.1f} x {:.1f} mm", l.volumeMl, l.longAxisMm, l.shortAxisMm);
        if (l.meanHu)
          out << fmt::format(", mean {:.0f}", *l.meanHu);
        if (l.calcifiedFraction)
          out << fmt::format(", calcified {:.2f} mL ({:.0f} %), {} {:.2f} mL", *l.calcifiedVolumeMl,
                             100.0 * *l.calcifiedFraction, nonCalcifiedWord(l.spec.kind), *l.nonCalcifiedVolumeMl);
      }
      out << '\n';
    }
    auto line = [&](const std::vector<ResponseAssessment>& list) {
      if (t < list.size())
        out << fmt::format("  {}: {} - {}\n", list[t].criteria, categoryAbbreviation(list[t].category), list[t].reason);
    };
    line(timeline.recist);
    line(timeline.mdAnderson);
    line(timeline.inverseChoi);
  }
  return out.str();
}

} // namespace lesion::longitudinal
