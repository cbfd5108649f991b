#include "lesion/dicomio/VolumeLoader.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/DicomSeries.h"
#include "lesion/dicomio/DicomSeriesReader.h"
#include "lesion/dicomio/VolumeFileIO.h"

namespace lesion::dicomio {

namespace {

/// |normal · z|: 1 for axial slices.
double axialness(const DicomSeries& s) {
  const auto& iop = s.frameOf(s.slices.front()).imageOrientationPatient;
  if (!iop)
    return 0.0;
  const auto& o = *iop;
  return std::abs(normalized(cross(Vec3{o[0], o[1], o[2]}, Vec3{o[3], o[4], o[5]})).z);
}

/// A damaged (e.g. truncated) DICOM file may be a slice of the chosen series, which then shows
/// only as a gap that is filled in: said where the series warnings are, naming the files.
std::optional<std::string> damagedFilesWarning(const std::filesystem::path& folder,
                                               const std::vector<SkippedFile>& skipped) {
  std::vector<std::string> names;
  for (const SkippedFile& s : skipped)
    if (s.damaged)
      names.push_back("'" + s.path.string() + "'");
  if (names.empty())
    return std::nullopt;
  const std::size_t shown = std::min<std::size_t>(names.size(), 3);
  std::string list = names[0];
  for (std::size_t i = 1; i < shown; ++i)
    list += ", " + names[i];
  if (names.size() > shown)
    list += fmt::format(" and {} more", names.size() - shown);
  return fmt::format("'{}': {} damaged DICOM file(s) left out, a slice may be missing: {}", folder.string(),
                     names.size(), list);
}

std::string listSeries(const std::vector<DicomSeries>& series) {
  std::string text;
  for (const DicomSeries& s : series)
    text += "\n  " + s.summary();
  return text;
}

/// Ordinary images (no localizer, dose report, SEG...) at 3 or more positions whose geometry is
/// consistent: what `lesionkit series` does not mark "never".
bool formsVolume(const DicomSeries& s) {
  if (!s.specialKind.empty() || isDerivedObjectModality(s.first().modality) || s.distinctPositionCount() < 3)
    return false;
  try {
    (void)analyzeSliceStack(s);
    return true;
  } catch (const Error&) {
    return false;
  }
}

/// The requested series, the folder's only series, or the only one of several that forms a
/// volume. Never a guess between several volumes: a folder holding a CT and an MR, or two echoes,
/// is refused (InputError listing them) until --series says which.
const DicomSeries& seriesToLoad(const std::filesystem::path& folder, const std::vector<DicomSeries>& series,
                                const std::string& requested) {
  if (!requested.empty() || series.size() == 1)
    return selectDicomSeries(series, requested);
  const DicomSeries* lastVolume = nullptr;
  std::size_t volumeCount = 0;
  std::string volumeList;
  for (const DicomSeries& s : series) {
    if (!formsVolume(s))
      continue;
    lastVolume = &s;
    ++volumeCount;
    volumeList += "\n  " + s.summary();
  }
  if (volumeCount == 1)
    return *lastVolume;
  const std::string which = volumeCount == 0
                                ? ", none of which forms a volume (3 or more slices with consistent geometry)"
                                : fmt::format(", {} of which form volumes:{}\n", volumeCount, volumeList);
  throw InputError(fmt::format("'{}' holds {} series{}; choose one with --series UID (`lesionkit series {}` lists "
                               "every series with its checks)",
                               folder.string(), series.size(), which, folder.string()));
}

} // namespace

const DicomSeries& selectDicomSeries(const std::vector<DicomSeries>& series, const std::string& requested) {
  if (series.empty())
    throw InputError("no DICOM image series to choose from");
  if (!requested.empty()) {
    for (const DicomSeries& s : series)
      if (s.id == requested)
        return s;
    // splitDicomSeries puts the main part of a UID first, so the first match is the one wanted.
    for (const DicomSeries& s : series)
      if (s.seriesInstanceUid == requested)
        return s;
    throw InputError(fmt::format("series '{}' not found; the folder holds:{}", requested, listSeries(series)));
  }
  const DicomSeries* best = &series.front();
  auto better = [](const DicomSeries& a, const DicomSeries& b) {
    const bool sa = a.specialKind.empty(), sb = b.specialKind.empty();
    if (sa != sb)
      return sa;
    const std::size_t na = a.distinctPositionCount(), nb = b.distinctPositionCount();
    if (na != nb)
      return na > nb;
    const bool aa = axialness(a) > 0.8, ab = axialness(b) > 0.8;
    if (aa != ab)
      return aa;
    return false;
  };
  for (const DicomSeries& s : series)
    if (better(s, *best))
      best = &s;
  return *best;
}

std::optional<std::string> labelMapLikeValues(const Volume& volume) {
  constexpr std::size_t kMostLabels = 16;
  constexpr float kLargestLabel = 255.0f;
  std::vector<float> values; // distinct, at most kMostLabels + 1: a real image stops the scan early
  for (const float v : volume.voxels) {
    if (std::find(values.begin(), values.end(), v) != values.end())
      continue;
    values.push_back(v);
    if (values.size() > kMostLabels)
      return std::nullopt;
  }
  const bool smallWholeNumbers = std::all_of(
      values.begin(), values.end(), [&](float v) { return v >= 0.0f && v <= kLargestLabel && v == std::round(v); });
  if (values.size() > 2 && !smallWholeNumbers)
    return std::nullopt;
  std::sort(values.begin(), values.end());
  std::string list;
  for (std::size_t i = 0; i < values.size(); ++i)
    list += fmt::format("{}{:g}", i == 0 ? "" : i + 1 == values.size() ? " and " : ", ", values[i]);
  return values.size() == 1 ? fmt::format("the single value {}", list) : fmt::format("values {} only", list);
}

bool inHounsfieldUnits(const LoadedVolume& loaded) {
  return loaded.modality.empty() ? looksLikeHounsfieldUnits(loaded.volume) : loaded.modality == "CT";
}

namespace {

/// LoadOptions::labelMaps applied to what was loaded from `path`.
void checkForLabelMap(const std::filesystem::path& path, LabelMapCheck check, LoadedVolume& loaded) {
  if (check == LabelMapCheck::Accept || loaded.volume.voxels.empty())
    return;
  const auto values = labelMapLikeValues(loaded.volume);
  if (!values)
    return;
  const std::string what = fmt::format("'{}' looks like a label map ({}), not an image", path.string(), *values);
  if (check == LabelMapCheck::Refuse)
    throw InputError(what + ": give the CT or MR volume (a mask goes to --mask where a command takes one)");
  const std::string warning = what + ": intensity figures describe the labels, not tissue";
  logWarning("{}", warning);
  loaded.warnings.push_back(warning);
}

LoadedVolume loadAnyVolume(const std::filesystem::path& path, const LoadOptions& options, const Progress& progress) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw InputError("input '" + path.string() + "' does not exist: expected a NRRD/NIfTI file or a DICOM folder");
  }
  if (!std::filesystem::is_directory(path, ec) && isVolumeFileName(path)) { // a FIFO too: refused by the reader
    LoadedVolume out;
    out.volume = readVolumeFile(path);
    return out;
  }
  const DicomScanResult scan = scanDicomFolder(path, progress.sub(0.0, 0.2));
  if (scan.instances.empty()) {
    std::string reasons;
    for (std::size_t i = 0; i < scan.skipped.size() && i < 5; ++i)
      reasons += "\n  " + scan.skipped[i].reason;
    throw InputError(fmt::format("'{}': expected DICOM images, found none among {} files{}", path.string(),
                                 scan.skipped.size(), reasons));
  }
  const std::vector<DicomSeries> series = splitDicomSeries(scan.instances);
  const DicomSeries& chosen = seriesToLoad(path, series, options.seriesInstanceUid);
  LoadedVolume out = readDicomSeries(chosen, options, progress.sub(0.2, 1.0));
  if (const auto damaged = damagedFilesWarning(path, scan.skipped)) {
    logWarning("{}", *damaged);
    out.warnings.push_back(*damaged);
  }
  for (const SkippedFile& s : scan.skipped)
    out.skippedFiles.push_back(s.path.string() + ": " + s.reason);
  for (const DicomSeries& s : series) {
    if (&s == &chosen)
      continue;
    out.otherSeries.push_back(s.summary());
    // Images of the loaded series split off as another part (another pixel spacing, matrix or
    // orientation) leave a gap that reads only as "missing slices": name them and why. A localizer
    // in the series is no loss.
    if (!chosen.seriesInstanceUid.empty() && s.seriesInstanceUid == chosen.seriesInstanceUid && s.specialKind.empty()) {
      std::string files;
      for (std::size_t i = 0; i < s.instances.size() && i < 3; ++i)
        files += (i ? ", '" : "'") + s.instances[i].path.string() + "'";
      if (s.instances.size() > 3)
        files += ", ...";
      out.warnings.push_back(fmt::format("{} of {} slice(s) of the loaded series left out: they differ from its "
                                         "other slices ({})",
                                         files, s.slices.size(), s.splitReason));
      logWarning("{}", out.warnings.back());
    }
  }
  return out;
}

} // namespace

LoadedVolume loadVolume(const std::filesystem::path& path, const LoadOptions& options, const Progress& progress) {
  LoadedVolume loaded = loadAnyVolume(path, options, progress);
  checkForLabelMap(path, options.labelMaps, loaded);
  return loaded;
}

ScanIdentity readScanIdentity(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec) && (!std::filesystem::exists(path, ec) || isVolumeFileName(path)))
    return {}; // a volume file, or nothing: loadVolume says what is wrong
  const DicomScanResult scan = scanDicomFolder(path);
  if (scan.instances.empty())
    return {};
  const std::vector<DicomSeries> series = splitDicomSeries(scan.instances);
  const DicomSeries& chosen = seriesToLoad(path, series, options.seriesInstanceUid);
  return {chosen.first().patientId, chosen.first().studyDate, chosen.seriesInstanceUid};
}

} // namespace lesion::dicomio
