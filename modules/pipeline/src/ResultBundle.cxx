#include "lesion/pipeline/ResultBundle.h"

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/qc/QcPictures.h"
#include "lesion/qc/SurfaceMeshes.h"
#include "lesion/reporting/DicomSr.h"

namespace fs = std::filesystem;

namespace lesion::pipeline {

ResultBundleFiles writeResultBundle(const ResultBundleInput& in, const fs::path& folder, const Progress& progress) {
  if (in.volume == nullptr || in.labels == nullptr) throw ProcessingError("result bundle: no volume or label map given");
  const reporting::MeasurementReport& report = in.report;
  const std::string& timepoint = report.timepoint;
  ResultBundleFiles files;

  progress.report(0.0, "writing DICOM SEG and SR");
  std::vector<reporting::SegmentInfo> segments;
  for (const auto& l : report.lesions) segments.push_back({l.spec.label, l.spec.kind, l.spec.name, "", ""});
  reporting::DicomSegOptions segOptions;
  segOptions.algorithm = in.segmentAlgorithm;
  segOptions.algorithmVersion = report.toolVersion;
  files.seg = reporting::writeDicomSeg(*in.labels, segments, in.source, folder / "seg.dcm", segOptions);
  reporting::DicomSrOptions srOptions;
  srOptions.timePoint = timepoint;
  srOptions.algorithmVersion = report.toolVersion;
  files.sr = folder / "sr.dcm";
  reporting::writeDicomSr(report.lesions, segments, files.seg, in.source, files.sr, srOptions);

  reporting::HtmlReportInput html;
  html.title = "LesionKit report" + (timepoint.empty() ? std::string() : " — " + timepoint);
  html.patientId = in.source.patientId;
  html.patientName = in.source.patientName;
  html.warnings = in.warnings;
  html.responses = in.responses;
  html.outputs = {"seg.dcm", "sr.dcm", "report.json", "table.csv"};
  if (in.pictures) {
    progress.report(0.3, "QC pictures");
    const auto pictures = qc::writeQcPictures(*in.volume, *in.labels, report.lesions, folder / "qc");
    for (std::size_t i = 0; i < pictures.size(); ++i) {
      const measurement::LesionMeasurement& lesion = report.lesions[i];
      const std::string key = reporting::lesionKey(lesion);
      // The same lesion (by name) at the earlier time points, side by side with this one.
      std::vector<qc::TimepointLesion> history;
      for (const EarlierTimePoint& e : in.earlier) {
        for (const auto& l : e.report.lesions) {
          if (reporting::lesionKey(l) == key) history.push_back({e.volume, e.labels, l, e.report.timepoint});
        }
      }
      if (!history.empty()) {
        history.push_back({in.volume, in.labels, lesion, timepoint});
        const fs::path followUp = folder / "qc" / fmt::format("lesion-{}-followup.png", lesion.spec.label);
        qc::writeFollowUpPicture(history, followUp);
        html.pictures.push_back({"the lesion over time (axial, one scale)", followUp, key});
        ++files.pictureCount;
      }
      html.pictures.push_back({"axial slice through the RECIST long axis", pictures[i].axial, key});
      html.pictures.push_back({"coronal through the centroid", pictures[i].coronal, key});
      html.pictures.push_back({"sagittal through the centroid", pictures[i].sagittal, key});
      files.pictureCount += 3;
    }
  }
  if (in.meshes) {
    progress.report(0.6, "surface meshes");
    std::vector<std::uint16_t> lesionLabels;
    for (const auto& l : report.lesions) lesionLabels.push_back(l.spec.label);
    for (const auto& m : qc::writeSurfaceMeshes(*in.labels, lesionLabels, folder / "meshes")) {
      html.outputs.push_back("meshes/" + m.stl.filename().string());
      html.outputs.push_back("meshes/" + m.vtp.filename().string());
      ++files.meshCount;
    }
  }
  progress.report(0.8, "report");
  reporting::writeJsonReport(report, folder / "report.json");
  reporting::writeCsvTable(report, folder / "table.csv");
  for (const EarlierTimePoint& e : in.earlier) html.timepoints.push_back(e.report);
  html.timepoints.push_back(report);
  files.html = folder / "report.html";
  reporting::writeHtmlReport(html, files.html);
  progress.report(1.0);
  return files;
}

} // namespace lesion::pipeline
