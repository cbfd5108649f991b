// Surface meshes: closed, in LPS (oblique grid), volume close to the voxel volume, files readable.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <vtkMassProperties.h>
#include <vtkNew.h>
#include <vtkPolyData.h>
#include <vtkSTLReader.h>
#include <vtkTriangleFilter.h>
#include <vtkXMLPolyDataReader.h>

#include "lesion/core/Error.h"
#include "lesion/qc/SurfaceMeshes.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::qc {
namespace {

LabelMap obliqueBall(Vec3& centroidLps, std::size_t& voxels) {
  ImageGeometry g;
  g.size = {40, 36, 20};
  g.spacing = {0.9, 0.8, 1.5};
  g.origin = {12.0, -40.0, 300.0};
  g.direction = Mat3::rotation(normalized(Vec3{1.0, 2.0, -0.5}), 0.6);
  LabelMap labels(g, 0);
  centroidLps = {};
  voxels = 0;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double a = (double(i) - 18) * 0.9 / 10, b = (double(j) - 17) * 0.8 / 8, c = (double(k) - 9) * 1.5 / 9;
        if (a * a + b * b + c * c <= 1.0) {
          labels.at(i, j, k) = 3;
          centroidLps += g.indexToPoint(i, j, k);
          ++voxels;
        }
      }
  centroidLps = centroidLps / double(voxels);
  return labels;
}

TEST(SurfaceMeshes, WritesClosedLpsMeshes) {
  test::ScratchFolder scratch;
  Vec3 centroid;
  std::size_t voxels = 0;
  const LabelMap labels = obliqueBall(centroid, voxels);
  const double voxelVolume = double(voxels) * labels.geometry.voxelVolumeMm3();
  const auto files = writeSurfaceMeshes(labels, {3}, scratch / "meshes");
  ASSERT_EQ(files.size(), 1u);
  const SurfaceMeshFiles& f = files[0];
  EXPECT_NEAR(f.volumeMm3, voxelVolume, 0.08 * voxelVolume);
  EXPECT_EQ(std::filesystem::file_size(f.stl), 84u + 50u * f.triangleCount); // binary STL

  vtkNew<vtkXMLPolyDataReader> reader;
  reader->SetFileName(f.vtp.string().c_str());
  reader->Update();
  vtkPolyData* mesh = reader->GetOutput();
  ASSERT_EQ(std::size_t(mesh->GetNumberOfPoints()), f.pointCount);
  Vec3 mean{};
  for (vtkIdType p = 0; p < mesh->GetNumberOfPoints(); ++p) {
    double xyz[3];
    mesh->GetPoint(p, xyz);
    mean += Vec3{xyz[0], xyz[1], xyz[2]};
  }
  mean = mean / double(mesh->GetNumberOfPoints());
  // Points are in LPS: their mean sits on the lesion's centroid (symmetric ball), not in index space.
  EXPECT_LT(distance(mean, centroid), 0.5);
  vtkNew<vtkMassProperties> mass;
  mass->SetInputData(mesh);
  mass->Update();
  EXPECT_GT(mass->GetVolume(), 0.0) << "outward orientation gives a positive volume";

  vtkNew<vtkSTLReader> stl;
  stl->SetFileName(f.stl.string().c_str());
  stl->Update();
  EXPECT_EQ(std::size_t(stl->GetOutput()->GetNumberOfPolys()), f.triangleCount);
  EXPECT_EQ(test::listFiles(scratch / "meshes").size(), 2u);
}

TEST(SurfaceMeshes, RefusesAnEmptyLabel) {
  test::ScratchFolder scratch;
  Vec3 centroid;
  std::size_t voxels = 0;
  const LabelMap labels = obliqueBall(centroid, voxels);
  EXPECT_THROW((void)writeSurfaceMeshes(labels, {7}, scratch / "meshes"), InputError);
}

} // namespace
} // namespace lesion::qc
