#pragma once
/// \file LyticLesionDetection.h
/// Osteolytic vertebral lesions on CT: low-density regions inside the vertebral body envelope
/// (the envelope rebuilt across cortical breaks by a convex hull per slice), their soft-tissue
/// component beyond the cortex, and sclerotic parts inside the lesion envelope. Normal variants
/// are rejected by size, shape and contrast rules: the basivertebral vein channel (thin, posterior
/// midline) and fatty marrow (diffuse, mild lowering).

#include <cstdint>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {

/// Component labels of LyticResult::components.
namespace component {
constexpr std::uint16_t Lytic = 1;      ///< lytic part inside the vertebral envelope
constexpr std::uint16_t SoftTissue = 2; ///< soft-tissue part beyond the cortex
constexpr std::uint16_t Sclerotic = 3;  ///< sclerotic / calcified part inside the lesion envelope
} // namespace component

struct LyticOptions {
  /// A voxel is lytic when its HU is below min(trabecular median - minContrastHu,
  /// (trabecular median + soft tissue) / 2); soft tissue is taken as 40 HU.
  double minContrastHu{70.0};
  double softTissueHu{40.0};
  double scleroticThresholdHu{300.0};
  double minVolumeMl{0.3};         ///< smaller low-density regions are not reported
  /// Thinner regions are not reported (2 x largest inscribed radius - one voxel: a 3 mm slice
  /// needs three voxels across).
  double minThicknessMm{4.5};
  /// Small low-density regions in the posterior midline of the body (within 8 mm of the
  /// mid-sagittal plane, behind the body centre) below this volume are the basivertebral vein
  /// channel, not lesions.
  double veinChannelMaxVolumeMl{2.5};
  double minConfidence{0.5};       ///< candidates below it are listed but not labelled
  /// Also report sclerotic (blastic) foci: dense cores inside a body, at least minScleroticContrastHu
  /// above its trabecular median and above scleroticThresholdHu, away from the endplates and the
  /// pedicle bases (kind "sclerotic-bone", component Sclerotic). Off by default: a benign bone
  /// island (enostosis) looks the same.
  bool scleroticFoci{false};
  double minScleroticContrastHu{150.0};
  double minScleroticVolumeMl{0.1};
  /// Only look in these levels ("L4"); empty: every vertebra (--auto).
  std::vector<std::string> levels{};
};

struct LyticLesion {
  int id{0};                       ///< label value in LyticResult::lesions (1, 2, ...)
  std::string level;               ///< vertebra holding most of it
  std::string kind{"lytic-bone"};  ///< the measurement kind: lytic-bone, or sclerotic-bone for a dense focus
  double confidence{0};            ///< 0..1 from size, contrast and compactness
  double volumeMl{0};              ///< whole lesion: lytic + soft-tissue + sclerotic parts
  double lyticVolumeMl{0};
  double softTissueVolumeMl{0};
  double scleroticVolumeMl{0};
  double meanHu{0};                ///< of the lytic part
  double trabecularReferenceHu{0}; ///< median HU of the vertebra's trabecular bone
  bool corticalBreach{false};      ///< the lesion reaches beyond the body envelope
  double breachAreaMm2{0};         ///< area of envelope surface crossed by the lesion
  Vec3 centroid{};
  Vec3 boundsMin{}, boundsMax{};   ///< axis-aligned LPS box including the voxels
  bool labelled{true};             ///< confidence >= minConfidence: present in the label maps
  std::string reason;              ///< why (in words) it was accepted or only listed
};

struct LyticResult {
  LabelMap lesions;                ///< lesion n (whole lesion) = label n
  LabelMap components;             ///< component:: labels
  std::vector<LyticLesion> candidates;
};

/// Finds lytic lesions in the vertebral bodies of `spine` (from segmentSpine on the same volume).
[[nodiscard]] LyticResult detectLyticLesions(const Volume& ct, const SpineResult& spine, const LyticOptions& options = {},
                                             Progress progress = {});

/// The detected lesions under `seeds` (LPS mm) as one mask of value `labelValue` (all of them
/// when `seeds` is empty). Throws lesion::ProcessingError naming the seed when no lesion lies
/// under it, or when no lesion was detected at all.
[[nodiscard]] LabelMap lyticLesionsAtSeeds(const LyticResult& lytic, const std::vector<Vec3>& seeds,
                                           std::uint16_t labelValue = 1);

/// Spine labelling, lytic lesion detection and the lesion(s) under `seeds`, in one call: what
/// `lesionkit segment --kind lytic` does.
[[nodiscard]] LabelMap segmentLyticLesion(const Volume& ct, const std::vector<Vec3>& seeds, std::uint16_t labelValue = 1,
                                          Progress progress = {});

} // namespace lesion::spine
