/// \file PhantomWriter.cxx
/// Writes a generated phantom study: DICOM series, truth label maps and truth.json, staged in a
/// hidden sibling folder and moved into place only when complete.

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/phantom/Phantom.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace lesion::phantom {
namespace {

/// The command recorded in the output folder: a re-run replaces its own output, nothing else.
constexpr const char* kPhantomCommand = "phantom";

/// Names from options are data, not paths: keep [A-Za-z0-9._-] only.
std::string safeName(const std::string& text) {
  std::string s;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    s += ok ? c : '_';
  }
  if (s.empty() || s.find_first_not_of('.') == std::string::npos) s = "patient";
  return s;
}

json vec(const Vec3& v) { return json::array({v.x, v.y, v.z}); }

json matrix(const Mat3& m) {
  json rows = json::array();
  for (std::size_t r = 0; r < 3; ++r) rows.push_back(json::array({m(r, 0), m(r, 1), m(r, 2)}));
  return rows;
}

json transformJson(const RigidTransform& t) {
  json m4 = json::array();
  for (std::size_t r = 0; r < 3; ++r) m4.push_back(json::array({t.rotation(r, 0), t.rotation(r, 1), t.rotation(r, 2), t.translation[r]}));
  m4.push_back(json::array({0.0, 0.0, 0.0, 1.0}));
  return {{"direction", "baseline scanner LPS -> this time point's scanner LPS: p_this = R p_baseline + t (mm)"},
          {"rotation", matrix(t.rotation)},
          {"translationMm", vec(t.translation)},
          {"matrix4x4", m4},
          {"rotationAngleDegrees", t.angleDegrees()}};
}

json geometryJson(const ImageGeometry& g) {
  return {{"size", json::array({g.size[0], g.size[1], g.size[2]})},
          {"spacingMm", vec(g.spacing)},
          {"originMm", vec(g.origin)},
          {"direction", matrix(g.direction)}};
}

json lesionJson(const LesionTruth& l) {
  const Vec3 e = l.extentMm();
  return {{"id", l.id},
          {"description", l.description},
          {"labelValues", l.labelValues},
          {"volumeMl", l.volumeMl},
          {"calcifiedVolumeMl", l.calcifiedVolumeMl},
          {"calcifiedRimVolumeMl", l.rimVolumeMl},
          {"calcifiedNoduleVolumeMl", l.noduleVolumeMl},
          {"maxDiameter3dMm", l.maxDiameter3dMm},
          {"recist",
           {{"longAxisMm", l.longAxisMm},
            {"shortAxisMm", l.shortAxisMm},
            {"axialPlaneZMm", l.axialPlaneZMm},
            {"longAxisEndpointsMm", json::array({vec(l.longAxisFrom), vec(l.longAxisTo)})}}},
          {"extentMm", {{"lr", e.x}, {"ap", e.y}, {"si", e.z}}},
          {"boundingBoxMm", {{"min", vec(l.boundsMin)}, {"max", vec(l.boundsMax)}}},
          {"centroidMm", vec(l.centroid)},
          {"seedMm", vec(l.seed)}};
}

} // namespace

void checkPhantomOutputFolder(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw InputError(fmt::format("output '{}' exists and is not a folder", out.string()));
  checkOutputFolderReplaceable(out, kPhantomCommand);
  fs::path probe = fs::absolute(out, ec).parent_path();
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path()) probe = probe.parent_path();
  if (!fs::is_directory(probe, ec)) {
    throw InputError(fmt::format("cannot create output folder '{}': '{}' is not a folder", out.string(), probe.string()));
  }
  if (::access(probe.c_str(), W_OK | X_OK) != 0) {
    throw InputError(fmt::format("cannot create output folder '{}': '{}' is not writable", out.string(), probe.string()));
  }
}

std::string phantomTruthJson(const PhantomStudy& study, const PhantomOutputFiles& files) {
  const PhantomOptions& o = study.options;
  json root;
  root["format"] = "lesionkit-phantom-truth";
  root["formatVersion"] = 1;
  root["patientId"] = o.patientId;
  root["contrast"] = o.contrast == Contrast::CT ? "ct" : "mr";
  root["options"] = {{"pixelSizeMm", o.pixelSizeMm},
                     {"sliceThicknessMm", o.sliceThicknessMm},
                     {"gantryTiltDegrees", o.gantryTiltDegrees},
                     {"orientation", o.orientation == Orientation::Axial ? "axial" : "oblique"},
                     {"noiseSd", o.noiseSd},
                     {"seed", o.seed},
                     {"supersampling", o.supersampling},
                     {"timePoints", o.timePoints}};
  root["conventions"] = {
      {"coordinates", "LPS millimetres (DICOM patient coordinates) of each time point's scanner frame"},
      {"truthSource", "continuous model (quadrature over the sphere, dense surface sampling, exact axial sections), not voxels"},
      {"volume", "volume of the solid in mL; the lytic lesion's volume includes its calcified part (labels 1 and 3)"},
      {"recist", "longAxisMm: longest chord of any axial (z = const) section; shortAxisMm: longest chord perpendicular to it on the same section"},
      {"extent", "axis-aligned bounding box of the solid: lr = x, ap = y, si = z extent"},
      {"vertebralHeights", "along the body axis at the anterior edge, centre and posterior edge of the footprint in the mid-sagittal plane"},
      {"labelMaps", "label at each voxel centre; the image has partial volume from 3x3x3 supersampling at tissue boundaries"}};
  json labelTable = json::object();
  labelTable["0"] = "background";
  labelTable[std::to_string(labels::LyticLesion)] = "L4 lytic lesion, non-calcified part";
  labelTable[std::to_string(labels::SoftTissueMass)] = "axillary soft-tissue mass";
  labelTable[std::to_string(labels::CalcifiedPart)] = "calcified part of the L4 lesion (sclerotic rim + nodules)";
  for (int level = 0; level < kLevelCount; ++level) {
    labelTable[std::to_string(labels::FirstVertebralBody + level)] = fmt::format("{} vertebral body (lesion excluded)", levelName(level));
  }
  root["labels"] = labelTable;
  const auto intensity = tissueIntensities(o.contrast);
  json tissues = json::object();
  for (std::uint8_t c = 0; c < TissueCount; ++c) tissues[tissueName(c)] = intensity[c];
  tissues["cortical bone"] = intensity[bodyTissue(0, false)];
  tissues["trabecular bone"] = intensity[bodyTissue(0, true)];
  root["tissueMeanIntensity"] = tissues;

  json tps = json::array();
  for (std::size_t t = 0; t < study.timePoints.size(); ++t) {
    const PhantomTimePoint& tp = study.timePoints[t];
    json j;
    j["index"] = tp.truth.index;
    j["studyDate"] = tp.truth.studyDate;
    if (t < files.seriesFolders.size()) j["dicomSeriesFolder"] = files.seriesFolders[t].generic_string();
    if (t < files.series.size()) {
      j["studyInstanceUid"] = files.series[t].studyInstanceUid;
      j["seriesInstanceUid"] = files.series[t].seriesInstanceUid;
      j["frameOfReferenceUid"] = files.series[t].frameOfReferenceUid;
    }
    if (t < files.labelMaps.size()) {
      json maps = json::array();
      for (const auto& p : files.labelMaps[t]) maps.push_back(p.generic_string());
      j["labelMaps"] = maps;
    }
    j["geometry"] = geometryJson(tp.image.geometry);
    j["labelMapGeometry"] = geometryJson(tp.tiltCorrectedLabels.empty() ? tp.labels.geometry : tp.tiltCorrectedLabels.geometry);
    j["labelMapGrid"] = tp.tiltCorrectedLabels.empty() ? "the DICOM series' grid"
                                                       : "tilt-corrected axial grid (the DICOM series is tilted: sheared grid)";
    j["transformFromBaseline"] = transformJson(tp.truth.transformFromBaseline);
    json lesions = json::array();
    for (const auto& l : tp.truth.lesions) lesions.push_back(lesionJson(l));
    j["lesions"] = lesions;
    json vertebrae = json::array();
    for (const auto& v : tp.truth.vertebrae) {
      vertebrae.push_back({{"level", v.level},
                           {"label", v.label},
                           {"anteriorHeightMm", v.anteriorHeightMm},
                           {"middleHeightMm", v.middleHeightMm},
                           {"posteriorHeightMm", v.posteriorHeightMm},
                           {"centreMm", vec(v.centre)}});
    }
    j["vertebrae"] = vertebrae;
    tps.push_back(j);
  }
  root["timePoints"] = tps;
  return root.dump(2) + "\n";
}

PhantomOutputFiles writePhantomStudy(const PhantomStudy& study, const fs::path& outputFolder, Progress progress) {
  if (study.timePoints.empty()) throw ProcessingError("phantom study has no time points to write");
  checkPhantomOutputFolder(outputFolder);
  StagedOutputFolder staged(outputFolder, kPhantomCommand);
  PhantomOutputFiles files;
  files.root = staged.target();
  const fs::path patient = safeName(study.options.patientId);
  const bool sheared = study.options.gantryTiltDegrees != 0.0;
  const std::size_t n = study.timePoints.size();
  for (std::size_t t = 0; t < n; ++t) {
    const PhantomTimePoint& tp = study.timePoints[t];
    const fs::path dateFolder = patient / safeName(tp.truth.studyDate);
    const fs::path series = dateFolder / (study.options.contrast == Contrast::CT ? "CT_01" : "MR_01");
    progress.report(double(t) / n, fmt::format("writing DICOM time point {}", t));
    const DicomSeriesInfo info = writeDicomSeries(study, int(t), staged.path(series));
    files.series.push_back(info);
    files.dicomFileCount += info.fileCount;
    files.seriesFolders.push_back(series);
    progress.report((t + 0.8) / n, fmt::format("writing label maps time point {}", t));
    // A tilted acquisition has a sheared grid that NRRD/NIfTI readers reject: its label maps are
    // written on the tilt-corrected axial grid instead (see PhantomTimePoint).
    const LabelMap& labelMap = sheared ? tp.tiltCorrectedLabels : tp.labels;
    const std::vector<fs::path> maps{dateFolder / "truth-labels.nrrd", dateFolder / "truth-labels.nii.gz"};
    for (const auto& m : maps) dicomio::writeLabelMapFile(labelMap, staged.path(m));
    files.labelMaps.push_back(maps);
  }
  files.truthJson = patient / "truth.json";
  writeTextFileAtomically(staged.path(files.truthJson), phantomTruthJson(study, files));
  staged.commit();
  progress.report(1.0, "written");
  return files;
}

} // namespace lesion::phantom
