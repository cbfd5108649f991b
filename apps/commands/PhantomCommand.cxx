// lesionkit phantom: writes the LesionKit digital reference object (DICOM + truth label maps +
// truth.json). All logic lives in lesion::phantom.
#include <chrono>
#include <ostream>

#include <fmt/format.h>

#include "Commands.h"
#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"

namespace lesion::commands {

cli::Command phantomCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "phantom";
  c.title = "LesionKit Phantom";
  c.summary = "write a synthetic CT study with known lesions (DICOM + ground truth)";
  c.description =
      "Writes a digital reference object modelled on the LesionKit case: a torso cross-section (skin, fat, "
      "muscles, ribs) with a lumbar spine T12-S1, an irregular osteolytic lesion in a flattened L4 body that "
      "calcifies on follow-up, and an axillary soft-tissue mass that shrinks. Each time point is a DICOM CT "
      "study (OUT/<patient>/<date>/CT_01/IM0001.dcm...) of a slightly repositioned patient, with truth label "
      "maps (OUT/<patient>/<date>/truth-labels.nrrd and .nii.gz: 1 lytic lesion, 2 soft-tissue mass, "
      "3 calcified part of the lytic lesion, 11..17 vertebral bodies T12..S1) and OUT/<patient>/truth.json: "
      "volumes, RECIST long/short axes, 3D diameters, extents, calcified volumes, vertebral heights, seed "
      "points and the patient motion, all computed from the continuous model, in LPS mm. Noise is seeded: "
      "the same seed gives the same voxels. OUT must be new, empty or an earlier phantom output holding "
      "nothing else; it appears (or is replaced) only when everything was written.";
  c.examples = {"lesionkit phantom phantom-study",
                "lesionkit phantom phantom-thin --voxel-size 0.7 --slice-thickness 1 --time-points 2 --seed 42",
                "lesionkit phantom phantom-tilted --tilt 15 --time-points 1 --noise 0"};
  c.add({"output", ParameterType::Directory, "Output folder",
         "folder to write the study into: created, or replaced if it is empty or an earlier phantom output",
         Channel::Output, 0})
      .asRequired();
  c.add({"timePoints", ParameterType::Integer, "Time points", "number of studies: baseline plus follow-ups (1..6)",
         Channel::Input})
      .withDefault("3");
  c.add({"voxelSize", ParameterType::Float, "Pixel size (mm)", "in-plane pixel spacing in mm", Channel::Input})
      .withDefault("1.0");
  c.add({"sliceThickness", ParameterType::Float, "Slice thickness (mm)",
         "slice thickness and spacing in mm (contiguous slices)", Channel::Input})
      .withDefault("2.0");
  c.add({"tilt", ParameterType::Float, "Gantry tilt (deg)",
         "gantry tilt in degrees: slices tilted about the x axis, positions stacked along z", Channel::Input})
      .withDefault("0");
  c.add({"orientation", ParameterType::StringEnumeration, "Orientation",
         "axial slices, or a double-oblique slice orientation (12 deg about y, 8 deg about x)", Channel::Input})
      .withDefault("axial")
      .withChoices({"axial", "oblique"});
  c.add({"contrast", ParameterType::StringEnumeration, "Contrast",
         "ct: Hounsfield units, CT Image Storage; mr: T1-weighted-like intensities, MR Image Storage", Channel::Input})
      .withDefault("ct")
      .withChoices({"ct", "mr"});
  c.add({"noise", ParameterType::Float, "Noise SD",
         "standard deviation of the Gaussian noise (HU on CT); 0 for noise-free images", Channel::Input})
      .withDefault("12");
  c.add({"seed", ParameterType::Integer, "Random seed", "noise seed; the same seed gives the same voxels",
         Channel::Input})
      .withDefault("1");
  c.add({"patientId", ParameterType::String, "Patient ID",
         "DICOM PatientID (UTF-8, written with Specific Character Set ISO_IR 192 when not ASCII; no backslash), also "
         "the patient folder name (sanitised)",
         Channel::Input})
      .withDefault("LKPHANTOM01");
  c.add({"intervalDays", ParameterType::Float, "Interval (days)",
         "days between the study dates of consecutive time points", Channel::Input})
      .withDefault("90");
  c.add({"threads", ParameterType::Integer, "Threads", "worker threads; 0 = all cores", Channel::Input})
      .withDefault("0");
  c.add({"dicomFiles", ParameterType::Integer, "DICOM files", "number of DICOM files written", Channel::Output});
  c.add({"truthFile", ParameterType::String, "Truth file", "path of truth.json", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    phantom::PhantomOptions o;
    o.timePoints = static_cast<int>(args.integer("timePoints"));
    o.pixelSizeMm = args.number("voxelSize");
    o.sliceThicknessMm = args.number("sliceThickness");
    o.gantryTiltDegrees = args.number("tilt");
    o.orientation = args.string("orientation") == "oblique" ? phantom::Orientation::Oblique : phantom::Orientation::Axial;
    o.contrast = args.string("contrast") == "mr" ? phantom::Contrast::MR : phantom::Contrast::CT;
    o.noiseSd = args.number("noise");
    const long seed = args.integer("seed");
    if (seed < 0) throw UsageError(fmt::format("--seed must be 0 or positive, got {}", seed));
    o.seed = static_cast<std::uint64_t>(seed);
    o.patientId = args.string("patientId");
    o.intervalDays = args.number("intervalDays");
    o.threads = static_cast<int>(args.integer("threads"));
    o.validate();
    const std::filesystem::path out = args.path("output");
    phantom::checkPhantomOutputFolder(out); // before seconds of work, not after

    const auto start = std::chrono::steady_clock::now();
    const phantom::PhantomStudy study = phantom::generatePhantomStudy(o, ctx.progress.sub(0.0, 0.8));
    const auto generated = std::chrono::steady_clock::now();
    const phantom::PhantomOutputFiles files = phantom::writePhantomStudy(study, out, ctx.progress.sub(0.8, 1.0));
    const auto written = std::chrono::steady_clock::now();
    auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };

    const ImageGeometry& g = study.timePoints.front().image.geometry;
    ctx.out << fmt::format("Phantom study written to {} ({} time points, {} x {} x {} voxels of {} x {} x {} mm, {} DICOM files; "
                           "generated in {:.1f} s, written in {:.1f} s)\n",
                           out.string(), study.timePoints.size(), g.size[0], g.size[1], g.size[2], g.spacing.x, g.spacing.y,
                           g.spacing.z, files.dicomFileCount, seconds(generated - start), seconds(written - generated));
    for (std::size_t t = 0; t < study.timePoints.size(); ++t) {
      const auto& truth = study.timePoints[t].truth;
      const auto& lytic = truth.lesions.at(0);
      const auto& mass = truth.lesions.at(1);
      ctx.out << fmt::format("  {}  {}\n", truth.studyDate, (out / files.seriesFolders[t]).string());
      for (const auto& m : files.labelMaps[t]) ctx.out << fmt::format("              {}\n", (out / m).string());
      ctx.out << fmt::format("      L4 lytic lesion {:.2f} mL (calcified {:.2f} mL), {:.1f} x {:.1f} mm axial; "
                             "mass {:.2f} mL, {:.1f} x {:.1f} mm axial\n",
                             lytic.volumeMl, lytic.calcifiedVolumeMl, lytic.longAxisMm, lytic.shortAxisMm, mass.volumeMl,
                             mass.longAxisMm, mass.shortAxisMm);
    }
    ctx.out << fmt::format("  truth: {}\n", (out / files.truthJson).string());
    ctx.returnValues["dicomFiles"] = std::to_string(files.dicomFileCount);
    ctx.returnValues["truthFile"] = (out / files.truthJson).string();
  };
  return c;
}

} // namespace lesion::commands
