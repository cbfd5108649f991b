#pragma once
/// \file NamedInputErrors.h
/// Errors that name the files: a library step that finds the loaded volume unfit (too few
/// slices, a point outside it) does not know which file it came from, so the command puts the
/// file's name in front, as the loaders do; and a label map brought onto its volume's grid or refused.

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/core/Image.h"
#include "lesion/core/LatticePlacement.h"
#include "lesion/dicomio/VolumeLoader.h"

namespace lesion::commands {

/// Runs `step` (work on the volume read from `path`); its lesion::InputError and
/// lesion::ProcessingError (exit 2 and 3) come out naming the file, as in a batch log.
template <typename Step> decltype(auto) namingTheFileOnError(const std::filesystem::path& path, Step&& step) {
  try {
    return std::forward<Step>(step)();
  } catch (const InputError& e) {
    throw InputError(fmt::format("'{}': {}", path.string(), e.what()));
  } catch (const ProcessingError& e) {
    throw ProcessingError(fmt::format("'{}': {}", path.string(), e.what()));
  }
}

/// `step` ("spine segmentation") reads bone and soft tissue by their HU: a DICOM series of another
/// modality (MR), or a NRRD/NIfTI without air or fat below -50 (dicomio::inHounsfieldUnits), is
/// refused with an InputError (exit 2) naming the file, before anything is "found" in it.
inline void requireCtInHounsfieldUnits(const dicomio::LoadedVolume& loaded, const std::filesystem::path& path,
                                       const std::string& step) {
  if (dicomio::inHounsfieldUnits(loaded))
    return;
  if (!loaded.modality.empty())
    throw InputError(
        fmt::format("'{}': {} needs CT (Hounsfield units), the series is {}", path.string(), step, loaded.modality));
  throw InputError(fmt::format("'{}': {} needs CT in Hounsfield units, and these values do not look like HU (fewer "
                               "than 1 % of the voxels below -50: no air or fat, e.g. an MR)",
                               path.string(), step));
}

/// Size, spacing and origin of a grid; `withAxes` adds the direction of each voxel axis, for grids
/// that differ only there (a flipped axis).
inline std::string gridText(const ImageGeometry& g, bool withAxes) {
  std::string text = fmt::format("{}x{}x{} voxels, spacing {:.4g} x {:.4g} x {:.4g} mm, origin {}", g.size[0],
                                 g.size[1], g.size[2], g.spacing.x, g.spacing.y, g.spacing.z, formatPoint(g.origin));
  if (withAxes) {
    text += ", axes";
    for (std::size_t a = 0; a < 3; ++a) {
      const Vec3 d = g.direction.column(a);
      text += fmt::format(" ({:.3g}, {:.3g}, {:.3g})", d.x, d.y, d.z);
    }
  }
  return text;
}

/// The label map `map` read from `mapPath` (a "mask", "reference label map") on the grid of the
/// volume read from `volumePath` (a "volume", "baseline"). A map on the volume's voxel lattice that
/// covers only part of it (3D Slicer crops a segmentation's label map to the segments' extent) is
/// placed into the grid voxel for voxel, with a note added to `notes`. Any other grid, or labelled
/// voxels beyond the volume, is an InputError naming both files (and both grids).
[[nodiscard]] inline LabelMap onVolumeGrid(LabelMap map, const std::filesystem::path& mapPath, const std::string& role,
                                           const ImageGeometry& volume, const std::filesystem::path& volumePath,
                                           const std::string& volumeRole, std::vector<std::string>& notes) {
  if (map.geometry.sameGrid(volume))
    return map;
  if (std::optional<LatticePlacement> placed = placeOnVolumeLattice(map, volume)) {
    const auto& o = placed->offsetVoxels;
    if (placed->labelledVoxelsOutside > 0)
      throw InputError(fmt::format("{} '{}' ({}) lies on the voxel lattice of {} '{}' ({}), but {} of its labelled "
                                   "voxels fall outside the {} (offset ({}, {}, {}) voxels): was the {} drawn on "
                                   "another {}?",
                                   role, mapPath.string(), gridText(map.geometry, false), volumeRole,
                                   volumePath.string(), gridText(volume, false), placed->labelledVoxelsOutside,
                                   volumeRole, o[0], o[1], o[2], role, volumeRole));
    const auto voxels = [](const ImageGeometry& g) { return fmt::format("{}x{}x{}", g.size[0], g.size[1], g.size[2]); };
    notes.push_back(fmt::format("{} '{}' ({} voxels) lies on the voxel lattice of {} '{}' ({} voxels) at offset ({}, "
                                "{}, {}) voxels: placed into the {}'s grid without interpolation",
                                role, mapPath.string(), voxels(map.geometry), volumeRole, volumePath.string(),
                                voxels(volume), o[0], o[1], o[2], volumeRole));
    return std::move(placed->labels);
  }
  bool sameAxes = true; // the direction part of ImageGeometry::sameGrid (same tolerance)
  for (std::size_t i = 0; i < 9; ++i)
    sameAxes = sameAxes && std::abs(map.geometry.direction.m[i] - volume.direction.m[i]) <= 1e-6;
  throw InputError(fmt::format("{} '{}' ({}) is not on the grid of {} '{}' ({}): resample the {} onto the {} first",
                               role, mapPath.string(), gridText(map.geometry, !sameAxes), volumeRole,
                               volumePath.string(), gridText(volume, !sameAxes), role, volumeRole));
}

} // namespace lesion::commands
