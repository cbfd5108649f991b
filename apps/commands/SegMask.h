#pragma once
/// \file SegMask.h
/// A DICOM SEG given as the mask of a volume (measure, report): is it a segmentation of that
/// volume's frame of reference, and which lesions does it name?

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/reporting/DicomSeg.h"

#include "ConvertSidecar.h"

namespace lesion::commands {

/// How a measurement report names a mask `measure --seed` segmented and did not save (no --mask-output): the
/// seeds follow. `report --measurements` recognises it to explain that there is no file to reload.
inline constexpr const char* kUnsavedSeedMask = "the mask segmented from --seed ";

/// Where a volume's voxels come from; empty strings when unknown.
struct VolumeReference {
  std::string frameOfReferenceUid{};
  std::string seriesInstanceUid{};
};

/// DICOM input: its UIDs; a NRRD/NIfTI: the UIDs of its convert sidecar when there is one.
[[nodiscard]] VolumeReference volumeReference(const dicomio::LoadedVolume& loaded, const ConvertSidecar& sidecar);

/// Throws lesion::InputError naming both files and both UIDs when the SEG's frame of reference
/// differs from the volume's: the same coordinates are then different places, and putting the
/// SEG onto the volume's grid would measure the wrong voxels. Returns warnings for what cannot be
/// refused: the volume's frame of reference unknown, or the SEG drawn on another series of the
/// same frame (put onto this grid by nearest neighbour).
[[nodiscard]] std::vector<std::string> checkSegReference(const reporting::SegmentationImage& seg,
                                                         const std::filesystem::path& segPath,
                                                         const VolumeReference& volume,
                                                         const std::filesystem::path& volumePath);

/// One lesion per segment whose label is in `present`: the tracking ID (else the segment label)
/// as name; the kind from a LesionKit SEG's description ("LesionKit label 2: lytic-bone"), else
/// "other", so a SEG written at baseline carries the lesion identities to the follow-up.
[[nodiscard]] std::vector<measurement::LesionSpec> lesionSpecsFromSeg(const reporting::SegmentationImage& seg,
                                                                      const std::vector<std::uint16_t>& present);

/// The mask of a volume and what loading it says.
struct VolumeMask {
  LabelMap labels;
  std::vector<std::string> warnings;
  /// What made it: LesionKit's step recorded in a NRRD, a SEG's own Segment Algorithm; else MANUAL.
  reporting::SegmentAlgorithm algorithm{};
  /// Why `algorithm` is MANUAL although the file seemed to say otherwise (reporting::loadLabelMap):
  /// for a SEG written from the mask, so not wanted when the user states what made it.
  std::vector<std::string> algorithmWarnings;
};

/// The label map at `maskPath` on the volume's grid (reporting::loadLabelMap). A DICOM SEG (any
/// file that is not NRRD/NIfTI) is read once: checkSegReference (against the volume's UIDs, else its
/// `sidecar`'s), then its lesions join
/// `options.lesions` (a label the user gave a --lesion spec keeps it; with --label, only the
/// listed labels).
[[nodiscard]] VolumeMask loadVolumeMask(const std::filesystem::path& maskPath, const dicomio::LoadedVolume& loaded,
                                        const ConvertSidecar& sidecar, const std::filesystem::path& volumePath,
                                        measurement::MeasurementOptions& options);

} // namespace lesion::commands
