#pragma once
/// \file BoneFocusDetection.h
/// Skeleton-wide bone foci on CT: sclerotic (dense) and lytic (low-density) compact blobs in the
/// medullary interior of any bone (vertebrae, ribs, scapula, pelvis...), each judged against the
/// local background of the interior bone around it. Unlike detectLyticLesions it needs no spine
/// model; its vertebra labels, when given, only name the bone a focus sits in.
///
/// Method (details and measured figures in docs/spine.md): grids finer than 1.6 mm in-plane are
/// averaged in n x n in-plane blocks; bone = 3x3x3-mean HU >= boneThresholdHu (no averaging along
/// steps over 2 mm); its marrow = plane holes (after a 3x3 closing, up to maxHoleAreaMm2) in at
/// least two of the axial, coronal and sagittal planes, so the spinal canal or the thorax is never
/// filled; interior = the filled bone eroded by corticalThicknessMm (the normal bright cortex is
/// never a focus); background = median and robust SD (1.4826 MAD) of the interior within
/// backgroundRadiusMm, on a 4 mm block grid; foci = 26-connected cores clearly above (sclerotic:
/// 5x5x5-voxel weighted mean over the interior) or below (lytic: 3x3x3 mean, soft-tissue density)
/// their background, grown by up to 2 mm at half the margin, labelled when compact, within the size
/// limits, not on the cortex, in trabecular bone and confident enough.

#include <cstdint>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {

struct BoneFocusOptions {
  double boneThresholdHu{200.0};
  /// Largest marrow hole (mm^2 in one plane) filled into the bone: a lumbar body is ~1200 mm^2.
  double maxHoleAreaMm2{2500.0};
  /// The filled bone is eroded by this much (at least the largest spacing) to leave the cortex out.
  double corticalThicknessMm{2.0};
  /// Neighbourhood (half-width of a cube) of the local background.
  double backgroundRadiusMm{12.0};
  /// Sclerotic: the 5x5x5-voxel weighted mean at least this far above the local background
  /// median, and noiseFactor robust SDs above it.
  double minScleroticContrastHu{150.0};
  double noiseFactor{3.0};
  /// Lytic: at least this far below the background, below lyticMaxHu, not fat (above lyticMinHu).
  double minLyticContrastHu{100.0};
  double lyticMaxHu{100.0};
  double lyticMinHu{-30.0};
  /// Size limits on the largest extent of a focus (mm) and its volume (also at least 2 x 2 x 2 voxels).
  double minExtentMm{2.0};
  double maxExtentMm{30.0};
  double minScleroticVolumeMl{0.05};
  double minLyticVolumeMl{0.3};
  /// Plates (smallest / largest principal SD below it) are cortex remnants, not foci.
  double minCompactness{0.3};
  /// Regions with more of their surface on the cortex (the interior's edge) are not foci: dense,
  /// thick cortical bone (articular processes, pedicles, endplates), or low density between
  /// cortices (joints, foramina; also a lytic lesion that breaks through the cortex: see
  /// detectLyticLesions for those in the vertebral bodies).
  double maxCortexContact{0.5};
  /// Foci whose background varies more (robust SD) do not lie in trabecular bone: an organ
  /// passing the bone threshold with contrast medium (kidney in the excretory phase).
  double maxBackgroundSdHu{200.0};
  bool sclerotic{true};
  bool lytic{true};
  double minConfidence{0.5}; ///< foci below it are listed but not labelled
};

struct BoneFocus {
  int id{0};            ///< label value in BoneFocusResult::foci (0 when not labelled)
  std::string kind;     ///< "sclerotic-bone" or "lytic-bone"
  std::string bone;     ///< "vertebra" (with level) or "other bone"; "bone" without spine labels
  std::string level;    ///< vertebra level when bone == "vertebra"
  double confidence{0}; ///< 0..1 from contrast, size and compactness
  double volumeMl{0};   ///< voxel count x voxel volume
  double meanHu{0};
  double backgroundHu{0};        ///< local median of the interior bone
  double backgroundSdHu{0};      ///< its robust SD (texture and noise)
  double contrastHu{0};          ///< meanHu - backgroundHu
  double compactness{0};         ///< smallest / largest principal SD
  Vec3 centroid{};               ///< LPS mm
  Vec3 boundsMin{}, boundsMax{}; ///< axis-aligned LPS box including the voxels
  bool labelled{false};
  std::string reason;
};

struct BoneFocusResult {
  LabelMap foci; ///< focus n = label n (labelled foci only)
  std::vector<BoneFocus> candidates;
  double boneVolumeMl{0};     ///< filled bone searched
  double interiorVolumeMl{0}; ///< its medullary interior
};

/// Finds sclerotic and lytic foci anywhere in the skeleton. `spine` (segmentSpine on the same
/// grid) may be null: its vertebra labels name the bone of each focus ("bone" without them). Only
/// marrow closed by cortex is searched: on 3 mm slices that leaves out most vertebral bodies
/// (detectLyticLesions searches them).
/// Foci are numbered from `firstId` (to follow the vertebral lesions in one label map).
[[nodiscard]] BoneFocusResult detectBoneFoci(const Volume& ct, const SpineResult* spine,
                                             const BoneFocusOptions& options = {}, int firstId = 1,
                                             Progress progress = {});

} // namespace lesion::spine
