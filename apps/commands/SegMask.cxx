#include "SegMask.h"

#include <algorithm>
#include <fstream>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/LabelMapLoader.h"

namespace lesion::commands {

std::filesystem::path sidecarPath(const std::filesystem::path& volumeFile) {
  std::string name = volumeFile.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".nhdr"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return volumeFile.parent_path() / (name + ".json");
}

namespace {

/// The text fields of a convert sidecar; empty strings when there is none or it is not one
/// (never an error: the sidecar is optional).
std::function<std::string(const char*)> sidecarTextFields(const std::filesystem::path& volumePath) {
  std::ifstream in(sidecarPath(volumePath));
  nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  return [j = std::move(j)](const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
  };
}

VolumeReference referenceFromSidecar(const std::filesystem::path& volumePath) {
  const auto text = sidecarTextFields(volumePath);
  return {text("frameOfReferenceUid"), text("seriesInstanceUid")};
}

} // namespace

ScanIdentity scanIdentityFromSidecar(const std::filesystem::path& volumePath) {
  const auto text = sidecarTextFields(volumePath);
  return {text("patientId"), text("studyDate"), text("seriesInstanceUid")};
}

std::optional<double> sliceThicknessFromSidecar(const std::filesystem::path& volumePath) {
  std::ifstream in(sidecarPath(volumePath));
  const nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  if (j.is_object() && j.contains("sliceThicknessMm") && j["sliceThicknessMm"].is_number() &&
      j["sliceThicknessMm"].get<double>() > 0.0)
    return j["sliceThicknessMm"].get<double>();
  return std::nullopt;
}

reporting::DicomSourceInfo sourceFromSidecar(const std::filesystem::path& volumePath) {
  const auto text = sidecarTextFields(volumePath);
  reporting::DicomSourceInfo source;
  source.patientId = text("patientId");
  source.studyInstanceUid = text("studyInstanceUid");
  source.studyDate = text("studyDate");
  source.modality = text("modality");
  source.frameOfReferenceUid = text("frameOfReferenceUid");
  return source;
}

VolumeReference volumeReference(const dicomio::LoadedVolume& loaded, const std::filesystem::path& volumePath) {
  if (!loaded.frameOfReferenceUid.empty())
    return {loaded.frameOfReferenceUid, loaded.seriesInstanceUid};
  return referenceFromSidecar(volumePath);
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
                          const std::filesystem::path& volumePath, measurement::MeasurementOptions& options) {
  reporting::SegmentationImage seg;
  VolumeMask mask{reporting::loadLabelMap(maskPath, &loaded.volume.geometry, &seg), {}};
  if (dicomio::isVolumeFileName(maskPath))
    return mask;
  mask.warnings = checkSegReference(seg, maskPath, volumeReference(loaded, volumePath), volumePath);
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
