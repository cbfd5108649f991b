// lesionkit convert: a DICOM folder (or a volume file) → NRRD/NIfTI plus a JSON sidecar.
#include <filesystem>
#include <optional>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "ConvertSidecar.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"

namespace lesion::commands {

namespace {

nlohmann::json sidecarJson(const dicomio::LoadedVolume& v, const std::filesystem::path& input,
                           const std::filesystem::path& output, bool writtenAsInt16) {
  const ImageGeometry& g = v.geometry();
  nlohmann::json direction = nlohmann::json::array();
  for (std::size_t c = 0; c < 3; ++c) {
    const Vec3 col = g.direction.column(c);
    direction.push_back({col.x, col.y, col.z});
  }
  nlohmann::json j;
  j["source"] = input.string();
  j["volumeFile"] = output.filename().string(); // readers of another file of this stem know it is not theirs
  j["coordinateSystem"] = "LPS";
  j["geometry"] = {{"size", {g.size[0], g.size[1], g.size[2]}},
                   {"spacingMm", {g.spacing.x, g.spacing.y, g.spacing.z}},
                   {"originMm", {g.origin.x, g.origin.y, g.origin.z}},
                   {"directionColumns", direction},
                   {"convention", "voxel centre (i,j,k) = origin + direction * diag(spacing) * (i,j,k); origin is "
                                  "the Image Position of the first slice"}};
  j["seriesInstanceUid"] = v.seriesInstanceUid;
  j["seriesId"] = v.seriesId;
  j["studyInstanceUid"] = v.studyInstanceUid;
  j["patientId"] = v.patientId;
  // What the source carried (empty when it did not), so a SEG/SR of this file joins the patient and study in a PACS.
  j["patientName"] = v.patientName;
  j["patientSex"] = v.patientSex;
  j["patientBirthDate"] = v.patientBirthDate;
  j["accessionNumber"] = v.accessionNumber;
  j["studyId"] = v.studyId;
  j["studyTime"] = v.studyTime;
  j["studyDate"] = v.studyDate;
  j["frameOfReferenceUid"] = v.frameOfReferenceUid;
  j["modality"] = v.modality;
  j["seriesDescription"] = v.seriesDescription;
  j["sopInstanceUids"] = v.sopInstanceUids;
  // Slice Thickness (0018,0050), the largest when slices differ: every command uses it for RECIST measurability.
  j["sliceThicknessMm"] = v.sliceThicknessMm ? nlohmann::json(*v.sliceThicknessMm) : nlohmann::json();
  j["gantryTiltDeg"] = v.tiltDeg;
  j["resampled"] = v.resampled;
  j["paddingValue"] = v.paddingValue;
  j["voxelType"] = writtenAsInt16 ? "int16" : "float32";
  if (!writtenAsInt16) { // why not int16 (the loader's reason when it gave one)
    j["voxelTypeNote"] =
        v.voxelStorageNote.empty() ? "float: not every value is a whole number in the int16 range" : v.voxelStorageNote;
  }
  j["warnings"] = v.warnings;
  j["skippedFiles"] = v.skippedFiles;
  j["otherSeries"] = v.otherSeries;
  j["conversionSoftware"] = "lesionkit convert";
  return j;
}

dicomio::SpacingHandling spacingHandling(const std::string& choice) {
  if (choice == "refuse")
    return dicomio::SpacingHandling::Refuse;
  if (choice == "resample-across-gaps")
    return dicomio::SpacingHandling::ResampleAcrossWideGaps;
  return dicomio::SpacingHandling::Resample;
}

} // namespace

cli::Command convertCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "convert";
  c.title = "LesionKit DICOM Convert";
  c.summary = "convert a DICOM series to NRRD/NIfTI with a JSON sidecar";
  c.description =
      "Scans a DICOM folder (recursively, .dcm.gz included), splits it into series the way dcm2niix does, "
      "loads the requested series, or the only one that forms a volume (several volumes: refused, listed, "
      "until --series chooses), in Hounsfield units and "
      "writes it with a JSON sidecar (geometry in LPS mm, warnings, source UIDs, the patient and study identity the "
      "source carried: share it as you would the DICOM) next to the output. Slice "
      "order and spacing come from Image Position along the slice normal; gantry tilt and uneven spacing or "
      "missing slices are reported and resampled unless asked otherwise (a gap wider than 4 x the usual step and "
      "10 mm is refused unless --uneven-spacing resample-across-gaps). Whole-number values (plain CT) are "
      "written as int16, others as float32; the sidecar's voxelType says which (and voxelTypeNote why float). The "
      "sidecar NAME.json names the file it describes (volumeFile); since ct.nrrd and ct.nii.gz share ct.json, a "
      "sidecar of another existing image of that name is never replaced (choose another name).";
  c.examples = {"lesionkit convert study/CT -o ct.nrrd",
                "lesionkit convert study/CT -o ct.nii.gz --series 1.2.840.113619.2.55.3 --tilt keep-sheared"};
  c.add({"input", ParameterType::Image, "Input", "DICOM folder (or a single DICOM, NRRD or NIfTI file)", Channel::Input,
         0})
      .asRequired();
  c.add({"output", ParameterType::Image, "Output volume",
         "volume file to write (.nrrd, .nii.gz); a sidecar NAME.json is written next to it", Channel::Output,
         std::nullopt, 'o'})
      .asRequired()
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"series", ParameterType::String, "Series",
         "SeriesInstanceUID (or split part id UID#2) to convert; default: the folder's only volume "
         "(lesionkit series FOLDER lists them)",
         Channel::Input});
  c.add({"tilt", ParameterType::StringEnumeration, "Gantry tilt",
         "resample: onto an orthogonal grid; keep-sheared: keep the acquired slices with a "
         "non-orthogonal direction, for other tools: NRRD only (NIfTI cannot hold it), and LesionKit's own "
         "commands refuse it as input (they need the resampled grid)",
         Channel::Input})
      .withDefault("resample")
      .withChoices({"resample", "keep-sheared"});
  c.add({"unevenSpacing", ParameterType::StringEnumeration, "Uneven spacing",
         "resample: interpolate onto the smallest step (shortened to end on the last slice; warning), but refuse a gap "
         "wider than 4 x the usual "
         "step and 10 mm (interpolating across it would invent anatomy); resample-across-gaps: interpolate "
         "across such gaps too; refuse: fail on any uneven step, naming the positions",
         Channel::Input})
      .withDefault("resample")
      .withChoices({"resample", "resample-across-gaps", "refuse"});
  c.add({"slices", ParameterType::Integer, "Slices", "number of slices written", Channel::Output});
  c.add({"gantryTiltDeg", ParameterType::Float, "Gantry tilt (deg)", "measured gantry tilt", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const std::filesystem::path input = args.path("input");
    const std::filesystem::path output = args.path("output");
    ensureOutputSparesInputs(output, {input}, "--output");
    ensureSidecarIsFree(output);
    dicomio::LoadOptions options;
    if (args.has("series"))
      options.seriesInstanceUid = args.string("series");
    options.tilt =
        args.string("tilt") == "keep-sheared" ? dicomio::TiltHandling::KeepSheared : dicomio::TiltHandling::Resample;
    options.unevenSpacing = spacingHandling(args.string("unevenSpacing"));
    // A sheared grid (--tilt keep-sheared) cannot go to NIfTI: refused before anything is decoded.
    options.checkGrid = [&output](const ImageGeometry& g) { dicomio::requireFileFormatHoldsGrid(g, output); };
    // Plain CT is decoded straight into int16 (half the memory of float): for .nii straight into
    // the output file's pages (memory-mapped, no copy at write time), otherwise into a buffer
    // written from there.
    options.storage = dicomio::VoxelStorage::Int16WhenExact;
    const auto parent = output.parent_path().empty() ? std::filesystem::path(".") : output.parent_path();
    CreatedOutputFolder folder(parent); // made now for the mapped file; removed again if decoding fails
    std::optional<dicomio::MappedInt16NiftiFile> mapped;
    if (dicomio::isUncompressedNiftiFileName(output)) {
      options.int16Destination = [&](const ImageGeometry& g) { return mapped.emplace(output, g).voxels(); };
    }
    const dicomio::LoadedVolume loaded = dicomio::loadVolume(input, options, ctx.progress.sub(0.0, 0.8));
    ctx.progress.report(0.8, "writing");
    // int16 when every value is a whole number in range (plain CT), float otherwise.
    bool asInt16 = true;
    if (loaded.int16InDestination) {
      mapped->commit();
    } else {
      mapped.reset(); // int16 did not fit after all: the partial file goes
      if (loaded.hasInt16Voxels())
        dicomio::writeVolumeFile(loaded.volumeInt16, output);
      else
        asInt16 = dicomio::writeVolumeFile(loaded.volume, output, true);
    }
    const auto sidecar = sidecarPath(output);
    writeTextFileAtomically(sidecar, sidecarJson(loaded, input, output, asInt16).dump(2) + "\n");
    folder.keep();
    const ImageGeometry& g = loaded.geometry();
    ctx.out << fmt::format("wrote {} ({}x{}x{}, spacing {:.4g} x {:.4g} x {:.4g} mm) and {}\n", output.string(),
                           g.size[0], g.size[1], g.size[2], g.spacing.x, g.spacing.y, g.spacing.z, sidecar.string());
    if (!loaded.seriesId.empty())
      ctx.out << "series " << loaded.seriesId << '\n';
    // The warnings themselves went to the log (stderr) as they were found.
    if (!loaded.warnings.empty())
      ctx.out << loaded.warnings.size() << " warnings (listed in the sidecar)\n";
    if (!loaded.skippedFiles.empty())
      ctx.out << loaded.skippedFiles.size() << " files skipped (listed in the sidecar)\n";
    for (const std::string& s : loaded.otherSeries)
      ctx.out << "other series: " << s << '\n';
    ctx.returnValues["slices"] = std::to_string(g.size[2]);
    ctx.returnValues["gantryTiltDeg"] = fmt::format("{:.3f}", loaded.tiltDeg);
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
