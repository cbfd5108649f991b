// lesionkit spine: vertebrae by level, body heights with the Genant grade, osteolytic lesions.
// All logic lives in lesion::spine; this file maps arguments to calls and results to files.
#include <algorithm>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "NamedInputErrors.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/spine/BoneFocusDetection.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

#include "ConvertSidecar.h"
#include "DoubtfulLevel.h"

namespace lesion::commands {
namespace {

nlohmann::json point(const Vec3& p) { return nlohmann::json::array({p.x, p.y, p.z}); }

nlohmann::json fociJson(const spine::BoneFocusResult& foci) {
  nlohmann::json j{{"method",
                    "skeleton-wide: compact blobs in the medullary interior of any bone (filled bone eroded "
                    "by the cortex) above (sclerotic) or below (lytic) the median of the interior bone within "
                    "12 mm; labels follow the vertebral lesions in the lesion map"},
                   {"boneVolumeMl", foci.boneVolumeMl},
                   {"interiorVolumeMl", foci.interiorVolumeMl},
                   {"foci", nlohmann::json::array()}};
  for (const auto& f : foci.candidates) {
    j["foci"].push_back({{"label", f.id},
                         {"kind", f.kind},
                         {"bone", f.bone},
                         {"level", f.level},
                         {"confidence", f.confidence},
                         {"labelled", f.labelled},
                         {"reason", f.reason},
                         {"volumeMl", f.volumeMl},
                         {"meanHu", f.meanHu},
                         {"backgroundHu", f.backgroundHu},
                         {"backgroundSdHu", f.backgroundSdHu},
                         {"contrastHu", f.contrastHu},
                         {"compactness", f.compactness},
                         {"centroidMm", point(f.centroid)},
                         {"boundsMinMm", point(f.boundsMin)},
                         {"boundsMaxMm", point(f.boundsMax)}});
  }
  return j;
}

/// Adds the labelled foci to the lesion maps (ids already follow the vertebral lesions; voxels of a
/// vertebral lesion stay its own).
void addFociToLesionMaps(const spine::BoneFocusResult& foci, spine::LyticResult& lytic) {
  std::vector<std::uint16_t> componentOf; // by focus id
  for (const auto& f : foci.candidates) {
    if (!f.labelled)
      continue;
    componentOf.resize(std::max(componentOf.size(), std::size_t(f.id) + 1), 0);
    componentOf[std::size_t(f.id)] = f.kind == "lytic-bone" ? spine::component::Lytic : spine::component::Sclerotic;
  }
  for (std::size_t p = 0; p < foci.foci.voxels.size(); ++p) {
    const std::uint16_t id = foci.foci.voxels[p];
    if (!id || lytic.lesions.voxels[p])
      continue;
    lytic.lesions.voxels[p] = id;
    lytic.components.voxels[p] = componentOf[id];
  }
}

/// The grade as JSON: null for a body that is not graded (sacrum, cut or merged bodies), whose 0 would read "normal".
nlohmann::json genantGradeJson(const spine::VertebraMeasurement& v) {
  return v.graded ? nlohmann::json(v.genantGrade) : nlohmann::json(nullptr);
}

std::string genantGradeText(const spine::VertebraMeasurement& v) {
  return v.graded ? std::to_string(v.genantGrade) : "not graded";
}

nlohmann::json spineJson(const spine::SpineResult& s, const spine::LyticResult* lytic,
                         const spine::BoneFocusResult* foci) {
  nlohmann::json j;
  j["conventions"] = {
      {"coordinates", "LPS millimetres"},
      {"labels", "TotalSegmentator numbering: sacrum below S1 and alae 25, S1 (first sacral segment) 26, L5 27, L4 28, "
                 "L3 29, L2 30, L1 31, T12 32, T11 33, ..."},
      {"heights", "along the local column axis between the endplates (half-height crossing of the HU profile, "
                  "sub-voxel), in the mid-sagittal plane of the body at its anterior edge, centre and posterior edge; "
                  "uncertainty about half a slice per endplate"},
      {"heightLossRatio", "1 - min(anterior, middle, posterior) / mean height of the nearest undeformed neighbours"},
      {"genantGrade", "0: < 20 %, 1: 20-25 %, 2: 25-40 %, 3: > 40 % (Genant 1993); null: not graded (sacrum, "
                      "bodies cut by the scan edge, merged bodies)"},
      {"volumes", "voxel count x voxel volume"}};
  j["levelAnchor"] = spine::anchorName(s.anchor);
  j["lowestRibBearingLevel"] = s.lowestRibBearingLevel;
  j["discCount"] = s.discCount;
  j["discCentresMm"] = nlohmann::json::array();
  for (const Vec3& c : s.discCentres) j["discCentresMm"].push_back(point(c));
  j["warnings"] = s.warnings;
  j["vertebrae"] = nlohmann::json::array();
  for (const auto& v : s.levels) {
    j["vertebrae"].push_back({{"level", v.level},
                              {"label", v.label},
                              {"bodyVolumeMl", v.bodyVolumeMl},
                              {"vertebraVolumeMl", v.vertebraVolumeMl},
                              {"meanTrabecularHu", v.meanTrabecularHu},
                              {"anteriorHeightMm", v.anteriorHeightMm},
                              {"middleHeightMm", v.middleHeightMm},
                              {"posteriorHeightMm", v.posteriorHeightMm},
                              {"depthMm", v.depthMm},
                              {"referenceHeightMm", v.referenceHeightMm},
                              {"heightLossRatio", v.heightLossRatio},
                              {"genantGrade", genantGradeJson(v)},
                              {"bodyCentroidMm", point(v.bodyCentroid)},
                              {"axisDirection", point(v.axisDirection)},
                              {"complete", v.complete},
                              {"levelDoubtful", v.levelDoubtful}});
  }
  if (lytic) {
    j["lesions"] = nlohmann::json::array();
    j["lesionComponents"] = {{"1", "lytic"}, {"2", "soft-tissue beyond the cortex"}, {"3", "sclerotic"}};
    for (const auto& c : lytic->candidates) {
      nlohmann::json e{{"label", c.id},
                       {"kind", c.kind},
                       {"level", c.level},
                       {"confidence", c.confidence},
                       {"labelled", c.labelled},
                       {"reason", c.reason},
                       {"volumeMl", c.volumeMl},
                       {"lyticVolumeMl", c.lyticVolumeMl},
                       {"softTissueVolumeMl", c.softTissueVolumeMl},
                       {"scleroticVolumeMl", c.scleroticVolumeMl},
                       {"meanHu", c.meanHu},
                       {"trabecularReferenceHu", c.trabecularReferenceHu},
                       {"corticalBreach", c.corticalBreach},
                       {"breachAreaMm2", c.breachAreaMm2},
                       {"centroidMm", point(c.centroid)},
                       {"boundsMinMm", point(c.boundsMin)},
                       {"boundsMaxMm", point(c.boundsMax)}};
      // Ready for `lesionkit measure --lesion`.
      if (c.labelled) e["measureSpec"] = fmt::format("{}:{}:{}", c.id, c.kind, c.level);
      j["lesions"].push_back(e);
    }
  }
  if (foci)
    j["boneFoci"] = fociJson(*foci);
  return j;
}

} // namespace

cli::Command spineCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "spine";
  c.title = "LesionKit Spine";
  c.summary = "label vertebrae by level, measure body heights (Genant grade) and find osteolytic lesions on CT";
  c.description =
      "Segments the spinal column on a CT volume: bone mask, column centre line, vertebral bodies separated at the "
      "discs (endplate-to-endplate intensity profile along the column axis), each labelled by level counting up from "
      "the sacrum (or down from the lowest ribs at T12 when the sacrum is not in view; --level with --seed fixes "
      "the count). Writes the vertebra label map (TotalSegmentator numbering: rest of the sacrum 25, S1 (first "
      "sacral segment) 26, L5 27, L4 28, L3 29, L2 30, L1 31, T12 32, ...) and a JSON report with per-body volume, "
      "trabecular density, anterior/middle/posterior "
      "heights, height loss against the neighbouring levels and the Genant grade. With --auto (or --lesions) it "
      "also proposes osteolytic lesions in every vertebral body with a confidence, their soft-tissue part beyond a "
      "cortical breach and sclerotic parts; normal variants (basivertebral vein channel, fatty marrow, endplate "
      "partial volume) are listed with the reason they were not called lesions. --sclerotic adds dense (blastic) "
      "foci. --whole-skeleton also searches every bone in view (ribs, scapulae, pelvis as well as the vertebrae) for "
      "compact sclerotic and lytic foci against their local bone; a focus must differ from the median of the "
      "interior bone within 12 mm by 150 HU (sclerotic) or 100 HU (lytic) and three texture SDs, so faint foci are "
      "missed: on the 1 mm BLDS test patches 1 of 7 sclerotic lesion boxes holds a labelled focus, with 4 other foci "
      "labelled in 3 patches. On a normal CT: none at 3 mm (where thin cortices leave most marrow unsearched), one "
      "on its 0.8 mm copy (likely contrast medium in a kidney). The search takes about 4 s on a 512 x 512 x 300 CT "
      "(run at 1.6 mm in-plane). A volume not in HU (an MR) is refused (exit 2), and so is a CT where no complete "
      "body of adult vertebral size is found, e.g. a head CT (exit 3: no spine found).";
  c.examples = {
      "lesionkit spine ct.nii.gz -o vertebrae.nrrd --json spine.json",
      "lesionkit spine study/CT -o vertebrae.nrrd --json spine.json --auto --lesions lesions.nrrd",
      "lesionkit spine lumbar.nrrd -o vertebrae.nrrd --level L4 --seed 2.5,40,-310",
      "lesionkit spine ct.nii.gz -o vertebrae.nrrd --json spine.json --whole-skeleton --lesions lesions.nrrd"};
  c.add({"volume", ParameterType::Image, "CT volume", "CT in HU: a NRRD/NIfTI file or a DICOM folder", Channel::Input,
         0})
      .asRequired();
  c.add({"output", ParameterType::LabelImage, "Vertebrae",
         "label map of the whole vertebrae (body + posterior elements), one label per level", Channel::Output,
         std::nullopt, 'o'})
      .asRequired()
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"json", ParameterType::File, "JSON report", "per-level measurements (and lesions) as JSON", Channel::Output})
      .withExtensions(".json");
  c.add({"bodies", ParameterType::LabelImage, "Vertebral bodies", "also write the vertebral bodies alone (same labels)",
         Channel::Output})
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"level", ParameterType::String, "Anchor level",
         "level of the vertebra at --seed (e.g. L4): overrides the count from the sacrum or ribs", Channel::Input})
      .inGroup("Levels");
  c.add({"seed", ParameterType::Point, "Anchor point", "a point in the vertebral body of --level (mm, LPS)",
         Channel::Input})
      .inGroup("Levels");
  c.add({"auto", ParameterType::Boolean, "Find lytic lesions",
         "propose osteolytic lesion candidates on every vertebra, with a confidence", Channel::Input})
      .inGroup("Lesions");
  c.add({"lesions", ParameterType::LabelImage, "Lesion label map",
         "write the lesions (lesion n = label n, whole lesion); implies --auto", Channel::Output})
      .withExtensions(".nrrd,.nii.gz,.nii")
      .inGroup("Lesions");
  c.add({"components", ParameterType::LabelImage, "Lesion components",
         "write the lesion parts: 1 lytic, 2 soft tissue beyond the cortex, 3 sclerotic; implies --auto",
         Channel::Output})
      .withExtensions(".nrrd,.nii.gz,.nii")
      .inGroup("Lesions");
  c.add({"sclerotic", ParameterType::Boolean, "Sclerotic foci",
         "also report dense (blastic) foci inside the bodies as sclerotic-bone lesions; a benign bone "
         "island looks the same",
         Channel::Input})
      .inGroup("Lesions");
  c.add({"wholeSkeleton", ParameterType::Boolean, "Whole skeleton",
         "also search every bone in view for sclerotic and lytic foci (listed under boneFoci in the JSON, labelled "
         "in --lesions after the vertebral lesions); implies --auto",
         Channel::Input})
      .inGroup("Lesions");
  c.add({"minConfidence", ParameterType::Float, "Minimum confidence",
         "candidates below it are listed in the JSON but not labelled", Channel::Input})
      .withDefault("0.5")
      .withRange(0, 1, 0.05)
      .inGroup("Lesions");
  c.add({"boneThresholdHu", ParameterType::Float, "Bone threshold (HU)",
         "bone for the column model and the posterior elements", Channel::Input})
      .withDefault("180")
      .withRange(0, 1000, 10)
      .inGroup("Settings");
  c.add({"series", ParameterType::String, "Series",
         "SeriesInstanceUID to load when the volume is a DICOM folder holding several", Channel::Input});
  c.add({"levelCount", ParameterType::Integer, "Levels", "number of vertebrae labelled", Channel::Output});
  c.add({"lesionCount", ParameterType::Integer, "Lesions", "number of lesions labelled", Channel::Output});
  c.add({"focusCount", ParameterType::Integer, "Skeleton foci",
         "number of skeleton-wide foci labelled (--whole-skeleton)", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const std::filesystem::path output = args.path("output");
    spine::SpineOptions options;
    options.boneThresholdHu = args.number("boneThresholdHu");
    if (args.has("level") != args.has("seed")) throw UsageError("--level and --seed go together: the level of the vertebra at the seed");
    if (args.has("level")) {
      (void)spine::labelOfLevel(args.string("level")); // UsageError for an unknown level
      options.anchorLevel = args.string("level");
      options.anchorSeed = args.point("seed");
    }
    const bool wholeSkeleton = args.flag("wholeSkeleton");
    const bool lesions =
        args.flag("auto") || args.flag("sclerotic") || wholeSkeleton || args.has("lesions") || args.has("components");
    spine::LyticOptions lyticOptions;
    lyticOptions.minConfidence = args.number("minConfidence");
    lyticOptions.scleroticFoci = args.flag("sclerotic");
    // Check where results go before the slow part, so a typo costs nothing.
    ensureOutputSparesScanFiles(output, {args.path("volume")}, "--output");
    checkWritableParentOf(output);
    std::vector<std::pair<std::string, std::filesystem::path>> outputs{{"--output", output}};
    for (const char* name : {"json", "bodies", "lesions", "components"}) {
      if (!args.has(name))
        continue;
      outputs.emplace_back(fmt::format("--{}", name), args.path(name));
      ensureOutputSparesScanFiles(args.path(name), {args.path("volume")}, outputs.back().first);
      checkWritableParentOf(args.path(name));
    }
    ensureDistinctOutputs(outputs);

    ctx.progress.report(0.0, "loading");
    dicomio::LoadOptions loadOptions;
    if (args.has("series")) loadOptions.seriesInstanceUid = args.string("series");
    const dicomio::LoadedVolume loaded = dicomio::loadVolume(args.path("volume"), loadOptions);
    requireCtInHounsfieldUnits(loaded, args.path("volume"), "spine segmentation");
    const spine::SpineResult result = namingTheFileOnError(args.path("volume"), [&] {
      return spine::segmentSpine(loaded.volume, options, ctx.progress.sub(0.1, lesions ? 0.7 : 0.9));
    });
    spine::LyticResult lytic;
    if (lesions)
      lytic = spine::detectLyticLesions(loaded.volume, result, lyticOptions,
                                        ctx.progress.sub(0.7, wholeSkeleton ? 0.8 : 0.9));
    spine::BoneFocusResult foci;
    if (wholeSkeleton) {
      int nextId = 1;
      for (const auto& l : lytic.candidates)
        nextId = std::max(nextId, l.id + 1);
      spine::BoneFocusOptions fociOptions;
      fociOptions.minConfidence = lyticOptions.minConfidence;
      foci = spine::detectBoneFoci(loaded.volume, &result, fociOptions, nextId, ctx.progress.sub(0.8, 0.9));
      addFociToLesionMaps(foci, lytic);
    }

    ctx.progress.report(0.9, "writing");
    // Recorded in each map: LesionKit made it, automatically (the vertebrae from a --seed anchor: semi-automatically).
    const dicomio::LabelMapOrigin found = reporting::lesionKitRecord(true, toolInfo().version);
    const dicomio::LabelMapOrigin anchored = reporting::lesionKitRecord(!args.has("seed"), toolInfo().version);
    dicomio::writeLabelMapFile(result.vertebrae, output, anchored);
    if (args.has("bodies"))
      dicomio::writeLabelMapFile(result.bodies, args.path("bodies"), anchored);
    if (args.has("lesions"))
      dicomio::writeLabelMapFile(lytic.lesions, args.path("lesions"), found);
    if (args.has("components"))
      dicomio::writeLabelMapFile(lytic.components, args.path("components"), found);
    if (args.has("json"))
      writeTextFileAtomically(args.path("json"),
                              spineJson(result, lesions ? &lytic : nullptr, wholeSkeleton ? &foci : nullptr).dump(2) +
                                  "\n");

    ctx.out << fmt::format("{} vertebrae (level anchor: {}), {} discs\n", result.levels.size(),
                           spine::anchorName(result.anchor), result.discCount);
    ctx.out << "level  body mL  trab HU  ant/mid/post height mm  loss  Genant\n";
    for (const auto& v : result.levels)
      ctx.out << fmt::format("{:>5}  {:7.1f}  {:7.0f}  {:5.1f} /{:5.1f} /{:5.1f}     {:4.2f}  {}{}{}\n", v.level,
                             v.bodyVolumeMl, v.meanTrabecularHu, v.anteriorHeightMm, v.middleHeightMm,
                             v.posteriorHeightMm, v.heightLossRatio, genantGradeText(v),
                             v.complete ? "" : "  (cut by the scan)", v.levelDoubtful ? "  (level doubtful)" : "");
    std::size_t labelled = 0;
    if (lesions) {
      for (const auto& l : lytic.candidates) {
        if (!l.labelled) continue;
        ++labelled;
        ctx.out << fmt::format("lesion {} in {}{}: {:.2f} mL (lytic {:.2f}, soft tissue {:.2f}, sclerotic {:.2f}), "
                               "cortical breach {}, confidence {:.2f}\n",
                               l.id, l.level, doubtfulMark(result.levels, l.level), l.volumeMl, l.lyticVolumeMl,
                               l.softTissueVolumeMl, l.scleroticVolumeMl, l.corticalBreach ? "yes" : "no",
                               l.confidence);
      }
      ctx.out << fmt::format("{} lesion(s) labelled, {} candidate(s) not labelled (see the JSON for the reasons)\n", labelled,
                             lytic.candidates.size() - labelled);
    }
    std::size_t fociLabelled = 0;
    if (wholeSkeleton) {
      for (const auto& f : foci.candidates) {
        if (!f.labelled)
          continue;
        ++fociLabelled;
        const Vec3 extent = f.boundsMax - f.boundsMin;
        ctx.out << fmt::format(
            "focus {} ({}) in {}{}: {:.2f} mL, {:.0f} HU vs local bone {:.0f} HU, extent {:.0f} x {:.0f} x "
            "{:.0f} mm at {}, confidence {:.2f}\n",
            f.id, f.kind, f.bone, f.level.empty() ? "" : " " + f.level, f.volumeMl, f.meanHu, f.backgroundHu, extent.x,
            extent.y, extent.z, formatPoint(f.centroid), f.confidence);
      }
      ctx.out << fmt::format("whole skeleton: {} focus/foci labelled, {} candidate(s) not labelled\n", fociLabelled,
                             foci.candidates.size() - fociLabelled);
    }
    logWarnings(result.warnings);
    ctx.out << "wrote " << output.string() << '\n';
    ctx.returnValues["levelCount"] = std::to_string(result.levels.size());
    ctx.returnValues["lesionCount"] = std::to_string(labelled);
    ctx.returnValues["focusCount"] = std::to_string(fociLabelled);
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
