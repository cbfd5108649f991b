#pragma once
/// \file IntensityUnitOption.h
/// `--intensity-unit` of the commands that measure a volume (measure, report, followup): one
/// parameter text and one rule, so a file is read in the same unit whichever command reads it.

#include <string>

#include "lesion/cli/Command.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::commands {

/// `huUse` says what HU enables in this command (e.g. "calcification is measured").
inline void addIntensityUnitParameter(cli::Command& c, const std::string& huUse) {
  c.add({"intensityUnit", cli::ParameterType::StringEnumeration, "Intensity unit",
         "HU: CT (" + huUse +
             "); arbitrary: MR and others; auto: arbitrary for a non-CT DICOM series; "
             "for NRRD/NIfTI HU when at least 1 % of the voxels lie below -50 (fat or air), arbitrary otherwise.",
         cli::Channel::Input})
      .withDefault("auto")
      .withChoices({"auto", "HU", "arbitrary"})
      .inGroup("Settings");
}

[[nodiscard]] inline measurement::IntensityUnit intensityUnitFor(const cli::Arguments& args,
                                                                 const dicomio::LoadedVolume& loaded) {
  const std::string unit = args.string("intensityUnit");
  const bool hounsfield = unit == "HU" || (unit == "auto" && dicomio::inHounsfieldUnits(loaded));
  return hounsfield ? measurement::IntensityUnit::HounsfieldUnit : measurement::IntensityUnit::Arbitrary;
}

} // namespace lesion::commands
