// QC pictures of a synthetic lesion: overlays where the geometry says, window by lesion kind,
// files written and readable, follow-up pictures side by side.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "lesion/core/Error.h"
#include "lesion/qc/QcPictures.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::qc {
namespace {

struct Scene {
  Volume volume;
  LabelMap labels;
  measurement::LesionMeasurement lesion;
};

// An ellipsoid lesion (semi-axes ax, by, cz voxels) of 10 HU in 40 HU tissue, on an axial grid
// unless `direction` says otherwise.
Scene makeScene(double ax = 14, double by = 8, double cz = 3, const std::string& kind = "soft-tissue",
                const Mat3& direction = Mat3::identity()) {
  ImageGeometry g;
  g.size = {80, 70, 16};
  g.spacing = {0.7, 0.7, 2.5};
  g.origin = {-30.0, -20.0, 50.0};
  g.direction = direction;
  Scene s;
  s.volume = Volume(g, 40.0f);
  s.labels = LabelMap(g, 0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 40) / ax, b = (double(j) - 35) / by, c = (double(k) - 8) / cz;
        if (a * a + b * b + c * c <= 1.0) {
          s.labels.at(i, j, k) = 1;
          s.volume.at(i, j, k) = 10.0f;
        }
      }
  measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  options.lesions = {{1, kind, "test lesion", false}};
  s.lesion = measurement::measureLesions(s.volume, s.labels, options).front();
  return s;
}

bool isColour(const RgbImage& img, double x, double y, const std::array<std::uint8_t, 3>& colour, int radius = 0) {
  const int cx = int(std::lround(x)), cy = int(std::lround(y));
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx) {
      const int px = cx + dx, py = cy + dy;
      if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
      if (img.pixel(px, py) == colour) return true;
    }
  return false;
}

std::size_t countColour(const RgbImage& img, const std::array<std::uint8_t, 3>& colour) {
  std::size_t n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) n += img.pixel(x, y) == colour;
  return n;
}

TEST(QcPictures, AxialShowsAxesAndContourWhereTheGeometrySays) {
  const Scene s = makeScene();
  const measurement::RecistDiameters& r = s.lesion.recist;
  ASSERT_GT(r.longAxisMm, 15.0);
  ASSERT_GT(r.shortAxisMm, 8.0);
  const SliceView v = renderAxialView(s.volume, s.labels, s.lesion);
  ASSERT_GE(v.image.width, 384);
  EXPECT_EQ(v.view, "axial");
  // Along both axes, a quarter and three quarters of the way: the axis colour.
  for (double t : {0.25, 0.75}) {
    const auto l = v.pointToPixel(r.longAxis.start + (r.longAxis.end - r.longAxis.start) * t);
    EXPECT_TRUE(isColour(v.image, l[0], l[1], kLongAxisColour)) << "long axis at t=" << t;
    const auto sh = v.pointToPixel(r.shortAxis.start + (r.shortAxis.end - r.shortAxis.start) * t);
    EXPECT_TRUE(isColour(v.image, sh[0], sh[1], kShortAxisColour)) << "short axis at t=" << t;
  }
  // The contour on the outer edge of the lesion's last voxel in rows away from the axes.
  const ImageGeometry& g = s.labels.geometry;
  const std::size_t k = r.sliceIndex;
  const double edgeTolerancePx = 2.0;
  int checkedRows = 0;
  for (std::size_t j : {30u, 40u}) {
    long last = -1;
    for (std::size_t i = 0; i < g.size[0]; ++i)
      if (s.labels.at(i, j, k) == 1) last = long(i);
    ASSERT_GE(last, 0);
    const Vec3 edge = g.indexToPoint(Vec3{double(last) + 0.5, double(j), double(k)});
    const auto p = v.pointToPixel(edge);
    EXPECT_TRUE(isColour(v.image, p[0] - 0.5, p[1], kContourColour, int(edgeTolerancePx))) << "row " << j;
    // Well outside the lesion: plain grey tissue, no overlay.
    const auto out = v.pointToPixel(g.indexToPoint(Vec3{double(last) + 4.0, double(j), double(k)}));
    const auto px = v.image.pixel(int(out[0]), int(out[1]));
    EXPECT_TRUE(px[0] == px[1] && px[1] == px[2]) << "row " << j;
    ++checkedRows;
  }
  EXPECT_EQ(checkedRows, 2);
  // Inside the lesion, off the axes: 10 HU at W400/L40 -> grey 109.
  const auto inside = v.pointToPixel(g.indexToPoint(Vec3{36.0, 31.0, double(k)}));
  EXPECT_NEAR(v.image.pixel(int(inside[0]), int(inside[1]))[0], std::lround((10.0 - (40.0 - 200.0)) / 400.0 * 255.0), 1);
}

TEST(QcPictures, AxesMeasuredOnResampledAxialSectionsAreShownOnThatAxialPlane) {
  // A sagittal scan: the RECIST axes lie on a plane LPS z = const, which the axial picture shows.
  const Scene s = makeScene(14, 8, 3, "soft-tissue", Mat3::fromColumns({0, 1, 0}, {0, 0, -1}, {-1, 0, 0}));
  const measurement::RecistDiameters& r = s.lesion.recist;
  ASSERT_FALSE(r.onAcquisitionSlices);
  const SliceView v = renderAxialView(s.volume, s.labels, s.lesion);
  EXPECT_EQ(v.view, "axial");
  EXPECT_EQ(v.right, (Vec3{1, 0, 0}));
  EXPECT_EQ(v.down, (Vec3{0, 1, 0}));
  EXPECT_NEAR(v.origin.z, r.longAxis.start.z, 1e-9);
  for (double t : {0.25, 0.75}) {
    const auto l = v.pointToPixel(r.longAxis.start + (r.longAxis.end - r.longAxis.start) * t);
    EXPECT_TRUE(isColour(v.image, l[0], l[1], kLongAxisColour)) << "long axis at t=" << t;
  }
}

TEST(QcPictures, WindowFollowsTheLesionKind) {
  EXPECT_EQ(windowForKind("lytic-bone").width, 1500.0);
  EXPECT_EQ(windowForKind("lytic-bone").level, 450.0);
  EXPECT_EQ(windowForKind("soft-tissue").width, 400.0);
  EXPECT_EQ(windowForKind("soft-tissue").level, 40.0);
  const Scene soft = makeScene();
  const Scene bone = makeScene(14, 8, 3, "lytic-bone");
  const SliceView a = renderAxialView(soft.volume, soft.labels, soft.lesion);
  const SliceView b = renderAxialView(bone.volume, bone.labels, bone.lesion);
  // 40 HU tissue near the lesion (clear of text, axes and contour).
  const Vec3 tissue = soft.labels.geometry.indexToPoint(Vec3{40.0, 52.0, double(soft.lesion.recist.sliceIndex)});
  const auto pa = a.pointToPixel(tissue), pb = b.pointToPixel(tissue);
  EXPECT_NEAR(a.image.pixel(int(pa[0]), int(pa[1]))[0], 128, 1);                     // (40+160)/400*255
  EXPECT_NEAR(b.image.pixel(int(pb[0]), int(pb[1]))[0], std::lround(340.0 / 1500 * 255), 1); // (40+300)/1500*255
}

TEST(QcPictures, CoronalAndSagittalCutThroughTheCentroid) {
  const Scene s = makeScene();
  for (const SliceView& v : {renderCoronalView(s.volume, s.labels, s.lesion), renderSagittalView(s.volume, s.labels, s.lesion)}) {
    const auto c = v.pointToPixel(s.lesion.principalAxes.centroid);
    EXPECT_NEAR(c[0], (v.image.width - 1) / 2.0, 1.0) << v.view;
    EXPECT_NEAR(c[1], (v.image.height - 1) / 2.0, 1.0) << v.view;
    EXPECT_GT(countColour(v.image, kContourColour), 50u) << v.view;
    EXPECT_EQ(countColour(v.image, kLongAxisColour), 0u) << v.view;
  }
  const SliceView coronal = renderCoronalView(s.volume, s.labels, s.lesion);
  EXPECT_NEAR(coronal.down.z, -1.0, 1e-12); // superior at the top
}

TEST(QcPictures, WritesThreePngsPerLesion) {
  test::ScratchFolder scratch;
  const Scene s = makeScene();
  const auto files = writeQcPictures(s.volume, s.labels, {s.lesion}, scratch / "qc");
  ASSERT_EQ(files.size(), 1u);
  for (const auto& p : {files[0].axial, files[0].coronal, files[0].sagittal}) {
    const cv::Mat m = cv::imread(p.string());
    ASSERT_FALSE(m.empty()) << p;
    EXPECT_GE(m.cols, 384);
  }
  EXPECT_EQ(test::listFiles(scratch / "qc").size(), 3u); // no temporaries left
}

TEST(QcPictures, FollowUpPutsTimePointsSideBySideAtOneScale) {
  const Scene baseline = makeScene(14, 8, 3);
  const Scene followUp = makeScene(10, 6, 3);
  const RgbImage img = renderFollowUpPicture({{&baseline.volume, &baseline.labels, baseline.lesion, "baseline"},
                                              {&followUp.volume, &followUp.labels, followUp.lesion, "follow-up"}});
  const SliceView single = renderAxialView(baseline.volume, baseline.labels, baseline.lesion);
  EXPECT_EQ(img.width, 2 * single.image.width + 8);
  EXPECT_EQ(img.height, single.image.height + 30);
  EXPECT_GT(countColour(img, kLongAxisColour), 100u);
  EXPECT_THROW((void)renderFollowUpPicture({}), InputError);
}

} // namespace
TEST(QcPictures, PngHoldsThePicturePixelForPixel) {
  test::ScratchFolder scratch;
  RgbImage image;
  image.width = 3;
  image.height = 2;
  for (int n = 0; n < 6; ++n) image.rgb.insert(image.rgb.end(), {std::uint8_t(40 * n), std::uint8_t(255 - 30 * n), std::uint8_t(7 * n + 1)});
  writePng(image, scratch / "p.png");
  const cv::Mat m = cv::imread((scratch / "p.png").string(), cv::IMREAD_UNCHANGED); // BGR
  ASSERT_EQ(m.type(), CV_8UC3);
  ASSERT_EQ(m.cols, 3);
  ASSERT_EQ(m.rows, 2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      const auto p = image.pixel(x, y);
      const cv::Vec3b q = m.at<cv::Vec3b>(y, x);
      EXPECT_EQ((std::array<int, 3>{q[2], q[1], q[0]}), (std::array<int, 3>{p[0], p[1], p[2]})) << x << "," << y;
    }
}

} // namespace lesion::qc
