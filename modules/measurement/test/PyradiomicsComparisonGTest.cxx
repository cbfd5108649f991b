// Our figures against pyradiomics' published baseline (AIM-Harvard/pyradiomics,
// data/baseline/baseline_shape.csv) on its brain1, breast1 (MR) and lung1 (CT label) masks.
//
// Convention differences (docs/measurement.md): pyradiomics measures diameters between
// marching-cubes mesh vertices, which sit half a voxel outside the boundary voxel centres we
// measure between, so its Maximum3DDiameter / Maximum2DDiameterSlice exceed ours by up to one
// voxel diagonal (3D) or one in-plane pixel diagonal (2D). Its Maximum2DDiameterSlice is a slice
// Feret diameter that may cross concavities; our RECIST long axis must stay inside the lesion,
// so ours may be shorter still on concave slices. Axis lengths (4·sqrt(eigenvalue) of the voxel
// centres' covariance) and VoxelVolume share our convention exactly.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::measurement {
namespace {

std::vector<std::string> splitCsvLine(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) fields.emplace_back();
    else if (c != '\r') fields.back() += c;
  }
  return fields;
}

/// feature name → (case → value) for the original_shape_* rows.
std::map<std::string, std::map<std::string, double>> readBaseline(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  const auto header = splitCsvLine(line);
  std::map<std::string, std::map<std::string, double>> table;
  while (std::getline(in, line)) {
    const auto fields = splitCsvLine(line);
    if (fields.empty() || fields[0].rfind("original_shape_", 0) != 0) continue;
    const std::string feature = fields[0].substr(std::string("original_shape_").size());
    for (std::size_t c = 1; c < fields.size() && c < header.size(); ++c) table[feature][header[c]] = std::stod(fields[c]);
  }
  return table;
}

struct Case {
  const char* name;
  const char* image; ///< empty: the image is not in the data set (lung1), measure shape only
  const char* label;
  /// False when a slice of the mask holds separate pieces (brain1 slice k=12: two blobs 47 mm
  /// apart), where a slice Feret diameter spans the gap but a RECIST long axis cannot.
  bool singlePieceSlices;
};

class PyradiomicsComparison : public ::testing::TestWithParam<Case> {};

TEST_P(PyradiomicsComparison, ShapeFeaturesAgreeWithinConventionDifference) {
  LESIONKIT_REQUIRE_TEST_DATA(folder, "AIM-Harvard+pyradiomics/data");
  const Case& c = GetParam();
  const auto baseline = readBaseline(folder / "baseline" / "baseline_shape.csv");
  ASSERT_TRUE(baseline.count("VoxelVolume")) << "baseline_shape.csv has no original_shape_VoxelVolume row";
  const auto reference = [&](const std::string& feature) { return baseline.at(feature).at(c.name); };

  const LabelMap labels = dicomio::readLabelMapFile(folder / c.label);
  const Volume volume = *c.image ? dicomio::readVolumeFile(folder / c.image) : Volume(labels.geometry, 0.0f);
  MeasurementOptions options;
  options.labels = {1}; // pyradiomics' default label
  options.intensityUnit = IntensityUnit::Arbitrary;
  const LesionMeasurement m = measureLesions(volume, labels, options).front();

  const ImageGeometry& g = labels.geometry;
  const double diagonal = g.voxelDiagonalMm();
  const double pixelDiagonal = std::hypot(g.spacing.x, g.spacing.y);
  const auto& axes = m.principalAxes.ibsiAxisLengthsMm;
  std::printf("| %s | feature | pyradiomics | LesionKit | difference |\n", c.name);
  const auto row = [&](const char* feature, double theirs, double ours) {
    std::printf("| %s | %s | %.4f | %.4f | %+.4f (%+.2f %%) |\n", c.name, feature, theirs, ours, ours - theirs,
                100.0 * (ours / theirs - 1.0));
  };
  row("VoxelVolume mm3", reference("VoxelVolume"), m.voxelVolumeMl * 1000.0);
  row("MeshVolume mm3", reference("MeshVolume"), *m.meshVolumeMl * 1000.0);
  row("SurfaceArea mm2", reference("SurfaceArea"), *m.surfaceAreaMm2);
  row("Maximum3DDiameter mm", reference("Maximum3DDiameter"), m.maxDiameter3dMm);
  row("Maximum2DDiameterSlice mm (ours: RECIST long axis)", reference("Maximum2DDiameterSlice"), m.recist.longAxisMm);
  row("MajorAxisLength mm", reference("MajorAxisLength"), axes[0]);
  row("MinorAxisLength mm", reference("MinorAxisLength"), axes[1]);
  row("LeastAxisLength mm", reference("LeastAxisLength"), axes[2]);
  row("Elongation", reference("Elongation"), m.shape.elongation);
  row("Flatness", reference("Flatness"), m.shape.flatness);
  row("Sphericity", reference("Sphericity"), *m.shape.sphericity);
  std::printf("| %s | voxel diagonal %.3f mm, in-plane pixel diagonal %.3f mm |\n", c.name, diagonal, pixelDiagonal);

  // Same convention: equal up to the baseline's printed precision.
  EXPECT_NEAR(m.voxelVolumeMl * 1000.0, reference("VoxelVolume"), 1e-6 * reference("VoxelVolume"));
  EXPECT_NEAR(axes[0], reference("MajorAxisLength"), 1e-6 * reference("MajorAxisLength"));
  EXPECT_NEAR(axes[1], reference("MinorAxisLength"), 1e-6 * reference("MinorAxisLength"));
  EXPECT_NEAR(axes[2], reference("LeastAxisLength"), 1e-6 * reference("LeastAxisLength"));
  EXPECT_NEAR(m.shape.elongation, reference("Elongation"), 1e-6);
  EXPECT_NEAR(m.shape.flatness, reference("Flatness"), 1e-6);
  // Both meshes put vertices halfway between voxel centres; they differ only in how ambiguous
  // marching-cubes configurations are split.
  EXPECT_NEAR(*m.meshVolumeMl * 1000.0, reference("MeshVolume"), 0.005 * reference("MeshVolume"));
  EXPECT_NEAR(*m.surfaceAreaMm2, reference("SurfaceArea"), 0.01 * reference("SurfaceArea"));
  EXPECT_NEAR(*m.shape.sphericity, reference("Sphericity"), 0.01 * reference("Sphericity"));
  // Mesh vertices half a voxel outside the voxel centres: theirs longer by at most a diagonal.
  EXPECT_LE(m.maxDiameter3dMm, reference("Maximum3DDiameter") + 1e-6);
  EXPECT_GE(m.maxDiameter3dMm, reference("Maximum3DDiameter") - diagonal);
  EXPECT_LE(m.recist.longAxisMm, reference("Maximum2DDiameterSlice") + 1e-6);
  if (c.singlePieceSlices) EXPECT_GE(m.recist.longAxisMm, reference("Maximum2DDiameterSlice") - pixelDiagonal);
}

INSTANTIATE_TEST_SUITE_P(Baseline, PyradiomicsComparison,
                         ::testing::Values(Case{"brain1", "brain1_image.nrrd", "brain1_label.nrrd", false},
                                           Case{"breast1", "breast1_image.nrrd", "breast1_label.nrrd", true},
                                           Case{"lung1", "", "lung1_label.nrrd", true}),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

} // namespace
} // namespace lesion::measurement
