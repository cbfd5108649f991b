#pragma once
/// \file HtmlReport.h
/// One self-contained HTML file per patient: lesion table per time point, QC pictures embedded
/// as base64 data URIs, trend plots over time points (inline SVG), response categories with
/// their reasons, and the warnings raised while reading the inputs. No scripts, no external
/// resources: it opens from an e-mail attachment or an archive as it is.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/reporting/MeasurementReport.h"

namespace lesion::reporting {

/// A response assessment as the follow-up step states it (RECIST 1.1, bone criteria, ...).
struct ResponseAssessment {
  std::string timepoint{};  ///< the follow-up time point it judges
  std::string criteria{};   ///< e.g. "RECIST 1.1", "MD Anderson bone"
  std::string category{};   ///< e.g. "PR", "SD", "PD", "CR", "NE", "NA"
  std::string lesion{};     ///< a lesion's name, or empty for the overall response
  std::vector<std::string> reasons{}; ///< sentences: "sum of diameters -32 % from baseline (>= 30 % decrease)"
};

/// A picture to embed (PNG file read and base64-encoded into the page).
struct HtmlPicture {
  std::string caption{};
  std::filesystem::path png{};
  std::string lesion{}; ///< groups pictures under their lesion; empty: general section
};

struct HtmlReportInput {
  std::string title{"LesionKit report"};
  std::string patientId{};
  std::string patientName{};
  /// One measurement report per time point, in time order (their `timepoint` labels the columns).
  std::vector<MeasurementReport> timepoints{};
  std::vector<ResponseAssessment> responses{};
  std::vector<HtmlPicture> pictures{};
  /// Warnings from ingestion (loader warnings of every time point are added automatically).
  std::vector<std::string> warnings{};
  /// Other outputs to list (SEG, SR, meshes), as relative paths.
  std::vector<std::string> outputs{};
};

/// The lesion identity used to follow a lesion across time points: its name, else "label <n>".
[[nodiscard]] std::string lesionKey(const measurement::LesionMeasurement& lesion);

/// Inline SVG line plot of `values` (nullopt = not measured) against the time point labels.
[[nodiscard]] std::string trendPlotSvg(const std::string& title, const std::string& unit,
                                       const std::vector<std::string>& timepoints,
                                       const std::vector<std::optional<double>>& values);

[[nodiscard]] std::string base64Encode(const std::string& bytes);

/// The page. Throws lesion::InputError naming the picture when a PNG cannot be read.
[[nodiscard]] std::string renderHtmlReport(const HtmlReportInput& input);
/// Writes the page atomically.
void writeHtmlReport(const HtmlReportInput& input, const std::filesystem::path& path);

} // namespace lesion::reporting
