#include "lesion/archive/SeriesCatalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "SeriesRows.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/core/Error.h"
#include "lesion/core/SliceOrientation.h"

namespace lesion::archive {

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

/// Bone / lung / sharp reconstruction kernels (GE BONE/LUNG/EDGE, Siemens B60+ / Br60+ / I70+,
/// Philips D/E/YC..., Toshiba FC30+): noisier soft tissue, so lesion outlines are less reliable.
bool isSharpKernel(const std::string& kernel) {
  const std::string k = upper(kernel);
  for (const char* word : {"BONE", "LUNG", "EDGE", "SHARP", "DETAIL"}) {
    if (k.find(word) != std::string::npos)
      return true;
  }
  // Siemens: a letter or two, then a two-digit sharpness (B30f, Br64d, I70f).
  std::size_t i = 0;
  while (i < k.size() && std::isalpha(static_cast<unsigned char>(k[i])))
    ++i;
  if (i >= 1 && i <= 2 && i + 1 < k.size() && std::isdigit(static_cast<unsigned char>(k[i])) &&
      std::isdigit(static_cast<unsigned char>(k[i + 1]))) {
    return (k[i] - '0') >= 6;
  }
  return false;
}

std::string neverReason(const SeriesRecord& s) {
  if (!s.specialKind.empty())
    return "never: " + s.specialKind;
  if (dicomio::isDerivedObjectModality(s.modality))
    return "never: derived object (" + s.modality + ")";
  if (!s.geometryError.empty())
    return "never: slices do not form a volume (" + s.geometryError + ")";
  if (s.sliceCount < 3)
    return fmt::format("never: {} slice{}, not a volume", s.sliceCount, s.sliceCount == 1 ? "" : "s");
  // The loader refuses it (DicomSeriesReader): ranked, the pipeline would pick it and fail.
  if (dicomio::isTooWideToInterpolate(s.maxStepMm, s.sliceStepMm))
    return fmt::format("never: a gap of {:.1f} mm between {:.2f} mm slices, too wide to interpolate across",
                       s.maxStepMm, s.sliceStepMm);
  return {};
}

} // namespace

SeriesRecord describeSeries(const dicomio::DicomSeries& series) {
  const dicomio::DicomInstance& d = series.first();
  SeriesRecord r;
  r.seriesId = series.id;
  r.seriesInstanceUid = series.seriesInstanceUid;
  r.studyInstanceUid = d.studyInstanceUid;
  r.patientId = d.patientId;
  r.seriesNumber = d.seriesNumber;
  r.modality = d.modality;
  r.description = d.seriesDescription;
  r.convolutionKernel = d.convolutionKernel;
  r.bodyPart = d.bodyPartExamined;
  r.specialKind = series.specialKind;
  r.splitReason = series.splitReason;
  r.derived = !d.imageType.empty() && upper(d.imageType.front()) == "DERIVED";
  r.instanceCount = series.instances.size();
  r.sliceCount = series.distinctPositionCount();
  r.duplicatePositions = series.duplicatePositions.size();
  r.rows = d.rows;
  r.columns = d.columns;
  try {
    const dicomio::SliceStackGeometry g = dicomio::analyzeSliceStack(series);
    r.pixelSpacingRowMm = g.pixelSpacingX;
    r.pixelSpacingColumnMm = g.pixelSpacingY;
    r.orientation = orientationName(g.normal);
    r.sliceStepMm = g.medianStepMm;
    r.minStepMm = g.minStepMm;
    r.maxStepMm = g.maxStepMm;
    r.tiltDeg = g.tiltDeg;
    if (g.positionsMm.size() > 1)
      r.coverageMm = std::abs(g.positionsMm.back() - g.positionsMm.front());
    r.gapCount = static_cast<int>(g.gaps.size());
    r.unevenSpacing = g.unevenSpacing;
    r.warnings = g.warnings;
  } catch (const Error& e) {
    r.geometryError = e.what();
  }
  return r;
}

void rankSeriesForMeasurement(std::vector<SeriesRecord>& seriesOfStudy) {
  double longestCoverage = 0.0;
  for (const SeriesRecord& s : seriesOfStudy) {
    if (neverReason(s).empty())
      longestCoverage = std::max(longestCoverage, s.coverageMm);
  }
  for (SeriesRecord& s : seriesOfStudy) {
    s.rankReason = neverReason(s);
    s.suitability = 0.0;
    s.rank = 0;
    if (!s.rankReason.empty())
      continue;
    double score = 1.0;
    std::vector<std::string> merits, drawbacks;
    if (s.orientation == "axial") {
      merits.push_back("axial");
    } else {
      score *= s.orientation == "oblique" ? 0.5 : 0.6;
      drawbacks.push_back(s.orientation + " slices");
    }
    const std::string step = fmt::format("{:.3g} mm slices", s.sliceStepMm);
    if (s.sliceStepMm <= 1.25) {
      merits.push_back("thin " + step);
    } else if (s.sliceStepMm <= 2.5) {
      score *= 0.9;
      merits.push_back(step);
    } else {
      score *= s.sliceStepMm <= 5.0 ? 0.7 : 0.4;
      drawbacks.push_back("thick " + step);
    }
    // Ends shorter by less than the series' own step are sampling, not missing anatomy.
    const double coverage =
        longestCoverage > 0.0 ? std::min(1.0, (s.coverageMm + s.sliceStepMm) / longestCoverage) : 1.0;
    if (s.coverageMm + s.sliceStepMm >= longestCoverage - 1e-3) {
      merits.push_back(fmt::format("full coverage ({:.0f} mm)", s.coverageMm));
    } else {
      score *= coverage;
      drawbacks.push_back(fmt::format("partial coverage ({:.0f} of {:.0f} mm)", s.coverageMm, longestCoverage));
    }
    if (s.gapCount > 0) {
      score *= 0.6;
      drawbacks.push_back(fmt::format("{} gap{} in the stack", s.gapCount, s.gapCount == 1 ? "" : "s"));
    } else if (s.unevenSpacing) {
      score *= 0.85;
      drawbacks.push_back("uneven slice steps");
    }
    if (s.tiltDeg > 0.05) {
      score *= 0.95;
      drawbacks.push_back(fmt::format("gantry tilt {:.1f}° (resampled on load)", s.tiltDeg));
    }
    if (s.duplicatePositions > 0) {
      score *= 0.8;
      drawbacks.push_back(fmt::format("{} duplicate positions", s.duplicatePositions));
    }
    if (s.derived) {
      score *= 0.7;
      drawbacks.push_back("derived images (reformat or projection)");
    }
    if (s.modality == "CT" && !s.convolutionKernel.empty()) {
      if (isSharpKernel(s.convolutionKernel)) {
        score *= 0.9;
        drawbacks.push_back("sharp kernel " + s.convolutionKernel);
      } else {
        merits.push_back("soft-tissue kernel " + s.convolutionKernel);
      }
    }
    s.suitability = score;
    s.rankReason = fmt::format("{}", fmt::join(merits, ", "));
    if (!drawbacks.empty())
      s.rankReason += (merits.empty() ? "" : "; ") + fmt::format("but {}", fmt::join(drawbacks, ", "));
  }
  std::stable_sort(seriesOfStudy.begin(), seriesOfStudy.end(), [](const SeriesRecord& a, const SeriesRecord& b) {
    if (a.suitability != b.suitability)
      return a.suitability > b.suitability;
    if (a.sliceCount != b.sliceCount)
      return a.sliceCount > b.sliceCount;
    if (a.seriesNumber != b.seriesNumber)
      return a.seriesNumber.value_or(1 << 30) < b.seriesNumber.value_or(1 << 30);
    return a.seriesId < b.seriesId;
  });
  int rank = 0;
  for (SeriesRecord& s : seriesOfStudy) {
    if (s.suitability > 0.0)
      s.rank = ++rank;
  }
}

namespace {

void sortStudies(std::vector<StudyRecord>& studies) {
  std::sort(studies.begin(), studies.end(), [](const StudyRecord& a, const StudyRecord& b) {
    return std::tie(a.patientId, a.studyDate, a.studyTime, a.studyInstanceUid) <
           std::tie(b.patientId, b.studyDate, b.studyTime, b.studyInstanceUid);
  });
  for (StudyRecord& study : studies)
    rankSeriesForMeasurement(study.series);
}

} // namespace

std::vector<StudyRecord> catalogInstances(const std::vector<dicomio::DicomInstance>& instances) {
  std::map<std::string, StudyRecord> byStudy;
  for (const dicomio::DicomSeries& series : dicomio::splitDicomSeries(instances)) {
    const dicomio::DicomInstance& d = series.first();
    StudyRecord& study = byStudy[d.studyInstanceUid];
    if (study.series.empty()) {
      study.studyInstanceUid = d.studyInstanceUid;
      study.patientId = d.patientId;
      study.patientName = d.patientName;
      study.studyDate = d.studyDate;
      study.studyTime = d.studyTime;
      study.description = d.studyDescription;
      study.accessionNumber = d.accessionNumber;
    }
    study.series.push_back(describeSeries(series));
  }
  std::vector<StudyRecord> studies;
  for (auto& [uid, study] : byStudy)
    studies.push_back(std::move(study));
  sortStudies(studies);
  return studies;
}

std::vector<StudyRecord> catalogFolder(const std::filesystem::path& folder, const Progress& progress,
                                       unsigned threads) {
  const dicomio::DicomScanResult scan = dicomio::scanDicomFolder(folder, progress, threads);
  std::vector<StudyRecord> studies = catalogInstances(scan.instances);
  // As damagedFilesBeside does for an index: a damaged file in a series' folder is probably its slice.
  std::map<std::string, std::set<std::filesystem::path>> foldersOfSeries;
  for (const dicomio::DicomInstance& d : scan.instances)
    foldersOfSeries[d.seriesInstanceUid].insert(d.path.parent_path());
  for (StudyRecord& study : studies)
    for (SeriesRecord& s : study.series)
      for (const dicomio::SkippedFile& f : scan.skipped)
        if (f.damaged && foldersOfSeries[s.seriesInstanceUid].count(f.path.parent_path()))
          s.damagedFilesBeside.push_back(f.path);
  return studies;
}

std::vector<StudyRecord> catalogDatabase(const ArchiveDatabase& db, const CatalogFilter& filter) {
  std::vector<StudyRecord> studies;
  // Only the filters given go into the WHERE clause, so a batch's per-patient look-up uses the
  // patient index instead of scanning every study.
  std::string studySql = "SELECT s.study_uid, s.patient_id, p.patient_name, s.study_date, s.study_time, s.description, "
                         "s.accession FROM studies s LEFT JOIN patients p USING (patient_id) WHERE 1";
  if (!filter.patientId.empty())
    studySql += " AND s.patient_id = ?1";
  if (!filter.studyInstanceUid.empty())
    studySql += " AND s.study_uid = ?2";
  detail::Statement studyQuery(db.handle(), studySql.c_str());
  if (!filter.patientId.empty())
    studyQuery.bind(1, filter.patientId);
  if (!filter.studyInstanceUid.empty())
    studyQuery.bind(2, filter.studyInstanceUid);
  while (studyQuery.step()) {
    StudyRecord s;
    s.studyInstanceUid = studyQuery.text(0);
    s.patientId = studyQuery.text(1);
    s.patientName = studyQuery.text(2);
    s.studyDate = studyQuery.text(3);
    s.studyTime = studyQuery.text(4);
    s.description = studyQuery.text(5);
    s.accessionNumber = studyQuery.text(6);
    studies.push_back(std::move(s));
  }
  const std::string sql = "SELECT " + detail::selectSeriesColumns() + " FROM series WHERE study_uid = ?1";
  detail::Statement seriesQuery(db.handle(), sql.c_str());
  const bool anyDamaged = detail::Statement(db.handle(), "SELECT 1 FROM files WHERE damaged = 1 LIMIT 1").step();
  for (StudyRecord& study : studies) {
    seriesQuery.bind(1, study.studyInstanceUid);
    while (seriesQuery.step())
      study.series.push_back(detail::seriesFromRow(seriesQuery));
    for (SeriesRecord& s : study.series)
      for (const dicomio::SkippedFile& f :
           anyDamaged ? damagedFilesBeside(db, s.seriesInstanceUid) : std::vector<dicomio::SkippedFile>{})
        s.damagedFilesBeside.push_back(f.path);
  }
  sortStudies(studies);
  return studies;
}

std::vector<std::string> indexedPatients(const ArchiveDatabase& db) {
  std::vector<std::string> patients;
  detail::Statement q(db.handle(), "SELECT patient_id FROM patients ORDER BY patient_id");
  while (q.step())
    patients.push_back(q.text(0));
  return patients;
}

namespace {

/// Who the files of one study say the patient is, with how many files say so and a folder of them.
struct IndexedIdentity {
  std::string studyInstanceUid, patientId, patientName, birthDate, folder;
  std::size_t files{0};
};

std::vector<IndexedIdentity> indexedIdentities(const ArchiveDatabase& db, const std::string& studyFilterSql,
                                               const std::string& patientId) {
  const std::string sql =
      "SELECT study_uid, coalesce(json_extract(header_json, '$.patientId'), ''), "
      "coalesce(json_extract(header_json, '$.patientName'), ''), "
      "coalesce(json_extract(header_json, '$.patientBirthDate'), ''), count(*), min(path) FROM instances " +
      studyFilterSql + " GROUP BY 1, 2, 3, 4 ORDER BY 1, 6";
  detail::Statement q(db.handle(), sql.c_str());
  if (!patientId.empty())
    q.bind(1, patientId);
  std::vector<IndexedIdentity> identities;
  while (q.step()) {
    identities.push_back({q.text(0), q.text(1), q.text(2), q.text(3),
                          std::filesystem::path(q.text(5)).parent_path().string(),
                          static_cast<std::size_t>(q.integer(4))});
  }
  return identities;
}

/// "DOE^JOHN" for "Doe^John^^" (trailing empty components and blanks are no difference).
std::string comparableName(const std::string& name) {
  std::string n = upper(name);
  while (!n.empty() && (n.back() == '^' || n.back() == ' '))
    n.pop_back();
  return n;
}

bool disagree(const std::string& a, const std::string& b) { return !a.empty() && !b.empty() && a != b; }

/// The family and the given name of a DICOM person name ("Doe^Jane^M" -> "DOE", "JANE").
std::pair<std::string, std::string> familyAndGiven(const std::string& name) {
  const std::size_t caret = name.find('^');
  const std::string given =
      caret == std::string::npos ? std::string() : name.substr(caret + 1, name.find('^', caret + 1) - caret - 1);
  const auto comparable = [](const std::string& part) {
    std::string p = comparableName(part);
    p.erase(0, p.find_first_not_of(' '));
    return p;
  };
  return {comparable(name.substr(0, caret)), comparable(given)};
}

/// Two people, not one written two ways: the birth dates disagree, or both the family and the given
/// name do (the family name alone when neither has a given name). A middle name or initial, case,
/// a suffix, or a family name changed by marriage are variants of one person across sites and years.
bool differentPeople(const IndexedIdentity& a, const IndexedIdentity& b) {
  if (disagree(a.birthDate, b.birthDate))
    return true;
  const auto [familyA, givenA] = familyAndGiven(a.patientName);
  const auto [familyB, givenB] = familyAndGiven(b.patientName);
  if (givenA.empty() && givenB.empty())
    return disagree(familyA, familyB);
  return disagree(familyA, familyB) && disagree(givenA, givenB);
}

std::string identityText(const IndexedIdentity& id) {
  return fmt::format("'{}' born {}", id.patientName, id.birthDate.empty() ? "?" : id.birthDate);
}

/// Studies whose files carry several PatientIDs.
void studiesWithSeveralIds(const std::vector<IndexedIdentity>& identities, std::vector<std::string>& conflicts) {
  std::map<std::string, std::vector<const IndexedIdentity*>> byStudy;
  for (const IndexedIdentity& id : identities)
    byStudy[id.studyInstanceUid].push_back(&id);
  for (const auto& [study, ids] : byStudy) {
    std::map<std::string, std::string> idFolders; // PatientID -> "N files in FOLDER"
    for (const IndexedIdentity* id : ids) {
      if (!idFolders.count(id->patientId))
        idFolders[id->patientId] = fmt::format("{} files in '{}'", id->files, id->folder);
    }
    if (idFolders.size() < 2)
      continue;
    std::vector<std::string> parts;
    for (const auto& [pid, where] : idFolders)
      parts.push_back(fmt::format("'{}' ({})", pid, where));
    conflicts.push_back(fmt::format("study {}: its files carry {} PatientIDs: {}; one study of two patients, or a "
                                    "re-export with a corrected ID beside the old files (fix or remove the wrong "
                                    "files and re-index)",
                                    study, idFolders.size(), fmt::join(parts, " and ")));
  }
}

/// PatientIDs whose files disagree on PatientName or PatientBirthDate: two people under one ID.
void idsOfSeveralPeople(const std::vector<IndexedIdentity>& identities, std::vector<std::string>& conflicts) {
  std::map<std::string, std::vector<const IndexedIdentity*>> byId;
  for (const IndexedIdentity& id : identities)
    byId[id.patientId].push_back(&id);
  for (const auto& [pid, ids] : byId) {
    bool twoPeople = false;
    for (std::size_t i = 0; i < ids.size() && !twoPeople; ++i) {
      for (std::size_t j = i + 1; j < ids.size() && !twoPeople; ++j) {
        twoPeople = differentPeople(*ids[i], *ids[j]);
      }
    }
    if (!twoPeople)
      continue;
    // One entry per identity, with the studies (and a folder of each) that name it.
    std::map<std::string, std::vector<std::string>> studiesOf;
    std::vector<std::string> order;
    std::map<std::string, std::string> shownAs; // one spelling per person (case and trailing '^' aside)
    for (const IndexedIdentity* id : ids) {
      const std::string who = comparableName(id->patientName) + '|' + id->birthDate;
      if (!studiesOf.count(who)) {
        order.push_back(who);
        shownAs[who] = identityText(*id);
      }
      studiesOf[who].push_back(fmt::format("study {} in '{}'", id->studyInstanceUid, id->folder));
    }
    std::vector<std::string> parts;
    for (const std::string& who : order)
      parts.push_back(fmt::format("{} ({})", shownAs[who], fmt::join(studiesOf[who], ", ")));
    conflicts.push_back(fmt::format("PatientID '{}' is used by {} people: {}; fix the PatientID (or the name / "
                                    "birth date) of the wrong files and re-index",
                                    pid, order.size(), fmt::join(parts, " and ")));
  }
}

bool isStudyDate(const std::string& date) {
  return date.size() == 8 && std::all_of(date.begin(), date.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// A folder of the study's files, to find it on disk.
std::string studyFolder(const ArchiveDatabase& db, const std::string& studyInstanceUid) {
  detail::Statement q(db.handle(), "SELECT min(path) FROM instances WHERE study_uid = ?1");
  q.bind(1, studyInstanceUid);
  return q.step() && !q.isNull(0) ? std::filesystem::path(q.text(0)).parent_path().string() : std::string("?");
}

/// Why a patient without an ID cannot be run, naming a study that has none.
std::string emptyPatientIdReason(const ArchiveDatabase& db) {
  detail::Statement q(db.handle(), "SELECT count(*), min(study_uid) FROM studies WHERE patient_id = ''");
  q.step();
  const auto count = q.integer(0);
  if (count == 0)
    return "an empty PatientID names no patient";
  const std::string study = q.text(1);
  return fmt::format("{} stud{} without a PatientID (0010,0020) (e.g. study {} in '{}'): scans of unknown patients "
                     "cannot be told apart or followed; set their PatientID and re-index",
                     count, count == 1 ? "y" : "ies", study, studyFolder(db, study));
}

} // namespace

std::vector<std::string> patientIdentityConflicts(const ArchiveDatabase& db, const std::string& patientId) {
  std::vector<IndexedIdentity> identities;
  if (patientId.empty()) {
    identities = indexedIdentities(db, "", "");
  } else {
    identities =
        indexedIdentities(db, "WHERE study_uid IN (SELECT study_uid FROM studies WHERE patient_id = ?1)", patientId);
    if (identities.empty()) {
      // The ID may be on files of a study the index files under another ID: look at every file.
      std::set<std::string> studiesWithId;
      for (const IndexedIdentity& id : indexedIdentities(db, "", "")) {
        if (id.patientId == patientId)
          studiesWithId.insert(id.studyInstanceUid);
        identities.push_back(id);
      }
      identities.erase(
          std::remove_if(identities.begin(), identities.end(),
                         [&](const IndexedIdentity& id) { return !studiesWithId.count(id.studyInstanceUid); }),
          identities.end());
    }
  }
  std::vector<std::string> conflicts;
  studiesWithSeveralIds(identities, conflicts);
  idsOfSeveralPeople(identities, conflicts);
  return conflicts;
}

PatientTimeline patientTimeline(const ArchiveDatabase& db, const std::string& patientId) {
  PatientTimeline timeline;
  timeline.patientId = patientId;
  if (patientId.empty()) {
    // The catalog's empty filter would be every patient.
    throw InputError(fmt::format("archive index '{}': {}", db.path().string(), emptyPatientIdReason(db)));
  }
  std::vector<StudyRecord> studies = catalogDatabase(db, {patientId, ""});
  if (studies.empty()) {
    throw InputError("archive index '" + db.path().string() + "' holds no patient '" + patientId + "'");
  }
  if (const auto conflicts = patientIdentityConflicts(db, patientId); !conflicts.empty()) {
    throw InputError(
        fmt::format("patient '{}': whose scans these are is in doubt: {}", patientId, fmt::join(conflicts, "; ")));
  }
  for (StudyRecord& study : studies) {
    if (!isStudyDate(study.studyDate)) {
      // Sorted by its empty date it would become the baseline: where it belongs in time is unknown.
      timeline.skippedStudies.push_back(fmt::format(
          "study {} in '{}': left out of the timeline: {}, so its place in time is unknown (set the date and re-index)",
          study.studyInstanceUid, studyFolder(db, study.studyInstanceUid),
          study.studyDate.empty() ? std::string("no StudyDate (0008,0020)")
                                  : "StudyDate (0008,0020) '" + study.studyDate + "' is no date (YYYYMMDD)"));
    } else if (study.series.empty() || study.series.front().rank != 1) {
      timeline.skippedStudies.push_back(
          fmt::format("study {} ({}): no series suits measurement{}", study.studyInstanceUid, study.studyDate,
                      study.series.empty() ? std::string() : " (" + study.series.front().rankReason + ")"));
    } else {
      timeline.studies.push_back(std::move(study));
    }
  }
  return timeline;
}

namespace {

nlohmann::json seriesJson(const SeriesRecord& s) {
  nlohmann::json j;
  detail::visitSeriesColumns(s, [&j](const char*, const char* key, const auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::optional<int>>) {
      j[key] = value ? nlohmann::json(*value) : nlohmann::json();
    } else {
      j[key] = value;
    }
  });
  j["suitability"] = s.suitability;
  j["rank"] = s.rank;
  j["rankReason"] = s.rankReason;
  j["damagedFilesBeside"] = nlohmann::json::array();
  for (const std::filesystem::path& f : s.damagedFilesBeside)
    j["damagedFilesBeside"].push_back(f.string());
  return j;
}

} // namespace

std::string catalogToJson(const std::vector<StudyRecord>& studies) {
  nlohmann::json out = nlohmann::json::array();
  for (const StudyRecord& study : studies) {
    nlohmann::json j;
    j["studyInstanceUid"] = study.studyInstanceUid;
    j["patientId"] = study.patientId;
    j["patientName"] = study.patientName;
    j["studyDate"] = study.studyDate;
    j["studyTime"] = study.studyTime;
    j["description"] = study.description;
    j["accessionNumber"] = study.accessionNumber;
    j["series"] = nlohmann::json::array();
    for (const SeriesRecord& s : study.series)
      j["series"].push_back(seriesJson(s));
    out.push_back(std::move(j));
  }
  return out.dump(2) + "\n";
}

std::string catalogToText(const std::vector<StudyRecord>& studies) {
  std::string text;
  for (const StudyRecord& study : studies) {
    text += fmt::format("patient {} '{}'  study {}  date {}  '{}'{}\n", study.patientId, study.patientName,
                        study.studyInstanceUid, study.studyDate.empty() ? "?" : study.studyDate, study.description,
                        study.accessionNumber.empty() ? "" : "  accession " + study.accessionNumber);
    for (const SeriesRecord& s : study.series) {
      const std::string rank = s.rank > 0 ? fmt::format("#{} ({:.2f})", s.rank, s.suitability) : "  --     ";
      text += fmt::format("  {}  {:<3} {:>4} sl {}x{}", rank, s.modality, s.sliceCount, s.columns, s.rows);
      if (s.geometryError.empty()) {
        text += fmt::format(" {:.3g}x{:.3g}x{:.3g} mm {:<8} cover {:.0f} mm", s.pixelSpacingRowMm,
                            s.pixelSpacingColumnMm, s.sliceStepMm, s.orientation, s.coverageMm);
        if (s.tiltDeg > 0.05)
          text += fmt::format(" tilt {:.1f}°", s.tiltDeg);
        if (s.gapCount > 0)
          text += fmt::format(" gaps {}", s.gapCount);
      }
      if (!s.convolutionKernel.empty())
        text += " kernel " + s.convolutionKernel;
      text += fmt::format("  {} '{}'\n      {}\n", s.seriesId, s.description, s.rankReason);
      if (!s.damagedFilesBeside.empty())
        text += fmt::format("      damaged: {} DICOM file{} beside it, a slice may be missing: '{}'{}\n",
                            s.damagedFilesBeside.size(), s.damagedFilesBeside.size() == 1 ? "" : "s",
                            s.damagedFilesBeside.front().string(), s.damagedFilesBeside.size() > 1 ? ", ..." : "");
    }
  }
  return text;
}

} // namespace lesion::archive
