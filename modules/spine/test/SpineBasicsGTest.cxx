#include <gtest/gtest.h>
#include "lesion/core/Error.h"
#include "lesion/spine/SpineSegmentation.h"
namespace lesion::spine {
namespace {
TEST(SpineLevels, TotalSegmentatorNumbering) {
  EXPECT_EQ(labelOfLevel("S1"), 26);
  EXPECT_EQ(labelOfLevel("L4"), 28);
  EXPECT_EQ(labelOfLevel("T11"), 33);
  EXPECT_EQ(labelOfLevel("C1"), 50);
  EXPECT_EQ(levelOfLabel(32), "T12");
  EXPECT_EQ(levelOfLabel(25), "");
  EXPECT_EQ(levelAbove("S1", 1), "L5");
  EXPECT_EQ(levelAbove("L1", 1), "T12");
  EXPECT_EQ(levelAbove("S1", -1), "");
  EXPECT_THROW((void)labelOfLevel("L6"), UsageError);
}
} // namespace
} // namespace lesion::spine
