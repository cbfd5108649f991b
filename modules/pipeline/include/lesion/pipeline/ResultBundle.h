#pragma once
/// \file ResultBundle.h
/// Everything radiology tools read, for one study time point, written into one folder:
/// DICOM SEG and SR (TID 1500), QC pictures, STL/VTP meshes, the JSON report and CSV table, and a
/// self-contained report.html. `lesionkit report` and `lesionkit demo` both write through here.

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/HtmlReport.h"
#include "lesion/reporting/MeasurementReport.h"

namespace lesion::pipeline {

/// One earlier time point of the same patient (for trend plots and side-by-side pictures).
struct EarlierTimePoint {
  const Volume* volume{nullptr};
  const LabelMap* labels{nullptr};
  reporting::MeasurementReport report{};
};

struct ResultBundleInput {
  const Volume* volume{nullptr};  ///< the measured volume
  const LabelMap* labels{nullptr}; ///< its lesion label map (same grid)
  reporting::MeasurementReport report{};
  reporting::DicomSourceInfo source{}; ///< from the DICOM series when there was one
  /// What made the label map, written into the SEG: MANUAL (no algorithm claimed) unless known.
  reporting::SegmentAlgorithm segmentAlgorithm{};
  std::vector<EarlierTimePoint> earlier{};
  std::vector<reporting::ResponseAssessment> responses{};
  std::vector<std::string> warnings{};
  bool pictures{true};
  bool meshes{true};
};

struct ResultBundleFiles {
  reporting::DicomObjectInfo seg{};
  std::filesystem::path sr{};
  std::filesystem::path html{};
  std::size_t pictureCount{0};
  std::size_t meshCount{0};
};

/// Writes seg.dcm, sr.dcm, qc/*.png, meshes/*.stl|vtp, report.json, table.csv and report.html
/// into `folder` (which must exist; stage it with lesion::StagedOutputFolder so that the whole
/// bundle appears at once). Throws lesion::InputError / ProcessingError naming what failed.
ResultBundleFiles writeResultBundle(const ResultBundleInput& input, const std::filesystem::path& folder,
                                    const Progress& progress = {});

} // namespace lesion::pipeline
