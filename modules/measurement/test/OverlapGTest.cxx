#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/measurement/Overlap.h"

using namespace lesion;

TEST(Overlap, DiceOfKnownOverlaps) {
  ImageGeometry g;
  g.size = {10, 1, 1};
  LabelMap a(g, 0), b(g, 0);
  for (std::size_t i = 0; i < 4; ++i) a.voxels[i] = 1; // voxels 0..3
  for (std::size_t i = 2; i < 8; ++i) b.voxels[i] = 5; // voxels 2..7
  EXPECT_DOUBLE_EQ(measurement::diceCoefficient(a, 1, b, 5), 2.0 * 2 / (4 + 6));
  EXPECT_DOUBLE_EQ(measurement::diceCoefficient(a, 1, a, 1), 1.0);
  EXPECT_DOUBLE_EQ(measurement::diceCoefficient(a, 2, b, 2), 1.0); // both empty
  EXPECT_DOUBLE_EQ(measurement::diceCoefficient(a, 1, b, 2), 0.0);
  EXPECT_DOUBLE_EQ(measurement::diceCoefficient(
                       a, [](std::uint16_t v) { return v != 0; }, b, [](std::uint16_t v) { return v >= 5; }),
                   0.4);
  ImageGeometry other = g;
  other.size = {5, 2, 1};
  EXPECT_THROW((void)measurement::diceCoefficient(a, 1, LabelMap(other, 0), 1), InputError);
}
