#include "lesion/reporting/MeasurementReport.h"

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lesion/core/AtomicOutput.h"

namespace lesion::reporting {

std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos)
    return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"')
      quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

namespace {

// Ordered: keys appear in the order written (schemaVersion first), easier to read.
using json = nlohmann::ordered_json;
using measurement::LesionMeasurement;

json point(const Vec3& p) { return json::array({p.x, p.y, p.z}); }
json segment(const measurement::Segment& s) { return json::array({point(s.start), point(s.end)}); }
template <typename T> json optionalNumber(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

/// The convention behind each figure, written into every lesion so a report stands alone.
json conventions() {
  return {
      {"coordinateSystem", "LPS: +x patient left, +y posterior, +z superior; millimetres"},
      {"voxelVolume", "voxel count x voxel volume"},
      {"meshVolume", "closed marching-cubes (flying edges) surface at 0.5 of the binary mask; vertices halfway "
                     "between inside and outside voxel centres (pyradiomics convention); vtkMassProperties"},
      {"recist", "RECIST 1.1 on axial sections of the patient: the acquisition slices (constant k) when they face "
                 "the S-I axis within 45 deg, else planes LPS z = const of the mask resampled (nearest neighbour) at "
                 "the finest in-plane spacing (recist.sections says which); long axis = longest segment between "
                 "boundary voxel centres of one section lying inside the lesion; short axis = longest such segment "
                 "on the same section perpendicular to it within half a pixel; both between voxel centres"},
      {"maxDiameter3d", "3D Feret diameter between boundary voxel centres (convex hull, qhull)"},
      {"extents", "size of the union of voxel boxes along patient L-R, A-P, S-I (includes the voxel)"},
      {"principalAxes", "PCA of voxel centres (population covariance); ibsiAxisLengths = 4 sqrt(eigenvalue) as "
                        "IBSI/pyradiomics; ellipsoidAxisLengths = 2 sqrt(5 eigenvalue), exact for a solid "
                        "ellipsoid; orientedBoxExtents include the voxel"},
      {"intensity", "voxels inside the label; population SD; percentiles linearly interpolated (numpy default)"},
      {"calcification",
       "bone lesions: voxels >= threshold; other kinds: thresholdHu raised to median + 4 robust SD "
       "of the lesion's voxels below it when higher, and only 26-connected clusters of >= 3 voxels and >= 3 mm3 count; "
       "Agatston-style score over the counted voxels: per acquisition slice, 8-connected regions of "
       ">= 1 mm2, area x weight (1: <200, 2: <300, 3: <400, 4: >=400 HU peak), scaled by the slice "
       "spacing / 3 mm (every slice is summed, so each stands for its spacing)"},
      {"uncertainty", "distances: one voxel diagonal; volumes: surface area x half a voxel diagonal"}};
}

json lesionJson(const LesionMeasurement& m) {
  json lesion;
  lesion["label"] = m.spec.label;
  lesion["name"] = m.spec.name;
  lesion["kind"] = m.spec.kind;
  lesion["lymphNode"] = m.spec.lymphNode;
  lesion["voxelCount"] = m.voxelCount;
  lesion["volumes"] = {{"voxelVolumeMl", m.voxelVolumeMl},
                       {"meshVolumeMl", optionalNumber(m.meshVolumeMl)},
                       {"surfaceAreaMm2", optionalNumber(m.surfaceAreaMm2)}};
  lesion["recist"] = {{"longAxisMm", m.recist.longAxisMm},
                      {"shortAxisMm", m.recist.shortAxisMm},
                      {"sliceIndex", m.recist.sliceIndex},
                      {"sections", m.recist.sections},
                      {"longAxisEndpointsLps", segment(m.recist.longAxis)},
                      {"shortAxisEndpointsLps", segment(m.recist.shortAxis)}};
  lesion["maxDiameter3dMm"] = m.maxDiameter3dMm;
  lesion["maxDiameter3dEndpointsLps"] = segment(m.maxDiameter3d);
  lesion["extentsMm"] = {{"lr", m.extentLrMm}, {"ap", m.extentApMm}, {"si", m.extentSiMm}};
  lesion["boundingBoxLps"] = {{"min", point(m.boundingBoxMin)}, {"max", point(m.boundingBoxMax)}};
  const auto& axes = m.principalAxes;
  lesion["principalAxesMm"] = {
      {"ibsiAxisLengths", axes.ibsiAxisLengthsMm},
      {"ellipsoidAxisLengths", axes.ellipsoidAxisLengthsMm},
      {"orientedBoxExtents", axes.orientedBoxExtentsMm},
      {"eigenvaluesMm2", axes.eigenvaluesMm2},
      {"directionsLps", json::array({point(axes.directions[0]), point(axes.directions[1]), point(axes.directions[2])})},
      {"centroidLps", point(axes.centroid)}};
  lesion["shape"] = {{"elongation", m.shape.elongation},
                     {"flatness", m.shape.flatness},
                     {"sphericity", optionalNumber(m.shape.sphericity)}};
  const auto& s = m.intensity;
  lesion["intensity"] = {{"unit", s.unit},
                         {"mean", s.mean},
                         {"standardDeviation", s.standardDeviation},
                         {"median", s.median},
                         {"percentile5", s.percentile5},
                         {"percentile95", s.percentile95},
                         {"minimum", s.minimum},
                         {"maximum", s.maximum}};
  if (m.calcification) {
    const auto& c = *m.calcification;
    lesion["calcification"] = {{"thresholdHu", c.thresholdHu},    {"volumeMl", c.volumeMl},
                               {"fraction", c.fraction},          {"boneThresholdHu", c.boneThresholdHu},
                               {"boneVolumeMl", c.boneVolumeMl},  {"boneFraction", c.boneFraction},
                               {"agatstonScore", c.agatstonScore}};
  } else {
    lesion["calcification"] = nullptr;
  }
  lesion["measurability"] = {{"criteria", "RECIST 1.1"},
                             {"measurable", m.measurability.measurable},
                             {"category", m.measurability.category},
                             {"basis", m.measurability.basis},
                             {"thresholdMm", m.measurability.thresholdMm},
                             {"sliceThicknessMm", m.sliceThicknessMm},
                             {"reason", m.measurability.reason}};
  lesion["conventions"] = conventions();
  lesion["uncertaintyMm"] = m.uncertainty.distanceMm;
  lesion["volumeUncertaintyMl"] = m.uncertainty.volumeMl;
  return lesion;
}

// Outside bone the lesion's own soft tissue sets the bar (see the "calcification" convention).
std::string calcificationRuleNote(const std::string& kind) {
  return measurement::isBoneKind(kind)
             ? ""
             : " (at least median + 4 robust SD of the lesion's soft tissue; clusters >= 3 voxels and 3 mm3)";
}

std::string csvNumber(double value) { return fmt::format("{:.10g}", value); }
std::string csvNumber(const std::optional<double>& value) { return value ? csvNumber(*value) : std::string{}; }

} // namespace

std::string toJson(const MeasurementReport& report) {
  json root;
  root["$schema"] = kMeasurementReportSchemaId;
  root["schemaVersion"] = kMeasurementReportSchemaVersion;
  root["tool"] = {{"name", report.toolName}, {"version", report.toolVersion}, {"command", report.command}};
  root["timepoint"] = report.timepoint;
  const ImageGeometry& g = report.input.geometry;
  root["input"] = {{"volumePath", report.input.volumePath},
                   {"maskPath", report.input.maskPath},
                   {"seriesInstanceUid", report.input.seriesInstanceUid},
                   {"geometry",
                    {{"coordinateSystem", "LPS"},
                     {"sizeVoxels", g.size},
                     {"spacingMm", point(g.spacing)},
                     {"originLps", point(g.origin)},
                     {"directionColumns", json::array({point(g.direction.column(0)), point(g.direction.column(1)),
                                                       point(g.direction.column(2))})}}},
                   {"warnings", report.input.warnings}};
  const auto& o = report.options;
  root["settings"] = {
      {"intensityUnit", o.intensityUnit == measurement::IntensityUnit::HounsfieldUnit ? "HU" : "arbitrary"},
      {"calcificationThresholdHu", o.calcificationThresholdHu},
      {"boneThresholdHu", o.boneThresholdHu},
      {"sliceThicknessMm", o.sliceThicknessMm ? json(*o.sliceThicknessMm) : json(nullptr)},
      {"sliceThicknessSource", measurement::sliceThicknessSourceOf(o)},
      {"surfaceMesh", o.computeSurfaceMesh}};
  root["lesions"] = json::array();
  for (const LesionMeasurement& m : report.lesions)
    root["lesions"].push_back(lesionJson(m));
  return root.dump(2) + "\n";
}

const std::vector<std::string>& csvColumns() {
  static const std::vector<std::string> columns{"timepoint",
                                                "label",
                                                "name",
                                                "kind",
                                                "lymph_node",
                                                "voxel_count",
                                                "volume_ml",
                                                "mesh_volume_ml",
                                                "surface_area_mm2",
                                                "long_axis_mm",
                                                "short_axis_mm",
                                                "recist_slice_index",
                                                "recist_sections",
                                                "long_axis_start_x_mm",
                                                "long_axis_start_y_mm",
                                                "long_axis_start_z_mm",
                                                "long_axis_end_x_mm",
                                                "long_axis_end_y_mm",
                                                "long_axis_end_z_mm",
                                                "max_diameter_3d_mm",
                                                "extent_lr_mm",
                                                "extent_ap_mm",
                                                "extent_si_mm",
                                                "major_axis_mm",
                                                "minor_axis_mm",
                                                "least_axis_mm",
                                                "elongation",
                                                "flatness",
                                                "sphericity",
                                                "intensity_unit",
                                                "intensity_mean",
                                                "intensity_sd",
                                                "intensity_median",
                                                "intensity_p05",
                                                "intensity_p95",
                                                "intensity_min",
                                                "intensity_max",
                                                "calcification_threshold_hu",
                                                "calcified_volume_ml",
                                                "calcified_fraction",
                                                "bone_volume_ml",
                                                "bone_fraction",
                                                "agatston_score",
                                                "measurable",
                                                "measurability_category",
                                                "slice_thickness_mm",
                                                "uncertainty_mm",
                                                "volume_uncertainty_ml",
                                                "volume_path",
                                                "mask_path"};
  return columns;
}

std::string toCsv(const MeasurementReport& report) {
  std::ostringstream out;
  const auto& columns = csvColumns();
  for (std::size_t c = 0; c < columns.size(); ++c)
    out << (c ? "," : "") << columns[c];
  out << "\n";
  for (const LesionMeasurement& m : report.lesions) {
    const auto calcium = [&](double measurement::Calcification::*field) {
      return m.calcification ? csvNumber((*m.calcification).*field) : std::string{};
    };
    const auto& axes = m.principalAxes.ibsiAxisLengthsMm;
    const std::vector<std::string> row{csvField(report.timepoint),
                                       std::to_string(m.spec.label),
                                       csvField(m.spec.name),
                                       csvField(m.spec.kind),
                                       m.spec.lymphNode ? "true" : "false",
                                       std::to_string(m.voxelCount),
                                       csvNumber(m.voxelVolumeMl),
                                       csvNumber(m.meshVolumeMl),
                                       csvNumber(m.surfaceAreaMm2),
                                       csvNumber(m.recist.longAxisMm),
                                       csvNumber(m.recist.shortAxisMm),
                                       std::to_string(m.recist.sliceIndex),
                                       csvField(m.recist.sections),
                                       csvNumber(m.recist.longAxis.start.x),
                                       csvNumber(m.recist.longAxis.start.y),
                                       csvNumber(m.recist.longAxis.start.z),
                                       csvNumber(m.recist.longAxis.end.x),
                                       csvNumber(m.recist.longAxis.end.y),
                                       csvNumber(m.recist.longAxis.end.z),
                                       csvNumber(m.maxDiameter3dMm),
                                       csvNumber(m.extentLrMm),
                                       csvNumber(m.extentApMm),
                                       csvNumber(m.extentSiMm),
                                       csvNumber(axes[0]),
                                       csvNumber(axes[1]),
                                       csvNumber(axes[2]),
                                       csvNumber(m.shape.elongation),
                                       csvNumber(m.shape.flatness),
                                       csvNumber(m.shape.sphericity),
                                       csvField(m.intensity.unit),
                                       csvNumber(m.intensity.mean),
                                       csvNumber(m.intensity.standardDeviation),
                                       csvNumber(m.intensity.median),
                                       csvNumber(m.intensity.percentile5),
                                       csvNumber(m.intensity.percentile95),
                                       csvNumber(m.intensity.minimum),
                                       csvNumber(m.intensity.maximum),
                                       calcium(&measurement::Calcification::thresholdHu),
                                       calcium(&measurement::Calcification::volumeMl),
                                       calcium(&measurement::Calcification::fraction),
                                       calcium(&measurement::Calcification::boneVolumeMl),
                                       calcium(&measurement::Calcification::boneFraction),
                                       calcium(&measurement::Calcification::agatstonScore),
                                       m.measurability.measurable ? "true" : "false",
                                       csvField(m.measurability.category),
                                       csvNumber(m.sliceThicknessMm),
                                       csvNumber(m.uncertainty.distanceMm),
                                       csvNumber(m.uncertainty.volumeMl),
                                       csvField(report.input.volumePath),
                                       csvField(report.input.maskPath)};
    for (std::size_t c = 0; c < row.size(); ++c)
      out << (c ? "," : "") << row[c];
    out << "\n";
  }
  return out.str();
}

std::string toSummaryText(const MeasurementReport& report) {
  std::string text = fmt::format("{} lesion{} measured in {}\n", report.lesions.size(),
                                 report.lesions.size() == 1 ? "" : "s", report.input.maskPath);
  for (const LesionMeasurement& m : report.lesions) {
    text += fmt::format("label {} \"{}\" ({}{}):\n", m.spec.label, m.spec.name, m.spec.kind,
                        m.spec.lymphNode ? ", lymph node" : "");
    text += fmt::format("  volume {:.2f} mL (voxels){}\n", m.voxelVolumeMl,
                        m.meshVolumeMl ? fmt::format(", {:.2f} mL (mesh)", *m.meshVolumeMl) : std::string{});
    const std::string where = m.recist.onAcquisitionSlices ? fmt::format("slice {}", m.recist.sliceIndex)
                                                           : fmt::format("the axial section z = {:.1f} mm, {}",
                                                                         m.recist.longAxis.start.z, m.recist.sections);
    text +=
        fmt::format("  RECIST 1.1: long axis {:.1f} mm x short axis {:.1f} mm on {}; {} ({})\n", m.recist.longAxisMm,
                    m.recist.shortAxisMm, where, m.measurability.category, m.measurability.reason);
    text += fmt::format("  3D max diameter {:.1f} mm; extents LR {:.1f} x AP {:.1f} x SI {:.1f} mm (+/- {:.1f} mm)\n",
                        m.maxDiameter3dMm, m.extentLrMm, m.extentApMm, m.extentSiMm, m.uncertainty.distanceMm);
    text +=
        fmt::format("  intensity mean {:.1f} {} (SD {:.1f}, median {:.1f}, 5-95% {:.1f} to {:.1f})\n", m.intensity.mean,
                    m.intensity.unit == "HU" ? "HU" : "(arbitrary units)", m.intensity.standardDeviation,
                    m.intensity.median, m.intensity.percentile5, m.intensity.percentile95);
    if (m.calcification)
      text +=
          fmt::format("  calcification >= {:.0f} HU{}: {:.2f} mL ({:.1f} %), >= {:.0f} HU: {:.2f} mL; Agatston-style "
                      "score {:.1f}\n",
                      m.calcification->thresholdHu, calcificationRuleNote(m.spec.kind), m.calcification->volumeMl,
                      100.0 * m.calcification->fraction, m.calcification->boneThresholdHu,
                      m.calcification->boneVolumeMl, m.calcification->agatstonScore);
  }
  return text;
}

void writeJsonReport(const MeasurementReport& report, const std::filesystem::path& path) {
  writeTextFileAtomically(path, toJson(report));
}

void writeCsvTable(const MeasurementReport& report, const std::filesystem::path& path) {
  writeTextFileAtomically(path, toCsv(report));
}

} // namespace lesion::reporting
