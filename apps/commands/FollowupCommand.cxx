// lesionkit followup: baseline + follow-up scans and the baseline lesion map → registration,
// tracked lesions, change figures, change maps and response categories over time. All logic
// lives in lesion::longitudinal (and lesion::segmentation for re-segmentation).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "Commands.h"
#include "ConvertSidecar.h"
#include "IntensityUnitOption.h"
#include "NamedInputErrors.h"
#include "SliceThickness.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/pipeline/FollowupRun.h"
#include "lesion/pipeline/FollowupSegmenter.h"
#include "lesion/pipeline/ReferenceVertebrae.h"
#include "lesion/reporting/LabelMapLoader.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace lesion::commands {

namespace {

/// Who and when a scan is: DICOM headers, else the sidecar `lesionkit convert` wrote next to a
/// NRRD/NIfTI file; empty when neither knows.
ScanIdentity scanIdentityOf(const std::filesystem::path& path, const ConvertSidecar& sidecar) {
  const ScanIdentity fromDicom = dicomio::readScanIdentity(path);
  return fromDicom.seriesInstanceUid.empty() ? sidecar.scanIdentity() : fromDicom;
}

/// The same for a scan already loaded (its headers are not read again).
ScanIdentity scanIdentityOf(const dicomio::LoadedVolume& loaded, const ConvertSidecar& sidecar) {
  if (loaded.seriesInstanceUid.empty())
    return sidecar.scanIdentity();
  return {loaded.patientId, loaded.studyDate, loaded.seriesInstanceUid};
}

} // namespace

cli::Command followupCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "followup";
  c.title = "LesionKit Follow-up";
  c.summary = "follow lesions over time: register, track, quantify change, RECIST 1.1 / MDA bone / inverse Choi";
  c.description =
      "Registers each follow-up scan to the baseline (rigid: a global level on downsampled copies, then a local "
      "refinement around each lesion; Mattes mutual information; optionally a B-spline level for soft tissue), "
      "carries each baseline lesion to the follow-up, "
      "re-segments soft-tissue lesions there (or tracks them intensity-gated / inside the mapped mask, as chosen), "
      "measures them (RECIST axes, volume, density, calcified and remaining lytic volume with a calcification "
      "threshold taken from the unaffected vertebrae at each time point, HU change normalised to them; on CT "
      "they are found automatically when no reference labels are given) and "
      "assesses response over all time points under RECIST 1.1, the MD Anderson bone "
      "criteria and inverse Choi, each category with its reason. Writes, under the output folder: timeline.json, "
      "measurements.csv (one row per measured lesion per time point), measurements-<timepoint>.json (report schema "
      "v1), labels/<timepoint>.nrrd (tracked masks), transforms/<timepoint>.tfm (baseline to follow-up points) "
      "and changemaps/<timepoint>-<id>.nrrd (follow-up minus baseline HU on the baseline grid). The folder appears "
      "complete or not at all. A follow-up of another patient (PatientID), dated before the baseline (StudyDate) "
      "or the baseline series itself is refused, as are follow-ups out of date order or given twice, from the DICOM "
      "headers or a NRRD/NIfTI's convert sidecar.";
  c.examples = {"lesionkit followup --baseline ct0.nrrd --followup ct1.nrrd --followup ct2.nrrd --lesions lesions0.nrrd "
                "--lesion 1:lytic-bone:L4 --lesion 2:soft-tissue:axilla -o followup/",
                "lesionkit followup --baseline study0/CT --followup study1/CT --lesions seg0.nrrd --reference seg0.nrrd "
                "--reference-label 12 --reference-label 13 --anchor 1:15 -o out/"};
  c.add({"baseline", ParameterType::Image, "Baseline volume", "baseline CT or MR: a NRRD/NIfTI file or a DICOM folder.",
         Channel::Input})
      .asRequired();
  c.add({"followup", ParameterType::Image, "Follow-up volume",
         "a follow-up scan (NRRD/NIfTI file or DICOM folder); give it once per time point, in order.", Channel::Input})
      .asRequired()
      .asMultiple();
  c.add({"lesions", ParameterType::LabelImage, "Baseline lesion map",
         "label map of the lesions on the baseline grid or a crop of it on the same voxel lattice "
         "(0 = background).",
         Channel::Input})
      .asRequired()
      .withExtensions(".nrrd,.nii.gz,.nii");
  c.add({"output", ParameterType::Directory, "Output folder",
         "folder for the timeline, tables, masks, transforms and change maps (replaced as a whole when complete; "
         "an existing folder only when empty or an earlier follow-up output holding nothing else).",
         Channel::Output, std::nullopt, 'o'})
      .asRequired();
  c.add({"lesion", ParameterType::String, "Lesion",
         "LABEL:KIND:NAME, e.g. 2:soft-tissue:axilla or 1:lytic-bone:L4; bone kinds are assessed "
         "by the MDA and inverse Choi criteria, the others by RECIST 1.1. Default: every label of "
         "the map (except reference labels) as soft tissue.",
         Channel::Input})
      .asMultiple()
      .inGroup("Lesions");
  c.add({"reference", ParameterType::LabelImage, "Reference label map",
         "label map on the baseline grid (or a crop of it) holding the reference region (may be the lesion "
         "map); without it, see --auto-reference.",
         Channel::Input})
      .inGroup("Lesions");
  c.add({"referenceLabel", ParameterType::Integer, "Reference label",
         "label of unaffected tissue (e.g. a healthy vertebra) whose HU change normalises the "
         "lesions' density change and whose spread sets the calcification threshold (auto); 0: none.",
         Channel::Input})
      .withNoneValue("0")
      .asMultiple()
      .inGroup("Lesions");
  c.add({"autoReference", ParameterType::StringEnumeration, "Automatic reference",
         "without --reference: spine = on a CT baseline, segment the spine and take as reference the vertebral "
         "bodies that no followed lesion touches, leaving out the direct neighbours of affected bodies (unless "
         "nothing else is left), bodies holding an unfollowed lytic lesion, S1, bodies cut by the scan edge, "
         "fractured bodies (Genant grade 1 or more) and bodies too tall or big for one vertebral body (several "
         "merged where a disc was not found, e.g. on 6 mm slices); the levels used and left out are in "
         "timeline.json. Adds the spine segmentation time (0.2 s on a 3 mm CT, 2 s on a 1 mm 321 x 241 x 252 "
         "phantom, about 20 s on a 512 x 512 x 267 CT). When the spine cannot be found or no body is left, the "
         "follow-up goes on without a reference and the timeline says why. none = no "
         "reference region without --reference.",
         Channel::Input})
      .withDefault("spine")
      .withChoices({"spine", "none"})
      .inGroup("Lesions");
  c.add({"anchor", ParameterType::String, "Anchor",
         "LESION:LABEL: register bone lesion LESION locally on structure LABEL of the reference map "
         "(its vertebra), e.g. 1:15.",
         Channel::Input})
      .asMultiple()
      .inGroup("Lesions");
  c.add({"newLesionsAt", ParameterType::Integer, "New lesions at",
         "follow-up number (1 = first follow-up) at which a reader found new lesions: PD under every "
         "criterion; 0: none.",
         Channel::Input})
      .withNoneValue("0")
      .asMultiple()
      .inGroup("Lesions");
  c.add({"softTissueMethod", ParameterType::StringEnumeration, "Soft-tissue follow-up mask",
         "resegment: segment again from the mapped mask (when the segmenter refuses, falls back with a "
         "note to baseline-model on MR and to intensity-gated on CT); baseline-model: a lesion-vs-"
         "surroundings intensity model learned on the baseline under and around its mask, applied within "
         "5 mm of the mapped mask (MR intensities normalised around the lesion on each scan); a lesion with "
         "no lesion-like tissue left, or (MR) with less than half its baseline contrast, is reported disappeared; "
         "intensity-gated: the mapped mask grown by the growth margin, gated to the baseline lesion's "
         "intensity range; mapped-mask: measure inside the mapped baseline mask. timeline.json records "
         "the method of each mask (maskMethod).",
         Channel::Input})
      .withDefault("resegment")
      .withChoices({"resegment", "baseline-model", "intensity-gated", "mapped-mask"})
      .inGroup("Tracking");
  c.add({"baselineMask", ParameterType::StringEnumeration, "Soft-tissue baseline mask",
         "given: the baseline is measured in the given lesion masks; resegment: soft-tissue lesions that the "
         "follow-ups re-segment are re-segmented at baseline too, started from the given mask as the follow-ups "
         "are from the mapped one, so a change compares one method with itself (a reader's contour and "
         "LesionKit's differ on the same unchanged mass). The given masks still place the lesions.",
         Channel::Input})
      .withDefault("given")
      .withChoices({"given", "resegment"})
      .inGroup("Tracking");
  c.add({"boneMethod", ParameterType::StringEnumeration, "Bone follow-up mask",
         "mapped-mask: measure inside the mapped baseline lesion (fill-in and sclerosis happen "
         "inside the original cavity); intensity-gated: as for soft tissue.",
         Channel::Input})
      .withDefault("mapped-mask")
      .withChoices({"mapped-mask", "intensity-gated"})
      .inGroup("Tracking");
  c.add({"growthMarginMm", ParameterType::Float, "Growth margin (mm)",
         "intensity-gated tracking: how far beyond its baseline footprint a lesion may have grown.", Channel::Input})
      .withDefault("10")
      .withRange(0, 100, 1)
      .inGroup("Tracking");
  c.add({"localMarginMm", ParameterType::Float, "Local registration margin (mm)",
         "margin around each lesion (or its anchor) for the local rigid refinement.", Channel::Input})
      .withDefault("30")
      .withRange(0, 200, 5)
      .inGroup("Tracking");
  c.add({"noLocal", ParameterType::Boolean, "No local refinement", "use the global rigid transform for every lesion.",
         Channel::Input})
      .inGroup("Tracking");
  c.add({"softTissueRegistration", ParameterType::StringEnumeration, "Soft-tissue registration",
         "rigid: the local rigid level only; bspline: then a B-spline (free-form) level on the "
         "lesion's box + 20 mm (control points ~20-25 mm apart, Mattes MI, L-BFGS-B, 4-16 s "
         "per lesion) for soft tissue that deforms between scans; the mask and change map follow it, "
         "and transforms/<timepoint>-<id>-bspline.tfm holds it. Bone lesions stay rigid.",
         Channel::Input})
      .withDefault("rigid")
      .withChoices({"rigid", "bspline"})
      .inGroup("Tracking");
  c.add({"globalVoxelSizeMm", ParameterType::Float, "Global registration voxel size (mm)",
         "the global level registers copies averaged to voxels of at least this size.", Channel::Input})
      .withDefault("2")
      .withRange(0, 10, 0.5)
      .inGroup("Tracking");
  addIntensityUnitParameter(c, "calcification, soft-tissue checks");
  c.add({"calcificationThresholdHu", ParameterType::String, "Calcification threshold (HU)",
         "the lowest value counted as calcified: bone lesion voxels at or above it are calcified, below it lytic "
         "(remaining low density); in any lesion that is not a bone lesion it is raised to the lesion's own tissue "
         "level when "
         "higher (as in measure). auto: per time "
         "point from the unaffected bone of the reference (--reference-label, else --auto-reference), "
         "max(130, median + 3 x robust SD of its interior), so normal trabecular bone is not counted; without a "
         "reference 130 HU, with a note in the timeline. A number: that threshold at every time point.",
         Channel::Input})
      .withDefault("auto")
      .inGroup("Settings");
  c.add({"proposeNewLytic", ParameterType::Boolean, "Propose new lytic lesions",
         "screen each follow-up's spine for lytic lesions and list, in new-lesions.json, the ones "
         "no tracked lesion explains (proposals for a reader; --new-lesions-at declares them).",
         Channel::Input})
      .inGroup("Lesions");
  c.add({"noChangeMaps", ParameterType::Boolean, "No change maps", "skip the voxel-wise HU change maps.",
         Channel::Input})
      .inGroup("Settings");
  c.add({"recistCategory", ParameterType::String, "RECIST 1.1 (last)", "RECIST 1.1 category at the last follow-up.",
         Channel::Output});
  c.add({"bonesCategory", ParameterType::String, "MDA bone (last)", "MD Anderson bone category at the last follow-up.",
         Channel::Output});
  c.add({"inverseChoiCategory", ParameterType::String, "Inverse Choi (last)",
         "inverse Choi category (bone lesions) at the last follow-up.", Channel::Output});

  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const std::filesystem::path baselinePath = args.path("baseline");
    const std::vector<std::string> followupPaths = args.strings("followup");
    const std::filesystem::path lesionsPath = args.path("lesions");
    std::vector<std::filesystem::path> inputs{baselinePath, lesionsPath};
    inputs.insert(inputs.end(), followupPaths.begin(), followupPaths.end());
    if (args.has("reference"))
      inputs.push_back(args.path("reference"));
    ensureOutputSparesScanFiles(args.path("output"), inputs, "--output");
    StagedOutputFolder out(args.path("output"), "followup"); // checks the destination before the slow part

    longitudinal::FollowupOptions options;
    for (const std::string& text : args.strings("lesion"))
      options.measurement.lesions.push_back(measurement::parseLesionSpec(text));
    for (const std::string& text : args.strings("referenceLabel")) {
      const long v = std::stol(text);
      if (v < 1 || v > 65535) throw UsageError(fmt::format("--reference-label {}: expected 1..65535", text));
      options.referenceLabels.push_back(static_cast<std::uint16_t>(v));
    }
    for (const std::string& text : args.strings("anchor")) {
      const auto colon = text.find(':');
      try {
        if (colon == std::string::npos) throw std::invalid_argument(text);
        const long lesion = std::stol(text.substr(0, colon)), anchor = std::stol(text.substr(colon + 1));
        if (lesion < 1 || lesion > 65535 || anchor < 1 || anchor > 65535) throw std::out_of_range(text);
        options.anchorLabels[static_cast<std::uint16_t>(lesion)] = static_cast<std::uint16_t>(anchor);
      } catch (const std::logic_error&) {
        throw UsageError(fmt::format("--anchor {}: expected LESION:LABEL, two labels in 1..65535", text));
      }
    }
    longitudinal::TimelineFlags flags;
    for (const std::string& text : args.strings("newLesionsAt")) {
      const long n = std::stol(text);
      if (n < 1 || n > long(followupPaths.size()))
        throw UsageError(fmt::format("--new-lesions-at {}: expected a follow-up number in 1..{}", text, followupPaths.size()));
      flags.newLesionsAt.push_back(std::size_t(n));
    }
    if ((!options.referenceLabels.empty() || !options.anchorLabels.empty()) && !args.has("reference"))
      throw UsageError("--reference-label and --anchor need --reference (the label map holding those labels)");
    options.softTissueMethod = longitudinal::parseMaskMethod(args.string("softTissueMethod"));
    options.boneMethod = longitudinal::parseMaskMethod(args.string("boneMethod"));
    const bool resegmentBaseline = args.string("baselineMask") == "resegment";
    if (resegmentBaseline && options.softTissueMethod != longitudinal::FollowupMaskMethod::Resegment)
      throw UsageError(fmt::format("--baseline-mask resegment goes with --soft-tissue-method resegment, not {}",
                                   args.string("softTissueMethod")));
    options.growthMarginMm = args.number("growthMarginMm");
    options.localMarginMm = args.number("localMarginMm");
    options.localRefinement = !args.flag("noLocal");
    options.softTissueRegistration = longitudinal::parseSoftTissueRegistration(args.string("softTissueRegistration"));
    options.globalRegistration.globalVoxelSizeMm = args.number("globalVoxelSizeMm");
    options.calcification.fromReference = args.string("calcificationThresholdHu") == "auto";
    if (!options.calcification.fromReference) {
      try {
        options.measurement.calcificationThresholdHu = args.number("calcificationThresholdHu");
      } catch (const UsageError&) {
        throw UsageError(fmt::format("--calcification-threshold-hu {}: expected auto or a number of HU",
                                     args.string("calcificationThresholdHu")));
      }
    }
    options.changeMaps = !args.flag("noChangeMaps");

    ctx.progress.report(0.0, "loading baseline");
    const dicomio::LoadedVolume baseline = dicomio::loadVolume(baselinePath);
    std::vector<std::string> gridNotes, recordNotes;
    // What made the lesions, passed on to labels/<baseline>.nrrd and its SEG.
    reporting::SegmentAlgorithm lesionsAlgorithm;
    dicomio::LabelMapOrigin lesionsRecord;
    const LabelMap lesions =
        onVolumeGrid(reporting::loadLabelMapFile(lesionsPath, &lesionsAlgorithm, &recordNotes, &lesionsRecord),
                     lesionsPath, "lesion map", baseline.volume.geometry, baselinePath, "baseline", gridNotes);
    gridNotes.insert(gridNotes.end(), recordNotes.begin(), recordNotes.end());
    // The reference may be the lesion map itself: read and placed once.
    std::optional<LabelMap> otherReference;
    const LabelMap* reference = nullptr;
    if (args.has("reference")) {
      std::error_code ec;
      if (std::filesystem::equivalent(args.path("reference"), lesionsPath, ec)) {
        reference = &lesions;
      } else {
        otherReference =
            onVolumeGrid(dicomio::readLabelMapFile(args.path("reference")), args.path("reference"),
                         "reference label map", baseline.volume.geometry, baselinePath, "baseline", gridNotes);
        reference = &*otherReference;
      }
    }
    logWarnings(gridNotes);
    options.measurement.intensityUnit = intensityUnitFor(args, baseline);
    const bool hu = options.measurement.intensityUnit == measurement::IntensityUnit::HounsfieldUnit;
    if (hu) {
      options.globalRegistration.clampBelow = options.localRegistration.clampBelow = -1000.0f;
      // B-spline level: a soft-tissue window, so the metric's bins resolve fat, muscle and the mass.
      options.deformableRegistration.clampBelow = -200.0f;
      options.deformableRegistration.clampAbove = 300.0f;
    }
    options.segmenter = pipeline::softTissueResegmenter(hu ? segmentation::Modality::CT : segmentation::Modality::MR);
    if (args.string("autoReference") == "spine")
      options.referenceFinder = pipeline::unaffectedVertebraeFinder();

    pipeline::FollowupRunInput run;
    run.baseline = &baseline.volume;
    const ConvertSidecar baselineSidecar = readConvertSidecar(baselinePath, &baseline.volume.geometry);
    run.baselineSliceThicknessMm = scanSliceThicknessMm(baseline, baselineSidecar);
    run.baselineSource = baselinePath.string();
    run.baselineIdentity = scanIdentityOf(baseline, baselineSidecar);
    run.lesions = &lesions;
    run.lesionsSource = lesionsPath.string();
    run.lesionsAlgorithm = lesionsAlgorithm;
    run.lesionsVersion = lesionsRecord.version;
    run.resegmentBaseline = resegmentBaseline;
    run.offersBaselineResegmentation = true;
    run.reference = reference;
    run.baselineNotes = gridNotes;
    for (std::size_t f = 0; f < followupPaths.size(); ++f) {
      const std::string path = followupPaths[f];
      // Read before the follow-up is loaded (its identity is checked first): its grid is not compared.
      const ConvertSidecar sidecar = readConvertSidecar(path, nullptr);
      run.followups.push_back({fmt::format("follow-up-{}", f + 1),
                               path,
                               [path, sidecar] {
                                 dicomio::LoadedVolume loaded = dicomio::loadVolume(path);
                                 const std::optional<double> thickness = scanSliceThicknessMm(loaded, sidecar);
                                 return pipeline::ScanVolume{std::move(loaded.volume), thickness};
                               },
                               {},
                               scanIdentityOf(path, sidecar)});
    }
    run.options = options;
    run.flags = flags;
    run.toolVersion = toolInfo().version;
    run.proposeNewLytic = args.flag("proposeNewLytic");
    const pipeline::FollowupRunOutput result = pipeline::writeFollowupRun(run, out.path(), ctx.progress);
    const longitudinal::Timeline& timeline = result.timeline;
    out.commit();
    for (const pipeline::NewLesionProposal& p : result.newLesions) {
      ctx.out << fmt::format("proposed new lytic lesion at {}: {} ({:.1f} mL, confidence {:.2f}) at {:.1f},{:.1f},{:.1f} mm\n",
                             p.timePoint, p.level, p.volumeMl, p.confidence, p.centroidMm.x, p.centroidMm.y, p.centroidMm.z);
    }

    ctx.out << longitudinal::toTimelineSummary(timeline);
    ctx.out << "wrote " << out.target().string() << '\n';
    ctx.returnValues["recistCategory"] = std::string(longitudinal::categoryAbbreviation(timeline.recist.back().category));
    ctx.returnValues["bonesCategory"] = std::string(longitudinal::categoryAbbreviation(timeline.mdAnderson.back().category));
    ctx.returnValues["inverseChoiCategory"] =
        std::string(longitudinal::categoryAbbreviation(timeline.inverseChoi.back().category));
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
