#pragma once
/// \file SurfaceMeshes.h
/// Closed surface meshes of lesions for 3D viewers and printing: STL and VTP per lesion, with
/// points in patient LPS millimetres (whatever the voxel grid's direction), outward normals.
/// The surface is the 0.5 iso-surface of the binary mask (vertices halfway between inside and
/// outside voxel centres, as in measurement's mesh volume). VTK stays inside SurfaceMeshes.cxx.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "lesion/core/Image.h"

namespace lesion::qc {

struct SurfaceMeshOptions {
  bool stl{true};
  bool vtp{true};
  int smoothingIterations{0}; ///< windowed-sinc smoothing; 0 keeps the exact iso-surface
};

struct SurfaceMeshFiles {
  std::uint16_t label{0};
  std::filesystem::path stl{}; ///< empty when not written
  std::filesystem::path vtp{};
  std::size_t pointCount{0};
  std::size_t triangleCount{0};
  double volumeMm3{0.0}; ///< enclosed volume of the written mesh
};

/// Writes lesion-<label>.stl / .vtp in `folder` (created) for each label, atomically. Throws
/// lesion::InputError when a label has no voxels or the folder is not writable.
std::vector<SurfaceMeshFiles> writeSurfaceMeshes(const LabelMap& labels, const std::vector<std::uint16_t>& lesionLabels,
                                                 const std::filesystem::path& folder,
                                                 const SurfaceMeshOptions& options = {});

} // namespace lesion::qc
