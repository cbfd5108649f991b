#pragma once
/// \file MeasurementReport.h
/// The measurement report contract: JSON that validates against
/// schema/lesionkit-measurement-report-v1.schema.json (the versioned contract), a CSV table with
/// one row per lesion and units in the column names, and a short human summary.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::reporting {

/// Version of the JSON report contract; the major number is the schema file's "v1".
inline constexpr const char* kMeasurementReportSchemaVersion = "1.0.0";
/// The schema's $id: where the contract is published.
inline constexpr const char* kMeasurementReportSchemaId =
    "https://lesionkit.github.io/schema/lesionkit-measurement-report-v1.schema.json";

/// What was measured: the files as the user named them and their shared grid.
struct ReportInput {
  std::string volumePath{};
  std::string maskPath{};
  std::string seriesInstanceUid{}; ///< DICOM input only
  ImageGeometry geometry{};
  std::vector<std::string> warnings{}; ///< loader warnings (tilt, uneven spacing, ...)
};

struct MeasurementReport {
  std::string toolName{"lesionkit"};
  std::string toolVersion{};
  std::string command{"measure"};
  /// Free label of the study time point ("baseline", "follow-up 1", a date): the CSV's first
  /// column, so tables of several time points concatenate.
  std::string timepoint{"baseline"};
  ReportInput input{};
  measurement::MeasurementOptions options{};
  std::vector<measurement::LesionMeasurement> lesions{};
};

/// The report as pretty-printed JSON (schema v1).
[[nodiscard]] std::string toJson(const MeasurementReport& report);
/// One row per lesion; header names carry units (volume_ml, long_axis_mm); missing values are
/// empty fields; text fields are quoted when needed (RFC 4180).
[[nodiscard]] std::string toCsv(const MeasurementReport& report);
/// One CSV field: quoted (RFC 4180) when it holds a comma, quote or line break.
[[nodiscard]] std::string csvField(const std::string& text);
/// The CSV header, in column order.
[[nodiscard]] const std::vector<std::string>& csvColumns();
/// A few lines for people: per lesion volume, RECIST axes and measurability, 3D diameter,
/// extents, density and calcification.
[[nodiscard]] std::string toSummaryText(const MeasurementReport& report);

/// Atomic writes (temporary name, then rename); throw lesion::InputError naming the file.
void writeJsonReport(const MeasurementReport& report, const std::filesystem::path& path);
void writeCsvTable(const MeasurementReport& report, const std::filesystem::path& path);

} // namespace lesion::reporting
