// Lesion surface meshes with VTK (marching cubes on the cropped mask, points mapped to LPS).
// The only file of qc that touches VTK.
#include "lesion/qc/SurfaceMeshes.h"

#include <algorithm>
#include <array>
#include <limits>

#include <fmt/format.h>

#include <vtkImageData.h>
#include <vtkMarchingCubes.h>
#include <vtkMassProperties.h>
#include <vtkNew.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataNormals.h>
#include <vtkSTLWriter.h>
#include <vtkSmartPointer.h>
#include <vtkStringArray.h>
#include <vtkFieldData.h>
#include <vtkTriangleFilter.h>
#include <vtkWindowedSincPolyDataFilter.h>
#include <vtkXMLPolyDataWriter.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"

namespace lesion::qc {

namespace {

vtkSmartPointer<vtkPolyData> lesionSurface(const LabelMap& labels, std::uint16_t label, int smoothing) {
  const ImageGeometry& g = labels.geometry;
  // Bounding box of the label in index space, padded by one empty voxel so the surface closes.
  std::array<std::size_t, 3> lo{std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max(),
                                std::numeric_limits<std::size_t>::max()},
      hi{0, 0, 0};
  bool any = false;
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i)
        if (labels.voxels[g.linearIndex(i, j, k)] == label) {
          any = true;
          lo = {std::min(lo[0], i), std::min(lo[1], j), std::min(lo[2], k)};
          hi = {std::max(hi[0], i), std::max(hi[1], j), std::max(hi[2], k)};
        }
  if (!any) return nullptr;
  const int nx = int(hi[0] - lo[0]) + 3, ny = int(hi[1] - lo[1]) + 3, nz = int(hi[2] - lo[2]) + 3;
  vtkNew<vtkImageData> image;
  image->SetDimensions(nx, ny, nz);
  image->SetSpacing(g.spacing.x, g.spacing.y, g.spacing.z);
  image->SetOrigin(0, 0, 0);
  image->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  auto* data = static_cast<unsigned char*>(image->GetScalarPointer());
  std::fill(data, data + std::size_t(nx) * ny * nz, 0);
  for (std::size_t k = lo[2]; k <= hi[2]; ++k)
    for (std::size_t j = lo[1]; j <= hi[1]; ++j)
      for (std::size_t i = lo[0]; i <= hi[0]; ++i)
        if (labels.voxels[g.linearIndex(i, j, k)] == label)
          data[(i - lo[0] + 1) + std::size_t(nx) * ((j - lo[1] + 1) + std::size_t(ny) * (k - lo[2] + 1))] = 1;

  vtkNew<vtkMarchingCubes> cubes;
  cubes->SetInputData(image);
  cubes->SetValue(0, 0.5);
  cubes->ComputeNormalsOff();
  cubes->Update();
  vtkSmartPointer<vtkPolyData> surface = cubes->GetOutput();
  if (smoothing > 0) {
    vtkNew<vtkWindowedSincPolyDataFilter> smooth;
    smooth->SetInputData(surface);
    smooth->SetNumberOfIterations(smoothing);
    smooth->SetPassBand(0.1);
    smooth->NormalizeCoordinatesOn();
    smooth->Update();
    surface = smooth->GetOutput();
  }

  // Scaled crop coordinates → grid index → LPS (handles any direction matrix).
  vtkNew<vtkPoints> lps;
  lps->SetDataTypeToDouble();
  vtkPoints* points = surface->GetPoints();
  lps->SetNumberOfPoints(points->GetNumberOfPoints());
  for (vtkIdType p = 0; p < points->GetNumberOfPoints(); ++p) {
    double xyz[3];
    points->GetPoint(p, xyz);
    const Vec3 index{xyz[0] / g.spacing.x - 1.0 + double(lo[0]), xyz[1] / g.spacing.y - 1.0 + double(lo[1]),
                     xyz[2] / g.spacing.z - 1.0 + double(lo[2])};
    const Vec3 q = g.indexToPoint(index);
    lps->SetPoint(p, q.x, q.y, q.z);
  }
  vtkNew<vtkPolyData> mapped;
  mapped->DeepCopy(surface);
  mapped->SetPoints(lps);

  // Consistent, outward-facing triangles and normals whatever the handedness of the grid.
  vtkNew<vtkPolyDataNormals> normals;
  normals->SetInputData(mapped);
  normals->ConsistencyOn();
  normals->AutoOrientNormalsOn();
  normals->SplittingOff();
  normals->Update();
  vtkSmartPointer<vtkPolyData> out = normals->GetOutput();
  vtkNew<vtkStringArray> space;
  space->SetName("SPACE");
  space->InsertNextValue("LPS");
  out->GetFieldData()->AddArray(space);
  return out;
}

} // namespace

std::vector<SurfaceMeshFiles> writeSurfaceMeshes(const LabelMap& labels, const std::vector<std::uint16_t>& lesionLabels,
                                                 const std::filesystem::path& folder, const SurfaceMeshOptions& options) {
  labels.geometry.validate("label map for surface meshes");
  if (labels.voxels.size() != labels.geometry.voxelCount())
    throw InputError("surface meshes: voxel count does not match the label map size");
  ensureWritableFolder(folder);
  std::vector<SurfaceMeshFiles> files;
  for (std::uint16_t label : lesionLabels) {
    vtkSmartPointer<vtkPolyData> surface = lesionSurface(labels, label, options.smoothingIterations);
    if (!surface || surface->GetNumberOfPolys() == 0)
      throw InputError(fmt::format("surface mesh: label {} has no voxels", label));
    SurfaceMeshFiles f;
    f.label = label;
    f.pointCount = std::size_t(surface->GetNumberOfPoints());
    f.triangleCount = std::size_t(surface->GetNumberOfPolys());
    vtkNew<vtkTriangleFilter> triangles;
    triangles->SetInputData(surface);
    triangles->Update();
    vtkNew<vtkMassProperties> mass;
    mass->SetInputData(triangles->GetOutput());
    mass->Update();
    f.volumeMm3 = mass->GetVolume();
    if (options.stl) {
      f.stl = folder / fmt::format("lesion-{}.stl", label);
      writeFileAtomically(f.stl, [&](const std::filesystem::path& temporary) {
        vtkNew<vtkSTLWriter> writer;
        writer->SetInputData(surface);
        writer->SetFileName(temporary.string().c_str());
        writer->SetFileTypeToBinary();
        writer->SetHeader(fmt::format("LesionKit lesion {} SPACE=LPS", label).c_str());
        if (writer->Write() != 1) throw InputError(fmt::format("STL '{}': cannot write", f.stl.string()));
      });
    }
    if (options.vtp) {
      f.vtp = folder / fmt::format("lesion-{}.vtp", label);
      writeFileAtomically(f.vtp, [&](const std::filesystem::path& temporary) {
        vtkNew<vtkXMLPolyDataWriter> writer;
        writer->SetInputData(surface);
        writer->SetFileName(temporary.string().c_str());
        writer->SetDataModeToBinary();
        if (writer->Write() != 1) throw InputError(fmt::format("VTP '{}': cannot write", f.vtp.string()));
      });
    }
    files.push_back(f);
  }
  return files;
}

} // namespace lesion::qc
