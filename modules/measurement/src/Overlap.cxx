#include "lesion/measurement/Overlap.h"

#include "lesion/core/Error.h"

namespace lesion::measurement {

double diceCoefficient(const LabelMap& a, const LabelSelector& inA, const LabelMap& b, const LabelSelector& inB) {
  if (!a.geometry.sameGrid(b.geometry, 1e-3)) throw InputError("Dice: the two label maps are not on the same grid");
  std::size_t countA = 0, countB = 0, both = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) {
    const bool x = inA(a.voxels[i]);
    const bool y = inB(b.voxels[i]);
    countA += x;
    countB += y;
    both += x && y;
  }
  return countA + countB == 0 ? 1.0 : 2.0 * static_cast<double>(both) / static_cast<double>(countA + countB);
}

double diceCoefficient(const LabelMap& a, std::uint16_t labelA, const LabelMap& b, std::uint16_t labelB) {
  return diceCoefficient(
      a, [labelA](std::uint16_t v) { return v == labelA; }, b, [labelB](std::uint16_t v) { return v == labelB; });
}

} // namespace lesion::measurement
