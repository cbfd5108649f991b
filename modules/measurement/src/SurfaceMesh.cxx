#include "SurfaceMesh.h"

#include <vtkFlyingEdges3D.h>
#include <vtkImageData.h>
#include <vtkMassProperties.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkPolyData.h>
#include <vtkUnsignedCharArray.h>

#include "lesion/core/Error.h"

namespace lesion::measurement::detail {

SurfaceMeasures measureSurface(const std::vector<std::uint8_t>& mask, const std::array<std::size_t, 3>& size,
                               const std::array<double, 3>& spacingMm) {
  const std::size_t nx = size[0] + 2;
  const std::size_t ny = size[1] + 2;
  const std::size_t nz = size[2] + 2;
  vtkNew<vtkUnsignedCharArray> scalars;
  scalars->SetNumberOfTuples(static_cast<vtkIdType>(nx * ny * nz));
  scalars->FillValue(0);
  for (std::size_t k = 0; k < size[2]; ++k)
    for (std::size_t j = 0; j < size[1]; ++j)
      for (std::size_t i = 0; i < size[0]; ++i)
        if (mask[i + size[0] * (j + size[1] * k)])
          scalars->SetValue(static_cast<vtkIdType>((i + 1) + nx * ((j + 1) + ny * (k + 1))), 1);

  vtkNew<vtkImageData> image;
  image->SetDimensions(static_cast<int>(nx), static_cast<int>(ny), static_cast<int>(nz));
  image->SetSpacing(spacingMm[0], spacingMm[1], spacingMm[2]);
  image->GetPointData()->SetScalars(scalars);

  vtkNew<vtkFlyingEdges3D> contour;
  contour->SetInputData(image);
  contour->SetValue(0, 0.5);
  contour->ComputeNormalsOff();
  contour->ComputeGradientsOff();
  contour->ComputeScalarsOff();
  contour->Update();
  vtkPolyData* surface = contour->GetOutput();
  if (surface->GetNumberOfPolys() == 0)
    throw ProcessingError("surface mesh: the iso-surface of a non-empty lesion mask has no triangles");

  vtkNew<vtkMassProperties> properties;
  properties->SetInputData(surface);
  properties->Update();
  return {properties->GetVolume(), properties->GetSurfaceArea()};
}

} // namespace lesion::measurement::detail
