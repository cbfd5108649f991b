// lesionkit segment: a volume and a click / box / RECIST line → a lesion label map.
// All logic lives in lesion::segmentation; this file maps arguments to a call and back.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>

#include <fmt/format.h>

#include "Commands.h"
#include "NamedInputErrors.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/segmentation/SegmentationKind.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"
#include "lesion/spine/LyticLesionDetection.h"

#include "ConvertSidecar.h"
#include "DoubtfulLevel.h"

namespace lesion::commands {

namespace {

/// What the neck split and opening removed: leakRemovedMl is all of it, structures cut off or not
/// (an opening that trims thin attachments removes volume without cutting off a structure).
std::string neckCutSummary(const segmentation::SegmentationDiagnostics& d) {
  if (d.componentsSplitOff > 0)
    return fmt::format("{} neighbouring structure(s) cut off at necks ({:.1f} mL removed there)", d.componentsSplitOff,
                       d.leakRemovedMl);
  if (d.leakRemovedMl >= 0.05)
    return fmt::format("no neighbouring structure cut off; {:.1f} mL of thin attachments trimmed at necks",
                       d.leakRemovedMl);
  return "nothing cut off at necks";
}

/// "x1,y1,z1:x2,y2,z2" → two points; UsageError naming --recist otherwise.
std::pair<Vec3, Vec3> parseRecistLine(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos)
    throw UsageError(fmt::format("--recist: expected two points 'x1,y1,z1:x2,y2,z2' in mm, got '{}'", text));
  return {cli::Arguments::parsePoint(text.substr(0, colon), "--recist (first point)"),
          cli::Arguments::parsePoint(text.substr(colon + 1), "--recist (second point)")};
}

Vec3 fromRas(const Vec3& p, bool ras) { return ras ? Vec3{-p.x, -p.y, p.z} : p; }

/// The soft-tissue initialisation of the command line: exactly one of --seed (repeatable), --box,
/// --roi (Slicer's ROI: centre and half sizes), --recist or --recist-ends (two points: Slicer's
/// point list), in LPS mm unless --ras.
segmentation::SoftTissueInit softTissueInitGiven(const cli::Arguments& args) {
  const bool ras = args.flag("ras");
  const int given = int(!args.strings("seed").empty()) + int(args.has("box")) + int(args.has("roi")) +
                    int(args.has("recist")) + int(!args.strings("recistEnds").empty());
  if (given != 1)
    throw UsageError("give exactly one initialisation: --seed (repeatable), --box, --roi, --recist or --recist-ends");
  if (args.has("recist")) {
    const auto [from, to] = parseRecistLine(args.string("recist"));
    return segmentation::SoftTissueInit::fromRecist(fromRas(from, ras), fromRas(to, ras));
  }
  if (!args.strings("recistEnds").empty()) {
    const std::vector<Vec3> ends = args.points("recistEnds");
    if (ends.size() != 2)
      throw UsageError(fmt::format("--recist-ends: expected the line's two end points, got {}", ends.size()));
    return segmentation::SoftTissueInit::fromRecist(fromRas(ends[0], ras), fromRas(ends[1], ras));
  }
  if (args.has("box")) {
    const std::vector<double> v = args.numbers("box");
    return segmentation::SoftTissueInit::fromBox(fromRas({v[0], v[1], v[2]}, ras), fromRas({v[3], v[4], v[5]}, ras));
  }
  if (args.has("roi")) {
    const std::vector<double> v = args.numbers("roi");
    const Vec3 centre = fromRas({v[0], v[1], v[2]}, ras);
    const Vec3 half{std::abs(v[3]), std::abs(v[4]), std::abs(v[5])};
    return segmentation::SoftTissueInit::fromBox(centre - half, centre + half);
  }
  std::vector<Vec3> seeds;
  for (const Vec3& p : args.points("seed"))
    seeds.push_back(fromRas(p, ras));
  return segmentation::SoftTissueInit::fromSeeds(seeds);
}

/// softTissueInitGiven, refused as a wrong argument naming its option when it is unusable (a flat
/// box, a line shorter than 3 mm).
segmentation::SoftTissueInit softTissueInitOf(const cli::Arguments& args) {
  const segmentation::SoftTissueInit init = softTissueInitGiven(args);
  if (const std::string why = init.problem(); !why.empty()) {
    const char* option = init.kind == segmentation::SoftTissueInit::Kind::Box ? (args.has("box") ? "--box" : "--roi")
                         : init.kind == segmentation::SoftTissueInit::Kind::Recist
                             ? (args.has("recist") ? "--recist" : "--recist-ends")
                             : "--seed";
    throw UsageError(fmt::format("{}: {}", option, why));
  }
  return init;
}

/// A seed off the scan is a wrong argument found before the slow spine labelling, not a
/// processing failure ("no lesion there") after it. Inside: rounds to a voxel of the grid.
void checkSeedsOnVolume(const std::vector<Vec3>& seeds, const ImageGeometry& grid,
                        const std::filesystem::path& volume) {
  for (const Vec3& p : seeds) {
    if (!grid.containsPoint(p))
      throw InputError(
          fmt::format("--seed {} (LPS mm) lies outside volume '{}' ({} x {} x {} voxels, {} to {} mm); "
                      "check the coordinate system (LPS by default, --ras flips x and y)",
                      formatPoint(p), volume.string(), grid.size[0], grid.size[1], grid.size[2],
                      formatPoint(grid.indexToPoint(0, 0, 0)),
                      formatPoint(grid.indexToPoint(grid.size[0] - 1, grid.size[1] - 1, grid.size[2] - 1))));
  }
}

/// The volume (and --series) of the command line; a label map given as the image is refused:
/// segmenting a mask would report it back with made-up intensities.
dicomio::LoadedVolume loadVolumeToSegment(const cli::Arguments& args) {
  dicomio::LoadOptions loadOptions;
  if (args.has("series"))
    loadOptions.seriesInstanceUid = args.string("series");
  loadOptions.labelMaps = dicomio::LabelMapCheck::Refuse;
  return dicomio::loadVolume(args.path("volume"), loadOptions);
}

/// --kind lytic (lesion::spine): the spine is labelled, the lytic lesion at the --seed (or every
/// labelled lesion without one) is written as label 1: lytic, soft-tissue and sclerotic parts.
void segmentLyticLesion(const cli::Arguments& args, cli::CommandContext& ctx) {
  if (args.has("box") || args.has("roi") || args.has("recist") || !args.strings("recistEnds").empty())
    throw UsageError("--kind lytic takes --seed points (or none: every lesion found)");
  const std::filesystem::path output = args.path("output");
  ensureOutputSparesScanFiles(output, {args.path("volume")}, "--output");
  checkWritableParentOf(output);
  ctx.progress.report(0.0, "loading");
  const dicomio::LoadedVolume loaded = loadVolumeToSegment(args);
  requireCtInHounsfieldUnits(loaded, args.path("volume"), "lytic lesion segmentation (--kind lytic)");
  std::vector<Vec3> seeds;
  for (const Vec3& p : args.points("seed"))
    seeds.push_back(fromRas(p, args.flag("ras")));
  checkSeedsOnVolume(seeds, loaded.volume.geometry, args.path("volume"));
  const spine::SpineResult vertebrae = namingTheFileOnError(
      args.path("volume"), [&] { return spine::segmentSpine(loaded.volume, {}, ctx.progress.sub(0.1, 0.6)); });
  const spine::LyticResult lytic = spine::detectLyticLesions(loaded.volume, vertebrae, {}, ctx.progress.sub(0.6, 0.9));
  const LabelMap mask = spine::lyticLesionsAtSeeds(lytic, seeds, 1);
  std::vector<std::uint16_t> chosen;
  for (const Vec3& p : seeds) {
    const Vec3 index = loaded.volume.geometry.pointToIndex(p);
    chosen.push_back(lytic.lesions.at(std::size_t(std::lround(index.x)), std::size_t(std::lround(index.y)),
                                      std::size_t(std::lround(index.z))));
  }
  std::size_t voxels = 0;
  for (std::uint16_t v : mask.voxels)
    voxels += v != 0;
  // Recorded in the file: LesionKit's, from the reader's seeds or (none) found automatically.
  const dicomio::LabelMapOrigin origin = reporting::lesionKitRecord(seeds.empty(), toolInfo().version);
  dicomio::writeLabelMapFile(mask, output, origin);
  for (const auto& l : lytic.candidates)
    if (l.labelled && (chosen.empty() || std::find(chosen.begin(), chosen.end(), std::uint16_t(l.id)) != chosen.end()))
      ctx.out << fmt::format("lytic lesion in {}{}: {:.2f} mL (soft tissue {:.2f} mL), cortical breach {}\n", l.level,
                             doubtfulMark(vertebrae.levels, l.level), l.volumeMl, l.softTissueVolumeMl,
                             l.corticalBreach ? "yes" : "no");
  // The level named above hangs on the spine's labelling: its doubts (bodies merged on thick
  // slices, the level count past them) are the reader's to know, as `lesionkit spine` says them.
  logWarnings(vertebrae.warnings);
  const double ml = double(voxels) * loaded.volume.geometry.voxelVolumeMm3() / 1000.0;
  ctx.out << "wrote " << output.string() << '\n';
  ctx.returnValues["volumeMl"] = fmt::format("{:.6g}", ml);
  ctx.returnValues["voxelCount"] = std::to_string(voxels);
  ctx.progress.report(1.0, "done");
}

} // namespace

cli::Command segmentCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "segment";
  c.title = "LesionKit Segment";
  c.summary =
      "segment a lesion from a click, a box or a RECIST line (soft-tissue mass on CT/MR, lytic bone lesion on CT)";
  c.description =
      "Segments one lesion around an initialisation and writes its label map (label 1) on the volume's grid. "
      "Soft-tissue masses on CT or MR: give one or more --seed points inside the mass, or a box around it (--box "
      "corners or --roi centre and half sizes), or its longest axial diameter as a RECIST line (--recist or "
      "--recist-ends). Points are LPS millimetres (DICOM patient coordinates; --ras for RAS, as shown by 3D "
      "Slicer, which passes its markups in LPS itself). The mass is region-grown from an intensity model of the seed "
      "neighbourhood after denoising (and, on MR, N4 bias-field correction), cut at narrow necks from adjacent "
      "muscle or vessels of similar density and checked for leaks. When no trustworthy mask can be made (seed "
      "in fat or air, a leak it cannot stop) it exits with code 3 and writes nothing. --kind lytic (CT): the "
      "spine is labelled and the osteolytic lesion under each --seed (every lesion found without one) is "
      "written, its lytic, soft-tissue and sclerotic parts together.";
  c.examples = {"lesionkit segment ct.nrrd --kind soft-tissue --seed 112.5,-40,310 -o mass.nrrd",
                "lesionkit segment study/CT --recist 95,-52,310:128,-30,310 -o mass.nrrd",
                "lesionkit segment mr.nii.gz --modality mr --box 90,-60,290,135,-20,330 -o mass.nii.gz"};
  c.add({"volume", ParameterType::Image, "Volume", "CT or MR volume: a NRRD/NIfTI file or a DICOM folder",
         Channel::Input, 0})
      .asRequired();
  c.add({"output", ParameterType::LabelImage, "Output mask",
         "label map to write (.nrrd, .nii.gz): the lesion is 1, the rest 0", Channel::Output, std::nullopt, 'o'})
      .asRequired()
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"kind", ParameterType::StringEnumeration, "Lesion kind", "which kind of lesion to segment", Channel::Input})
      .withDefault("soft-tissue")
      .withChoices(segmentation::segmentationKindNames());
  c.parameters.back().elements.push_back("lytic"); // osteolytic vertebral lesion: lesion::spine
  c.add({"seed", ParameterType::Point, "Seed point",
         "a point inside the lesion (mm, LPS unless --ras); several seeds are points of ONE lesion (one piece "
         "holding them all, at most --max-diameter-mm apart): segment each lesion in its own run",
         Channel::Input})
      .asMultiple()
      .inGroup("Initialisation");
  c.add({"roi", ParameterType::Region, "Box (ROI)",
         "a box around the lesion as its centre and half sizes cx,cy,cz,rx,ry,rz (mm, LPS unless --ras); in 3D "
         "Slicer a markups ROI. A box reaching past the scan is clipped to it (with a warning).",
         Channel::Input})
      .inGroup("Initialisation");
  c.add({"recistEnds", ParameterType::Point, "RECIST line end points",
         "the two end points of the lesion's longest axial diameter, given twice (mm, LPS unless --ras); in 3D "
         "Slicer a point list of exactly two points on one axial slice",
         Channel::Input})
      .asMultiple()
      .inGroup("Initialisation");
  // Typed forms for the command line; Slicer passes --roi and --recist-ends from its markups instead.
  c.add({"box", ParameterType::FloatVector, "Box",
         "two opposite corners x1,y1,z1,x2,y2,z2 of a box around the lesion (mm, LPS unless --ras); clipped to the "
         "scan when it reaches past it (with a warning)",
         Channel::Input})
      .withCount(6)
      .asHidden()
      .inGroup("Initialisation");
  c.add({"recist", ParameterType::String, "RECIST line",
         "end points x1,y1,z1:x2,y2,z2 of the lesion's longest axial diameter (mm, LPS unless --ras)", Channel::Input})
      .asHidden()
      .inGroup("Initialisation");
  // Hidden from Slicer: it passes --seed in LPS already (coordinateSystem="lps"), ticking this would flip them back.
  c.add({"ras", ParameterType::Boolean, "RAS coordinates", "the points are RAS (x and y negated), not LPS",
         Channel::Input})
      .asHidden()
      .inGroup("Initialisation");
  c.add({"modality", ParameterType::StringEnumeration, "Modality",
         "ct (HU checks), mr (bias-field correction, normalisation) or auto (DICOM Modality, else "
         "CT when at least 1 % of the voxels lie below -50: fat or air)",
         Channel::Input})
      .withDefault("auto")
      .withChoices({"auto", "ct", "mr"})
      .inGroup("Settings");
  c.add({"maxDiameterMm", ParameterType::Float, "Largest diameter (mm)",
         "largest lesion expected from seed points; a wider result is refused as a leak unless it stops on its own "
         "within 1.1 x this size (then kept with a warning)",
         Channel::Input})
      .withDefault("100")
      .withRange(5, 500, 5)
      .inGroup("Settings");
  c.add({"series", ParameterType::String, "Series",
         "SeriesInstanceUID to load when the volume is a DICOM folder holding several", Channel::Input});
  c.add({"volumeMl", ParameterType::Float, "Volume (mL)", "voxel-count volume of the lesion", Channel::Output});
  c.add({"voxelCount", ParameterType::Integer, "Voxels", "number of lesion voxels", Channel::Output});
  c.add({"structuresCutOff", ParameterType::Integer, "Structures cut off",
         "neighbouring structures of similar intensity cut off at necks", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    if (args.string("kind") == "lytic")
      return segmentLyticLesion(args, ctx);
    const segmentation::SegmentationKind kind = segmentation::parseSegmentationKind(args.string("kind"));
    const std::filesystem::path volumePath = args.path("volume");
    const std::filesystem::path output = args.path("output");
    const segmentation::SoftTissueInit init = softTissueInitOf(args);
    segmentation::SoftTissueOptions options;
    options.maxDiameterMm = args.number("maxDiameterMm");
    // Check where the mask goes before the slow part, so a typo costs nothing.
    ensureOutputSparesScanFiles(output, {volumePath}, "--output");
    checkWritableParentOf(output);

    ctx.progress.report(0.0, "loading");
    const dicomio::LoadedVolume loaded = loadVolumeToSegment(args);
    options.modality = segmentation::parseModality(args.string("modality"));
    if (options.modality == segmentation::Modality::Auto && (loaded.modality == "CT" || loaded.modality == "MR"))
      options.modality = loaded.modality == "CT" ? segmentation::Modality::CT : segmentation::Modality::MR;

    segmentation::SegmentationResult result;
    switch (kind) {
    case segmentation::SegmentationKind::SoftTissue:
      result = namingTheFileOnError(volumePath, [&] {
        return segmentation::segmentSoftTissueMass(loaded.volume, init, options, ctx.progress.sub(0.1, 0.9));
      });
      break;
    }

    ctx.progress.report(0.9, "writing");
    // Recorded in the file (NRRD), so that a SEG written from it says LesionKit made it from the reader's input.
    dicomio::writeLabelMapFile(result.labels, output, reporting::lesionKitRecord(false, toolInfo().version));
    const auto& d = result.diagnostics;
    ctx.out << fmt::format(
        "{} lesion: {:.2f} mL ({} voxels), {} intensities {:.4g} to {:.4g} {} (seed median {:.4g})\n",
        segmentation::segmentationKindName(kind), result.volumeMl, result.voxelCount,
        segmentation::modalityName(d.modality), d.intensity.lower, d.intensity.upper, d.intensity.unit,
        d.intensity.median);
    ctx.out << fmt::format("search region {} to {} mm (LPS), {}\n", formatPoint(d.cropMinMm), formatPoint(d.cropMaxMm),
                           neckCutSummary(d));
    // d.warnings were logged (stderr) by the segmentation as it found them.
    ctx.out << "wrote " << output.string() << '\n';
    ctx.returnValues["volumeMl"] = fmt::format("{:.6g}", result.volumeMl);
    ctx.returnValues["voxelCount"] = std::to_string(result.voxelCount);
    ctx.returnValues["structuresCutOff"] = std::to_string(d.componentsSplitOff);
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
