#pragma once
/// \file FollowupRun.h
/// The follow-up step as files: baseline measurement, each follow-up registered, tracked and
/// measured (one follow-up volume in memory at a time), then the response timeline; written
/// into a (staged) folder. `lesionkit followup` and the per-patient batch step both run it.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/core/ScanIdentity.h"
#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::pipeline {

/// A loaded scan and its Slice Thickness (its DICOM series', or a NRRD/NIfTI's convert sidecar's;
/// unset when neither says): RECIST measurability uses it, as `lesionkit measure` does.
struct ScanVolume {
  /// Explicit: a plain Volume has no thickness, and passing one silently would measure with the spacing.
  explicit ScanVolume(Volume volume, std::optional<double> sliceThicknessMm = std::nullopt)
      : volume(std::move(volume)), sliceThicknessMm(sliceThicknessMm) {}
  Volume volume;
  std::optional<double> sliceThicknessMm;
};

/// A follow-up time point, loaded only when its turn comes.
struct FollowupSource {
  std::string label;  ///< names its files: measurements-<label>.json, labels/<label>.nrrd
  std::string source; ///< where it came from (a path or a series UID), recorded in the report
  std::function<ScanVolume()> load;
  /// With FollowupRunInput::bundles: the DICOM identity of its series (for SEG/SR), if DICOM.
  std::function<reporting::DicomSourceInfo()> dicomSource{};
  ScanIdentity identity{}; ///< what is known of it before loading: checked, then recorded in timeline.json
};

struct FollowupRunInput {
  const Volume* baseline{nullptr};
  std::optional<double> baselineSliceThicknessMm{}; ///< as ScanVolume::sliceThicknessMm
  std::string baselineLabel{"baseline"};
  std::string baselineSource{};
  const LabelMap* lesions{nullptr}; ///< baseline lesion label map (baseline grid)
  std::string lesionsSource{};
  /// What made `lesions` (the baseline SEG says so; MANUAL claims no algorithm). The follow-up
  /// label maps are LesionKit's: tracked from them (AUTOMATIC when LesionKit found them
  /// automatically, else SEMIAUTOMATIC), recorded in labels/<label>.nrrd and their SEGs.
  reporting::SegmentAlgorithm lesionsAlgorithm{};
  /// The LesionKit version recorded in the lesion map, when LesionKit made it: kept in the baseline's
  /// labels/<label>.nrrd (else toolVersion is recorded).
  std::string lesionsVersion{};
  /// Measure the baseline's re-segmented soft-tissue lesions the way the follow-ups are
  /// (longitudinal::resegmentBaselineLesions; lesionkit followup --baseline-mask resegment), not the
  /// given masks, which then only place the lesions. The baseline label map is then LesionKit's.
  bool resegmentBaseline{false};
  /// The caller offers resegmentBaseline as `--baseline-mask resegment` (lesionkit followup, where
  /// the lesions are the reader's): when it is off and soft-tissue lesions are re-segmented at the
  /// follow-ups, a warning and the baseline's notes say that the change mixes the two methods.
  bool offersBaselineResegmentation{false};
  const LabelMap* reference{nullptr}; ///< optional reference structures (baseline grid)
  /// Notes about the baseline inputs (e.g. a cropped lesion map placed into the baseline grid): the
  /// baseline time point's notes (timeline.json, measurements-<baseline>.json warnings).
  std::vector<std::string> baselineNotes{};
  std::vector<FollowupSource> followups{};
  longitudinal::FollowupOptions options{};
  longitudinal::TimelineFlags flags{};
  std::string toolVersion{};
  std::string command{"followup"};
  /// Screen every follow-up's spine for lytic lesions (lesionkit spine --auto) and propose the
  /// candidates that no tracked lesion explains as new lesions (new-lesions.json). Proposals
  /// only: a reader confirms them (lesionkit followup --new-lesions-at) before they count.
  bool proposeNewLytic{false};
  /// Also write, per time point, timepoints/<label>/ with DICOM SEG and SR (TID 1500), QC
  /// pictures, report.json/table.csv and report.html (writeResultBundle; no meshes).
  bool bundles{false};
  std::function<reporting::DicomSourceInfo()> baselineDicomSource{};
  ScanIdentity baselineIdentity{};
};

/// A lytic candidate on a follow-up that no tracked lesion overlaps or lies close to.
struct NewLesionProposal {
  std::string timePoint;
  std::string level;
  double confidence{0.0};
  double volumeMl{0.0};
  Vec3 centroidMm{};         ///< follow-up LPS
  Vec3 baselineCentroidMm{}; ///< mapped back through the global registration
  std::string reason;
};

/// What writeFollowupRun wrote besides the timeline itself.
struct FollowupRunOutput {
  longitudinal::Timeline timeline;
  std::string csvHeader;                  ///< header line of measurements.csv
  std::vector<std::string> csvRows{};     ///< per time point: its rows of measurements.csv (one per measured lesion)
  std::vector<NewLesionProposal> newLesions{}; ///< with proposeNewLytic
};

/// Throws lesion::InputError naming both scans when `followup` cannot be a follow-up of
/// `baseline`: another patient (both PatientIDs known and different), dated before it, or the
/// baseline series itself. What is unknown (empty) is not checked.
void requireFollowupOfBaseline(const ScanIdentity& baseline, const std::string& baselineSource,
                               const ScanIdentity& followup, const std::string& followupSource);

/// Throws lesion::InputError naming both scans when the follow-ups are not in the order they were
/// taken (a study date before the one given before it) or one scan is given twice (the same
/// SeriesInstanceUID). What is unknown (empty) is not checked.
void requireFollowupsInOrder(const std::vector<FollowupSource>& followups);

/// Writes, under `folder` (existing; stage it with lesion::StagedOutputFolder): timeline.json,
/// measurements.csv, measurements-<label>.json (report schema v1), labels/<label>.nrrd,
/// transforms/<label>.tfm (baseline to follow-up points, ITK format; per lesion
/// <label>-<id>.tfm and, with the B-spline level, <label>-<id>-bspline.tfm) and, when
/// options.changeMaps, changemaps/<label>-<lesion>.nrrd; with proposeNewLytic, new-lesions.json;
/// with bundles, timepoints/<label>/ (seg.dcm, sr.dcm, qc/, report.html...).
/// Every follow-up is checked against the baseline and the follow-ups against each other first
/// (requireFollowupOfBaseline, requireFollowupsInOrder).
/// Errors name the time point's source.
FollowupRunOutput writeFollowupRun(const FollowupRunInput& input, const std::filesystem::path& folder,
                                   const Progress& progress = {});

/// ITK transform file text of p_followup = R p_baseline + t (what Slicer and elastix read).
[[nodiscard]] std::string itkTransformText(const RigidTransform& transform);

/// ITK transform file text of p_followup = rigid(p_baseline + d(p_baseline)): a CompositeTransform
/// of the affine (rigid) transform and the BSplineTransform (order 3) applied first.
[[nodiscard]] std::string itkTransformText(const longitudinal::DeformableTransform& transform);

} // namespace lesion::pipeline
