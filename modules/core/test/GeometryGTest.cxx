#include <limits>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/core/SliceOrientation.h"

using namespace lesion;

namespace {
void expectNear(const Vec3& a, const Vec3& b, double tol = 1e-9) {
  EXPECT_NEAR(a.x, b.x, tol);
  EXPECT_NEAR(a.y, b.y, tol);
  EXPECT_NEAR(a.z, b.z, tol);
}
} // namespace

TEST(Geometry, IndexToPointFollowsSpacingOriginAndDirection) {
  ImageGeometry g;
  g.size = {10, 20, 30};
  g.spacing = {0.5, 0.7, 2.0};
  g.origin = {-10, 5, 100};
  // Index axes: i -> +y, j -> -x, k -> +z (a rotated grid).
  g.direction = Mat3::fromColumns({0, 1, 0}, {-1, 0, 0}, {0, 0, 1});
  expectNear(g.indexToPoint(0, 0, 0), {-10, 5, 100});
  expectNear(g.indexToPoint(2, 0, 0), {-10, 6, 100});
  expectNear(g.indexToPoint(0, 10, 0), {-17, 5, 100});
  expectNear(g.indexToPoint(0, 0, 3), {-10, 5, 106});
  const Vec3 p = g.indexToPoint(Vec3{1.25, 3.5, 7.75});
  expectNear(g.pointToIndex(p), {1.25, 3.5, 7.75});
}

TEST(Geometry, RotationAndRigidTransformInverse) {
  const Mat3 r = Mat3::rotation({0, 0, 1}, M_PI / 2);
  expectNear(r * Vec3{1, 0, 0}, {0, 1, 0});
  EXPECT_NEAR(r.determinant(), 1.0, 1e-12);
  const RigidTransform t{Mat3::rotation(normalized(Vec3{1, 2, 3}), 0.3), {5, -2, 7}};
  const Vec3 p{12, -4, 9};
  expectNear(t.inverse().apply(t.apply(p)), p, 1e-9);
  expectNear(t.compose(t.inverse()).apply(p), p, 1e-9);
  EXPECT_NEAR(t.angleDegrees(), 0.3 * 180 / M_PI, 1e-9);
  const Mat3 m{{2, 1, 0, 0, 3, 1, 1, 0, 4}};
  const Mat3 product = m * m.inverse();
  for (std::size_t i = 0; i < 9; ++i) EXPECT_NEAR(product.m[i], Mat3::identity().m[i], 1e-12);
}

TEST(Geometry, SingularMatrixIsAnInputError) {
  const Mat3 singular{{1, 2, 3, 2, 4, 6, 0, 0, 1}};
  EXPECT_THROW((void)singular.inverse(), InputError);
}

TEST(Geometry, ValidateRejectsImpossibleGeometryAndNamesIt) {
  ImageGeometry g;
  g.size = {4, 4, 4};
  EXPECT_NO_THROW(g.validate("ok.nrrd"));
  g.spacing = {1, 0, 1};
  try {
    g.validate("bad.nrrd");
    FAIL() << "zero spacing accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.nrrd"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("spacing"), std::string::npos);
  }
  g.spacing = {1, 1, 1};
  g.direction = Mat3::fromColumns({1, 0, 0}, {1, 0, 0}, {0, 0, 1});
  EXPECT_THROW(g.validate("sheared.nrrd"), InputError);
  const double nan = std::numeric_limits<double>::quiet_NaN(); // passed: every comparison with NaN is false
  g.direction = Mat3::fromColumns({nan, 0, 0}, {0, 1, 0}, {0, 0, 1});
  EXPECT_THROW(g.validate("nan-direction.nrrd"), InputError);
  g = {};
  EXPECT_THROW(g.validate("empty.nrrd"), InputError);
}

TEST(Geometry, ValidateRejectsVoxelsNoScanHas) {
  // A header spacing of 1e-30 or 1e30 mm passed: segment failed inside ITK ("spacing suspiciously
  // small", "fewer than four pixels"), spine ran for minutes and measure reported 1e31 mL.
  ImageGeometry g;
  g.size = {4, 4, 4};
  for (const Vec3 spacing : {Vec3{1e-30, 1, 1}, Vec3{1, 1, 1e30}, Vec3{0.0005, 0.0005, 0.0005}, Vec3{1, 1, 150}}) {
    g.spacing = spacing;
    try {
      g.validate("'odd.nrrd'");
      FAIL() << "spacing " << spacing.x << " x " << spacing.y << " x " << spacing.z << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'odd.nrrd': voxel spacing"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("mm is outside 0.001 to 100 mm"), std::string::npos) << e.what();
    }
  }
  // Bone micro-CT at 5 um, and the limits as float32 headers store them (0.001 -> 0.00099999997).
  for (const Vec3 spacing : {Vec3{0.005, 0.005, 0.005}, Vec3{0.3, 0.3, 100}, Vec3{double(0.001f), 0.001, 0.001}})
    EXPECT_NO_THROW((ImageGeometry{{4, 4, 4}, spacing}.validate("fine.nrrd")));
}

TEST(Geometry, ValidateLetsAKeptShearedGridLean) {
  // A gantry tilt of 18.5 degrees kept as acquired (--tilt keep-sheared): the stacking direction
  // leans, so the columns are unit vectors but not orthogonal (determinant cos 18.5 = 0.948).
  ImageGeometry g{{4, 4, 4}, {1, 1, 1}};
  const double t = 18.5 * M_PI / 180.0;
  g.direction = Mat3::fromColumns({1, 0, 0}, {0, 1, 0}, {0, std::sin(t), std::cos(t)});
  EXPECT_THROW(g.validate("tilted"), InputError);
  EXPECT_NO_THROW(g.validate("tilted", /*sheared=*/true));
  g.direction = Mat3::fromColumns({1, 0, 0}, {0, 1, 0}, {0, 1, 0}); // degenerate: two equal columns
  EXPECT_THROW(g.validate("degenerate", /*sheared=*/true), InputError);
}

TEST(Geometry, AxialSectionsAreTheSlicesOfAScanFacingTheBodyAxisWithin45Degrees) {
  ImageGeometry g{{4, 4, 4}, {0.8, 0.7, 2.5}};
  // Axial tilted 40 degrees about L-R: its own slices (normal: the slice step), 2.5 mm apart.
  const Mat3 tilted40 = Mat3::rotation({1, 0, 0}, 40.0 * M_PI / 180.0);
  g.direction = tilted40;
  AxialSections sections = axialSectionsOf(g);
  EXPECT_TRUE(sections.acquisitionSlices);
  expectNear(sections.normal, tilted40.column(2));
  EXPECT_DOUBLE_EQ(sections.spacingMm, 2.5);
  EXPECT_EQ(sections.description(), "acquisition slices (constant k)");
  // 50 degrees: planes LPS z = const at the finest in-plane spacing.
  g.direction = Mat3::rotation({1, 0, 0}, 50.0 * M_PI / 180.0);
  sections = axialSectionsOf(g);
  EXPECT_FALSE(sections.acquisitionSlices);
  expectNear(sections.normal, {0, 0, 1});
  EXPECT_DOUBLE_EQ(sections.spacingMm, 0.7);
  EXPECT_EQ(sections.description(), "axial sections (resampled from oblique acquisition)");
  // Sagittal (DICOM IOP 0,1,0 / 0,0,-1) and coronal scans.
  g.direction = Mat3::fromColumns({0, 1, 0}, {0, 0, -1}, {-1, 0, 0});
  EXPECT_EQ(axialSectionsOf(g).description(), "axial sections (resampled from sagittal acquisition)");
  g.direction = Mat3::fromColumns({1, 0, 0}, {0, 0, -1}, {0, 1, 0});
  EXPECT_EQ(axialSectionsOf(g).description(), "axial sections (resampled from coronal acquisition)");
  // A gantry tilt kept sheared: the slices stay axial, the normal is the leaning slice step, as before.
  const double t = 18.5 * M_PI / 180.0;
  g.direction = Mat3::fromColumns({1, 0, 0}, {0, 1, 0}, {0, std::sin(t), std::cos(t)});
  sections = axialSectionsOf(g);
  EXPECT_TRUE(sections.acquisitionSlices);
  expectNear(sections.normal, {0, std::sin(t), std::cos(t)});
}

TEST(Geometry, SameGridUsesTolerance) {
  ImageGeometry a;
  a.size = {3, 3, 3};
  ImageGeometry b = a;
  b.origin.x += 1e-6;
  EXPECT_TRUE(a.sameGrid(b));
  b.origin.x += 0.1;
  EXPECT_FALSE(a.sameGrid(b));
  b = a;
  b.size[2] = 4;
  EXPECT_FALSE(a.sameGrid(b));
}

TEST(Image, LayoutIsXFastest) {
  ImageGeometry g;
  g.size = {3, 4, 5};
  LabelMap labels(g, 0);
  labels.at(2, 1, 3) = 7;
  EXPECT_EQ(labels.voxels[2 + 3 * (1 + 4 * 3)], 7);
  EXPECT_EQ(labels.voxels.size(), 60u);
  EXPECT_NEAR(g.voxelDiagonalMm(), std::sqrt(3.0), 1e-12);
}
