#pragma once
/// \file LesionTracking.h
/// Follow-up of baseline lesions: register each follow-up to the baseline (global, then local
/// per lesion), carry each lesion's mask to the follow-up, re-segment it there or measure inside
/// the carried mask (an explicit choice, recorded per lesion), measure, and quantify change:
/// size, volume, density, calcified and remaining lytic volume, HU change normalised to a
/// reference region, and a voxel-wise HU change map.
///
/// Usage: measureBaseline() once, analyzeFollowup() per follow-up scan (one follow-up in memory
/// at a time), then buildTimeline() for the response categories over all time points.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/core/ScanIdentity.h"
#include "lesion/longitudinal/Registration.h"
#include "lesion/longitudinal/ResponseCriteria.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::longitudinal {

/// How a lesion's follow-up mask is obtained. Each lesion records the method used.
enum class FollowupMaskMethod {
  /// The external segmenter (FollowupOptions::segmenter) started from the mapped mask.
  Resegment,
  /// Built in: inside the mapped mask grown by FollowupOptions::growthMarginMm, the voxels whose
  /// value (averaged with its 6 face neighbours when noisy) lies in the baseline lesion's range (towards the
  /// surroundings:
  /// halfway between the lesion's median and the
  /// outer quartile of a shell around it), keeping the 6-connected component that covers most
  /// of the mapped mask, holes filled. In arbitrary units (MR) the window is scaled by the ratio
  /// of the median intensities around the lesion (scans differ by a gain).
  /// Follows shrinkage and growth up to the margin. When that component continues beyond the
  /// margin (growth beyond it, or a touching structure of the same density) the lesion is
  /// reported not evaluable rather than measured wrong.
  IntensityGated,
  /// The mapped baseline mask itself: the figures describe what is now inside the baseline
  /// lesion's footprint (bone: fill-in and sclerosis happen inside the original lytic cavity).
  MappedMask,
  /// Built in: a two-class intensity model (lesion vs its surroundings) learned on the baseline
  /// under and around the baseline mask, applied on the follow-up within BaselineModelOptions::
  /// bandMm of the mapped mask, regularised by region competition (a Potts prior, iterated
  /// conditional modes), keeping the part that overlaps the mapped mask most. The decision
  /// threshold is calibrated so that the same steps on the baseline give the baseline mask's
  /// volume (the reader's boundary). MR: intensities mapped on each scan to 0 at the median of a
  /// shell around the (mapped) mask and 1 at the bright level of the band. Holes are filled as
  /// the baseline mask has them (a mask that leaves a necrotic core out keeps it out). Lesion-like
  /// tissue continuing past the band: not evaluable. None found, a region too small or (MR) too
  /// faint against the baseline lesion (BaselineModelOptions::minVoxels, minContrastFraction):
  /// disappeared. MR: a follow-up bright level that is no lesion signal (the lesion shrank below
  /// the band's upper decile, or is gone) gives way to the baseline's scale. Also what
  /// FollowupMaskMethod::Resegment uses on MR when the segmenter refuses (the lesion's maskMethod
  /// and notes say so).
  BaselineModel
};

/// FollowupMaskMethod::BaselineModel settings (chosen on BrainTumorProgression 01, docs/followup.md).
struct BaselineModelOptions {
  /// How far (mm) from the mapped mask the lesion may lie (growth plus registration error). A
  /// wider band lets bright neighbours (vessels, meninges) join: +48 % instead of +30 % at 10 mm.
  double bandMm{5.0};
  /// MR normalisation shell: from this far (mm) outside the mask (nearer voxels mix in the lesion
  /// by partial volume, growth and registration error) ...
  double shellInnerMm{3.0};
  double shellOuterMm{15.0}; ///< ... to this far
  /// MR: the bright level (mapped to 1) is the upper quantile of this fraction of the voxels
  /// within bandMm of the mask, the mask included.
  double brightFraction{0.10};
  /// Weight of each face neighbour of the other class against a voxel's own log-likelihood ratio.
  double smoothness{0.5};
  /// MR, lesion signal: a level that stands above the shell median, in robust SDs of the shell, at
  /// least this fraction as far as the baseline's. The follow-up's bright level is its own only if
  /// it is lesion signal (BrainTumorProgression 01: 1.07 → 0.89), else the baseline's scale times
  /// the ratio of the shells' robust SDs: once the lesion is gone or fills less than the band's
  /// upper decile, that level is background texture, and stretching it to the lesion's range made
  /// noise a "lesion". The median of the region found must be lesion signal too (0.81 → 0.64
  /// there), or the lesion has disappeared.
  double minContrastFraction{0.5};
  /// A region found of fewer voxels than this is no measurable lesion: disappeared.
  std::size_t minVoxels{8};
};

/// "resegment", "intensity-gated", "mapped-mask", "baseline-model"; parse throws lesion::UsageError otherwise.
[[nodiscard]] std::string maskMethodName(FollowupMaskMethod method);
[[nodiscard]] FollowupMaskMethod parseMaskMethod(const std::string& text);

/// Registration of soft-tissue kinds (soft-tissue, lymph-node, other) beyond the global level.
enum class SoftTissueRegistration {
  Rigid,  ///< the local rigid level (or the global one without local refinement)
  BSpline ///< then a B-spline level on the lesion's box + deformableMarginMm (registerBSplineLocal)
};

/// "rigid", "bspline"; parse throws lesion::UsageError otherwise.
[[nodiscard]] std::string softTissueRegistrationName(SoftTissueRegistration method);
[[nodiscard]] SoftTissueRegistration parseSoftTissueRegistration(const std::string& text);

/// Re-segments one lesion on the follow-up from its mapped mask (same grid as `followup`, the
/// lesion has `spec.label`). Returns a mask on that grid holding spec.label; throws
/// lesion::ProcessingError when it cannot produce a trustworthy mask.
using ResegmentFunction =
    std::function<LabelMap(const Volume& followup, const LabelMap& mappedMask, const measurement::LesionSpec& spec)>;

/// The reference region of a follow-up (unaffected tissue: the HU drift and the calcification
/// threshold), where it came from and, when found automatically, what was left out and why.
struct ReferenceRegion {
  /// "given" (the caller's reference label map and labels), "automatic" (found on the baseline by
  /// FollowupOptions::referenceFinder) or "none".
  std::string source{"none"};
  std::string method;                  ///< automatic: how it was found
  std::vector<std::string> structures; ///< what it holds, e.g. {"T12", "L1", "L2"} ("label 12" when given)
  std::vector<std::string> excluded;   ///< automatic: structures left out, each with why ("L4: touches lesion 1 (L4)")
  std::string note;                    ///< none: why there is no reference region
  double seconds{0.0};                 ///< automatic: time spent finding it
};

/// A reference region found on the baseline: a label map on the baseline grid and its labels.
struct FoundReference {
  LabelMap map;
  std::vector<std::uint16_t> labels;
  ReferenceRegion region; ///< source "automatic", method, structures, excluded
};

/// Finds unaffected reference structures on the baseline (CT) that touch none of the followed
/// lesions (`lesions`, labels of `followed`). Throws lesion::Error (ProcessingError, InputError)
/// with the reason when it cannot; the follow-up then goes on without a reference region.
using ReferenceFinder = std::function<FoundReference(const Volume& baseline, const LabelMap& lesions,
                                                     const std::vector<measurement::LesionSpec>& followed)>;

/// How each time point's calcification threshold is chosen (CT).
struct CalcificationThresholdOptions {
  /// True ("auto"): from the unaffected bone of the time point itself, max(floor, median +
  /// referenceSdFactor × robust SD of the reference region's interior voxels), the floor being
  /// MeasurementOptions::calcificationThresholdHu; without a usable reference region the floor,
  /// with a note. False: MeasurementOptions::calcificationThresholdHu at every time point.
  bool fromReference{true};
  double referenceSdFactor{3.0};       ///< normal bone above median + 3 SD: about 1 voxel in 700
  std::size_t minReferenceVoxels{500}; ///< fewer interior voxels: no trustworthy spread, fall back
};

struct FollowupOptions {
  RegistrationOptions globalRegistration{};
  LocalRegistrationOptions localRegistration{};
  bool localRefinement{true}; ///< per-lesion rigid refinement after the global level
  double localMarginMm{30.0}; ///< region of the local refinement: lesion box + this margin
  /// Bone lesions: register the local level on this structure of the reference label map (e.g.
  /// lesion 1 → label 15 = its vertebra), box + margin, instead of the lesion's own box.
  std::map<std::uint16_t, std::uint16_t> anchorLabels{};
  /// Soft-tissue kinds (soft-tissue, lymph-node, other) and bone kinds (lytic-bone,
  /// sclerotic-bone). Resegment without a segmenter is a lesion::UsageError; when the segmenter
  /// throws lesion::ProcessingError the lesion is tracked by the baseline model on MR (CT:
  /// intensity-gated; on the CT phantom the model takes the touching muscle) and the failure is
  /// recorded in its notes (and logged).
  /// The library default is the built-in method: Resegment needs `segmenter`, which lives outside
  /// this module (lesion::pipeline::softTissueResegmenter wires segmentSoftTissueMass; the
  /// command, the demo and the patient pipeline set Resegment with it).
  FollowupMaskMethod softTissueMethod{FollowupMaskMethod::IntensityGated};
  FollowupMaskMethod boneMethod{FollowupMaskMethod::MappedMask};
  ResegmentFunction segmenter{}; ///< for soft-tissue kinds with FollowupMaskMethod::Resegment
  double growthMarginMm{10.0};   ///< IntensityGated: how far the lesion may have grown
  BaselineModelOptions baselineModel{};
  /// Soft-tissue kinds: rigid only, or a B-spline level after the rigid one. With BSpline the
  /// mapped mask and the change map follow the deformation; it is not used (and a note says
  /// why) when it does not improve the metric or moves the lesion centre more than 10 mm away
  /// from the rigid result.
  SoftTissueRegistration softTissueRegistration{SoftTissueRegistration::Rigid};
  DeformableRegistrationOptions deformableRegistration{};
  double deformableMarginMm{20.0}; ///< B-spline region: lesion box + this margin
  /// Which labels to follow and what they are; the thresholds also define calcified (>=
  /// the time point's calcification threshold) and remaining lytic (< it) volume.
  measurement::MeasurementOptions measurement{};
  /// Calcification threshold per time point: patient-relative (default) or fixed.
  CalcificationThresholdOptions calcification{};
  /// Labels of the reference label map whose mean HU normalises density change (e.g. the
  /// patient's unaffected vertebrae). Empty: no normalisation.
  std::vector<std::uint16_t> referenceLabels{};
  /// Without a reference label map, resolveReference() asks it for one on a CT baseline (the
  /// command, the demo and the patient pipeline wire lesion::pipeline::unaffectedVertebraeFinder,
  /// which needs the spine module: not a dependency of this one). Empty: no automatic reference.
  ReferenceFinder referenceFinder{};
  /// What referenceLabels are and where they came from (set by resolveReference; recorded at the
  /// baseline time point and in the timeline).
  ReferenceRegion referenceRegion{};
  /// A soft-tissue lesion (soft-tissue, lymph-node, other) whose mapped mask holds less than this
  /// fraction of voxels in [softTissueMinHu, softTissueMaxHu] has disappeared (CT only).
  double minSoftTissueFraction{0.10};
  double softTissueMinHu{-30.0};
  double softTissueMaxHu{200.0};
  bool changeMaps{true}; ///< voxel-wise HU change per lesion
  double changeMapMarginMm{5.0};
};

/// One lesion at one time point.
struct TrackedLesion {
  std::string trackingId; ///< persistent across time points: "T" + label ("T001")
  measurement::LesionSpec spec{};
  std::string maskMethod; ///< "baseline", "resegment", "baseline-model", "intensity-gated" or "mapped-mask"
  bool disappeared{false};
  /// No trustworthy follow-up mask: the mapped mask fell outside the scan, or tracking leaked
  /// into a neighbouring structure (notes say which). Not "disappeared": criteria give NE.
  bool notEvaluable{false};
  std::vector<std::string> notes;                              ///< why it disappeared, re-segmentation diagnostics, ...
  std::optional<measurement::LesionMeasurement> measurement{}; ///< unset when disappeared
  double volumeMl{0.0};
  double longAxisMm{0.0};
  double shortAxisMm{0.0};
  std::optional<double> meanHu{};
  std::optional<double> calcifiedVolumeMl{};
  std::optional<double> calcifiedFraction{};
  /// Lesion volume below the calcification threshold: the lytic volume of a bone lesion, the
  /// non-calcified part of a soft-tissue one.
  std::optional<double> nonCalcifiedVolumeMl{};
  /// meanHu − referenceShiftHu of the time point: density change free of scanner calibration
  /// drift. Unset without reference labels.
  std::optional<double> normalisedMeanHu{};
  /// The transform used for this lesion (local refinement, else global); unset at baseline.
  std::optional<RegistrationResult> registration{};
  /// Soft tissue with SoftTissueRegistration::BSpline: the B-spline level after `registration`.
  std::optional<DeformableRegistrationResult> deformable{};
  /// Whether the mask and change map went through `deformable` (else through `registration`).
  bool deformableUsed{false};
  /// Follow-up minus baseline HU on a baseline-grid crop around the lesion (follow-up sampled
  /// through the lesion's transform, trilinear; 0 where the follow-up has no data). Follow-ups only.
  std::optional<Volume> changeMap{};
  double changeMapMeanHu{0.0}; ///< mean of the map inside the baseline lesion
};

/// The calcification threshold a time point was measured with, and why.
struct CalcificationThreshold {
  double hu{130.0};
  /// "reference" (from the time point's unaffected bone), "fixed" (the option) or "fallback"
  /// (auto without a usable reference region: the floor; the time point's notes say why).
  std::string basis;
  /// The reference region's interior on this time point's own voxels (reference basis only).
  std::optional<double> referenceMedianHu{};
  std::optional<double> referenceRobustSdHu{}; ///< 1.4826 × median absolute deviation
  std::size_t referenceVoxels{0};
};

struct TimePointResult {
  std::string label; ///< "baseline", "follow-up-1", ...
  ImageGeometry grid{};
  std::optional<RegistrationResult> globalRegistration{}; ///< unset at baseline
  std::vector<TrackedLesion> lesions;
  LabelMap labels; ///< the tracked masks on this time point's grid
  /// Median HU of the reference region's interior (baseline: all of it; follow-up: the same
  /// baseline voxels, sampled through the global transform where the follow-up has data).
  std::optional<double> referenceMedianHu{};
  /// Follow-up minus baseline median over those same paired voxels: the density drift that
  /// normalisedMeanHu removes.
  std::optional<double> referenceShiftHu{};
  /// CT only: the threshold for calcified / lytic volume at this time point.
  std::optional<CalcificationThreshold> calcificationThreshold{};
  /// The options this time point's lesions were measured with: FollowupOptions::measurement with
  /// the time point's calcification threshold, and its slice thickness (see forScan).
  measurement::MeasurementOptions measuredWith{};
  std::vector<std::string> notes; ///< about the time point as a whole (e.g. a threshold fallback)
  /// Baseline only: the reference region used for every time point (FollowupOptions::referenceRegion).
  std::optional<ReferenceRegion> referenceRegion{};
  ScanIdentity scan{}; ///< set by the caller when known (the library never sees file headers)
};

/// `options` for measuring one scan (baseline or follow-up): RECIST measurability from that scan's own
/// Slice Thickness (`sliceThicknessMm`, unset when the scan does not say), decided by
/// measurement::withScanSliceThickness as `lesionkit measure` decides it. Which lesions are RECIST
/// targets follows from the baseline's.
[[nodiscard]] FollowupOptions forScan(FollowupOptions options, std::optional<double> sliceThicknessMm);

/// The reference region of a follow-up, to call before measureBaseline. With `given` (the
/// caller's reference label map) it is that map with options.referenceLabels (source "given").
/// Without it, on CT with options.referenceFinder set, the finder runs on the baseline: what it
/// finds is returned (pass its address as `reference` to measureBaseline and analyzeFollowup) and
/// options.referenceLabels / referenceRegion describe it; when it fails (any std::exception, e.g.
/// std::bad_alloc on a huge CT; a lesion::UsageError is rethrown), or on MR, or without a
/// finder, nullopt and options.referenceRegion.note says why (the calcification threshold then
/// falls back to its floor with that reason). Pins the followed labels first (options.measurement.
/// labels), so reference labels never change which lesions are followed.
[[nodiscard]] std::optional<LabelMap> resolveReference(const Volume& baseline, const LabelMap& lesions,
                                                       const LabelMap* given, FollowupOptions& options);

/// Whether the follow-ups re-segment soft-tissue lesions (FollowupMaskMethod::Resegment with a
/// segmenter).
[[nodiscard]] bool resegmentsSoftTissue(const FollowupOptions& options);

/// The baseline lesion map measured the way the follow-ups are: every followed soft-tissue lesion
/// that the follow-ups re-segment (FollowupMaskMethod::Resegment with options.segmenter) is
/// replaced by the segmenter's mask on the baseline itself, started from its given mask as the
/// follow-ups are from the mapped one, so that a change compares one method with itself (a
/// reader's contour and LesionKit's differ on the same unchanged mass; the given mask still places
/// the lesion at every time point). Where the segmenter refuses, the given mask stays. Each lesion
/// gets a note in `notes` (volumes of both, or why the given one stays). Other voxels and labels
/// are kept; a re-segmented lesion takes no voxel of another label.
[[nodiscard]] LabelMap resegmentBaselineLesions(const Volume& baseline, const LabelMap& lesions,
                                                const FollowupOptions& options, std::vector<std::string>& notes);

/// Measures the baseline lesions (and the reference region) as time point 0. `reference` may be
/// null, or the lesion map itself when it also holds the reference labels. Throws
/// lesion::InputError when grids differ or a label is absent.
[[nodiscard]] TimePointResult measureBaseline(const Volume& baseline, const LabelMap& lesions,
                                              const LabelMap* reference, const FollowupOptions& options,
                                              const std::string& label = "baseline");

/// Registers `followup` to the baseline and tracks every baseline lesion of `baselineResult`.
[[nodiscard]] TimePointResult analyzeFollowup(const Volume& baseline, const LabelMap& lesions,
                                              const LabelMap* reference, const TimePointResult& baselineResult,
                                              const Volume& followup, const std::string& label,
                                              const FollowupOptions& options, Progress progress = {});

/// Response over all time points (index 0 = baseline).
struct Timeline {
  std::vector<TimePointResult> timePoints;
  std::vector<TimePointObservation> observations;
  std::vector<ResponseAssessment> recist;
  std::vector<ResponseAssessment> mdAnderson;
  std::vector<ResponseAssessment> inverseChoi;
  /// Each lesion on its own under RECIST 1.1 (bone lesions included), by tracking ID.
  std::map<std::string, std::vector<ResponseAssessment>> recistPerLesion;
};

/// Per-time-point flags the images cannot give (reader-declared new lesions), by time point index.
struct TimelineFlags {
  std::vector<std::size_t> newLesionsAt{};
  std::vector<std::size_t> newBoneLesionsAt{};
};

/// Observations → RECIST 1.1, MDA bone and inverse Choi (density: normalised mean HU when a
/// reference region was given). Moves the time points into the timeline.
[[nodiscard]] Timeline buildTimeline(std::vector<TimePointResult> timePoints, const TimelineFlags& flags = {});

/// RECIST 1.1 §4.2: whether a baseline lesion is a target, summed at every time point: the lesion
/// spec names it a target and it was measurable at baseline (targets are chosen there, whatever they
/// measure later).
[[nodiscard]] bool isRecistTarget(const TrackedLesion& baselineLesion);

/// The tracking IDs of the baseline's RECIST targets (isRecistTarget).
[[nodiscard]] std::set<std::string> recistTargets(const TimePointResult& baseline);

/// The observation of a tracked lesion the response criteria read; `recistTarget`: whether it is
/// one of the baseline's RECIST targets (recistTargets).
[[nodiscard]] LesionObservation observationOf(const TrackedLesion& lesion, bool recistTarget);

/// The per-patient timeline as JSON: time points, per lesion the figures and their change from
/// baseline, transforms (baseline → follow-up LPS), response categories with reasons.
[[nodiscard]] std::string toTimelineJson(const Timeline& timeline);

/// A few lines for people: per time point the transform, per lesion the figures and
/// categories.
[[nodiscard]] std::string toTimelineSummary(const Timeline& timeline);

} // namespace lesion::longitudinal
