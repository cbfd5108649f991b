// Analytic phantoms built in memory: ellipsoids (rotated, oblique grids, anisotropic voxels),
// a ring for the inside-the-lesion rule, a calcified core, and ITK as an independent Feret check.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include <itkLabelImageToShapeLabelMapFilter.h>

#include "lesion/core/Error.h"
#include "lesion/core/ItkBridge.h"
#include "lesion/core/Log.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::measurement {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// A solid ellipsoid with semi-axes `semiAxesMm` along the columns of `rotation`, centred at
/// `centre` (LPS), rasterised by voxel centre on `grid`.
struct EllipsoidPhantom {
  Vec3 semiAxesMm{};
  Mat3 rotation{};
  Vec3 centre{};
  ImageGeometry grid{};
  Volume volume{};
  LabelMap labels{};

  EllipsoidPhantom(const Vec3& semiAxes, const Mat3& r, const ImageGeometry& g, std::uint16_t label = 1,
                   float insideHu = 40.0f)
      : semiAxesMm(semiAxes), rotation(r), grid(g), volume(g, -100.0f), labels(g, 0) {
    // Centre the lesion on a voxel centre in the middle of the grid.
    centre = g.indexToPoint(g.size[0] / 2, g.size[1] / 2, g.size[2] / 2);
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i)
          if (contains(g.indexToPoint(i, j, k))) {
            labels.at(i, j, k) = label;
            volume.at(i, j, k) = insideHu;
          }
  }
  [[nodiscard]] bool contains(const Vec3& p) const {
    const Vec3 local = rotation.transposed() * (p - centre);
    const double s = local.x * local.x / (semiAxesMm.x * semiAxesMm.x) +
                     local.y * local.y / (semiAxesMm.y * semiAxesMm.y) +
                     local.z * local.z / (semiAxesMm.z * semiAxesMm.z);
    return s <= 1.0;
  }
  [[nodiscard]] double volumeMl() const {
    return 4.0 / 3.0 * kPi * semiAxesMm.x * semiAxesMm.y * semiAxesMm.z / 1000.0;
  }
  /// Quadratic form A of the ellipsoid xᵀAx = 1 (centred).
  [[nodiscard]] Mat3 form() const {
    Mat3 d;
    d.m = {1 / (semiAxesMm.x * semiAxesMm.x), 0, 0, 0, 1 / (semiAxesMm.y * semiAxesMm.y), 0, 0, 0,
           1 / (semiAxesMm.z * semiAxesMm.z)};
    return rotation * d * rotation.transposed();
  }
  /// Full axes (major, minor) of the central section by the acquisition plane: the analytic
  /// RECIST long and short axes.
  [[nodiscard]] std::pair<double, double> sectionAxesMm() const {
    const Vec3 u = grid.direction.column(0);
    const Vec3 v = grid.direction.column(1);
    const Mat3 a = form();
    const double quu = dot(u, a * u);
    const double quv = dot(u, a * v);
    const double qvv = dot(v, a * v);
    const double mean = 0.5 * (quu + qvv);
    const double radius = std::sqrt(0.25 * (quu - qvv) * (quu - qvv) + quv * quv);
    return {2.0 / std::sqrt(mean - radius), 2.0 / std::sqrt(mean + radius)};
  }
  /// Full extent along LPS axis a: 2·sqrt(e_aᵀ A⁻¹ e_a).
  [[nodiscard]] double extentMm(std::size_t axis) const {
    double sum = 0.0;
    for (std::size_t c = 0; c < 3; ++c) {
      const double semi = c == 0 ? semiAxesMm.x : c == 1 ? semiAxesMm.y : semiAxesMm.z;
      sum += rotation(axis, c) * rotation(axis, c) * semi * semi;
    }
    return 2.0 * std::sqrt(sum);
  }
  [[nodiscard]] double majorAxisMm() const { return 2.0 * std::max({semiAxesMm.x, semiAxesMm.y, semiAxesMm.z}); }
};

ImageGeometry makeGrid(std::array<std::size_t, 3> size, Vec3 spacing, Mat3 direction = Mat3::identity(),
                       Vec3 origin = {-20.0, 35.0, -110.0}) {
  ImageGeometry g;
  g.size = size;
  g.spacing = spacing;
  g.direction = direction;
  g.origin = origin;
  return g;
}

/// Prints and checks every figure against the analytic ellipsoid. Distances between voxel
/// centres may be up to one voxel diagonal short of the analytic size (never longer by more than
/// a hair); extents include the voxel so may exceed the analytic extent by up to a diagonal.
void expectMatchesEllipsoid(const EllipsoidPhantom& phantom, const LesionMeasurement& m, double volumeTolerance) {
  const double diagonal = phantom.grid.voxelDiagonalMm();
  const auto [longAxis, shortAxis] = phantom.sectionAxesMm();
  std::printf("  voxel volume %.3f mL, mesh %.3f mL, analytic %.3f mL (errors %+.2f %%, %+.2f %%)\n", m.voxelVolumeMl,
              *m.meshVolumeMl, phantom.volumeMl(), 100.0 * (m.voxelVolumeMl / phantom.volumeMl() - 1.0),
              100.0 * (*m.meshVolumeMl / phantom.volumeMl() - 1.0));
  std::printf("  long axis %.2f (analytic %.2f), short %.2f (%.2f), 3D %.2f (%.2f), voxel diagonal %.2f mm\n",
              m.recist.longAxisMm, longAxis, m.recist.shortAxisMm, shortAxis, m.maxDiameter3dMm, phantom.majorAxisMm(),
              diagonal);
  std::printf("  extents LR %.2f (%.2f) AP %.2f (%.2f) SI %.2f (%.2f) mm\n", m.extentLrMm, phantom.extentMm(0),
              m.extentApMm, phantom.extentMm(1), m.extentSiMm, phantom.extentMm(2));
  EXPECT_NEAR(m.voxelVolumeMl, phantom.volumeMl(), volumeTolerance * phantom.volumeMl());
  EXPECT_NEAR(*m.meshVolumeMl, phantom.volumeMl(), volumeTolerance * phantom.volumeMl());
  EXPECT_NEAR(m.recist.longAxisMm, longAxis, diagonal);
  EXPECT_NEAR(m.recist.shortAxisMm, shortAxis, diagonal);
  EXPECT_LE(m.recist.longAxisMm, longAxis + 1e-6);
  EXPECT_GE(m.recist.longAxisMm, m.recist.shortAxisMm);
  EXPECT_NEAR(m.maxDiameter3dMm, phantom.majorAxisMm(), diagonal);
  EXPECT_LE(m.maxDiameter3dMm, phantom.majorAxisMm() + 1e-6);
  EXPECT_GE(m.maxDiameter3dMm, m.recist.longAxisMm - 1e-9);
  EXPECT_NEAR(m.extentLrMm, phantom.extentMm(0), diagonal);
  EXPECT_NEAR(m.extentApMm, phantom.extentMm(1), diagonal);
  EXPECT_NEAR(m.extentSiMm, phantom.extentMm(2), diagonal);
  // Reported endpoints are LPS points whose distance is the reported length, on the lesion.
  EXPECT_NEAR(m.recist.longAxis.lengthMm(), m.recist.longAxisMm, 1e-9);
  EXPECT_NEAR(m.recist.shortAxis.lengthMm(), m.recist.shortAxisMm, 1e-9);
  EXPECT_NEAR(m.maxDiameter3d.lengthMm(), m.maxDiameter3dMm, 1e-9);
  for (const Vec3& p : {m.recist.longAxis.start, m.recist.longAxis.end, m.maxDiameter3d.start, m.maxDiameter3d.end})
    EXPECT_TRUE(phantom.contains(p)) << formatPoint(p);
  // Short axis perpendicular to the long axis within half a pixel over its length.
  const Vec3 u = normalized(m.recist.longAxis.end - m.recist.longAxis.start);
  EXPECT_LE(std::abs(dot(m.recist.shortAxis.end - m.recist.shortAxis.start, u)),
            0.5 * std::min(phantom.grid.spacing.x, phantom.grid.spacing.y) + 1e-9);
  // Both RECIST axes lie in the acquisition plane (constant k): these grids are axial.
  EXPECT_TRUE(m.recist.onAcquisitionSlices);
  EXPECT_EQ(m.recist.sections, "acquisition slices (constant k)");
  const Vec3 n = phantom.grid.direction.column(2);
  EXPECT_NEAR(dot(m.recist.longAxis.end - m.recist.longAxis.start, n), 0.0, 1e-6);
  EXPECT_NEAR(dot(m.recist.shortAxis.start - m.recist.longAxis.start, n), 0.0, 1e-6);
  // Second moments of a solid ellipsoid: the equivalent-ellipsoid axes recover the full axes.
  std::array<double, 3> semi{phantom.semiAxesMm.x, phantom.semiAxesMm.y, phantom.semiAxesMm.z};
  std::sort(semi.begin(), semi.end(), std::greater<>());
  for (std::size_t a = 0; a < 3; ++a) {
    EXPECT_NEAR(m.principalAxes.ellipsoidAxisLengthsMm[a], 2.0 * semi[a], diagonal) << "principal axis " << a;
    EXPECT_NEAR(m.principalAxes.orientedBoxExtentsMm[a], 2.0 * semi[a], 1.5 * diagonal) << "oriented box " << a;
  }
  // The major direction is the rotated ellipsoid's longest axis (sign free), when it is distinct.
  const std::array<double, 3> unsorted{phantom.semiAxesMm.x, phantom.semiAxesMm.y, phantom.semiAxesMm.z};
  const std::size_t longest = std::size_t(std::max_element(unsorted.begin(), unsorted.end()) - unsorted.begin());
  if (semi[0] > 1.2 * semi[1])
    EXPECT_GT(std::abs(dot(m.principalAxes.directions[0], phantom.rotation.column(longest))), 0.999);
  EXPECT_NEAR(m.shape.elongation, semi[1] / semi[0], 0.03);
  EXPECT_NEAR(m.shape.flatness, semi[2] / semi[0], 0.03);
  EXPECT_NEAR(distance(m.principalAxes.centroid, phantom.centre), 0.0, 0.1 * diagonal);
}

TEST(LesionMeasurement, SphereOnIsotropicGrid) {
  const EllipsoidPhantom phantom({12.0, 12.0, 12.0}, Mat3::identity(), makeGrid({40, 40, 40}, {0.8, 0.8, 0.8}));
  const auto results = measureLesions(phantom.volume, phantom.labels);
  ASSERT_EQ(results.size(), 1u);
  const LesionMeasurement& m = results.front();
  expectMatchesEllipsoid(phantom, m, 0.02);
  // Sphericity of a rasterised sphere's marching-cubes mesh is a little below 1.
  ASSERT_TRUE(m.shape.sphericity.has_value());
  EXPECT_GT(*m.shape.sphericity, 0.85);
  EXPECT_LE(*m.shape.sphericity, 1.0);
  EXPECT_NEAR(*m.surfaceAreaMm2, 4.0 * kPi * 144.0, 0.1 * 4.0 * kPi * 144.0); // MC over-estimates area a little
  EXPECT_EQ(m.intensity.unit, "HU");
  EXPECT_DOUBLE_EQ(m.intensity.mean, 40.0);
  EXPECT_DOUBLE_EQ(m.intensity.standardDeviation, 0.0);
  EXPECT_NEAR(m.uncertainty.distanceMm, std::sqrt(3.0) * 0.8, 1e-12);
  EXPECT_TRUE(m.measurability.measurable);
  EXPECT_EQ(m.spec.name, "label 1");
}

TEST(LesionMeasurement, RotatedEllipsoid) {
  const Mat3 rotation = Mat3::rotation(normalized(Vec3{1.0, 2.0, 0.5}), 0.7);
  const EllipsoidPhantom phantom({20.0, 12.0, 8.0}, rotation, makeGrid({64, 64, 64}, {0.75, 0.75, 0.75}));
  expectMatchesEllipsoid(phantom, measureLesions(phantom.volume, phantom.labels).front(), 0.02);
}

TEST(LesionMeasurement, AnisotropicVoxels) {
  // Thick slices: volume within 2 % is only asked of <= 1 mm voxels; here 4 %.
  const Mat3 rotation = Mat3::rotation(normalized(Vec3{0.0, 1.0, 1.0}), 0.5);
  const EllipsoidPhantom phantom({22.0, 14.0, 10.0}, rotation, makeGrid({80, 60, 26}, {0.7, 0.9, 2.5}));
  expectMatchesEllipsoid(phantom, measureLesions(phantom.volume, phantom.labels).front(), 0.04);
}

TEST(LesionMeasurement, ObliqueGridDirectionCosines) {
  // Oblique acquisition (gantry-like rotation about L-R plus a twist): RECIST uses the tilted planes.
  const Mat3 direction = Mat3::rotation(normalized(Vec3{1.0, 0.2, 0.0}), 0.4) * Mat3::rotation({0, 0, 1}, 0.3);
  const Mat3 rotation = Mat3::rotation(normalized(Vec3{0.3, -1.0, 0.4}), 1.1);
  const EllipsoidPhantom phantom({18.0, 11.0, 9.0}, rotation, makeGrid({56, 56, 50}, {0.8, 0.8, 1.0}, direction));
  expectMatchesEllipsoid(phantom, measureLesions(phantom.volume, phantom.labels).front(), 0.02);
}

TEST(LesionMeasurement, FlippedAxesGrid) {
  // A grid stored R→L and I→S reversed (negative direction cosines) measures the same lesion.
  Mat3 direction;
  direction.m = {-1, 0, 0, 0, 1, 0, 0, 0, -1};
  const Mat3 rotation = Mat3::rotation({0, 0, 1}, 0.4);
  const EllipsoidPhantom phantom({15.0, 10.0, 7.0}, rotation, makeGrid({48, 40, 30}, {0.8, 0.7, 0.9}, direction));
  expectMatchesEllipsoid(phantom, measureLesions(phantom.volume, phantom.labels).front(), 0.02);
}

TEST(LesionMeasurement, SagittalAndCoronalScansAreMeasuredOnAxialSections) {
  // A mass 32 x 26 mm on its axial sections (turned in the axial plane), 40 mm tall: a sagittal
  // or coronal slice through it is about 40 mm long, the RECIST diameters are its axial ones.
  const Mat3 sagittal = Mat3::fromColumns({0, 1, 0}, {0, 0, -1}, {-1, 0, 0});
  const Mat3 coronal = Mat3::fromColumns({1, 0, 0}, {0, 0, -1}, {0, 1, 0});
  for (const auto& [name, direction] : {std::pair{"sagittal", sagittal}, std::pair{"coronal", coronal}}) {
    const EllipsoidPhantom phantom({16.0, 13.0, 20.0}, Mat3::rotation({0, 0, 1}, 0.3),
                                   makeGrid({56, 64, 24}, {0.8, 0.8, 2.0}, direction));
    const LesionMeasurement m = measureLesions(phantom.volume, phantom.labels).front();
    std::printf("  %s scan: long axis %.2f mm, short %.2f mm (axial 32 x 26), at z %.2f, %s\n", name,
                m.recist.longAxisMm, m.recist.shortAxisMm, m.recist.longAxis.start.z, m.recist.sections.c_str());
    const double diagonal = phantom.grid.voxelDiagonalMm();
    EXPECT_NEAR(m.recist.longAxisMm, 32.0, diagonal) << name;
    EXPECT_NEAR(m.recist.shortAxisMm, 26.0, diagonal) << name;
    // Between voxel centres (inside the mass), as on axial scans: not longer than its 32 mm axial
    // diameter (the ends on the samples of a 2 mm slice lay up to a slice beyond them: 32.92 mm).
    EXPECT_LE(m.recist.longAxisMm, 32.05) << name;
    EXPECT_LE(m.recist.longAxisMm, m.maxDiameter3dMm) << name;
    // Both axes on one plane LPS z = const, near the mass's widest section (5 mm off it, the
    // section is still 97 % as wide: resampled boundaries can make it the longest).
    for (const Vec3& p : {m.recist.longAxis.end, m.recist.shortAxis.start, m.recist.shortAxis.end})
      EXPECT_NEAR(p.z, m.recist.longAxis.start.z, 1e-9) << name;
    EXPECT_NEAR(m.recist.longAxis.start.z, phantom.centre.z, 5.0) << name;
    EXPECT_FALSE(m.recist.onAcquisitionSlices);
    EXPECT_EQ(m.recist.sections, std::string("axial sections (resampled from ") + name + " acquisition)");
    // The acquisition slice nearest the long axis' middle.
    const Vec3 middle = (m.recist.longAxis.start + m.recist.longAxis.end) * 0.5;
    EXPECT_NEAR(double(m.recist.sliceIndex), phantom.grid.pointToIndex(middle).z, 0.5 + 1e-9) << name;
  }
}

TEST(LesionMeasurement, FeretAgreesWithItkLabelShapeStatistics) {
  // ITK's Feret diameter is also between boundary voxel centres: same convention, same number.
  const Mat3 direction = Mat3::rotation(normalized(Vec3{0.2, 1.0, 0.3}), 0.5);
  const Mat3 rotation = Mat3::rotation(normalized(Vec3{1.0, -1.0, 2.0}), 0.9);
  const EllipsoidPhantom phantom({11.0, 7.0, 5.0}, rotation, makeGrid({36, 36, 24}, {0.7, 0.8, 1.2}, direction), 3);
  const LesionMeasurement m = measureLesions(phantom.volume, phantom.labels).front();

  using LabelImage = itk::Image<std::uint16_t, 3>;
  using ShapeFilter = itk::LabelImageToShapeLabelMapFilter<LabelImage>;
  auto filter = ShapeFilter::New();
  filter->SetInput(itkbridge::toItk(phantom.labels));
  filter->SetComputeFeretDiameter(true);
  filter->SetComputePerimeter(false);
  filter->Update();
  const auto* object = filter->GetOutput()->GetLabelObject(3);
  std::printf("  Feret: ours %.4f mm, ITK %.4f mm; voxels ours %zu, ITK %zu\n", m.maxDiameter3dMm,
              object->GetFeretDiameter(), m.voxelCount, std::size_t(object->GetNumberOfPixels()));
  EXPECT_NEAR(m.maxDiameter3dMm, object->GetFeretDiameter(), 1e-6);
  EXPECT_EQ(m.voxelCount, object->GetNumberOfPixels());
  EXPECT_NEAR(m.voxelVolumeMl, object->GetPhysicalSize() / 1000.0, 1e-9);
  // ITK's principal moments are the population covariance eigenvalues of the voxel centres.
  const auto moments = object->GetPrincipalMoments(); // ascending
  for (std::size_t a = 0; a < 3; ++a)
    EXPECT_NEAR(m.principalAxes.eigenvaluesMm2[a], moments[2 - a], 1e-6 * moments[2]) << "moment " << a;
  const auto centroid = object->GetCentroid();
  EXPECT_NEAR(distance(m.principalAxes.centroid, {centroid[0], centroid[1], centroid[2]}), 0.0, 1e-6);
}

TEST(LesionMeasurement, RingLongAxisStaysInsideTheLesion) {
  // Annulus (outer radius 20 mm, inner 14 mm) on one slice: the hull diameter crosses the hole;
  // the longest chord inside is tangent to the hole: 2·sqrt(20² - 14²) = 28.57 mm.
  const ImageGeometry grid = makeGrid({70, 70, 3}, {0.6, 0.6, 1.0});
  Volume volume(grid, 30.0f);
  LabelMap labels(grid, 0);
  const Vec3 centre = grid.indexToPoint(35, 35, 1);
  for (std::size_t j = 0; j < 70; ++j)
    for (std::size_t i = 0; i < 70; ++i) {
      const double r = distance(grid.indexToPoint(i, j, 1), centre);
      if (r <= 20.0 && r >= 14.0)
        labels.at(i, j, 1) = 2;
    }
  const LesionMeasurement m = measureLesions(volume, labels).front();
  const double analytic = 2.0 * std::sqrt(20.0 * 20.0 - 14.0 * 14.0);
  std::printf("  ring long axis %.2f mm (analytic inside chord %.2f, hull diameter ~40)\n", m.recist.longAxisMm,
              analytic);
  EXPECT_NEAR(m.recist.longAxisMm, analytic, grid.voxelDiagonalMm());
  // The chord's midpoint is in the ring, not in the hole.
  const Vec3 middle = (m.recist.longAxis.start + m.recist.longAxis.end) * 0.5;
  EXPECT_GE(distance(middle, centre), 14.0 - grid.voxelDiagonalMm());
  // The 3D Feret diameter does not need to stay inside: it spans the ring.
  EXPECT_NEAR(m.maxDiameter3dMm, 40.0, grid.voxelDiagonalMm());
  EXPECT_EQ(m.recist.sliceIndex, 1u);
}

TEST(LesionMeasurement, IntensityStatisticsAndCalcification) {
  // A 20 x 20 x 10 mm box lesion on 1 mm voxels: left half 0 HU, right half 300 HU
  // (one 10 x 20 mm region per slice with peak 300 HU → Agatston weight 3).
  const ImageGeometry grid = makeGrid({30, 30, 14}, {1.0, 1.0, 1.5});
  Volume volume(grid, -50.0f);
  LabelMap labels(grid, 0);
  for (std::size_t k = 2; k < 12; ++k)
    for (std::size_t j = 5; j < 25; ++j)
      for (std::size_t i = 5; i < 25; ++i) {
        labels.at(i, j, k) = 1;
        volume.at(i, j, k) = i < 15 ? 0.0f : 300.0f;
      }
  MeasurementOptions options;
  options.boneThresholdHu = 250.0;
  const LesionMeasurement m = measureLesions(volume, labels, options).front();
  EXPECT_DOUBLE_EQ(m.intensity.mean, 150.0);
  EXPECT_DOUBLE_EQ(m.intensity.standardDeviation, 150.0);
  EXPECT_DOUBLE_EQ(m.intensity.median, 150.0); // halfway between the two middle order statistics
  EXPECT_DOUBLE_EQ(m.intensity.percentile5, 0.0);
  EXPECT_DOUBLE_EQ(m.intensity.percentile95, 300.0);
  EXPECT_DOUBLE_EQ(m.intensity.minimum, 0.0);
  EXPECT_DOUBLE_EQ(m.intensity.maximum, 300.0);
  ASSERT_TRUE(m.calcification.has_value());
  const Calcification& c = *m.calcification;
  EXPECT_NEAR(c.volumeMl, 10 * 20 * 10 * 1.5 / 1000.0, 1e-12);
  EXPECT_DOUBLE_EQ(c.fraction, 0.5);
  EXPECT_NEAR(c.boneVolumeMl, c.volumeMl, 1e-12);
  // 10 slices × 200 mm² × weight 3 × (1.5 mm / 3 mm).
  EXPECT_NEAR(c.agatstonScore, 10 * 200.0 * 3.0 * 0.5, 1e-9);
  // Extents of a box include the voxel: exactly 20 x 20 x 15 mm.
  EXPECT_NEAR(m.extentLrMm, 20.0, 1e-9);
  EXPECT_NEAR(m.extentApMm, 20.0, 1e-9);
  EXPECT_NEAR(m.extentSiMm, 15.0, 1e-9);
  // RECIST long axis of a 20 x 20 voxel square: the diagonal between corner voxel centres.
  EXPECT_NEAR(m.recist.longAxisMm, std::sqrt(2.0) * 19.0, 1e-9);
  EXPECT_NEAR(m.recist.shortAxisMm, std::sqrt(2.0) * 19.0, 1e-9);

  options.intensityUnit = IntensityUnit::Arbitrary;
  const LesionMeasurement mr = measureLesions(volume, labels, options).front();
  EXPECT_FALSE(mr.calcification.has_value());
  EXPECT_EQ(mr.intensity.unit, "arbitrary");
}

// A soft-tissue mass with CT noise (60 HU, SD 45 like the IBSI sarcoma STS_002, whose upper tail
// passes 130 HU) and a calcified nodule: only the nodule counts; in bone the threshold alone rules.
TEST(LesionMeasurement, SoftTissueCalcificationIsTheNoduleNotTheNoiseTail) {
  const ImageGeometry grid = makeGrid({48, 48, 24}, {1.0, 1.0, 2.0});
  Volume volume(grid, -100.0f);
  LabelMap labels(grid, 0);
  const Vec3 centre = grid.indexToPoint(24, 24, 12);
  const Vec3 noduleCentre = centre + Vec3{8.0, 0.0, 0.0};
  std::mt19937 random(7);
  std::normal_distribution<float> noise(60.0f, 45.0f);
  std::size_t noduleVoxels = 0;
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j)
      for (std::size_t i = 0; i < grid.size[0]; ++i) {
        const Vec3 p = grid.indexToPoint(i, j, k);
        if (distance(p, centre) > 20.0)
          continue;
        labels.at(i, j, k) = 1;
        volume.at(i, j, k) = noise(random);
        if (distance(p, noduleCentre) <= 4.0) {
          volume.at(i, j, k) = 600.0f;
          ++noduleVoxels;
        }
      }
  const double noduleMl = double(noduleVoxels) * grid.voxelVolumeMm3() / 1000.0;
  const auto calcificationAs = [&](const std::string& spec) {
    MeasurementOptions options;
    options.lesions = {parseLesionSpec(spec)};
    options.computeSurfaceMesh = false;
    return *measureLesions(volume, labels, options).front().calcification;
  };
  const Calcification mass = calcificationAs("1:soft-tissue");
  EXPECT_NEAR(mass.thresholdHu, 60.0 + 4.0 * 45.0, 25.0); // the tissue's own ceiling, above 130 HU
  EXPECT_NEAR(mass.volumeMl, noduleMl, 1e-9);
  // The nodule alone: 4 mm radius, weight 4, over its slices (2 mm → x 2/3).
  EXPECT_GT(mass.agatstonScore, 0.0);
  EXPECT_LT(mass.agatstonScore, noduleVoxels * 1.0 * 4.0 * 2.0 / 3.0 + 1e-9);

  // Bone: every voxel >= 130 HU is sclerosis, the noise tail (about 6 % of the voxels) included.
  const Calcification bone = calcificationAs("1:lytic-bone");
  EXPECT_DOUBLE_EQ(bone.thresholdHu, 130.0);
  EXPECT_GT(bone.volumeMl, noduleMl + 0.5);
}

TEST(LesionMeasurement, SeveralLabelsAndSpecs) {
  const ImageGeometry grid = makeGrid({40, 20, 10}, {1.0, 1.0, 2.0});
  Volume volume(grid, 0.0f);
  LabelMap labels(grid, 0);
  for (std::size_t k = 3; k < 6; ++k)
    for (std::size_t j = 2; j < 18; ++j) {
      for (std::size_t i = 2; i < 14; ++i)
        labels.at(i, j, k) = 1; // 12 x 16 mm
      for (std::size_t i = 20; i < 26; ++i)
        labels.at(i, j, k) = 5; // 6 x 16 mm node
    }
  MeasurementOptions options;
  options.lesions = {parseLesionSpec("5:lymph-node:left axilla")};
  const auto all = measureLesions(volume, labels);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].spec.label, 1);
  EXPECT_EQ(all[1].spec.label, 5);
  const auto only = measureLesions(volume, labels, options);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].spec.name, "left axilla");
  EXPECT_TRUE(only[0].spec.lymphNode);
  EXPECT_EQ(only[0].measurability.basis, "short-axis");
  EXPECT_EQ(only[0].measurability.category, "non-pathological-node"); // 5 mm short axis
  EXPECT_EQ(only[0].voxelCount, 6u * 16u * 3u);

  options.labels = {7};
  EXPECT_THROW((void)measureLesions(volume, labels, options), InputError);
  LabelMap shifted = labels;
  shifted.geometry.origin.x += 1.0;
  EXPECT_THROW((void)measureLesions(volume, shifted), InputError);
  EXPECT_THROW((void)measureLesions(volume, LabelMap(grid, 0)), InputError);
  MeasurementOptions badThickness;
  badThickness.sliceThicknessMm = 0.0;
  EXPECT_THROW((void)measureLesions(volume, labels, badThickness), InputError);
}

TEST(LesionMeasurement, RecistMeasurabilityRules) {
  EXPECT_TRUE(assessMeasurability(10.0, 5.0, false, 5.0).measurable);
  EXPECT_FALSE(assessMeasurability(9.9, 5.0, false, 5.0).measurable);
  const Measurability thick = assessMeasurability(12.0, 8.0, false, 7.0); // needs 2 × 7 mm
  EXPECT_FALSE(thick.measurable);
  EXPECT_DOUBLE_EQ(thick.thresholdMm, 14.0);
  EXPECT_TRUE(assessMeasurability(20.0, 15.0, true, 2.0).measurable);
  EXPECT_EQ(assessMeasurability(30.0, 12.0, true, 2.0).category, "pathological-node-non-target");
  EXPECT_EQ(assessMeasurability(30.0, 9.0, true, 2.0).category, "non-pathological-node");
}

// Every command takes a scan's slice thickness the same way: the user's option, else the scan's own
// Slice Thickness, else the slice spacing; and says which.
TEST(LesionMeasurement, ScanSliceThicknessUnlessTheOptionIsGivenElseTheSpacing) {
  ImageGeometry grid;
  grid.size = {8, 8, 8};
  grid.spacing = {1.0, 1.0, 5.0};
  const MeasurementOptions fromScan = withScanSliceThickness({}, 6.0); // 6 mm slices every 5 mm
  EXPECT_DOUBLE_EQ(sliceThicknessMmOf(fromScan, grid), 6.0);
  EXPECT_EQ(sliceThicknessSourceOf(fromScan), "dicom");

  const MeasurementOptions unknown = withScanSliceThickness({}, std::nullopt);
  EXPECT_FALSE(unknown.sliceThicknessMm);
  EXPECT_DOUBLE_EQ(sliceThicknessMmOf(unknown, grid), 5.0);
  EXPECT_EQ(sliceThicknessSourceOf(unknown), "spacing");

  MeasurementOptions given;
  given.sliceThicknessMm = 3.0;
  const MeasurementOptions kept = withScanSliceThickness(given, 6.0);
  EXPECT_DOUBLE_EQ(sliceThicknessMmOf(kept, grid), 3.0);
  EXPECT_EQ(sliceThicknessSourceOf(kept), "option");
}

// RECIST 1.1 §3.1.3: blastic (sclerotic) bone lesions are non-measurable whatever their size; a lytic
// one of the same size stays measurable (when its soft-tissue part is that size).
TEST(LesionMeasurement, BlasticBoneLesionsAreNotMeasurable) {
  const ImageGeometry grid = makeGrid({40, 40, 10}, {1.0, 1.0, 2.0});
  Volume volume(grid, 900.0f);
  LabelMap labels(grid, 0);
  for (std::size_t k = 3; k < 7; ++k)
    for (std::size_t j = 5; j < 30; ++j)
      for (std::size_t i = 5; i < 30; ++i)
        labels.at(i, j, k) = 1; // 25 x 25 mm
  const auto measurabilityAs = [&](const std::string& spec) {
    MeasurementOptions options;
    options.lesions = {parseLesionSpec(spec)};
    options.computeSurfaceMesh = false;
    return measureLesions(volume, labels, options).front().measurability;
  };
  const Measurability blastic = measurabilityAs("1:sclerotic-bone:T9");
  EXPECT_FALSE(blastic.measurable);
  EXPECT_EQ(blastic.category, "non-measurable");
  EXPECT_NE(blastic.reason.find("3.1.3"), std::string::npos) << blastic.reason;
  EXPECT_TRUE(measurabilityAs("1:lytic-bone:L4").measurable);
}

TEST(LesionMeasurement, ParseLesionSpec) {
  const LesionSpec spec = parseLesionSpec("1:soft-tissue:axilla");
  EXPECT_EQ(spec.label, 1);
  EXPECT_EQ(spec.kind, "soft-tissue");
  EXPECT_EQ(spec.name, "axilla");
  EXPECT_FALSE(spec.lymphNode);
  EXPECT_EQ(parseLesionSpec("12").label, 12);
  EXPECT_TRUE(parseLesionSpec("3:lymph-node").lymphNode);
  EXPECT_THROW((void)parseLesionSpec("0:soft-tissue"), UsageError);
  EXPECT_THROW((void)parseLesionSpec("x"), UsageError);
  EXPECT_THROW((void)parseLesionSpec("2:tumour"), UsageError);
  EXPECT_THROW((void)parseLesionSpec("70000"), UsageError);
}

TEST(LesionMeasurement, SingleVoxelAndFlatLesions) {
  const ImageGeometry grid = makeGrid({10, 10, 5}, {0.5, 0.5, 3.0});
  Volume volume(grid, 0.0f);
  LabelMap labels(grid, 0);
  labels.at(4, 4, 2) = 1;
  for (std::size_t j = 1; j < 9; ++j)
    for (std::size_t i = 6; i < 9; ++i)
      labels.at(i, j, 1) = 2; // one slice: qhull falls back
  const auto results = measureLesions(volume, labels);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_DOUBLE_EQ(results[0].recist.longAxisMm, 0.0);
  EXPECT_DOUBLE_EQ(results[0].maxDiameter3dMm, 0.0);
  EXPECT_NEAR(results[0].extentSiMm, 3.0, 1e-12);
  // Marching cubes turns one voxel into an octahedron with vertices half a voxel out: (4/3)·hx·hy·hz.
  EXPECT_NEAR(*results[0].meshVolumeMl * 1000.0, 4.0 / 3.0 * 0.25 * 0.25 * 1.5, 1e-9);
  EXPECT_NEAR(results[1].maxDiameter3dMm, std::hypot(7 * 0.5, 2 * 0.5), 1e-9);
  EXPECT_NEAR(results[1].recist.longAxisMm, std::hypot(7 * 0.5, 2 * 0.5), 1e-9);
  // The widest chord across the 1 mm (centre to centre) strip perpendicular to its diagonal is
  // about 1.04 mm; pixel centres allow it within half a pixel.
  EXPECT_GT(results[1].recist.shortAxisMm, 0.75);
  EXPECT_LT(results[1].recist.shortAxisMm, 1.6);
}

} // namespace
} // namespace lesion::measurement

namespace lesion::measurement {
namespace {

/// The warnings logged while measuring every label of `labels`.
/// Sets `label` on the voxels from index `from` up to (not including) `to`.
void paintBox(LabelMap& labels, std::array<std::size_t, 3> from, std::array<std::size_t, 3> to, std::uint16_t label) {
  for (std::size_t k = from[2]; k < to[2]; ++k)
    for (std::size_t j = from[1]; j < to[1]; ++j)
      for (std::size_t i = from[0]; i < to[0]; ++i)
        labels.at(i, j, k) = label;
}

std::vector<std::string> warningsMeasuring(const Volume& volume, const LabelMap& labels) {
  std::vector<std::string> warnings;
  setLogSink([&](LogLevel level, std::string_view message) {
    if (level == LogLevel::Warning)
      warnings.emplace_back(message);
  });
  (void)measureLesions(volume, labels);
  setLogSink({});
  return warnings;
}

TEST(LesionMeasurement, WarnsWhenALesionTouchesTheImageEdge) {
  ImageGeometry grid;
  grid.size = {12, 12, 6};
  Volume volume(grid, 0.0f);
  LabelMap labels(grid, 0);
  paintBox(labels, {0, 3, 2}, {4, 6, 4}, 1); // starts at i = 0
  for (std::size_t k = 2; k < 4; ++k)
    labels.at(8, 8, k) = 2; // well inside
  const std::vector<std::string> warnings = warningsMeasuring(volume, labels);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("label 1 touches the edge"), std::string::npos) << warnings[0];
}

TEST(LesionMeasurement, WarnsWhenOneLabelIsInSeparateParts) {
  // Two masses given one label (two seeds in two lesions, or a hand-drawn map) are measured as
  // one lesion whose diameters span the gap: said, not silent. Diagonal contact is one part.
  ImageGeometry grid;
  grid.size = {20, 12, 6};
  Volume volume(grid, 0.0f);
  LabelMap labels(grid, 0);
  paintBox(labels, {2, 3, 2}, {5, 6, 4}, 1);   // 18 voxels
  paintBox(labels, {12, 3, 2}, {14, 6, 4}, 1); // 12 voxels, 7 voxels apart
  labels.at(6, 7, 2) = 2; // label 2: two voxels touching at a corner
  labels.at(7, 8, 3) = 2;
  const std::vector<std::string> warnings = warningsMeasuring(volume, labels);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "label 1 is in 2 separate parts (the largest holds 60 % of its voxels): measured as one "
                         "lesion, its diameters and extents span the gaps; give each lesion its own label");
}

} // namespace
} // namespace lesion::measurement

namespace lesion::measurement {
namespace {

TEST(LesionMeasurement, LShapeLongAxisEndsInsideTheNotch) {
  // An L of two 40 x 10 mm bars (0.5 mm pixels, one slice). The caliper diameter (56 mm) leaves
  // the L; the longest chord between hull vertices that stays inside is 40.6 mm between voxel
  // centres; the true longest inside chord runs from the top of the upright bar past the inner
  // corner to the bottom edge (not a hull vertex): 41.6 mm between voxel centres (42.2 mm edge
  // to edge).
  ImageGeometry grid;
  grid.size = {84, 84, 3};
  grid.spacing = {0.5, 0.5, 2.0};
  Volume volume(grid, 0.0f);
  LabelMap labels(grid, 0);
  for (std::size_t j = 2; j < 82; ++j)
    for (std::size_t i = 2; i < 82; ++i)
      if (i < 22 || j < 22)
        labels.at(i, j, 1) = 1;
  const LesionMeasurement m = measureLesions(volume, labels).front();
  std::printf("  L-shape long axis %.3f mm between %s and %s\n", m.recist.longAxisMm,
              formatPoint(m.recist.longAxis.start).c_str(), formatPoint(m.recist.longAxis.end).c_str());
  EXPECT_GT(m.recist.longAxisMm, 41.2);
  EXPECT_LT(m.recist.longAxisMm, 42.2);
  EXPECT_NEAR(m.maxDiameter3dMm, std::sqrt(2.0) * 39.5, 1e-9); // Feret may leave the L
}

} // namespace
} // namespace lesion::measurement
