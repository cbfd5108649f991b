#pragma once
/// \file SpineSegmentation.h
/// Vertebrae by level on CT: bone mask, spinal column model, vertebral bodies separated at the
/// discs, levels counted from the sacrum (or checked against the lowest rib-bearing vertebra),
/// per-body volume, trabecular density, anterior/middle/posterior heights and the Genant
/// semi-quantitative fracture grade.
///
/// Genant HK et al., Vertebral fracture assessment using a semiquantitative technique,
/// J Bone Miner Res 1993;8:1137-1148, doi:10.1002/jbmr.5650080915.
///
/// Plain values in and out; all points and distances in patient LPS millimetres.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Error.h"
#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"

namespace lesion::spine {

/// Label value of a level in vertebra label maps: the TotalSegmentator (v2, "total" task)
/// numbering, so our maps compare directly with that tool's: S1 26 (the first sacral segment without
/// the alae; the rest of the sacrum is kSacrumRestLabel), L5 27, L4 28,
/// L3 29, L2 30, L1 31, T12 32, T11 33, ... T1 43, C7 44, ... C1 50.
[[nodiscard]] std::uint16_t labelOfLevel(const std::string& level);
/// The sacrum below the first sacral segment (and its alae): TotalSegmentator's `sacrum` label.
/// Our S1 (26) is the first sacral segment, as theirs (`vertebrae_S1`); see segmentSpine.
inline constexpr std::uint16_t kSacrumRestLabel = 25;
/// "S1", "L5", ..., "C1" for a label of labelOfLevel(); empty for any other value (also 25).
[[nodiscard]] std::string levelOfLabel(std::uint16_t label);
/// The level `steps` vertebrae above `level` (negative: below); empty when outside C1..S1.
/// Throws lesion::UsageError for an unknown level name.
[[nodiscard]] std::string levelAbove(const std::string& level, int steps);

/// Genant grade from the height-loss ratio: 0 below 0.20, 1 for 0.20-0.25, 2 for 0.25-0.40, 3 above.
[[nodiscard]] int genantGrade(double heightLossRatio);

/// How the levels were assigned.
enum class LevelAnchor {
  UserSeed, ///< --level LEVEL --seed x,y,z: the body at (or nearest to) the seed has that level
  Sacrum,   ///< the lowest body with sacral alae (wide bone at body level) is S1
  LowestRib ///< no sacrum in view (or one known by its height alone next to merged bodies: it may be
            ///< L5 and S1 merged): the lowest body with ribs on both sides is T12
};
[[nodiscard]] const char* anchorName(LevelAnchor anchor);

struct SpineOptions {
  /// Bone: HU at or above it (cortex, endplates, dense trabecular bone). The vertebral bodies are
  /// then filled per slice, so porotic trabecular bone below it still counts.
  double boneThresholdHu{180.0};
  /// Body bone in the axial slices that are filled: lower than boneThresholdHu, because at 3 mm
  /// the thin cortex of a porotic body is partial-volumed to 130..250 HU; discs stay below it.
  double bodyThresholdHu{130.0};
  /// Search radius (in the axial plane) around the column centre line for body bone.
  double bodySearchRadiusMm{35.0};
  /// Whole vertebrae (posterior elements) are grown within this lateral distance of the centre line;
  /// it keeps ribs and the pelvis out.
  double maxLateralMm{45.0};
  /// Posterior elements go to the body with the shortest path through bone, a step towards the
  /// head costing this many times its length: the arch of a vertebra hangs down from its pedicles
  /// (laminae, spinous and inferior articular processes reach the level of the body below), so
  /// the upper vertebra wins the arch behind the disc and the top of the body below it.
  double superiorStepCost{1.5};
  /// Thoracic vertebrae keep their posterior elements within this lateral distance of the centre
  /// line: beyond it lie the rib heads and necks (ribs are not part of the vertebra). Thoracic
  /// transverse processes reaching further are cut there.
  double thoracicMaxLateralMm{30.0};
  /// Height of the first sacral segment along the column axis below its top when L5 is missing
  /// or deformed (otherwise L5's mean body height is used: S1 is about as tall as L5).
  double s1SegmentHeightMm{30.0};
  /// The first sacral segment keeps its arch within this margin lateral to its body (the alae
  /// beyond go to the rest of the sacrum, as in TotalSegmentator's labels); with L5 found, also
  /// within L5's half-width about the lumbar column's lateral line, slice by slice.
  double s1LateralMarginMm{4.0};
  /// Optional anchoring: the body holding (or nearest to) `anchorSeed` gets `anchorLevel`.
  std::optional<std::string> anchorLevel{};
  std::optional<Vec3> anchorSeed{};
};

/// One vertebra. Heights are measured along the column axis between the endplates in the
/// mid-sagittal plane of the body, at its anterior edge, centre and posterior edge (endplate
/// positions to sub-voxel precision from the half-height crossing of the HU profile, each
/// endplate fitted by a line over a third of the body's depth around the position).
struct VertebraMeasurement {
  std::string level;            ///< "L4"
  std::uint16_t label{0};       ///< labelOfLevel(level)
  double bodyVolumeMl{0};       ///< voxel-count volume of the body (envelope filled per slice)
  double vertebraVolumeMl{0};   ///< body + posterior elements
  double meanTrabecularHu{0};   ///< mean over the body eroded by 3 mm (cortex and endplates excluded)
  double anteriorHeightMm{0};
  double middleHeightMm{0};
  double posteriorHeightMm{0};
  double depthMm{0};            ///< anterior-posterior depth of the body in its mid-sagittal plane
  /// 1 - min(anterior, middle, posterior) / reference, the reference being the mean height of the
  /// nearest undeformed neighbours above and below (own maximum height when there is none).
  double heightLossRatio{0};
  double referenceHeightMm{0};
  int genantGrade{0}; ///< 0 when not graded (see graded)
  bool graded{false}; ///< false for the sacrum, bodies cut by the scan edge and merged bodies
  Vec3 bodyCentroid{};
  Vec3 axisDirection{0, 0, 1};  ///< local column axis (unit, pointing superior)
  bool complete{true};          ///< false when the body touches the top or bottom of the scan
  /// The level name hangs on a count across a body of implausible size (several merged where a
  /// disc was missed; markDoubtfulLevels): that body and those counted past it from the anchor.
  bool levelDoubtful{false};
};

struct SpineResult {
  LabelMap vertebrae;           ///< whole vertebrae (body + posterior elements), labelOfLevel()
  LabelMap bodies;              ///< vertebral bodies only, same labels
  std::vector<VertebraMeasurement> levels; ///< from the top down
  LevelAnchor anchor{LevelAnchor::Sacrum};
  std::string lowestRibBearingLevel; ///< empty when no ribs were found
  std::vector<Vec3> centreLine; ///< column centre per slice (body centre), index k order
  std::size_t discCount{0};     ///< intervertebral discs found along the column
  std::vector<Vec3> discCentres;///< their centres on the centre line (LPS), index k order
  std::vector<std::string> warnings;
};

/// segmentSpine found vertebral bodies but nothing fixes their levels: no sacrum, no rib and no
/// anchor (SpineOptions::anchorLevel with anchorSeed) given.
class NoLevelAnchorError : public ProcessingError {
public:
  using ProcessingError::ProcessingError;
};

/// Segments and labels the spine in a CT volume (HU). Needs roughly axial slices (the slice
/// axis within 30 degrees of superior-inferior). Throws lesion::ProcessingError when no column is
/// found, NoLevelAnchorError when no anchor (sacrum, ribs or the user's level and seed) fixes the
/// levels, and lesion::InputError for a non-axial grid. A body of implausible size
/// (implausibleBodySize) gets a warning; bodies that make no spine (implausibleSpine) a ProcessingError.
[[nodiscard]] SpineResult segmentSpine(const Volume& ct, const SpineOptions& options = {}, Progress progress = {});

/// Heights and measurements of one body mask (non-zero voxels of `bodies` equal to `label`),
/// exposed for tests and for masks from other tools. Heights are read along the body's own
/// superior-inferior axis: `axisLps` when given (segmentSpine passes the column's axis at the
/// level, from the neighbours' centroids), else the line through the centroids of the body's
/// sections across its middle half.
[[nodiscard]] VertebraMeasurement measureVertebralBody(const Volume& ct, const LabelMap& bodies, std::uint16_t label,
                                                       const std::optional<Vec3>& axisLps = std::nullopt);

/// Fills height-loss ratio, reference height and Genant grade of each entry from its neighbours
/// (entries ordered from the top down, as segmentSpine returns them): the reference is the mean
/// height of the nearest undeformed, complete, plausible (implausibleBodySize) body within two
/// levels on each side, S1 excepted. S1, incomplete and implausible bodies are not graded (graded false, grade 0).
void gradeHeightLoss(std::vector<VertebraMeasurement>& levels);

/// Why entry `n` of `levels` (ordered from the top down, as segmentSpine returns them) is too tall
/// or too big for one vertebral body, empty when it is plausible: its smallest height is at least
/// 1.5 x, or its body volume at least 2 x, the median (mean heights; volumes) of the other complete
/// bodies within three levels. Several bodies merged where a disc was not found (6 mm slices of the
/// phantom: one "body" 102 mm tall and 128 mL next to 30 mm, 33-43 mL) are 2 x or more; adjacent
/// normal levels differ by less than 1.2 x. C1, C2 (the dens) and S1 are neither judged nor part
/// of the basis; fewer than two bodies in the basis: empty.
[[nodiscard]] std::string implausibleBodySize(const std::vector<VertebraMeasurement>& levels, std::size_t n);

/// Marks levelDoubtful on each entry of `levels` (ordered from the top down) whose name was counted
/// from `anchorLevel` (S1, T12 or the user's level) across or onto a body of implausible size
/// (implausibleBodySize): such a body stands for several vertebrae, so it and every body past it,
/// seen from the anchor, may be named one or more levels off (6 mm slices of the phantom, counted
/// down from T12: "L1" holds L1-L3, so L1, L4 and L5 are doubtful). When the anchor is not among the
/// levels (a sacrum below them) it counts as lying below the lowest entry.
void markDoubtfulLevels(std::vector<VertebraMeasurement>& levels, const std::string& anchorLevel);

/// True when `level` is one of `levels` with levelDoubtful set.
[[nodiscard]] bool levelIsDoubtful(const std::vector<VertebraMeasurement>& levels, const std::string& level);

/// Why `levels` (segmentSpine's bodies) are no vertebral column, empty when they may be one: at least
/// one body must be complete (not cut by the scan edge: a cut body's size proves nothing) and of an
/// adult vertebral body's size (1.5-100 mL, the example CT's lumbar bodies reach 59 mL; mean height
/// 8-50 mm, lumbar about 25-35 mm). Bone of a head CT found as "T11 161 mL, T12 21 mL", both cut, is
/// not. segmentSpine throws a ProcessingError ("no spine found: ...") when this is not empty.
[[nodiscard]] std::string implausibleSpine(const std::vector<VertebraMeasurement>& levels);

} // namespace lesion::spine
