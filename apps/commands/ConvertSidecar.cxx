#include "ConvertSidecar.h"

#include <array>
#include <cmath>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::commands {

namespace {

constexpr const char* kVolumeFileExtensions[] = {".nii.gz", ".nii", ".nrrd", ".nhdr"};

/// "ct" for ct.nii.gz, ct.nrrd, ...; the whole name for any other file.
std::string volumeStem(const std::filesystem::path& volumeFile) {
  std::string name = volumeFile.filename().string();
  for (const std::string e : kVolumeFileExtensions) {
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return name;
}

nlohmann::json parsedSidecar(const std::filesystem::path& sidecar) {
  std::ifstream in(sidecar);
  return in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
}

/// The file name a sidecar says it describes ("volumeFile"); empty for a sidecar of a LesionKit
/// version before that record, or another tool's JSON.
std::string describedFileName(const nlohmann::json& j) {
  return j.is_object() && j.contains("volumeFile") && j["volumeFile"].is_string() ? j["volumeFile"].get<std::string>()
                                                                                  : std::string{};
}

/// Whether the grid a sidecar records ("geometry": size, spacing, origin, direction) is `geometry`;
/// what it does not record is not compared (another tool's JSON). Spacing and origin within
/// 0.01 mm (NIfTI keeps them in single precision), direction cosines within 0.001.
bool recordsGrid(const nlohmann::json& j, const ImageGeometry& geometry) {
  const nlohmann::json* recorded = j.contains("geometry") ? &j["geometry"] : nullptr;
  if (!recorded || !recorded->is_object())
    return true;
  const auto triple = [&](const char* key) -> std::optional<std::array<double, 3>> {
    if (!recorded->contains(key) || !(*recorded)[key].is_array() || (*recorded)[key].size() != 3)
      return std::nullopt;
    std::array<double, 3> values{};
    for (std::size_t a = 0; a < 3; ++a) {
      if (!(*recorded)[key][a].is_number())
        return std::nullopt;
      values[a] = (*recorded)[key][a].get<double>();
    }
    return values;
  };
  const auto size = triple("size"), spacing = triple("spacingMm"), origin = triple("originMm");
  // (a const json's operator[] must not meet a missing key)
  if (recorded->contains("directionColumns"))
    if (const auto& columns = (*recorded)["directionColumns"]; columns.is_array() && columns.size() == 3)
      for (int c = 0; c < 3; ++c)
        for (int r = 0; r < 3; ++r)
          if (columns[c].is_array() && columns[c].size() == 3 && columns[c][r].is_number() &&
              std::abs(columns[c][r].get<double>() - geometry.direction.column(c)[r]) > 1e-3)
            return false;
  for (std::size_t a = 0; a < 3; ++a) {
    if (size && (*size)[a] != double(geometry.size[a]))
      return false;
    if (spacing && std::abs((*spacing)[a] - geometry.spacing[int(a)]) > 0.01)
      return false;
    if (origin && std::abs((*origin)[a] - geometry.origin[int(a)]) > 0.01)
      return false;
  }
  return true;
}

/// Says once per sidecar and volume that the sidecar names another file, and whether it is used (a
/// command may read it again for another step).
void warnSidecarOfAnotherFile(const std::filesystem::path& sidecar, const std::string& described,
                              const std::filesystem::path& volumePath, bool otherIsThere, bool sameGrid) {
  if (!firstTimeFor("convert sidecar\n" + sidecar.string() + '\n' + volumePath.string()))
    return;
  if (otherIsThere)
    logWarning("sidecar '{}' describes '{}', not '{}': its patient, study, frame of reference and slice thickness "
               "are not used for '{}'",
               sidecar.string(), described, volumePath.filename().string(), volumePath.string());
  else if (sameGrid)
    logWarning("sidecar '{}' describes '{}', which is not there: taken as the sidecar of '{}' (renamed with it?); "
               "its patient, study, frame of reference and slice thickness are used",
               sidecar.string(), described, volumePath.string());
  else
    logWarning("sidecar '{}' describes '{}', which is not there, on another grid than '{}' (left over from a "
               "deleted image?): its patient, study, frame of reference and slice thickness are not used",
               sidecar.string(), described, volumePath.string());
}

} // namespace

std::filesystem::path sidecarPath(const std::filesystem::path& volumeFile) {
  return volumeFile.parent_path() / (volumeStem(volumeFile) + ".json");
}

void ensureSidecarIsFree(const std::filesystem::path& volumeFile) {
  const std::filesystem::path sidecar = sidecarPath(volumeFile);
  std::error_code ec;
  if (!std::filesystem::exists(sidecar, ec))
    return;
  // The image it describes: as recorded, else (an older sidecar, another tool's JSON) any image of that name.
  std::vector<std::string> candidates;
  if (const std::string described = describedFileName(parsedSidecar(sidecar)); !described.empty())
    candidates.push_back(described);
  else
    for (const char* e : kVolumeFileExtensions)
      candidates.push_back(volumeStem(volumeFile) + e);
  for (const std::string& name : candidates) {
    const std::filesystem::path other = volumeFile.parent_path() / name;
    if (name != volumeFile.filename().string() && std::filesystem::exists(other, ec))
      throw InputError(fmt::format("--output '{}': its sidecar '{}' already describes '{}', whose metadata it would "
                                   "replace: choose another name, or delete '{}' and its sidecar first",
                                   volumeFile.string(), sidecar.string(), other.string(), other.string()));
  }
}

ConvertSidecar readConvertSidecar(const std::filesystem::path& volumePath, const ImageGeometry* geometry) {
  const std::filesystem::path path = sidecarPath(volumePath);
  const nlohmann::json j = parsedSidecar(path);
  ConvertSidecar sidecar;
  if (!j.is_object())
    return sidecar;
  // Another image of the stem beside it (ct.nii.gz next to ct.nrrd): not ours. A sidecar naming a
  // file that is not there was most likely renamed with its image: used, saying so, when it records
  // this image's grid (else it is left over from an image deleted since).
  if (const std::string described = describedFileName(j);
      !described.empty() && described != volumePath.filename().string()) {
    std::error_code ec;
    const bool otherIsThere = std::filesystem::exists(volumePath.parent_path() / described, ec);
    const bool sameGrid = !geometry || recordsGrid(j, *geometry);
    warnSidecarOfAnotherFile(path, described, volumePath, otherIsThere, sameGrid);
    if (otherIsThere || !sameGrid)
      return sidecar;
  }
  const auto text = [&j](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
  };
  // The identity fields, under the names ConvertCommand writes them.
  static const std::pair<const char*, std::string reporting::DicomSourceInfo::*> kIdentity[] = {
      {"patientId", &reporting::DicomSourceInfo::patientId},
      {"patientName", &reporting::DicomSourceInfo::patientName},
      {"patientSex", &reporting::DicomSourceInfo::patientSex},
      {"patientBirthDate", &reporting::DicomSourceInfo::patientBirthDate},
      {"accessionNumber", &reporting::DicomSourceInfo::accessionNumber},
      {"studyInstanceUid", &reporting::DicomSourceInfo::studyInstanceUid},
      {"studyId", &reporting::DicomSourceInfo::studyId},
      {"studyDate", &reporting::DicomSourceInfo::studyDate},
      {"studyTime", &reporting::DicomSourceInfo::studyTime},
      {"frameOfReferenceUid", &reporting::DicomSourceInfo::frameOfReferenceUid},
      {"modality", &reporting::DicomSourceInfo::modality}};
  for (const auto& [key, member] : kIdentity)
    sidecar.source.*member = text(key);
  sidecar.seriesInstanceUid = text("seriesInstanceUid");
  if (j.contains("sliceThicknessMm") && j["sliceThicknessMm"].is_number() && j["sliceThicknessMm"].get<double>() > 0.0)
    sidecar.sliceThicknessMm = j["sliceThicknessMm"].get<double>();
  return sidecar;
}

} // namespace lesion::commands
