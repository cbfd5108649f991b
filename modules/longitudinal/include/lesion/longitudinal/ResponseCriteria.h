#pragma once
/// \file ResponseCriteria.h
/// Tumour response over any number of time points, from per-lesion observations (plain C++,
/// no images): RECIST 1.1, the MD Anderson (MDA) bone response criteria and inverse Choi.
/// Every assessment carries its category and the reason in words, with the numbers behind it.
///
/// - RECIST 1.1: Eisenhauer EA et al., Eur J Cancer 2009;45:228-247, doi:10.1016/j.ejca.2008.10.026
///   (section 4.3.1 target lesions, 4.3.2 lymph nodes, 4.3.6 new lesions).
/// - MDA bone criteria: Hamaoka T et al., Bone imaging in metastatic breast cancer, J Clin Oncol
///   2004;22:2942-2953, doi:10.1200/JCO.2004.08.181; Costelloe CM et al., Cancer response
///   criteria and bone metastases: RECIST 1.1, MDA and PERCIST, J Cancer 2010;1:80-92,
///   doi:10.7150/jca.1.80 (their table 2, CT rows): CR = complete fill-in or sclerosis of a
///   lytic lesion; PR = sclerotic rim or partial fill-in / sclerosis of a lytic lesion, or a
///   decrease >= 50 % in the sum of products of perpendicular diameters (SPD); PD = increase
///   >= 25 % in SPD or new bone lesions; SD otherwise.
/// - Choi criteria: Choi H et al., J Clin Oncol 2007;25:1753-1759, doi:10.1200/JCO.2006.07.3049
///   (PR: size -10 % or density -15 %). "Inverse Choi" for healing lytic bone lesions flips the
///   density term: density +15 % (new mineral) or size -10 % is a partial response.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lesion::longitudinal {

enum class ResponseCategory {
  Baseline,           ///< the reference time point itself
  CompleteResponse,   ///< CR
  PartialResponse,    ///< PR
  StableDisease,      ///< SD
  ProgressiveDisease, ///< PD
  NotEvaluable,       ///< NE: lesions to assess are there, but a needed figure is missing
  NotApplicable       ///< NA: no lesion at baseline qualifies for the criteria (and none appeared)
};

/// "baseline", "CR", "PR", "SD", "PD", "NE", "NA".
[[nodiscard]] std::string_view categoryAbbreviation(ResponseCategory category);
/// "complete response", ..., for sentences.
[[nodiscard]] std::string_view categoryName(ResponseCategory category);

/// One lesion at one time point, as measured (or found absent).
struct LesionObservation {
  std::string id;            ///< persistent tracking ID: observations are matched across time points by it
  bool lymphNode{false};     ///< RECIST: judged by the short axis, "normal" below 10 mm
  bool bone{false};          ///< a bone lesion: assessed by MDA / inverse Choi, non-target for RECIST by default
  bool present{true};        ///< false: disappeared (its diameters count as 0 mm)
  double longAxisMm{0.0};    ///< RECIST long axis (axial plane)
  double shortAxisMm{0.0};   ///< RECIST short axis (perpendicular, same plane)
  std::optional<double> meanHu{};             ///< mean density of the lesion (CT)
  std::optional<double> calcifiedFraction{};  ///< 0..1 of the lesion volume at or above the calcification threshold
  std::optional<double> lyticVolumeMl{};      ///< remaining low-density (lytic) volume
  std::optional<double> volumeMl{};
  bool target{true};         ///< RECIST 1.1 target lesion; false: non-target (followed, never summed)
  /// The lesion's name ("L4", "axilla"), as the lesion tables, SEG and SR call it; reasons name a
  /// lesion "T001 (L4)" so a reader can find it there. Empty: the id alone.
  std::string name{};
};

struct TimePointObservation {
  std::string label;                   ///< "baseline", "follow-up-1", a date
  std::vector<LesionObservation> lesions;
  bool newLesions{false};              ///< unequivocal new lesion(s) anywhere (RECIST, Choi: PD)
  bool newBoneLesions{false};          ///< new bone lesion(s) (MDA: PD)
  bool nonTargetProgression{false};    ///< unequivocal progression of non-target disease (RECIST: PD)
};

/// The assessment of one time point under one set of criteria.
struct ResponseAssessment {
  std::string criteria;          ///< "RECIST 1.1", "MDA bone", "inverse Choi"
  std::string timepoint;
  ResponseCategory category{ResponseCategory::NotEvaluable};
  std::string reason;            ///< one or two sentences with the numbers
  /// The size figure the criteria sum (RECIST, Choi: sum of diameters in mm; MDA: SPD in mm²),
  /// its baseline and its nadir before this time point (smallest earlier value, baseline included).
  double sum{0.0};
  double baselineSum{0.0};
  double nadirSum{0.0};
  std::optional<double> changeFromBaselinePercent{};
  std::optional<double> changeFromNadirPercent{};
  double changeFromNadir{0.0};   ///< absolute, in the unit of `sum`
  std::vector<std::string> lesionIds; ///< the lesions assessed (targets)
  std::vector<std::string> lesionNames; ///< their names, in the same order ("" when unnamed)
};

struct RecistOptions {
  double partialResponsePercent{-30.0};     ///< sum vs baseline
  double progressionPercent{20.0};          ///< sum vs nadir ...
  double progressionAbsoluteMm{5.0};        ///< ... and at least this many mm more
  double normalNodeShortAxisMm{10.0};       ///< CR needs every target node below this
  /// Bone lesions are non-measurable under RECIST 1.1 unless they have a soft-tissue component
  /// >= 10 mm; our observations do not say so, so bone lesions are left out by default.
  bool includeBoneLesions{false};
};

struct MdAndersonOptions {
  double partialResponseSpdPercent{-50.0};  ///< SPD vs baseline
  double progressionSpdPercent{25.0};       ///< SPD vs nadir
  /// Partial fill-in / sclerosis: calcified fraction up by at least this much (absolute, 0..1)
  /// from baseline, or the lytic volume down by at least `lyticDecreasePercent`.
  double sclerosisFractionIncrease{0.10};
  double lyticDecreasePercent{-30.0};
  /// Complete fill-in / sclerosis: remaining lytic volume at most this fraction of baseline.
  double completeFillInLyticFraction{0.05};
};

struct ChoiOptions {
  double sizePartialResponsePercent{-10.0};
  double densityPartialResponsePercent{15.0}; ///< inverse Choi: density increase
  double sizeProgressionPercent{10.0};
};

/// RECIST 1.1 over the series (index 0 = baseline). Targets: lesions present at baseline
/// (non-bone unless includeBoneLesions); sum of long axes, short axes for nodes; a target missing
/// from a later time point is NE for that time point (say `present = false` for a disappeared one).
/// Throws lesion::InputError for an empty series or a duplicated lesion id.
[[nodiscard]] std::vector<ResponseAssessment> assessRecist(const std::vector<TimePointObservation>& series,
                                                           const RecistOptions& options = {});

/// MDA bone criteria over the bone lesions of the series (SPD = sum of long × short axis).
[[nodiscard]] std::vector<ResponseAssessment> assessMdAnderson(const std::vector<TimePointObservation>& series,
                                                               const MdAndersonOptions& options = {});

/// Inverse Choi over the bone lesions of the series (size: sum of long axes; density: mean of
/// the lesions' mean HU, relative change). Density change is NE when the baseline mean is <= 0 HU
/// (a relative change of a non-positive density has no meaning).
[[nodiscard]] std::vector<ResponseAssessment> assessInverseChoi(const std::vector<TimePointObservation>& series,
                                                                const ChoiOptions& options = {});

/// Convenience: each lesion on its own (one-lesion series). The id selects the lesion; lymph
/// node and bone flags come from its baseline observation. Criteria are applied with
/// includeBoneLesions = true so a bone lesion gets a RECIST size category too.
[[nodiscard]] std::vector<ResponseAssessment> assessRecistForLesion(const std::vector<TimePointObservation>& series,
                                                                    const std::string& lesionId,
                                                                    RecistOptions options = {});

/// Per-lesion RECIST category of one baseline → follow-up pair of diameters (mm), the building
/// block of assessRecistForLesion; `lymphNode` judges by the short axis.
[[nodiscard]] ResponseAssessment assessRecistPair(double baselineLongMm, double baselineShortMm, double followLongMm,
                                                  double followShortMm, bool lymphNode = false,
                                                  const RecistOptions& options = {});

} // namespace lesion::longitudinal
