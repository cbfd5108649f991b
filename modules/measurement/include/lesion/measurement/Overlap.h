#pragma once
/// \file Overlap.h
/// Agreement between two segmentations on one grid: the figures validation reports quote.

#include <cstdint>
#include <functional>

#include "lesion/core/Image.h"

namespace lesion::measurement {

/// Selects the voxels of a label map that belong to the structure being compared.
using LabelSelector = std::function<bool(std::uint16_t)>;

/// Dice coefficient 2|A∩B| / (|A| + |B|) of the selected voxels; 1 when both are empty.
/// Throws lesion::InputError when the maps are not on the same grid.
[[nodiscard]] double diceCoefficient(const LabelMap& a, const LabelSelector& inA, const LabelMap& b,
                                     const LabelSelector& inB);

/// Dice of label `labelA` of `a` against label `labelB` of `b`.
[[nodiscard]] double diceCoefficient(const LabelMap& a, std::uint16_t labelA, const LabelMap& b, std::uint16_t labelB);

} // namespace lesion::measurement
