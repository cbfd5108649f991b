// lesionkit report: a volume and its lesion label map (or a measurement report.json naming them)
// → DICOM SEG, DICOM SR TID 1500, QC pictures, STL/VTP meshes, JSON/CSV and report.html in one
// folder. All logic lives in lesion::reporting and lesion::qc.
#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "ConvertSidecar.h"
#include "IntensityUnitOption.h"
#include "NamedInputErrors.h"
#include "SegMask.h"
#include "SliceThickness.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"
#include "lesion/pipeline/ResultBundle.h"
#include "lesion/reporting/DicomSeg.h"
#include "lesion/reporting/MeasurementReport.h"

namespace lesion::commands {

namespace {

// What a measurement report.json says about its inputs and lesions (schema v1).
struct ReportJsonInputs {
  std::filesystem::path volume;
  std::filesystem::path mask;
  std::string seriesInstanceUid;
  std::string timepoint;
  measurement::MeasurementOptions options;
};

ReportJsonInputs readReportJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in)
    throw InputError(fmt::format("measurement report '{}': cannot open", path.string()));
  nlohmann::json root;
  try {
    in >> root;
    ReportJsonInputs r;
    const auto& input = root.at("input");
    // Relative input paths are relative to where measure ran; try the report's folder as well, and
    // a file of that name beside the report (a folder moved with its report).
    auto resolve = [&](const std::string& p) {
      const std::filesystem::path candidate(p);
      std::error_code ec;
      if (std::filesystem::exists(candidate, ec))
        return candidate;
      for (const std::filesystem::path& other : {candidate.is_relative() ? path.parent_path() / candidate : candidate,
                                                 path.parent_path() / candidate.filename()})
        if (std::filesystem::exists(other, ec)) {
          logWarning("measurement report '{}' names '{}', not found: '{}' is used", path.string(), p, other.string());
          return other;
        }
      return candidate;
    };
    r.volume = resolve(input.at("volumePath").get<std::string>());
    const std::string maskText = input.at("maskPath").get<std::string>();
    if (maskText.rfind(kUnsavedSeedMask, 0) == 0)
      throw InputError(fmt::format("measurement report '{}': its mask is {}, which `lesionkit measure` saved to no "
                                   "file: measure again with --mask-output mask.nrrd (the report then names that "
                                   "file), or give VOLUME and --mask",
                                   path.string(), maskText));
    r.mask = resolve(maskText);
    std::error_code ec;
    if (!std::filesystem::exists(r.mask, ec))
      throw InputError(fmt::format("measurement report '{}' names mask '{}', which does not exist (moved or deleted?)",
                                   path.string(), r.mask.string()));
    r.seriesInstanceUid = input.value("seriesInstanceUid", "");
    r.timepoint = root.value("timepoint", "baseline");
    if (root.contains("settings")) {
      const auto& s = root["settings"];
      r.options.intensityUnit = s.value("intensityUnit", "HU") == "HU" ? measurement::IntensityUnit::HounsfieldUnit
                                                                       : measurement::IntensityUnit::Arbitrary;
      r.options.calcificationThresholdHu = s.value("calcificationThresholdHu", 130.0);
      r.options.boneThresholdHu = s.value("boneThresholdHu", 400.0);
      // Only a thickness the user chose is an option; one read from DICOM is read again (reports
      // before sliceThicknessSource recorded only the option).
      if (s.contains("sliceThicknessMm") && s["sliceThicknessMm"].is_number() &&
          s.value("sliceThicknessSource", "option") == "option")
        r.options.sliceThicknessMm = s["sliceThicknessMm"].get<double>();
    }
    for (const auto& l : root.at("lesions")) {
      measurement::LesionSpec spec;
      spec.label = l.at("label").get<std::uint16_t>();
      spec.kind = l.value("kind", "soft-tissue");
      spec.name = l.value("name", "");
      spec.lymphNode = l.value("lymphNode", false);
      r.options.lesions.push_back(spec);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(
        fmt::format("measurement report '{}': not a LesionKit measurement report ({})", path.string(), e.what()));
  }
}

struct MeasuredStudy {
  dicomio::LoadedVolume loaded;
  ConvertSidecar sidecar; ///< what `lesionkit convert` recorded next to a NRRD/NIfTI
  LabelMap labels;
  reporting::SegmentAlgorithm maskAlgorithm; ///< what made the mask, as far as its file tells
  reporting::MeasurementReport report;
};

/// What --segment-algorithm-type and --segment-algorithm-name state made the mask; std::nullopt
/// for "auto" (the mask's own record decides). UsageError for a combination DICOM does not allow.
std::optional<reporting::SegmentAlgorithm> statedSegmentAlgorithm(const cli::Arguments& args) {
  const std::string typeText = args.string("segmentAlgorithmType");
  const bool named = args.has("segmentAlgorithmName");
  if (typeText == "auto") {
    if (named)
      throw UsageError("--segment-algorithm-name needs --segment-algorithm-type semiautomatic or automatic");
    return std::nullopt;
  }
  const reporting::SegmentAlgorithmType type = *reporting::segmentAlgorithmTypeOfTerm(typeText); // a listed choice
  if (type == reporting::SegmentAlgorithmType::Manual) {
    if (named)
      throw UsageError("--segment-algorithm-type manual names no algorithm: leave out --segment-algorithm-name");
    return reporting::SegmentAlgorithm{};
  }
  if (!named)
    throw UsageError(fmt::format("--segment-algorithm-type {}: DICOM requires the algorithm's name; add "
                                 "--segment-algorithm-name NAME",
                                 typeText));
  const std::string name = args.string("segmentAlgorithmName");
  if (name.empty() || name.size() > 64 || name.find('\\') != std::string::npos)
    throw UsageError(fmt::format("--segment-algorithm-name: expected 1 to 64 characters without a backslash (DICOM "
                                 "LO), got '{}'",
                                 name));
  return reporting::SegmentAlgorithm{type, name};
}

/// Loads and measures one study. `algorithmFromMask`: a SEG written for it says what the mask records made it (not
/// what the user stated), so the warnings about that record are kept.
MeasuredStudy measureStudy(const std::filesystem::path& volumePath, const std::filesystem::path& maskPath,
                           const std::string& seriesUid, measurement::MeasurementOptions options,
                           const std::string& timepoint, const cli::Arguments* unitChoice, bool algorithmFromMask) {
  MeasuredStudy s;
  dicomio::LoadOptions loadOptions;
  loadOptions.seriesInstanceUid = seriesUid;
  s.loaded = dicomio::loadVolume(volumePath, loadOptions);
  s.sidecar = readConvertSidecar(volumePath, &s.loaded.volume.geometry);
  VolumeMask mask = loadVolumeMask(maskPath, s.loaded, s.sidecar, volumePath, options);
  s.maskAlgorithm = mask.algorithm;
  if (algorithmFromMask) // else the user's statement (or nothing) decides what a SEG says: no need to explain it
    mask.warnings.insert(mask.warnings.end(), mask.algorithmWarnings.begin(), mask.algorithmWarnings.end());
  s.labels = onVolumeGrid(std::move(mask.labels), maskPath, "mask", s.loaded.volume.geometry, volumePath, "volume",
                          mask.warnings);
  const std::vector<std::string>& segWarnings = mask.warnings;
  logWarnings(segWarnings);
  if (unitChoice)
    options.intensityUnit = intensityUnitFor(*unitChoice, s.loaded);
  useSeriesSliceThickness(options, s.loaded, s.sidecar);
  reporting::MeasurementReport& report = s.report;
  report.toolVersion = toolInfo().version;
  report.command = "report";
  report.timepoint = timepoint;
  report.input.volumePath = volumePath.string();
  report.input.maskPath = maskPath.string();
  report.input.seriesInstanceUid = s.loaded.seriesInstanceUid;
  report.input.geometry = s.loaded.volume.geometry;
  report.input.warnings = s.loaded.warnings;
  report.input.warnings.insert(report.input.warnings.end(), segWarnings.begin(), segWarnings.end());
  report.options = options;
  try {
    report.lesions = measurement::measureLesions(s.loaded.volume, s.labels, options);
  } catch (const InputError& e) {
    throw InputError(fmt::format("mask '{}': {}", maskPath.string(), e.what()));
  }
  return s;
}

} // namespace

cli::Command reportCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "report";
  c.title = "LesionKit Report";
  c.summary = "write what radiology tools read: DICOM SEG and SR, QC pictures, surface meshes, HTML report";
  c.description =
      "Measures the lesions of a label map (or of the inputs a measurement report.json names) and writes, into one "
      "output folder that appears complete or not at all: seg.dcm (DICOM Segmentation, one segment per lesion with "
      "SNOMED CT category/type, tracking identifier and UID, referencing the source DICOM series when the volume is "
      "a DICOM folder), sr.dcm (DICOM SR TID 1500 measurement report referencing the SEG: volume, RECIST long and "
      "short axis, 3D diameter, density mean/SD, calcified volume), qc/lesion-N-{axial,coronal,sagittal}.png "
      "(contour and RECIST axes, bone or soft-tissue window), meshes/lesion-N.{stl,vtp} (LPS millimetres), "
      "report.json, table.csv and a self-contained report.html. The mask may also be a DICOM SEG. The SEG says "
      "what made its segments: SEMIAUTOMATIC (or AUTOMATIC) by LesionKit for a mask LesionKit made (lesionkit "
      "segment, spine or followup write that into the NRRD header, with a hash of the labels: a mask edited since "
      "is MANUAL, with a warning), the input SEG's own algorithm for a SEG (MANUAL with a warning when its segments "
      "disagree or give no type, or no name for a type that needs one), and MANUAL (no algorithm claimed) for any "
      "other mask, e.g. one drawn by a reader; --segment-algorithm-type says otherwise.";
  c.examples = {"lesionkit report ct.nrrd --mask lesions.nrrd --lesion 1:lytic-bone:L4 -o out/",
                "lesionkit report study/CT --mask seg.dcm -o out/ --timepoint follow-up-1",
                "lesionkit report --measurements report.json -o out/",
                "lesionkit report followup/CT --mask followup-lesions.nrrd --previous baseline-out/report.json "
                "--timepoint follow-up-1 -o followup-out/"};
  c.add({"volume", ParameterType::Image, "Volume",
         "CT or MR volume: a NRRD/NIfTI file or a DICOM folder (then SEG and SR reference it).", Channel::Input, 0});
  c.add({"mask", ParameterType::LabelImage, "Label map",
         "lesion label map on the volume's grid or a crop of it on the same voxel lattice (NRRD/NIfTI), or a "
         "DICOM SEG (put onto the grid).",
         Channel::Input, std::nullopt, 'm'})
      .withExtensions(".nrrd,.nii.gz,.nii,.dcm");
  c.add({"measurements", ParameterType::File, "Measurement report",
         "a report.json of lesionkit measure: its volume, mask, lesions and settings are used "
         "(instead of VOLUME and --mask).",
         Channel::Input})
      .withExtensions(".json");
  c.add({"output", ParameterType::Directory, "Output folder",
         "folder to write (replaced as a whole when complete; an existing folder only when empty or an "
         "earlier report holding nothing else).",
         Channel::Output, std::nullopt, 'o'})
      .asRequired();
  c.add({"lesion", ParameterType::String, "Lesion",
         "LABEL:KIND:NAME, e.g. 2:lytic-bone:L4; KIND chooses the codes, the picture window (bone "
         "or soft tissue) and RECIST node rules; NAME is the tracking identifier across time points.",
         Channel::Input})
      .asMultiple()
      .inGroup("Lesions");
  c.add({"previous", ParameterType::File, "Earlier report",
         "report.json of an earlier time point of the same patient (repeatable, oldest first): "
         "re-measured from the files it names; its lesions join the HTML trend plots and the "
         "side-by-side pictures, matched by lesion name.",
         Channel::Input})
      .asMultiple()
      .withExtensions(".json");
  c.add({"timepoint", ParameterType::String, "Time point",
         "label of this study's time point (report, CSV, SR Time Point).", Channel::Input})
      .withDefault("baseline");
  c.add({"series", ParameterType::String, "Series",
         "SeriesInstanceUID to load when the volume is a DICOM folder holding several.", Channel::Input});
  addIntensityUnitParameter(c, "calcification is measured; with --measurements auto keeps that report's unit");
  c.add({"segmentAlgorithmType", ParameterType::StringEnumeration, "Segment algorithm type",
         "what made the mask, written as the SEG's Segment Algorithm Type: auto: SEMIAUTOMATIC or AUTOMATIC by "
         "LesionKit when the mask's file records that LesionKit made it, the input SEG's own type, else MANUAL; or "
         "state manual, semiautomatic or automatic (the last two need --segment-algorithm-name).",
         Channel::Input})
      .withDefault("auto")
      .withChoices({"auto", "manual", "semiautomatic", "automatic"})
      .inGroup("Settings");
  c.add({"segmentAlgorithmName", ParameterType::String, "Segment algorithm name",
         "name (and version) of the algorithm that made the mask, for --segment-algorithm-type semiautomatic or "
         "automatic (DICOM Segment Algorithm Name, up to 64 characters), e.g. 'nnU-Net 2.4'.",
         Channel::Input})
      .inGroup("Settings");
  c.add({"noMeshes", ParameterType::Boolean, "No meshes", "skip the STL/VTP surface meshes.", Channel::Input})
      .inGroup("Settings");
  c.add({"noPictures", ParameterType::Boolean, "No pictures", "skip the QC pictures (the HTML report then has none).",
         Channel::Input})
      .inGroup("Settings");
  c.add({"lesionCount", ParameterType::Integer, "Lesions", "number of lesions reported.", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const std::optional<reporting::SegmentAlgorithm> statedAlgorithm = statedSegmentAlgorithm(args);
    std::filesystem::path volumePath, maskPath;
    std::string seriesUid = args.has("series") ? args.string("series") : std::string();
    std::string timepoint = args.string("timepoint");
    measurement::MeasurementOptions options;
    if (args.has("measurements")) {
      if (args.has("volume") || args.has("mask"))
        throw UsageError("give either VOLUME and --mask, or --measurements, not both");
      const ReportJsonInputs r = readReportJson(args.path("measurements"));
      volumePath = r.volume;
      maskPath = r.mask;
      options = r.options;
      if (seriesUid.empty())
        seriesUid = r.seriesInstanceUid;
      if (!args.has("timepoint") || timepoint == "baseline")
        timepoint = r.timepoint;
    } else {
      if (!args.has("volume") || !args.has("mask"))
        throw UsageError("missing VOLUME and --mask (or --measurements report.json)");
      volumePath = args.path("volume");
      maskPath = args.path("mask");
    }
    for (const std::string& text : args.strings("lesion")) {
      const measurement::LesionSpec spec = measurement::parseLesionSpec(text);
      auto it = std::find_if(options.lesions.begin(), options.lesions.end(),
                             [&](const auto& l) { return l.label == spec.label; });
      if (it != options.lesions.end())
        *it = spec;
      else
        options.lesions.push_back(spec);
    }
    options.computeSurfaceMesh = true;
    const std::filesystem::path measurementsPath =
        args.has("measurements") ? args.path("measurements") : std::filesystem::path{};
    ensureOutputSparesScanFiles(args.path("output"), {volumePath, maskPath, measurementsPath}, "--output");
    StagedOutputFolder out(args.path("output"), "report");

    ctx.progress.report(0.0, "loading and measuring");
    // A --measurements report keeps its own unit unless one is chosen here; earlier reports keep theirs.
    const bool unitFromArguments = !args.has("measurements") || args.string("intensityUnit") != "auto";
    const MeasuredStudy current = measureStudy(volumePath, maskPath, seriesUid, options, timepoint,
                                               unitFromArguments ? &args : nullptr, !statedAlgorithm.has_value());
    const dicomio::LoadedVolume& loaded = current.loaded;
    const LabelMap& labels = current.labels;
    const reporting::MeasurementReport& report = current.report;
    // Earlier time points: re-measured from what their reports name (std::deque keeps addresses).
    std::deque<MeasuredStudy> previous;
    for (const std::string& text : args.strings("previous")) {
      const ReportJsonInputs r = readReportJson(text);
      previous.push_back(measureStudy(r.volume, r.mask, r.seriesInstanceUid, r.options, r.timepoint, nullptr, false));
    }

    pipeline::ResultBundleInput bundle;
    bundle.volume = &loaded.volume;
    bundle.labels = &labels;
    bundle.report = report;
    bundle.segmentAlgorithm = statedAlgorithm.value_or(current.maskAlgorithm);
    if (!loaded.seriesInstanceUid.empty())
      bundle.source = reporting::readDicomSourceInfo(volumePath, loaded.seriesId, loaded.sopInstanceUids);
    else
      bundle.source = current.sidecar.source;
    for (const auto& f : loaded.skippedFiles)
      bundle.warnings.push_back("skipped file: " + f);
    for (const MeasuredStudy& p : previous)
      bundle.earlier.push_back({&p.loaded.volume, &p.labels, p.report});
    bundle.pictures = !args.flag("noPictures");
    bundle.meshes = !args.flag("noMeshes");
    const pipeline::ResultBundleFiles files =
        pipeline::writeResultBundle(bundle, out.path(), ctx.progress.sub(0.4, 1.0));
    const reporting::DicomObjectInfo& seg = files.seg;
    out.commit();

    ctx.out << reporting::toSummaryText(report);
    const reporting::SegmentAlgorithm& algorithm = bundle.segmentAlgorithm;
    ctx.out << fmt::format(
        "wrote {}: seg.dcm ({} segments, {} frames, {}{}), sr.dcm, report.html{}{}\n", out.target().string(),
        seg.segmentNumbers.size(), seg.frameCount, reporting::segmentAlgorithmTypeTerm(algorithm.type),
        algorithm.name.empty() ? "" : " by " + algorithm.name, args.flag("noPictures") ? "" : ", qc/*.png",
        args.flag("noMeshes") ? "" : ", meshes/*.stl|vtp");
    ctx.returnValues["lesionCount"] = std::to_string(report.lesions.size());
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
