// lesionkit index / lesionkit series: the archive index and the ranked series listing.
#include <algorithm>
#include <filesystem>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::commands {

using cli::Channel;
using cli::ParameterType;

namespace {

void addThreads(cli::Command& c) {
  c.add({"threads", ParameterType::Integer, "Threads", "header parsing threads", Channel::Input}).withDefault("2");
}

void addJsonFlag(cli::Command& c, const std::string& what) {
  c.add({"json", ParameterType::Boolean, "JSON", "print " + what + " as JSON instead of text", Channel::Input});
}

unsigned threadCount(const cli::Arguments& args) {
  const long threads = args.integer("threads");
  if (threads < 1 || threads > 256) throw UsageError(fmt::format("--threads {}: expected 1 to 256", threads));
  return static_cast<unsigned>(threads);
}

/// Logs the index's doubts about who files belong to (archive::patientIdentityConflicts): `patient`
/// refuses such a patient, so they are told at once.
std::vector<std::string> warnIdentityConflicts(const archive::ArchiveDatabase& db, const std::string& patientId) {
  std::vector<std::string> conflicts = archive::patientIdentityConflicts(db, patientId);
  for (const std::string& conflict : conflicts)
    logWarning("{}", conflict);
  return conflicts;
}

double filesReadPerSecond(const archive::IndexSummary& s) {
  return s.seconds > 0 ? double(s.filesNew + s.filesChanged) / s.seconds : 0.0;
}

nlohmann::json indexSummaryJson(const archive::IndexSummary& s, const std::filesystem::path& database) {
  nlohmann::json skipped = nlohmann::json::array(), unreadable = nlohmann::json::array();
  for (const auto& f : s.skipped)
    skipped.push_back({{"path", f.path.string()}, {"reason", f.reason}, {"damaged", f.damaged}});
  for (const auto& f : s.unreadableFolders)
    unreadable.push_back({{"path", f.path.string()}, {"reason", f.reason}});
  return {{"database", database.string()},
          {"filesFound", s.filesFound},
          {"filesNew", s.filesNew},
          {"filesChanged", s.filesChanged},
          {"filesUnchanged", s.filesUnchanged},
          {"filesRemoved", s.filesRemoved},
          {"instancesAdded", s.instancesAdded},
          {"skipped", skipped},
          {"unreadableFolders", unreadable},
          {"notes", s.notes},
          {"seriesChecked", s.seriesChecked},
          {"seriesTotal", s.seriesTotal},
          {"studiesTotal", s.studiesTotal},
          {"patientsTotal", s.patientsTotal},
          {"seconds", s.seconds},
          {"filesReadPerSecond", filesReadPerSecond(s)}};
}

std::string indexSummaryText(const archive::IndexSummary& s, const std::filesystem::path& database) {
  std::string text = fmt::format("{}: {} files ({} new, {} changed, {} unchanged, {} removed) in {:.2f} s ({:.0f} "
                                 "files/s read)\n",
                                 database.string(), s.filesFound, s.filesNew, s.filesChanged, s.filesUnchanged,
                                 s.filesRemoved, s.seconds, filesReadPerSecond(s));
  text += fmt::format("{} DICOM images added, {} series re-checked; index holds {} patients, {} studies, {} series\n",
                      s.instancesAdded, s.seriesChecked, s.patientsTotal, s.studiesTotal, s.seriesTotal);
  // Damaged files are judged on every run, so every run lists them; other files only when new.
  std::vector<std::string> damaged, other;
  for (const auto& f : s.skipped)
    (f.damaged ? damaged : other).push_back(f.reason);
  if (!damaged.empty())
    text += fmt::format("{} damaged or unreadable DICOM file{} (a series beside {} may lack slices; patient and batch "
                        "refuse it until {} replaced and indexed again):\n",
                        damaged.size(), damaged.size() == 1 ? "" : "s", damaged.size() == 1 ? "it" : "them",
                        damaged.size() == 1 ? "it is" : "they are");
  for (const std::string& reason : damaged)
    text += "  " + reason + '\n';
  if (!other.empty())
    text += fmt::format("{} new or changed files are not DICOM images:\n", other.size());
  for (const std::string& reason : other)
    text += "  " + reason + '\n';
  return text;
}

} // namespace

cli::Command indexCommand() {
  cli::Command c;
  c.name = "index";
  c.title = "LesionKit Archive Index";
  c.summary = "index a folder tree of DICOM files into an SQLite archive index";
  c.description =
      "Walks ROOT, parses the headers of new and changed files in parallel and stores patients, studies, series "
      "(with their checks: tilt, gaps, spacing, kernel, coverage) and instances in the SQLite index. Running it "
      "again reads only files whose size or modification time changed and removes files that disappeared; the "
      "index is updated in one transaction, so an interrupted run leaves it as it was. Files that are not DICOM "
      "images are recorded with the reason and listed; damaged or unreadable DICOM files are read again and listed "
      "on every run. Symlinked folders are followed (one leading to a folder indexed already is skipped with a "
      "warning); a folder that cannot be listed is named in a warning and keeps its entries.";
  c.examples = {"lesionkit index /data/archive --db archive.sqlite",
                "lesionkit index /data/archive/new-studies --db archive.sqlite --threads 4 --json"};
  c.add({"root", ParameterType::Directory, "Archive folder", "folder tree of DICOM files to index", Channel::Input, 0})
      .asRequired();
  c.add({"db", ParameterType::File, "Index database", "SQLite index file to create or update", Channel::Output})
      .asRequired()
      .withExtensions(".sqlite");
  addThreads(c);
  addJsonFlag(c, "the summary");
  c.add({"files", ParameterType::Integer, "Files", "files found under the root", Channel::Output});
  c.add({"seriesCount", ParameterType::Integer, "Series", "series in the index", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    archive::checkArchiveRoot(args.path("root")); // before the database is created: a bad root leaves no file
    archive::ArchiveDatabase db(args.path("db"), archive::ArchiveDatabase::Access::ReadWrite);
    archive::IndexOptions options;
    options.threads = threadCount(args);
    options.progress = ctx.progress;
    const archive::IndexSummary s = archive::indexArchive(db, args.path("root"), options);
    // Every instance's header is looked at (~1 s per 100,000): not again when nothing changed.
    const bool changed = s.filesNew + s.filesChanged + s.filesRemoved > 0;
    const std::vector<std::string> conflicts = changed ? warnIdentityConflicts(db, "") : std::vector<std::string>{};
    // Warnings on stderr, once (README); the JSON summary holds them too.
    for (const archive::UnreadableFolder& f : s.unreadableFolders)
      logWarning("folder '{}' cannot be listed ({}): the index keeps what it knew of its files; fix its permissions "
                 "and run lesionkit index again",
                 f.path.string(), f.reason);
    for (const std::string& note : s.notes)
      logWarning("{}", note);
    if (args.flag("json")) {
      nlohmann::json j = indexSummaryJson(s, db.path());
      // null: not checked (nothing changed since the last run, which reported them), not "none".
      j["identityConflicts"] = changed ? nlohmann::json(conflicts) : nlohmann::json(nullptr);
      ctx.out << j.dump(2) << '\n';
    } else
      ctx.out << indexSummaryText(s, db.path());
    ctx.returnValues["files"] = std::to_string(s.filesFound);
    ctx.returnValues["seriesCount"] = std::to_string(s.seriesTotal);
  };
  return c;
}

cli::Command seriesCommand() {
  cli::Command c;
  c.name = "series";
  c.title = "LesionKit Series";
  c.summary = "list the series of each study with their checks, ranked for lesion measurement";
  c.description =
      "Lists every series per study, from a DICOM folder (scanned now) or from an index made by lesionkit index, "
      "with its checks (orientation, slice step, coverage, tilt, gaps, kernel) and a rank for lesion measurement: "
      "axial, thin slices, full coverage and a soft-tissue kernel rank first; localizers, secondary captures, dose "
      "reports and derived objects (SEG, SR) are never ranked. Rank 1 is what the pipeline loads by default.";
  c.examples = {"lesionkit series study/", "lesionkit series --db archive.sqlite --patient P001 --json"};
  c.add({"input", ParameterType::Directory, "DICOM folder", "folder to scan (instead of --db)", Channel::Input, 0});
  c.add({"db", ParameterType::File, "Index database", "SQLite index made by lesionkit index", Channel::Input})
      .withExtensions(".sqlite");
  c.add({"patient", ParameterType::String, "Patient ID", "only this PatientID", Channel::Input});
  c.add({"study", ParameterType::String, "Study UID", "only this StudyInstanceUID", Channel::Input});
  addThreads(c);
  addJsonFlag(c, "the listing");
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const bool fromFolder = args.has("input");
    if (fromFolder == args.has("db")) throw UsageError("give either a DICOM folder or --db INDEX, not both");
    archive::CatalogFilter filter;
    if (args.has("patient")) filter.patientId = args.string("patient");
    if (args.has("study")) filter.studyInstanceUid = args.string("study");
    std::vector<archive::StudyRecord> studies;
    if (fromFolder) {
      studies = archive::catalogFolder(args.path("input"), ctx.progress, threadCount(args));
      studies.erase(std::remove_if(studies.begin(), studies.end(),
                                   [&](const archive::StudyRecord& s) {
                                     return (!filter.patientId.empty() && s.patientId != filter.patientId) ||
                                            (!filter.studyInstanceUid.empty() &&
                                             s.studyInstanceUid != filter.studyInstanceUid);
                                   }),
                    studies.end());
    } else {
      const archive::ArchiveDatabase db(args.path("db"), archive::ArchiveDatabase::Access::ReadOnly);
      studies = archive::catalogDatabase(db, filter);
      (void)warnIdentityConflicts(db, filter.patientId);
    }
    ctx.out << (args.flag("json") ? archive::catalogToJson(studies) : archive::catalogToText(studies));
    if (studies.empty()) {
      throw InputError(fromFolder ? "no DICOM image series found in '" + args.path("input").string() + "'"
                                  : "no study in the index matches the filter");
    }
  };
  return c;
}

} // namespace lesion::commands
