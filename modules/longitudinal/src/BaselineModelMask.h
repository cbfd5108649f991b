#pragma once
/// \file BaselineModelMask.h
/// Internal: the follow-up mask of FollowupMaskMethod::BaselineModel (see LesionTracking.h).

#include <cstdint>
#include <string>

#include "lesion/core/Image.h"
#include "lesion/longitudinal/LesionTracking.h"

namespace lesion::longitudinal::detail {

/// What the baseline model found, for the lesion's notes.
struct BaselineModelReport {
  std::size_t baselineVoxels{0};
  double baselineHoleFraction{0.0}; ///< in-plane holes of the baseline mask / its voxels (< 2 %: filled)
  double bias{0.0};                 ///< calibrated on the baseline, added to every log-likelihood ratio
  /// Set when the follow-up has no lesion (the mask returned is empty): why, for the lesion's notes.
  std::string disappearedBecause;
};

/// The lesion `label` of `lesions` (baseline grid) re-segmented on `followup` from `mapped` (its
/// mask carried to the follow-up grid). `arbitraryUnits`: MR, normalise each scan around the
/// lesion. Returns a mask on the follow-up grid, empty when what it finds is no lesion (nothing, or
/// fewer than options.minVoxels voxels; MR: a contrast-to-noise ratio below options.
/// minContrastFraction of the baseline lesion's), the report saying why; throws
/// lesion::ProcessingError when the lesion continues past options.bandMm (a leak or growth beyond it).
[[nodiscard]] LabelMap baselineModelMask(const Volume& baseline, const LabelMap& lesions, const Volume& followup,
                                         const LabelMap& mapped, std::uint16_t label,
                                         const BaselineModelOptions& options, bool arbitraryUnits,
                                         BaselineModelReport* report = nullptr);

} // namespace lesion::longitudinal::detail
