// The QC picture of the phantom's axillary mass: contour and RECIST long axis drawn where the
// phantom's analytic truth says (the truth long axis is surface to surface, from the continuous
// model, independent of our measurement).
#include <cmath>

#include <gtest/gtest.h>

#include "lesion/phantom/Phantom.h"
#include "lesion/qc/QcPictures.h"

namespace lesion::qc {
namespace {

/// Whether a pixel of `colour` lies within `radius` pixels of (x, y).
bool colourNear(const RgbImage& img, const std::array<double, 2>& at, const std::array<std::uint8_t, 3>& colour, int radius) {
  const int cx = int(std::lround(at[0])), cy = int(std::lround(at[1]));
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx) {
      const int px = cx + dx, py = cy + dy;
      if (px >= 0 && py >= 0 && px < img.width && py < img.height && img.pixel(px, py) == colour) return true;
    }
  return false;
}

TEST(QcPhantom, MassContourAndLongAxisWhereTheTruthSays) {
  phantom::PhantomOptions options;
  options.timePoints = 1;
  const phantom::PhantomStudy study = phantom::generatePhantomStudy(options);
  const phantom::PhantomTimePoint& tp = study.timePoints.front();
  const phantom::LesionTruth* mass = nullptr;
  for (const auto& l : tp.truth.lesions) {
    if (l.id == "axillary-mass") mass = &l;
  }
  ASSERT_NE(mass, nullptr);

  LabelMap labels(tp.labels.geometry, 0);
  for (std::size_t i = 0; i < labels.voxels.size(); ++i) labels.voxels[i] = tp.labels.voxels[i] == 2 ? 1 : 0;
  measurement::MeasurementOptions mo;
  mo.computeSurfaceMesh = false;
  mo.lesions = {{1, "soft-tissue", "axilla", false}};
  const auto lesion = measurement::measureLesions(tp.image, labels, mo).front();
  const SliceView view = renderAxialView(tp.image, labels, lesion);

  // The picture's slice is the truth's RECIST plane, within one slice.
  const double sliceZ = tp.image.geometry.indexToPoint(0, 0, lesion.recist.sliceIndex).z;
  EXPECT_LE(std::abs(sliceZ - mass->axialPlaneZMm), tp.image.geometry.spacing.z);

  // Tolerance: one voxel diagonal in the plane (voxel-centre measurement vs continuous truth), in pixels.
  const double toleranceMm = std::hypot(tp.image.geometry.spacing.x, tp.image.geometry.spacing.y);
  const int radius = int(std::ceil(toleranceMm / view.pixelMm));
  const Vec3 from{mass->longAxisFrom.x, mass->longAxisFrom.y, sliceZ};
  const Vec3 to{mass->longAxisTo.x, mass->longAxisTo.y, sliceZ};
  for (double t : {0.25, 0.5, 0.75}) {
    EXPECT_TRUE(colourNear(view.image, view.pointToPixel(from + (to - from) * t), kLongAxisColour, radius))
        << "long axis at " << t << " of the truth's long axis";
  }
  // The contour at the truth's surface points (the ends of its long axis).
  EXPECT_TRUE(colourNear(view.image, view.pointToPixel(from), kContourColour, radius)) << "contour at the first end";
  EXPECT_TRUE(colourNear(view.image, view.pointToPixel(to), kContourColour, radius)) << "contour at the second end";
  // And no contour at the mass's centre, far from any edge.
  EXPECT_FALSE(colourNear(view.image, view.pointToPixel((from + to) * 0.5), kContourColour, 1));
}

} // namespace
} // namespace lesion::qc
