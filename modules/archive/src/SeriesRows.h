#pragma once
// SeriesRecord <-> row of the `series` table (and its JSON), from one list of fields.

#include <optional>
#include <string>

#include "Sqlite.h"
#include "lesion/archive/SeriesCatalog.h"

namespace lesion::archive::detail {

/// Calls f(column, jsonKey, member) for every stored field of a SeriesRecord, in the `series`
/// table's column order (ArchiveDatabase.cxx). The ranking fields are not stored: they depend on
/// the other series of the study and are computed when listing.
template <typename Record, typename F> void visitSeriesColumns(Record& r, F&& f) {
  f("series_id", "seriesId", r.seriesId);
  f("series_uid", "seriesInstanceUid", r.seriesInstanceUid);
  f("study_uid", "studyInstanceUid", r.studyInstanceUid);
  f("patient_id", "patientId", r.patientId);
  f("series_number", "seriesNumber", r.seriesNumber);
  f("modality", "modality", r.modality);
  f("description", "description", r.description);
  f("kernel", "convolutionKernel", r.convolutionKernel);
  f("body_part", "bodyPart", r.bodyPart);
  f("special_kind", "specialKind", r.specialKind);
  f("split_reason", "splitReason", r.splitReason);
  f("derived", "derived", r.derived);
  f("instance_count", "instanceCount", r.instanceCount);
  f("slice_count", "sliceCount", r.sliceCount);
  f("duplicate_positions", "duplicatePositions", r.duplicatePositions);
  f("rows", "rows", r.rows);
  f("columns", "columns", r.columns);
  f("pixel_spacing_x_mm", "pixelSpacingRowMm", r.pixelSpacingRowMm);
  f("pixel_spacing_y_mm", "pixelSpacingColumnMm", r.pixelSpacingColumnMm);
  f("orientation", "orientation", r.orientation);
  f("slice_step_mm", "sliceStepMm", r.sliceStepMm);
  f("min_step_mm", "minStepMm", r.minStepMm);
  f("max_step_mm", "maxStepMm", r.maxStepMm);
  f("tilt_deg", "gantryTiltDeg", r.tiltDeg);
  f("coverage_mm", "coverageMm", r.coverageMm);
  f("gap_count", "gapCount", r.gapCount);
  f("uneven_spacing", "unevenSpacing", r.unevenSpacing);
  f("warnings_json", "warnings", r.warnings);
  f("geometry_error", "geometryError", r.geometryError);
}

[[nodiscard]] const std::string& insertSeriesSql();
[[nodiscard]] const std::string& selectSeriesColumns(); ///< column list matching seriesFromRow

void bindSeriesRow(Statement& insert, const SeriesRecord& record);
[[nodiscard]] SeriesRecord seriesFromRow(const Statement& row);

} // namespace lesion::archive::detail
