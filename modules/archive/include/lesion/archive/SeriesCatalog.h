#pragma once
/// \file SeriesCatalog.h
/// What an archive holds, per study: every series with its geometry checks (tilt, gaps,
/// spacing, kernel, coverage) and a ranking of which series suits lesion measurement (CT:
/// axial, thin slices, full coverage, soft-tissue kernel; never a localizer, secondary capture,
/// dose report or derived object such as a SEG). Built from a DICOM folder or an index.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/dicomio/DicomSeries.h"

namespace lesion::archive {

class ArchiveDatabase;

/// One series (one part of a split SeriesInstanceUID) and its checks.
struct SeriesRecord {
  std::string seriesId{};          ///< dicomio::DicomSeries::id ("UID" or "UID#2")
  std::string seriesInstanceUid{};
  std::string studyInstanceUid{};
  std::string patientId{};
  std::optional<int> seriesNumber{};
  std::string modality{};
  std::string description{};
  std::string convolutionKernel{};
  std::string bodyPart{};
  std::string specialKind{}; ///< localizer / secondary capture / dose report / screen save, or empty
  std::string splitReason{};
  bool derived{false};       ///< Image Type DERIVED (reformats, projections)
  std::size_t instanceCount{0};
  std::size_t sliceCount{0}; ///< distinct slice positions
  std::size_t duplicatePositions{0};
  int rows{0};
  int columns{0};
  double pixelSpacingRowMm{0.0};    ///< between columns (x)
  double pixelSpacingColumnMm{0.0}; ///< between rows (y)
  std::string orientation{}; ///< axial / coronal / sagittal / oblique (from the slice normal)
  double sliceStepMm{0.0};   ///< median step along the normal
  double minStepMm{0.0};
  double maxStepMm{0.0};
  double tiltDeg{0.0};
  double coverageMm{0.0};    ///< between the first and last slice centres along the normal
  int gapCount{0};
  bool unevenSpacing{false};
  std::vector<std::string> warnings{}; ///< in words, from the slice stack analysis
  std::string geometryError{};         ///< why the slices do not form a volume, when they do not
  /// Damaged or unreadable DICOM files in the folders of its instances: slices it may lack (the
  /// pipeline refuses the series until they are replaced and indexed again).
  std::vector<std::filesystem::path> damagedFilesBeside{};

  // Ranking within the study (rankSeriesForMeasurement).
  double suitability{0.0}; ///< 0 = never for measurement; 1 = ideal
  int rank{0};             ///< 1 = best of the study; 0 = unsuitable
  std::string rankReason{};
};

struct StudyRecord {
  std::string studyInstanceUid{};
  std::string patientId{};
  std::string patientName{};
  std::string studyDate{}; ///< DICOM DA (YYYYMMDD)
  std::string studyTime{};
  std::string description{};
  std::string accessionNumber{};
  std::vector<SeriesRecord> series{}; ///< best first (rank 1, 2, ...), unsuitable last
};

/// Checks of one series; never throws on bad geometry (recorded in geometryError instead).
[[nodiscard]] SeriesRecord describeSeries(const dicomio::DicomSeries& series);

/// Scores every series of one study for lesion measurement, sets suitability / rank /
/// rankReason and sorts the list best first.
void rankSeriesForMeasurement(std::vector<SeriesRecord>& seriesOfStudy);

/// Studies of the instances, grouped and ranked (patients by id, studies by date).
[[nodiscard]] std::vector<StudyRecord> catalogInstances(const std::vector<dicomio::DicomInstance>& instances);

/// Scans a DICOM folder (no index needed) and catalogs it.
[[nodiscard]] std::vector<StudyRecord> catalogFolder(const std::filesystem::path& folder, const Progress& progress = {},
                                                     unsigned threads = 2);

struct CatalogFilter {
  std::string patientId{};        ///< empty = every patient
  std::string studyInstanceUid{}; ///< empty = every study
};

/// The studies and series stored in an index, ranked, patients by id and studies by date.
[[nodiscard]] std::vector<StudyRecord> catalogDatabase(const ArchiveDatabase& db, const CatalogFilter& filter = {});

/// PatientIDs of the index, sorted.
[[nodiscard]] std::vector<std::string> indexedPatients(const ArchiveDatabase& db);

/// Doubts about who the indexed files belong to, each in words naming the PatientIDs, the
/// identities, the studies and a folder of each: one PatientID on files whose PatientBirthDate
/// disagrees or whose PatientName differs in both family and given name (two people under one ID;
/// names compared in upper case, a value missing on one side is no disagreement), and one study whose files carry
/// several PatientIDs. With `patientId`, only those about that ID's studies (for an ID the index files no study under,
/// the studies of files that carry it).
[[nodiscard]] std::vector<std::string> patientIdentityConflicts(const ArchiveDatabase& db,
                                                                const std::string& patientId = {});

/// One patient's studies by date, each with the series the pipeline should measure.
struct PatientTimeline {
  std::string patientId{};
  std::vector<StudyRecord> studies{}; ///< by date; series.front() is the chosen (rank 1) series
  /// Studies left out, with the reason: no measurable series, or no StudyDate (its place in time
  /// is unknown, so it can be neither the baseline nor a follow-up).
  std::vector<std::string> skippedStudies{};
};

/// The timeline of `patientId` from the index. Throws lesion::InputError when the index holds
/// no such patient, or when patientIdentityConflicts finds a doubt about who the patient is.
[[nodiscard]] PatientTimeline patientTimeline(const ArchiveDatabase& db, const std::string& patientId);

/// The catalog as JSON (an array of studies, each with its ranked series).
[[nodiscard]] std::string catalogToJson(const std::vector<StudyRecord>& studies);

/// The catalog as a plain-text listing, one block per study, one line per series.
[[nodiscard]] std::string catalogToText(const std::vector<StudyRecord>& studies);

} // namespace lesion::archive
