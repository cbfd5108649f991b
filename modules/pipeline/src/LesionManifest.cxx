#include "lesion/pipeline/LesionManifest.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"

namespace lesion::pipeline {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string>& manifestKinds() {
  static const std::vector<std::string> kinds{"soft-tissue", "lymph-node", "lytic-bone"};
  return kinds;
}

std::string checkedKind(const std::string& kind, const std::string& where) {
  const auto& kinds = manifestKinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    throw InputError(fmt::format("{}: kind '{}': expected one of {}", where, kind, fmt::join(kinds, ", ")));
  }
  return kind;
}

ManifestLesion::Init initFromName(const std::string& name, const std::string& where) {
  if (name == "seed") return ManifestLesion::Init::Seed;
  if (name == "box") return ManifestLesion::Init::Box;
  if (name == "recist") return ManifestLesion::Init::Recist;
  throw InputError(fmt::format("{}: init '{}': expected seed, box or recist", where, name));
}

bool targetFromText(std::string text, const std::string& where) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (text.empty() || text == "yes" || text == "true" || text == "1" || text == "target") return true;
  if (text == "no" || text == "false" || text == "0" || text == "non-target") return false;
  throw InputError(fmt::format("{}: target '{}': expected yes or no", where, text));
}

/// Splits one CSV line (RFC 4180 quotes, no line breaks inside fields).
std::vector<std::string> csvFields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  for (std::string& f : fields) {
    const auto b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    f = b == std::string::npos ? std::string() : f.substr(b, e - b + 1);
  }
  return fields;
}

double number(const std::string& text, const std::string& column, const std::string& where) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v))
      return v; // stod reads "nan" and "inf" too
  } catch (const std::logic_error&) {
  }
  throw InputError(fmt::format("{}: {} '{}': expected a finite number (mm)", where, column, text));
}

LesionManifest readCsv(const fs::path& path, std::istream& in) {
  static const std::vector<std::string> known{
      "patient_id", "lesion", "kind", "init", "x1", "y1", "z1", "x2", "y2", "z2", "level", "target", "baseline_study"};
  LesionManifest manifest;
  std::string line;
  std::map<std::string, std::size_t> column;
  std::size_t lineNumber = 0;
  while (std::getline(in, line)) {
    ++lineNumber;
    const std::string where = fmt::format("manifest '{}' line {}", path.string(), lineNumber);
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
    const std::vector<std::string> fields = csvFields(line);
    if (column.empty()) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (std::find(known.begin(), known.end(), fields[i]) == known.end()) {
          throw InputError(fmt::format("{}: unknown column '{}' (expected {})", where, fields[i], fmt::join(known, ",")));
        }
        column[fields[i]] = i;
      }
      for (const char* required : {"patient_id", "kind", "x1", "y1", "z1"}) {
        if (!column.count(required)) throw InputError(fmt::format("{}: the header lacks column '{}'", where, required));
      }
      continue;
    }
    auto field = [&](const char* name) -> std::string {
      const auto it = column.find(name);
      return it == column.end() || it->second >= fields.size() ? std::string() : fields[it->second];
    };
    ManifestLesion l;
    l.patientId = field("patient_id");
    if (l.patientId.empty()) throw InputError(fmt::format("{}: empty patient_id", where));
    l.name = field("lesion");
    l.kind = checkedKind(field("kind"), where);
    l.init = field("init").empty() ? ManifestLesion::Init::Seed : initFromName(field("init"), where);
    l.first = {number(field("x1"), "x1", where), number(field("y1"), "y1", where), number(field("z1"), "z1", where)};
    if (l.init != ManifestLesion::Init::Seed) {
      l.second = {number(field("x2"), "x2", where), number(field("y2"), "y2", where), number(field("z2"), "z2", where)};
    }
    l.level = field("level");
    l.target = targetFromText(field("target"), where);
    l.baselineStudy = field("baseline_study");
    manifest.lesions.push_back(std::move(l));
  }
  return manifest;
}

Vec3 pointOf(const nlohmann::json& j, const std::string& where) {
  if (!j.is_array() || j.size() != 3) throw InputError(where + ": expected a point [x, y, z] in LPS mm");
  return {j[0].get<double>(), j[1].get<double>(), j[2].get<double>()};
}

LesionManifest readJson(const fs::path& path, std::istream& in) {
  LesionManifest manifest;
  const std::string file = fmt::format("manifest '{}'", path.string());
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& patient : j.at("patients")) {
      const std::string id = patient.at("patientId").get<std::string>();
      for (const auto& lesion : patient.at("lesions")) {
        const std::string where = fmt::format("{} patient {}", file, id);
        ManifestLesion l;
        l.patientId = id;
        l.name = lesion.value("name", "");
        l.kind = checkedKind(lesion.value("kind", "soft-tissue"), where);
        if (lesion.contains("seed")) {
          l.first = pointOf(lesion.at("seed"), where);
        } else {
          const bool box = lesion.contains("box");
          if (!box && !lesion.contains("recist")) throw InputError(where + ": a lesion needs seed, box or recist");
          const auto& pair = lesion.at(box ? "box" : "recist");
          if (!pair.is_array() || pair.size() != 2) throw InputError(where + ": expected two points");
          l.init = box ? ManifestLesion::Init::Box : ManifestLesion::Init::Recist;
          l.first = pointOf(pair[0], where);
          l.second = pointOf(pair[1], where);
        }
        l.level = lesion.value("level", "");
        l.target = lesion.value("target", true);
        l.baselineStudy = patient.value("baselineStudy", "");
        manifest.lesions.push_back(std::move(l));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: {}", file, e.what()));
  }
  return manifest;
}

/// A patient's points lie on one scan: lesions naming different baseline studies (or some none) are
/// a mistake the run could not resolve.
void requireOneBaselinePerPatient(const LesionManifest& manifest, const fs::path& path) {
  std::map<std::string, std::string> baselineOf;
  for (const ManifestLesion& l : manifest.lesions) {
    const auto [it, first] = baselineOf.emplace(l.patientId, l.baselineStudy);
    if (!first && it->second != l.baselineStudy) {
      throw InputError(fmt::format("manifest '{}': patient {}: its lesions name different baseline studies ('{}' and "
                                   "'{}'); a patient's points are placed on one scan",
                                   path.string(), l.patientId, it->second, l.baselineStudy));
    }
  }
}

} // namespace

std::vector<ManifestLesion> LesionManifest::of(const std::string& patientId) const {
  std::vector<ManifestLesion> found;
  for (const ManifestLesion& l : lesions) {
    if (l.patientId == patientId) found.push_back(l);
  }
  return found;
}

std::vector<std::string> LesionManifest::patients() const {
  std::vector<std::string> ids;
  for (const ManifestLesion& l : lesions) ids.push_back(l.patientId);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

LesionManifest readLesionManifest(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("cannot open manifest '{}'", path.string()));
  const std::string ext = path.extension().string();
  LesionManifest manifest = ext == ".json" ? readJson(path, in) : readCsv(path, in);
  if (manifest.lesions.empty()) throw InputError(fmt::format("manifest '{}' names no lesion", path.string()));
  requireOneBaselinePerPatient(manifest, path);
  return manifest;
}

std::string canonicalText(const ManifestLesion& l) {
  static const char* const inits[] = {"seed", "box", "recist"};
  return fmt::format("{}|{}|{}|{}|{:.6f},{:.6f},{:.6f}|{:.6f},{:.6f},{:.6f}|{}|{}", l.patientId, l.name, l.kind,
                     inits[static_cast<int>(l.init)], l.first.x, l.first.y, l.first.z, l.second.x, l.second.y,
                     l.second.z, l.level, l.target ? "target" : "non-target") +
         (l.baselineStudy.empty() ? std::string() : "|baseline " + l.baselineStudy); // earlier hashes kept
}

} // namespace lesion::pipeline
