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

namespace {

/// A convert sidecar's JSON; not an object when there is none or it is not one (never an error:
/// the sidecar is optional).
nlohmann::json sidecarJson(const std::filesystem::path& volumePath) {
  std::ifstream in(sidecarPath(volumePath));
  return in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
}

} // namespace

std::function<std::string(const char*)> sidecarTextFields(const std::filesystem::path& volumePath) {
  nlohmann::json j = sidecarJson(volumePath);
  return [j = std::move(j)](const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
  };
}

ScanIdentity scanIdentityFromSidecar(const std::filesystem::path& volumePath) {
  const auto text = sidecarTextFields(volumePath);
  return {text("patientId"), text("studyDate"), text("seriesInstanceUid")};
}

std::optional<double> sliceThicknessFromSidecar(const std::filesystem::path& volumePath) {
  const nlohmann::json j = sidecarJson(volumePath);
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

} // namespace lesion::commands
