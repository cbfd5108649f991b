#include <gtest/gtest.h>

#include "lesion/core/LatticePlacement.h"

using namespace lesion;

namespace {

/// An oblique 20 x 16 x 10 grid of 0.8 x 0.8 x 2.5 mm voxels.
ImageGeometry volumeGrid() {
  ImageGeometry g;
  g.size = {20, 16, 10};
  g.spacing = {0.8, 0.8, 2.5};
  g.origin = {-30.0, 12.0, 100.0};
  g.direction = Mat3::rotation(normalized(Vec3{1.0, 0.3, 0.2}), 0.4);
  return g;
}

/// A 4 x 3 x 2 map on the volume's lattice whose voxel (0, 0, 0) is the volume's `start`, holding
/// label 1 + i everywhere (no background, so every voxel must land somewhere).
LabelMap croppedMap(const ImageGeometry& volume, const Vec3& start) {
  ImageGeometry g = volume;
  g.size = {4, 3, 2};
  g.origin = volume.indexToPoint(start);
  LabelMap map(g, 0);
  for (std::size_t k = 0; k < 2; ++k)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t i = 0; i < 4; ++i)
        map.at(i, j, k) = std::uint16_t(1 + i);
  return map;
}

} // namespace

TEST(LatticePlacement, ACroppedMapLandsAtItsWholeVoxelOffset) {
  const ImageGeometry volume = volumeGrid();
  const auto placed = placeOnVolumeLattice(croppedMap(volume, {5, 7, 3}), volume);
  ASSERT_TRUE(placed);
  EXPECT_EQ(placed->offsetVoxels, (std::array<long, 3>{5, 7, 3}));
  EXPECT_EQ(placed->labelledVoxelsOutside, 0u);
  EXPECT_TRUE(placed->labels.geometry.sameGrid(volume));
  std::size_t labelled = 0;
  for (std::size_t k = 0; k < 10; ++k)
    for (std::size_t j = 0; j < 16; ++j)
      for (std::size_t i = 0; i < 20; ++i) {
        const bool inside = i >= 5 && i < 9 && j >= 7 && j < 10 && k >= 3 && k < 5;
        EXPECT_EQ(placed->labels.at(i, j, k), inside ? 1 + i - 5 : 0) << i << "," << j << "," << k;
        labelled += placed->labels.at(i, j, k) != 0;
      }
  EXPECT_EQ(labelled, 24u);
}

TEST(LatticePlacement, LabelledVoxelsBeyondTheVolumeAreCountedBackgroundIsNot) {
  const ImageGeometry volume = volumeGrid();
  // Starts one voxel before the volume along i and j: labels 1 (i = 0) and the j = 0 row fall out.
  LabelMap map = croppedMap(volume, {-1, -1, 0});
  auto placed = placeOnVolumeLattice(map, volume);
  ASSERT_TRUE(placed);
  EXPECT_EQ(placed->offsetVoxels, (std::array<long, 3>{-1, -1, 0}));
  EXPECT_EQ(placed->labelledVoxelsOutside, 2u * (3 + 4 - 1));
  EXPECT_EQ(placed->labels.at(0, 0, 0), 2);
  // The same map with background where it overhangs fits.
  for (std::size_t k = 0; k < 2; ++k)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t i = 0; i < 4; ++i)
        if (i == 0 || j == 0)
          map.at(i, j, k) = 0;
  placed = placeOnVolumeLattice(map, volume);
  ASSERT_TRUE(placed);
  EXPECT_EQ(placed->labelledVoxelsOutside, 0u);
}

TEST(LatticePlacement, AnotherLatticeIsNotPlaced) {
  const ImageGeometry volume = volumeGrid();
  // Within 1e-3 voxel of a voxel centre: placed; half a voxel off, other spacing or axes: not.
  EXPECT_TRUE(placeOnVolumeLattice(croppedMap(volume, {5.0004, 7, 2.9996}), volume));
  EXPECT_FALSE(placeOnVolumeLattice(croppedMap(volume, {5.5, 7, 3}), volume));
  EXPECT_FALSE(placeOnVolumeLattice(croppedMap(volume, {5, 7, 3.01}), volume));
  LabelMap finer = croppedMap(volume, {5, 7, 3});
  finer.geometry.spacing.z = 1.25;
  EXPECT_FALSE(placeOnVolumeLattice(finer, volume));
  LabelMap flipped = croppedMap(volume, {5, 7, 3});
  for (std::size_t r = 0; r < 3; ++r)
    flipped.geometry.direction(r, 1) = -flipped.geometry.direction(r, 1);
  EXPECT_FALSE(placeOnVolumeLattice(flipped, volume));
}
