#include "ConvertSidecar.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::commands {

namespace {

constexpr const char* kVolumeFileExtensions[] = {".nii.gz", ".nii", ".nrrd", ".nhdr"};

/// "ct" for ct.nii.gz, ct.nrrd, CT.NRRD (outputs may be named in upper case), ...; the whole name for
/// any other file.
std::string volumeStem(const std::filesystem::path& volumeFile) {
  std::string name = volumeFile.filename().string();
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (const std::string e : kVolumeFileExtensions) {
    if (lower.size() > e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0) {
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

/// The numbers of a JSON array, nested arrays flattened in order ([[1,0,0],[0,1,0]] -> 1,0,0,0,1,0);
/// nothing when `j` is not an array of numbers.
std::optional<std::vector<double>> numbersIn(const nlohmann::json& j) {
  if (!j.is_array())
    return std::nullopt;
  std::vector<double> numbers;
  for (const nlohmann::json& v : j) {
    if (v.is_number()) {
      numbers.push_back(v.get<double>());
    } else if (const auto inner = numbersIn(v)) {
      numbers.insert(numbers.end(), inner->begin(), inner->end());
    } else {
      return std::nullopt;
    }
  }
  return numbers;
}

/// Whether the grid a sidecar records ("geometry": size, spacing, origin, direction) is `geometry`;
/// what it does not record is not compared (another tool's JSON). Spacing and origin within
/// 0.01 mm (NIfTI keeps them in single precision), direction cosines within 0.001.
bool recordsGrid(const nlohmann::json& j, const ImageGeometry& geometry) {
  if (!j.contains("geometry") || !j["geometry"].is_object())
    return true;
  const nlohmann::json& recorded = j["geometry"];
  const auto near = [&](const char* key, const std::vector<double>& expected, double tolerance) {
    const auto numbers = recorded.contains(key) ? numbersIn(recorded[key]) : std::nullopt;
    if (!numbers || numbers->size() != expected.size())
      return true;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (!(std::abs((*numbers)[i] - expected[i]) <= tolerance))
        return false;
    return true;
  };
  const Vec3 &spacing = geometry.spacing, &origin = geometry.origin;
  std::vector<double> directionColumns;
  for (std::size_t c = 0; c < 3; ++c)
    for (int r = 0; r < 3; ++r)
      directionColumns.push_back(geometry.direction.column(c)[r]);
  return near("size", {double(geometry.size[0]), double(geometry.size[1]), double(geometry.size[2])}, 0.0) &&
         near("spacingMm", {spacing.x, spacing.y, spacing.z}, 0.01) &&
         near("originMm", {origin.x, origin.y, origin.z}, 0.01) && near("directionColumns", directionColumns, 1e-3);
}

/// What to say when the sidecar names another file, and whether it is used.
std::string sidecarOfAnotherFileWarning(const std::filesystem::path& sidecar, const std::string& described,
                                        const std::filesystem::path& volumePath, bool otherIsThere, bool sameGrid) {
  if (otherIsThere)
    return fmt::format("sidecar '{}' describes '{}', not '{}': its patient, study, frame of reference and slice "
                       "thickness are not used for '{}'",
                       sidecar.string(), described, volumePath.filename().string(), volumePath.string());
  if (sameGrid)
    return fmt::format("sidecar '{}' describes '{}', which is not there: taken as the sidecar of '{}' (renamed with "
                       "it?); its patient, study, frame of reference and slice thickness are used",
                       sidecar.string(), described, volumePath.string());
  return fmt::format("sidecar '{}' describes '{}', which is not there, on another grid than '{}' (left over from a "
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

void ensureOutputSparesScanFiles(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs,
                                 const std::string& option) {
  ensureOutputSparesInputs(output, inputs, option);
  std::error_code ec;
  for (const std::filesystem::path& input : inputs) {
    if (input.empty() || !std::filesystem::is_regular_file(input, ec))
      continue; // a DICOM folder has no sidecar
    const std::filesystem::path sidecar = sidecarPath(input);
    if (!std::filesystem::exists(sidecar, ec) || !outputReplaces(output, sidecar))
      continue;
    // Only a convert sidecar of this input: a report an earlier run wrote there may be replaced.
    const nlohmann::json j = parsedSidecar(sidecar);
    const std::string described = describedFileName(j);
    const bool convertSidecar =
        described.empty() ? j.is_object() && (j.contains("seriesInstanceUid") || j.contains("studyInstanceUid"))
                          : described == input.filename().string();
    if (convertSidecar)
      throw UsageError(fmt::format("{} '{}' is the convert sidecar of the input '{}' (its patient, study and series): "
                                   "writing it would replace them; choose another output name",
                                   option, output.string(), input.string()));
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
    sidecar.warnings.push_back(sidecarOfAnotherFileWarning(path, described, volumePath, otherIsThere, sameGrid));
    // Said once per sidecar and volume: a command may read it again for another step.
    if (firstTimeFor("convert sidecar\n" + path.string() + '\n' + volumePath.string()))
      logWarning("{}", sidecar.warnings.back());
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
