#include "SegMask.h"

#include <algorithm>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/LabelMapLoader.h"

namespace lesion::commands {

VolumeReference volumeReference(const dicomio::LoadedVolume& loaded, const ConvertSidecar& sidecar) {
  if (!loaded.frameOfReferenceUid.empty())
    return {loaded.frameOfReferenceUid, loaded.seriesInstanceUid};
  return {sidecar.source.frameOfReferenceUid, sidecar.seriesInstanceUid};
}

std::vector<std::string> checkSegReference(const reporting::SegmentationImage& seg,
                                           const std::filesystem::path& segPath, const VolumeReference& volume,
                                           const std::filesystem::path& volumePath) {
  if (volume.frameOfReferenceUid.empty() || seg.frameOfReferenceUid.empty())
    return {fmt::format("mask '{}': the frame of reference of {} is unknown; the SEG is put onto the volume's grid "
                        "by position alone",
                        segPath.string(),
                        volume.frameOfReferenceUid.empty() ? "volume '" + volumePath.string() + "'"
                                                           : std::string("the SEG"))};
  if (seg.frameOfReferenceUid != volume.frameOfReferenceUid)
    throw InputError(fmt::format("mask '{}' (frame of reference {}) segments another scan than volume '{}' (frame of "
                                 "reference {}): coordinates of different frames of reference are different places",
                                 segPath.string(), seg.frameOfReferenceUid, volumePath.string(),
                                 volume.frameOfReferenceUid));
  const auto& referenced = seg.referencedSeriesUids;
  if (volume.seriesInstanceUid.empty() || referenced.empty() ||
      std::find(referenced.begin(), referenced.end(), volume.seriesInstanceUid) != referenced.end())
    return {};
  return {fmt::format("mask '{}' was drawn on series {}, not on series {} of volume '{}' (same frame of reference): "
                      "put onto the volume's grid by nearest neighbour",
                      segPath.string(), referenced.front(), volume.seriesInstanceUid, volumePath.string())};
}

std::vector<measurement::LesionSpec> lesionSpecsFromSeg(const reporting::SegmentationImage& seg,
                                                        const std::vector<std::uint16_t>& present) {
  const auto& kinds = measurement::knownLesionKinds();
  std::vector<measurement::LesionSpec> specs;
  for (const reporting::SegmentRecord& s : seg.segments) {
    if (std::find(present.begin(), present.end(), s.label) == present.end())
      continue;
    measurement::LesionSpec spec;
    spec.label = s.label;
    spec.name = s.trackingId.empty() ? s.segmentLabel : s.trackingId;
    spec.kind = "other";
    if (const auto colon = s.segmentDescription.find(": ");
        s.segmentDescription.rfind("LesionKit label", 0) == 0 && colon != std::string::npos) {
      const std::string kind = s.segmentDescription.substr(colon + 2);
      if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end())
        spec.kind = kind;
    }
    spec.lymphNode = spec.kind == "lymph-node";
    specs.push_back(spec);
  }
  return specs;
}

VolumeMask loadVolumeMask(const std::filesystem::path& maskPath, const dicomio::LoadedVolume& loaded,
                          const ConvertSidecar& sidecar, const std::filesystem::path& volumePath,
                          measurement::MeasurementOptions& options) {
  reporting::SegmentationImage seg;
  VolumeMask mask;
  mask.labels =
      reporting::loadLabelMap(maskPath, &loaded.volume.geometry, &seg, &mask.algorithm, &mask.algorithmWarnings);
  if (dicomio::isVolumeFileName(maskPath))
    return mask;
  mask.warnings = checkSegReference(seg, maskPath, volumeReference(loaded, sidecar), volumePath);
  const auto listed = [](const auto& list, std::uint16_t label, auto labelOf) {
    return std::any_of(list.begin(), list.end(), [&](const auto& x) { return labelOf(x) == label; });
  };
  for (const measurement::LesionSpec& spec : lesionSpecsFromSeg(seg, measurement::labelsPresent(mask.labels))) {
    if (listed(options.lesions, spec.label, [](const measurement::LesionSpec& l) { return l.label; }))
      continue;
    if (!options.labels.empty() && !listed(options.labels, spec.label, [](std::uint16_t l) { return l; }))
      continue;
    options.lesions.push_back(spec);
  }
  return mask;
}

} // namespace lesion::commands
