#pragma once
/// \file LesionManifest.h
/// Which lesions to follow per patient, for batch runs: a CSV (or JSON) naming, per lesion, the
/// patient, a seed point / box / RECIST line on the baseline scan (LPS mm), the kind, the
/// vertebral level and whether it is a RECIST target.
///
/// CSV columns (header required, any order; x2..z2 only for box and recist; baseline_study optional):
///   patient_id,lesion,kind,init,x1,y1,z1,x2,y2,z2,level,target,baseline_study
///   P001,axilla,soft-tissue,seed,-95.5,10.2,120.0,,,,,yes,20240115
///   P001,L4,lytic-bone,seed,1.0,20.5,-180.0,,,,L4,no,20240115
/// JSON: {"patients": [{"patientId": "P001", "baselineStudy": "20240115", "lesions": [{"name": "axilla",
///        "kind": "soft-tissue", "seed": [x, y, z] | "box": [[x,y,z],[x,y,z]] | "recist": [[x,y,z],[x,y,z]],
///        "level": "L4", "target": true}]}]}

#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"

namespace lesion::pipeline {

struct ManifestLesion {
  enum class Init { Seed, Box, Recist };
  std::string patientId{};
  std::string name{};                ///< e.g. "axilla", "L4"
  std::string kind{"soft-tissue"};   ///< soft-tissue, lymph-node or lytic-bone
  Init init{Init::Seed};
  Vec3 first{};                      ///< the seed, a box corner or the RECIST line's start (LPS mm)
  Vec3 second{};                     ///< the opposite box corner or the RECIST line's end
  std::string level{};               ///< vertebral level of a bone lesion ("L4"), informative
  bool target{true};                 ///< RECIST 1.1 target lesion (else non-target)
  /// The study the points were placed on: its StudyInstanceUID or StudyDate (YYYYMMDD); empty: the
  /// patient's first study. The same for every lesion of a patient.
  std::string baselineStudy{};
};

struct LesionManifest {
  std::vector<ManifestLesion> lesions{};

  /// The lesions of one patient, in manifest order.
  [[nodiscard]] std::vector<ManifestLesion> of(const std::string& patientId) const;
  /// The patients named, sorted, each once.
  [[nodiscard]] std::vector<std::string> patients() const;
};

/// Reads a .csv or .json manifest (a leading UTF-8 byte order mark is skipped). Throws
/// lesion::InputError naming the file, the line (CSV) or the patient entry and lesion (JSON) and
/// the problem (unknown column, field or kind, a missing or non-numeric coordinate, two lesions of
/// one patient with the same name, a lesion given twice, lesions of one patient naming different
/// baseline studies).
[[nodiscard]] LesionManifest readLesionManifest(const std::filesystem::path& path);

/// Canonical one-line text of a lesion (every field), for parameter hashes.
[[nodiscard]] std::string canonicalText(const ManifestLesion& lesion);

} // namespace lesion::pipeline
