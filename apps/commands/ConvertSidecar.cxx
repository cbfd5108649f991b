#include "ConvertSidecar.h"

#include <fstream>

#include <nlohmann/json.hpp>

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

reporting::DicomSourceInfo ConvertSidecar::dicomSource() const {
  reporting::DicomSourceInfo source;
  source.patientId = patientId;
  source.studyInstanceUid = studyInstanceUid;
  source.studyDate = studyDate;
  source.modality = modality;
  source.frameOfReferenceUid = frameOfReferenceUid;
  return source;
}

ConvertSidecar readConvertSidecar(const std::filesystem::path& volumePath) {
  std::ifstream in(sidecarPath(volumePath));
  const nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  ConvertSidecar sidecar;
  if (!j.is_object())
    return sidecar;
  const auto text = [&j](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
  };
  sidecar.patientId = text("patientId");
  sidecar.studyInstanceUid = text("studyInstanceUid");
  sidecar.studyDate = text("studyDate");
  sidecar.seriesInstanceUid = text("seriesInstanceUid");
  sidecar.frameOfReferenceUid = text("frameOfReferenceUid");
  sidecar.modality = text("modality");
  if (j.contains("sliceThicknessMm") && j["sliceThicknessMm"].is_number() && j["sliceThicknessMm"].get<double>() > 0.0)
    sidecar.sliceThicknessMm = j["sliceThicknessMm"].get<double>();
  return sidecar;
}

} // namespace lesion::commands
