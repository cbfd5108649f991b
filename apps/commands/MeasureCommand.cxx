// lesionkit measure: a volume and a label map → per-lesion measurements as JSON (schema v1),
// CSV and a summary. All logic lives in lesion::measurement and lesion::reporting.
#include <filesystem>
#include <optional>
#include <ostream>

#include <fmt/format.h>

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
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/reporting/MeasurementReport.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace lesion::commands {

namespace {

/// --mask-output, checked before the slow part: only with --seed (a --mask is a file already), none of the
/// inputs, not --output or --csv (the argument parser has checked that it names a volume file).
std::optional<std::filesystem::path> segmentedMaskOutput(const cli::Arguments& args,
                                                         const std::filesystem::path& output,
                                                         const std::filesystem::path& volumePath) {
  if (!args.has("maskOutput"))
    return std::nullopt;
  const std::filesystem::path maskOutput = args.path("maskOutput");
  if (!args.has("seed"))
    throw UsageError("--mask-output writes the mask segmented from --seed; with --mask the report names that file");
  std::vector<std::pair<std::string, std::filesystem::path>> outputs = {{"--output", output},
                                                                        {"--mask-output", maskOutput}};
  if (args.has("csv"))
    outputs.emplace_back("--csv", args.path("csv"));
  ensureDistinctOutputs(outputs);
  ensureOutputSparesScanFiles(maskOutput, {volumePath}, "--mask-output");
  checkWritableParentOf(maskOutput);
  return maskOutput;
}

/// --seed segments one mass as label 1: asking for another label (--label, or --lesion N:...) is a
/// wrong argument, refused before the slow part rather than found missing after it.
void requireSeedMaskLabels(const measurement::MeasurementOptions& options) {
  for (const std::uint16_t label : options.labels)
    if (label != 1)
      throw UsageError(fmt::format("--label {}: the mask segmented from --seed holds label 1 only; give --label 1, "
                                   "or leave --label out",
                                   label));
  for (const measurement::LesionSpec& lesion : options.lesions)
    if (lesion.label != 1)
      throw UsageError(fmt::format("--lesion with label {}: the mask segmented from --seed holds label 1 only; "
                                   "describe it as --lesion 1:KIND[:NAME]",
                                   lesion.label));
}

} // namespace

cli::Command measureCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "measure";
  c.title = "LesionKit Measure";
  c.summary = "measure lesions of a label map: volumes, RECIST 1.1 axes, 3D diameter, extents, HU, calcium";
  c.description =
      "Measures every lesion (label) of a label map over its volume, in patient LPS millimetres whatever the "
      "voxel grid: volume from voxel count and from a surface mesh, RECIST 1.1 long and short axes on axial "
      "sections (between voxel centres, inside the lesion; the slices of an axial scan, planes LPS z = const "
      "resampled from a sagittal, coronal or steeply oblique one) and measurability, 3D maximum diameter, "
      "extents along L-R, A-P and S-I (including the voxel), principal axes, intensity statistics and, on CT, "
      "calcification volume and an Agatston-style score. Writes a JSON report (schema "
      "lesionkit-measurement-report-v1), optionally a CSV table with one row per lesion, and prints a summary. "
      "Each figure states its convention; distances are uncertain by about one voxel diagonal.";
  c.examples = {"lesionkit measure ct.nrrd --mask lesions.nrrd -o report.json --csv table.csv",
                "lesionkit measure study/CT --mask seg.nii.gz --lesion 1:soft-tissue:axilla "
                "--lesion 2:lytic-bone:L4 -o report.json",
                "lesionkit measure mr.nrrd --mask tumour.nrrd --label 1 --intensity-unit arbitrary -o report.json",
                "lesionkit measure ct.nrrd --seed -128,-10,196 --lesion 1:soft-tissue:axilla -o report.json"};
  c.add({"volume", ParameterType::Image, "Volume", "CT or MR volume: a NRRD/NIfTI file or a DICOM folder.",
         Channel::Input, 0})
      .asRequired();
  c.add({"mask", ParameterType::LabelImage, "Label map",
         "label map of the lesions on the volume's grid, or on its voxel lattice but cropped (as 3D Slicer "
         "writes a segmentation; placed in exactly), 0 = background; or a DICOM SEG of the volume's frame of "
         "reference (put onto its grid; its segments name the lesions).",
         Channel::Input, std::nullopt, 'm'})
      .withExtensions(".nrrd,.nii.gz,.nii,.dcm");
  c.add({"seed", ParameterType::Point, "Seed",
         "instead of --mask: a point inside a soft-tissue mass (LPS mm); the mass is segmented "
         "as by 'lesionkit segment --kind soft-tissue' and measured as label 1 (--label and --lesion may name "
         "label 1 only). Several seeds are points of that one mass: measure each lesion in its own run (or "
         "segment each and measure a label map of them).",
         Channel::Input})
      .asMultiple();
  c.add({"maskOutput", ParameterType::LabelImage, "Segmented mask",
         "with --seed: write the segmented mask here (NRRD/NIfTI; NRRD records that LesionKit made it from a seed) "
         "and name it in the report, so 'lesionkit report --measurements' can reload it.",
         Channel::Output})
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"output", ParameterType::File, "JSON report",
         "measurement report to write (.json, schema lesionkit-measurement-report-v1).", Channel::Output, std::nullopt,
         'o'})
      .asRequired()
      .withExtensions(".json");
  c.add({"csv", ParameterType::Table, "CSV table", "also write one row per lesion as CSV (units in the column names).",
         Channel::Output})
      .withExtensions(".csv");
  c.add({"label", ParameterType::Integer, "Label", "label value to measure; 0 or not given: every label present.",
         Channel::Input})
      .withNoneValue("0")
      .asMultiple()
      .inGroup("Lesions");
  c.add({"lesion", ParameterType::String, "Lesion",
         "LABEL:KIND:NAME, e.g. 1:soft-tissue:axilla; KIND is soft-tissue, lytic-bone, "
         "sclerotic-bone, lymph-node (judged by its short axis) or other; the label is measured.",
         Channel::Input})
      .asMultiple()
      .inGroup("Lesions");
  c.add({"timepoint", ParameterType::String, "Time point",
         "label of this study's time point in the report and CSV (e.g. baseline, follow-up-1).", Channel::Input})
      .withDefault("baseline");
  addIntensityUnitParameter(c, "calcification is measured");
  c.add({"calcificationThresholdHu", ParameterType::Float, "Calcification threshold (HU)",
         "the lowest value counted as calcified (Agatston: 130 HU). In a bone lesion every voxel at or above it "
         "counts; in any other lesion it is raised to the lesion's own soft-tissue level (median + 4 robust SD "
         "of its voxels below it) when higher, e.g. 222 HU for a sarcoma with SD 45 HU, and only clusters of "
         "3 or more voxels and 3 mm3 count. The report gives the threshold used.",
         Channel::Input})
      .withDefault("130")
      .withRange(-1024, 3071, 10)
      .inGroup("Settings");
  c.add({"boneThresholdHu", ParameterType::Float, "Bone threshold (HU)",
         "voxels at or above it count as bone-dense mineral.", Channel::Input})
      .withDefault("400")
      .withRange(-1024, 3071, 10)
      .inGroup("Settings");
  c.add({"sliceThicknessMm", ParameterType::Float, "Slice thickness (mm)",
         "for RECIST measurability (2 x thickness above 5 mm); 0 = the DICOM series' Slice Thickness, else the slice "
         "spacing.",
         Channel::Input})
      .withDefault("0")
      .withRange(0, 50, 0.5)
      .inGroup("Settings");
  c.add({"noMesh", ParameterType::Boolean, "No surface mesh",
         "skip the surface mesh (mesh volume, surface area, sphericity).", Channel::Input})
      .inGroup("Settings");
  c.add({"series", ParameterType::String, "Series",
         "SeriesInstanceUID to load when the volume is a DICOM folder holding several.", Channel::Input});
  c.add({"volumeMl", ParameterType::Float, "Volume (mL)", "voxel-count volume of the first lesion.", Channel::Output});
  c.add({"longAxisMm", ParameterType::Float, "Long axis (mm)", "RECIST 1.1 long axis of the first lesion.",
         Channel::Output});
  c.add({"shortAxisMm", ParameterType::Float, "Short axis (mm)", "RECIST 1.1 short axis of the first lesion.",
         Channel::Output});
  c.add({"maxDiameter3dMm", ParameterType::Float, "3D max diameter (mm)", "3D maximum diameter of the first lesion.",
         Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const std::filesystem::path volumePath = args.path("volume");
    if (args.has("mask") == args.has("seed"))
      throw UsageError("give either --mask (a label map) or --seed (points inside a soft-tissue mass), not both");
    const std::filesystem::path maskPath = args.has("mask") ? args.path("mask") : std::filesystem::path{};
    const std::filesystem::path output = args.path("output");
    // Check where results go before the slow part, so a typo costs nothing.
    ensureOutputSparesScanFiles(output, {volumePath, maskPath}, "--output");
    checkWritableParentOf(output);
    const std::optional<std::filesystem::path> maskOutput = segmentedMaskOutput(args, output, volumePath);
    if (args.has("csv")) {
      ensureDistinctOutputs({{"--output", output}, {"--csv", args.path("csv")}});
      ensureOutputSparesScanFiles(args.path("csv"), {volumePath, maskPath}, "--csv");
      checkWritableParentOf(args.path("csv"));
    }

    measurement::MeasurementOptions options;
    for (const std::string& text : args.strings("label")) {
      const long label = std::stol(text); // already checked to be an integer
      if (label < 1 || label > 65535)
        throw UsageError(fmt::format("--label {}: expected a label value in 1..65535", text));
      options.labels.push_back(static_cast<std::uint16_t>(label));
    }
    for (const std::string& text : args.strings("lesion"))
      options.lesions.push_back(measurement::parseLesionSpec(text));
    if (args.has("seed"))
      requireSeedMaskLabels(options);
    options.calcificationThresholdHu = args.number("calcificationThresholdHu");
    options.boneThresholdHu = args.number("boneThresholdHu");
    // 0 means "not set" (Slicer passes every parameter, an untouched one with its default).
    const double thickness = args.number("sliceThicknessMm");
    if (thickness > 0.0)
      options.sliceThicknessMm = thickness;
    options.computeSurfaceMesh = !args.flag("noMesh");

    ctx.progress.report(0.0, "loading");
    dicomio::LoadOptions loadOptions;
    if (args.has("series"))
      loadOptions.seriesInstanceUid = args.string("series");
    // Sizes measured on a label map given as the image are still right (only the intensity
    // figures are not), so a mask measured on itself is a warning; segmenting one (--seed) is not.
    loadOptions.labelMaps = args.has("mask") ? dicomio::LabelMapCheck::Warn : dicomio::LabelMapCheck::Refuse;
    const dicomio::LoadedVolume loaded = dicomio::loadVolume(volumePath, loadOptions);
    const ConvertSidecar sidecar = readConvertSidecar(volumePath, &loaded.volume.geometry);
    // The lesions: a label map (NRRD/NIfTI or DICOM SEG), or the mass segmented from the seeds.
    std::vector<std::string> segmentationWarnings; // the seed run's, said (logged) by the segmentation itself
    VolumeMask mask = args.has("mask") ? loadVolumeMask(maskPath, loaded, sidecar, volumePath, options) : VolumeMask{};
    if (!args.has("mask")) {
      segmentation::SegmentationResult segmented = namingTheFileOnError(volumePath, [&] {
        return segmentation::segmentSoftTissueMass(loaded.volume,
                                                   segmentation::SoftTissueInit::fromSeeds(args.points("seed")), {},
                                                   ctx.progress.sub(0.05, 0.3));
      });
      mask.labels = std::move(segmented.labels);
      for (const std::string& w : segmented.diagnostics.warnings)
        segmentationWarnings.push_back("soft-tissue segmentation: " + w);
    }
    mask.labels = onVolumeGrid(std::move(mask.labels), maskPath, "mask", loaded.volume.geometry, volumePath, "volume",
                               mask.warnings);
    const LabelMap& labels = mask.labels;
    logWarnings(mask.warnings);
    options.intensityUnit = intensityUnitFor(args, loaded);
    useSeriesSliceThickness(options, loaded, sidecar);

    ctx.progress.report(0.3, "measuring");
    reporting::MeasurementReport report;
    report.toolVersion = toolInfo().version;
    report.timepoint = args.string("timepoint");
    // Files are named absolute: report --measurements reloads them from any folder.
    const auto absoluteName = [](const std::filesystem::path& p) {
      return std::filesystem::absolute(p).lexically_normal().string();
    };
    report.input.volumePath = absoluteName(volumePath);
    // The summary reads "1 lesion measured in <maskPath>": without a mask file, name the mask and its seeds.
    std::string seeds;
    for (const Vec3& p : args.points("seed"))
      seeds += (seeds.empty() ? "" : " and ") + formatPoint(p);
    report.input.maskPath = args.has("mask") ? absoluteName(maskPath)
                            : maskOutput     ? absoluteName(*maskOutput)
                                             : kUnsavedSeedMask + seeds;
    // A NRRD/NIfTI names its series through its convert sidecar.
    report.input.seriesInstanceUid =
        loaded.seriesInstanceUid.empty() ? sidecar.seriesInstanceUid : loaded.seriesInstanceUid;
    report.input.geometry = loaded.volume.geometry;
    using Said = std::vector<std::string>;
    for (const Said* said :
         std::initializer_list<const Said*>{&loaded.warnings, &sidecar.warnings, &mask.warnings, &segmentationWarnings})
      report.input.warnings.insert(report.input.warnings.end(), said->begin(), said->end());
    report.options = options;
    try {
      report.lesions = measurement::measureLesions(loaded.volume, labels, options);
    } catch (const InputError& e) {
      throw InputError(fmt::format("mask '{}': {}", report.input.maskPath, e.what()));
    }

    ctx.progress.report(0.9, "writing");
    if (maskOutput) // the same record `lesionkit segment` writes: LesionKit's, from the reader's seeds
      dicomio::writeLabelMapFile(labels, *maskOutput, reporting::lesionKitRecord(false, toolInfo().version));
    reporting::writeJsonReport(report, output);
    if (args.has("csv"))
      reporting::writeCsvTable(report, args.path("csv"));
    ctx.out << reporting::toSummaryText(report);
    ctx.out << "wrote " << output.string() << (args.has("csv") ? " and " + args.path("csv").string() : "")
            << (maskOutput ? " and " + maskOutput->string() : "") << '\n';

    const measurement::LesionMeasurement& first = report.lesions.front();
    ctx.returnValues["volumeMl"] = fmt::format("{:.6g}", first.voxelVolumeMl);
    ctx.returnValues["longAxisMm"] = fmt::format("{:.6g}", first.recist.longAxisMm);
    ctx.returnValues["shortAxisMm"] = fmt::format("{:.6g}", first.recist.shortAxisMm);
    ctx.returnValues["maxDiameter3dMm"] = fmt::format("{:.6g}", first.maxDiameter3dMm);
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
