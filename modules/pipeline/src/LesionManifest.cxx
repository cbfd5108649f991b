#include "lesion/pipeline/LesionManifest.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
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

/// A lesion and where the manifest gives it ("manifest 'm.csv' line 3"), for errors found later.
struct PlacedLesion {
  ManifestLesion lesion;
  std::string place;
};

/// Excel's "CSV UTF-8" starts the file with a byte order mark: not part of the first column's name.
void dropByteOrderMark(std::string& firstLine) {
  static const std::string bom = "\xEF\xBB\xBF";
  if (firstLine.rfind(bom, 0) == 0)
    firstLine.erase(0, bom.size());
}

std::vector<PlacedLesion> readCsv(const fs::path& path, std::istream& in) {
  static const std::vector<std::string> known{
      "patient_id", "lesion", "kind", "init", "x1", "y1", "z1", "x2", "y2", "z2", "level", "target", "baseline_study"};
  std::vector<PlacedLesion> lesions;
  std::string line;
  std::map<std::string, std::size_t> column;
  std::size_t lineNumber = 0;
  while (std::getline(in, line)) {
    if (++lineNumber == 1)
      dropByteOrderMark(line);
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
    lesions.push_back({std::move(l), where});
  }
  return lesions;
}

// JSON: errors name the patient entry, the lesion and the field in the manifest's terms (the JSON
// library's own messages, "type must be string, but is number", name none of them).

/// A JSON value in words: "the number 3", "a list".
std::string described(const nlohmann::json& v) {
  switch (v.type()) {
  case nlohmann::json::value_t::null:
    return "null";
  case nlohmann::json::value_t::boolean:
    return v.get<bool>() ? "true" : "false";
  case nlohmann::json::value_t::string:
    return "the text " + v.dump();
  case nlohmann::json::value_t::array:
    return "a list";
  case nlohmann::json::value_t::object:
    return "an object";
  default:
    return "the number " + v.dump();
  }
}

/// `object` must be a JSON object holding only the keys `known` (a misspelt "taget" would
/// otherwise be ignored silently, as an unknown CSV column is not).
void checkObject(const nlohmann::json& object, const std::vector<std::string>& known, const std::string& where) {
  if (!object.is_object())
    throw InputError(fmt::format("{}: expected an object {{...}}, found {}", where, described(object)));
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end())
      throw InputError(fmt::format("{}: unknown field '{}' (expected {})", where, item.key(), fmt::join(known, ", ")));
  }
}

const nlohmann::json& requiredList(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.contains(key))
    throw InputError(fmt::format("{}: lacks field '{}'", where, key));
  const nlohmann::json& list = object.at(key);
  if (!list.is_array())
    throw InputError(fmt::format("{}: field '{}' must be a list [...], found {}", where, key, described(list)));
  return list;
}

std::string optionalText(const nlohmann::json& object, const char* key, const std::string& fallback,
                         const std::string& where) {
  if (!object.contains(key))
    return fallback;
  const nlohmann::json& v = object.at(key);
  if (!v.is_string())
    throw InputError(fmt::format("{}: field '{}' must be text, found {}", where, key, described(v)));
  return v.get<std::string>();
}

bool optionalFlag(const nlohmann::json& object, const char* key, bool fallback, const std::string& where) {
  if (!object.contains(key))
    return fallback;
  const nlohmann::json& v = object.at(key);
  if (!v.is_boolean())
    throw InputError(fmt::format("{}: field '{}' must be true or false, found {}", where, key, described(v)));
  return v.get<bool>();
}

bool isPoint(const nlohmann::json& j) {
  return j.is_array() && j.size() == 3 && std::all_of(j.begin(), j.end(), [](const auto& c) { return c.is_number(); });
}

/// The value in words, a list as written ("[1, 2]").
std::string shown(const nlohmann::json& j) { return j.is_array() ? j.dump() : described(j); }

/// The lesion's seed, box or RECIST line: exactly one of them.
void readLesionPoints(const nlohmann::json& lesion, ManifestLesion& l, const std::string& where) {
  std::vector<std::string> given;
  for (const char* key : {"seed", "box", "recist"})
    if (lesion.contains(key))
      given.push_back(key);
  if (given.size() != 1)
    throw InputError(fmt::format("{}: give one of the fields seed, box or recist{}", where,
                                 given.empty() ? "" : fmt::format(", not {}", fmt::join(given, " and "))));
  const std::string& key = given.front();
  const nlohmann::json& value = lesion.at(key);
  l.init = initFromName(key, where);
  if (l.init == ManifestLesion::Init::Seed) {
    if (!isPoint(value))
      throw InputError(
          fmt::format("{}: field 'seed' must be a point [x, y, z] in LPS mm, found {}", where, shown(value)));
    l.first = {value[0].get<double>(), value[1].get<double>(), value[2].get<double>()};
    return;
  }
  if (!value.is_array() || value.size() != 2 || !isPoint(value[0]) || !isPoint(value[1]))
    throw InputError(fmt::format("{}: field '{}' must be two points [[x, y, z], [x, y, z]] in LPS mm, found {}", where,
                                 key, shown(value)));
  l.first = {value[0][0].get<double>(), value[0][1].get<double>(), value[0][2].get<double>()};
  l.second = {value[1][0].get<double>(), value[1][1].get<double>(), value[1][2].get<double>()};
}

ManifestLesion lesionFromJson(const nlohmann::json& lesion, const std::string& patientId, const std::string& where) {
  checkObject(lesion, {"name", "kind", "seed", "box", "recist", "level", "target"}, where);
  ManifestLesion l;
  l.patientId = patientId;
  l.name = optionalText(lesion, "name", "", where);
  l.kind = checkedKind(optionalText(lesion, "kind", "soft-tissue", where), where);
  readLesionPoints(lesion, l, where);
  l.level = optionalText(lesion, "level", "", where);
  l.target = optionalFlag(lesion, "target", true, where);
  return l;
}

/// "line 3, column 7" of the parser's position: the count of characters read, the offending one last.
std::string lineAndColumn(const std::string& text, std::size_t charactersRead) {
  const std::size_t offending = std::min(charactersRead > 0 ? charactersRead - 1 : 0, text.size());
  const std::string before = text.substr(0, offending);
  const std::size_t lastBreak = before.rfind('\n');
  const std::size_t column = before.size() - (lastBreak == std::string::npos ? 0 : lastBreak + 1) + 1;
  return fmt::format("line {}, column {}", 1 + std::count(before.begin(), before.end(), '\n'), column);
}

nlohmann::json parsedJson(const std::string& file, std::istream& in) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  dropByteOrderMark(text); // before parsing, so that the column of an error counts from the text
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(file + ": the file is empty");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON near {} (a missing comma, bracket or quote?)", file,
                                 lineAndColumn(text, e.byte)));
  } catch (const nlohmann::json::exception& e) { // a number out of range (1e999)
    const std::string why = e.what();            // "[json.exception.out_of_range.406] number overflow parsing '1e999'"
    const std::size_t afterId = why.find("] ");
    throw InputError(
        fmt::format("{}: not valid JSON: {}", file, afterId == std::string::npos ? why : why.substr(afterId + 2)));
  }
}

std::vector<PlacedLesion> readJson(const fs::path& path, std::istream& in) {
  const std::string file = fmt::format("manifest '{}'", path.string());
  const nlohmann::json j = parsedJson(file, in);
  checkObject(j, {"patients"}, file);
  std::vector<PlacedLesion> lesions;
  const nlohmann::json& patients = requiredList(j, "patients", file);
  for (std::size_t p = 0; p < patients.size(); ++p) {
    const std::string entry = fmt::format("{}, patient entry {}", file, p + 1);
    checkObject(patients[p], {"patientId", "baselineStudy", "lesions"}, entry);
    const std::string id = optionalText(patients[p], "patientId", "", entry);
    const std::string baselineStudy = optionalText(patients[p], "baselineStudy", "", entry);
    if (id.empty())
      throw InputError(entry + ": lacks field 'patientId' (or it is empty)");
    const nlohmann::json& list = requiredList(patients[p], "lesions", fmt::format("{} ('{}')", entry, id));
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string where = fmt::format("{}, patient '{}' (entry {}), lesion {}", file, id, p + 1, i + 1);
      lesions.push_back({lesionFromJson(list[i], id, where), where});
      lesions.back().lesion.baselineStudy = baselineStudy;
    }
  }
  return lesions;
}

/// One patient's lesions must be told apart by name (results, timelines and reports list them by
/// name), and a lesion given twice would be segmented twice and fail on its second mask.
void checkLesionsDistinct(const std::vector<PlacedLesion>& lesions) {
  for (std::size_t i = 0; i < lesions.size(); ++i) {
    const ManifestLesion& l = lesions[i].lesion;
    for (std::size_t k = 0; k < i; ++k) {
      const ManifestLesion& earlier = lesions[k].lesion;
      if (earlier.patientId != l.patientId)
        continue;
      // The same points and kind under another name (or target flag) are the same lesion too.
      ManifestLesion renamed = l;
      renamed.name = earlier.name;
      renamed.target = earlier.target;
      if (canonicalText(earlier) == canonicalText(renamed))
        throw InputError(fmt::format("{}: repeats the lesion given at {} (patient '{}'{}); give each lesion once",
                                     lesions[i].place, lesions[k].place, l.patientId,
                                     l.name.empty() ? "" : fmt::format(", lesion '{}'", l.name)));
      if (!l.name.empty() && earlier.name == l.name)
        throw InputError(fmt::format("{}: patient '{}' already has a lesion named '{}' (at {}); give each lesion of "
                                     "a patient its own name",
                                     lesions[i].place, l.patientId, l.name, lesions[k].place));
    }
  }
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
  const std::vector<PlacedLesion> placed = path.extension() == ".json" ? readJson(path, in) : readCsv(path, in);
  if (placed.empty())
    throw InputError(fmt::format("manifest '{}' names no lesion", path.string()));
  checkLesionsDistinct(placed);
  LesionManifest manifest;
  for (const PlacedLesion& p : placed)
    manifest.lesions.push_back(p.lesion);
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
