// Response criteria: RECIST 1.1, MDA bone criteria, inverse Choi. Pure C++ over observations.
#include "lesion/longitudinal/ResponseCriteria.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::longitudinal {

namespace {

// Diameters come rounded (0.1 mm) and percentages are computed in floating point: a change that
// is exactly at a threshold on paper (25 → 30 mm = +20 %) must count as reaching it.
constexpr double kTolerance = 1e-9;

bool atLeast(double value, double threshold) { return value >= threshold - kTolerance; }
bool atMost(double value, double threshold) { return value <= threshold + kTolerance; }

std::optional<double> percentChange(double from, double to) {
  if (from <= 0.0) return std::nullopt;
  return 100.0 * (to - from) / from;
}

std::string percentText(const std::optional<double>& p) {
  return p ? fmt::format("{:+.1f} %", *p) : std::string("n/a (reference is 0)");
}

void checkSeries(const std::vector<TimePointObservation>& series, const char* criteria) {
  if (series.empty()) throw InputError(fmt::format("{}: expected at least a baseline time point, got none", criteria));
  for (const TimePointObservation& tp : series) {
    std::set<std::string> ids;
    for (const LesionObservation& l : tp.lesions)
      if (!ids.insert(l.id).second)
        throw InputError(fmt::format("{}: lesion id '{}' appears twice at time point '{}'", criteria, l.id, tp.label));
  }
}

const LesionObservation* findLesion(const TimePointObservation& tp, const std::string& id) {
  for (const LesionObservation& l : tp.lesions)
    if (l.id == id) return &l;
  return nullptr;
}

/// "T001 (L4)": the tracking id with the name the lesion tables, SEG and SR use.
std::string readerLabel(const LesionObservation& l) {
  return l.name.empty() || l.name == l.id ? l.id : fmt::format("{} ({})", l.id, l.name);
}

std::string joinLabels(const std::vector<LesionObservation>& lesions) {
  std::string s;
  for (const LesionObservation& l : lesions)
    s += (s.empty() ? "" : ", ") + readerLabel(l);
  return s;
}

/// Baseline lesions selected by `keep`, in baseline order.
template <typename Keep>
std::vector<LesionObservation> baselineTargets(const TimePointObservation& baseline, Keep keep) {
  std::vector<LesionObservation> targets;
  for (const LesionObservation& l : baseline.lesions)
    if (l.present && keep(l)) targets.push_back(l);
  return targets;
}

/// Observations of the targets at one time point; `missing` names the first target not assessed.
struct Gathered {
  std::vector<LesionObservation> lesions;
  std::string missing;
};

Gathered gather(const TimePointObservation& tp, const std::vector<LesionObservation>& targets) {
  Gathered g;
  for (const LesionObservation& target : targets) {
    const LesionObservation* l = findLesion(tp, target.id);
    if (!l) {
      g.missing = readerLabel(target);
      return g;
    }
    LesionObservation copy = *l;
    copy.lymphNode = target.lymphNode; // the baseline decides how a target is judged
    if (!copy.present) copy.longAxisMm = copy.shortAxisMm = 0.0;
    g.lesions.push_back(copy);
  }
  return g;
}

std::vector<std::string> idsOf(const std::vector<LesionObservation>& lesions) {
  std::vector<std::string> ids;
  for (const LesionObservation& l : lesions) ids.push_back(l.id);
  return ids;
}

double recistDiameter(const LesionObservation& l) { return l.lymphNode ? l.shortAxisMm : l.longAxisMm; }
double spd(const LesionObservation& l) { return l.longAxisMm * l.shortAxisMm; }

/// Fills sum, baseline, nadir and changes; `sums` holds the evaluable earlier sums.
void fillSums(ResponseAssessment& a, double sum, double baselineSum, const std::vector<double>& earlierSums) {
  a.sum = sum;
  a.baselineSum = baselineSum;
  a.nadirSum = earlierSums.empty() ? baselineSum : *std::min_element(earlierSums.begin(), earlierSums.end());
  a.changeFromBaselinePercent = percentChange(baselineSum, sum);
  a.changeFromNadirPercent = percentChange(a.nadirSum, sum);
  a.changeFromNadir = sum - a.nadirSum;
}

/// Volume-weighted mean of a per-lesion figure (plain mean when a volume is missing); nullopt
/// when any lesion lacks the figure.
template <typename Get>
std::optional<double> weightedMean(const std::vector<LesionObservation>& lesions, Get get) {
  double sum = 0.0, weights = 0.0, plain = 0.0;
  bool allVolumes = true;
  std::size_t n = 0;
  for (const LesionObservation& l : lesions) {
    if (!l.present) continue;
    const std::optional<double> v = get(l);
    if (!v) return std::nullopt;
    plain += *v;
    ++n;
    if (l.volumeMl && *l.volumeMl > 0.0) {
      sum += *v * *l.volumeMl;
      weights += *l.volumeMl;
    } else {
      allVolumes = false;
    }
  }
  if (n == 0) return std::nullopt;
  return allVolumes && weights > 0.0 ? sum / weights : plain / double(n);
}

std::optional<double> totalLyticMl(const std::vector<LesionObservation>& lesions) {
  double total = 0.0;
  for (const LesionObservation& l : lesions) {
    if (!l.present) continue; // gone: nothing lytic left
    if (!l.lyticVolumeMl) return std::nullopt;
    total += *l.lyticVolumeMl;
  }
  return total;
}

/// An assessment of `criteria` at `tp` over `targets`, before its category is decided.
ResponseAssessment assessmentFor(const char* criteria, const TimePointObservation& tp,
                                 const std::vector<LesionObservation>& targets) {
  ResponseAssessment a;
  a.criteria = criteria;
  a.timepoint = tp.label;
  a.lesionIds = idsOf(targets);
  for (const LesionObservation& l : targets)
    a.lesionNames.push_back(l.name);
  return a;
}

ResponseAssessment baselineAssessment(const char* criteria, const TimePointObservation& tp,
                                      const std::vector<LesionObservation>& targets, double sum,
                                      const std::string& what) {
  ResponseAssessment a = assessmentFor(criteria, tp, targets);
  a.sum = a.baselineSum = a.nadirSum = sum;
  if (targets.empty()) {
    a.category = ResponseCategory::NotApplicable;
    a.reason = fmt::format("no lesions at baseline qualify for {}: nothing to follow", criteria);
  } else {
    a.category = ResponseCategory::Baseline;
    a.reason = fmt::format("baseline {} {:.1f} over {} lesion(s): {}", what, sum, targets.size(), joinLabels(targets));
  }
  return a;
}

} // namespace

std::string_view categoryAbbreviation(ResponseCategory category) {
  switch (category) {
  case ResponseCategory::Baseline: return "baseline";
  case ResponseCategory::CompleteResponse: return "CR";
  case ResponseCategory::PartialResponse: return "PR";
  case ResponseCategory::StableDisease: return "SD";
  case ResponseCategory::ProgressiveDisease: return "PD";
  case ResponseCategory::NotEvaluable: return "NE";
  case ResponseCategory::NotApplicable:
    return "NA";
  }
  return "NE";
}

std::string_view categoryName(ResponseCategory category) {
  switch (category) {
  case ResponseCategory::Baseline: return "baseline";
  case ResponseCategory::CompleteResponse: return "complete response";
  case ResponseCategory::PartialResponse: return "partial response";
  case ResponseCategory::StableDisease: return "stable disease";
  case ResponseCategory::ProgressiveDisease: return "progressive disease";
  case ResponseCategory::NotEvaluable: return "not evaluable";
  case ResponseCategory::NotApplicable:
    return "not applicable";
  }
  return "not evaluable";
}

std::vector<ResponseAssessment> assessRecist(const std::vector<TimePointObservation>& series,
                                             const RecistOptions& options) {
  constexpr const char* kName = "RECIST 1.1";
  checkSeries(series, kName);
  const auto targets = baselineTargets(series.front(), [&](const LesionObservation& l) {
    return l.target && (options.includeBoneLesions || !l.bone);
  });
  double baselineSum = 0.0;
  for (const LesionObservation& l : targets) baselineSum += recistDiameter(l);

  std::vector<ResponseAssessment> out;
  out.push_back(baselineAssessment(kName, series.front(), targets, baselineSum,
                                   "sum of diameters (mm; long axes, short axes for nodes)"));
  std::vector<double> evaluableSums{baselineSum};
  for (std::size_t t = 1; t < series.size(); ++t) {
    const TimePointObservation& tp = series[t];
    ResponseAssessment a = assessmentFor(kName, tp, targets);
    if (targets.empty()) {
      a.category = tp.newLesions ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotApplicable;
      a.reason = tp.newLesions ? "new lesion(s) appeared (RECIST 1.1 4.3.6); there are no target lesions"
                               : "no target lesions at baseline";
      out.push_back(a);
      continue;
    }
    const Gathered g = gather(tp, targets);
    if (!g.missing.empty()) {
      // New lesions still decide PD without the sum (RECIST 1.1 table 1).
      a.category = tp.newLesions ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotEvaluable;
      a.reason = tp.newLesions ? fmt::format("new lesion(s) appeared; target lesion {} was not assessed", g.missing)
                               : fmt::format("target lesion {} was not assessed at this time point", g.missing);
      out.push_back(a);
      continue;
    }
    double sum = 0.0;
    for (const LesionObservation& l : g.lesions) sum += recistDiameter(l);
    fillSums(a, sum, baselineSum, evaluableSums);
    evaluableSums.push_back(sum);

    const bool allGone = std::all_of(g.lesions.begin(), g.lesions.end(), [&](const LesionObservation& l) {
      return l.lymphNode ? l.shortAxisMm < options.normalNodeShortAxisMm : (!l.present || l.longAxisMm <= 0.0);
    });
    const std::string sumText = fmt::format("sum {:.1f} mm (baseline {:.1f}, {}; nadir {:.1f}, {}, {:+.1f} mm)", sum,
                                            baselineSum, percentText(a.changeFromBaselinePercent), a.nadirSum,
                                            percentText(a.changeFromNadirPercent), a.changeFromNadir);
    const bool grewFromZero = a.nadirSum <= 0.0 && sum > 0.0;
    const bool grew = a.changeFromNadirPercent && atLeast(*a.changeFromNadirPercent, options.progressionPercent) &&
                      atLeast(a.changeFromNadir, options.progressionAbsoluteMm);
    if (tp.newLesions) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = "new lesion(s) appeared (RECIST 1.1 4.3.6); " + sumText;
    } else if (tp.nonTargetProgression) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = "unequivocal progression of non-target disease; " + sumText;
    } else if (grew || grewFromZero) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = grewFromZero
                     ? "target disease reappeared after complete disappearance; " + sumText
                     : fmt::format("sum grew by at least {:.0f} % and {:.0f} mm over the nadir: ", options.progressionPercent,
                                   options.progressionAbsoluteMm) + sumText;
    } else if (allGone) {
      a.category = ResponseCategory::CompleteResponse;
      a.reason = fmt::format("all non-nodal target lesions disappeared and every target node is below {:.0f} mm short "
                             "axis; ",
                             options.normalNodeShortAxisMm) + sumText;
    } else if (a.changeFromBaselinePercent && atMost(*a.changeFromBaselinePercent, options.partialResponsePercent)) {
      a.category = ResponseCategory::PartialResponse;
      a.reason = fmt::format("sum decreased by at least {:.0f} % from baseline: ", -options.partialResponsePercent) +
                 sumText;
    } else {
      a.category = ResponseCategory::StableDisease;
      std::string why = fmt::format("neither {:.0f} % decrease from baseline nor {:.0f} % and {:.0f} mm increase over the "
                                    "nadir",
                                    -options.partialResponsePercent, options.progressionPercent,
                                    options.progressionAbsoluteMm);
      if (a.changeFromNadirPercent && atLeast(*a.changeFromNadirPercent, options.progressionPercent))
        why = fmt::format("the sum grew by {:.1f} % but only {:.1f} mm (PD needs {:.0f} mm too)",
                          *a.changeFromNadirPercent, a.changeFromNadir, options.progressionAbsoluteMm);
      a.reason = why + ": " + sumText;
    }
    out.push_back(a);
  }
  return out;
}

std::vector<ResponseAssessment> assessMdAnderson(const std::vector<TimePointObservation>& series,
                                                 const MdAndersonOptions& options) {
  constexpr const char* kName = "MDA bone";
  checkSeries(series, kName);
  const auto targets = baselineTargets(series.front(), [](const LesionObservation& l) { return l.bone; });
  double baselineSpd = 0.0;
  for (const LesionObservation& l : targets) baselineSpd += spd(l);
  const std::optional<double> baselineCalcified =
      weightedMean(targets, [](const LesionObservation& l) { return l.calcifiedFraction; });
  const std::optional<double> baselineLytic = totalLyticMl(targets);

  std::vector<ResponseAssessment> out;
  out.push_back(baselineAssessment(kName, series.front(), targets, baselineSpd,
                                   "sum of products of perpendicular diameters (mm²)"));
  std::vector<double> evaluableSums{baselineSpd};
  for (std::size_t t = 1; t < series.size(); ++t) {
    const TimePointObservation& tp = series[t];
    ResponseAssessment a = assessmentFor(kName, tp, targets);
    const bool newBone = tp.newBoneLesions;
    if (targets.empty()) {
      a.category = newBone ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotApplicable;
      a.reason = newBone ? "new bone lesion(s) appeared" : "no bone lesions at baseline";
      out.push_back(a);
      continue;
    }
    const Gathered g = gather(tp, targets);
    if (!g.missing.empty()) {
      a.category = newBone ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotEvaluable;
      a.reason = newBone ? fmt::format("new bone lesion(s) appeared; bone lesion {} was not assessed", g.missing)
                         : fmt::format("bone lesion {} was not assessed at this time point", g.missing);
      out.push_back(a);
      continue;
    }
    double sum = 0.0;
    for (const LesionObservation& l : g.lesions) sum += spd(l);
    fillSums(a, sum, baselineSpd, evaluableSums);
    evaluableSums.push_back(sum);

    const std::optional<double> calcified =
        weightedMean(g.lesions, [](const LesionObservation& l) { return l.calcifiedFraction; });
    const std::optional<double> lytic = totalLyticMl(g.lesions);
    const std::optional<double> lyticChange =
        baselineLytic && lytic ? percentChange(*baselineLytic, *lytic) : std::nullopt;
    std::string densityText;
    if (baselineCalcified && calcified)
      densityText += fmt::format("; calcified fraction {:.1f} % (baseline {:.1f} %)", 100.0 * *calcified,
                                 100.0 * *baselineCalcified);
    if (baselineLytic && lytic)
      densityText += fmt::format("; lytic volume {:.2f} mL (baseline {:.2f} mL, {})", *lytic, *baselineLytic,
                                 percentText(lyticChange));
    const std::string sumText = fmt::format("SPD {:.0f} mm² (baseline {:.0f}, {}; nadir {:.0f}, {})", sum, baselineSpd,
                                            percentText(a.changeFromBaselinePercent), a.nadirSum,
                                            percentText(a.changeFromNadirPercent)) +
                                densityText;
    const bool allGone = std::all_of(g.lesions.begin(), g.lesions.end(), [](const LesionObservation& l) { return !l.present; });
    const bool completeFillIn = baselineLytic && lytic && *baselineLytic > 0.0 &&
                                atMost(*lytic / *baselineLytic, options.completeFillInLyticFraction);
    const bool sclerosis = baselineCalcified && calcified &&
                           atLeast(*calcified - *baselineCalcified, options.sclerosisFractionIncrease);
    const bool fillIn = lyticChange && atMost(*lyticChange, options.lyticDecreasePercent);
    const bool grew = (a.nadirSum <= 0.0 && sum > 0.0) ||
                      (a.changeFromNadirPercent && atLeast(*a.changeFromNadirPercent, options.progressionSpdPercent));

    if (newBone) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = "new bone lesion(s) appeared; " + sumText;
    } else if (grew) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = fmt::format("SPD grew by at least {:.0f} % over the nadir: ", options.progressionSpdPercent) + sumText;
    } else if (allGone || completeFillIn) {
      a.category = ResponseCategory::CompleteResponse;
      a.reason = allGone ? "every bone lesion disappeared; " + sumText
                         : fmt::format("complete fill-in or sclerosis: at most {:.0f} % of the baseline lytic volume "
                                       "remains; ",
                                       100.0 * options.completeFillInLyticFraction) + sumText;
    } else if (sclerosis || fillIn) {
      a.category = ResponseCategory::PartialResponse;
      std::string why;
      if (sclerosis)
        why = fmt::format("sclerosis: calcified fraction up by at least {:.0f} percentage points",
                          100.0 * options.sclerosisFractionIncrease);
      if (fillIn)
        why += std::string(why.empty() ? "" : " and ") +
               fmt::format("partial fill-in: lytic volume down by at least {:.0f} %", -options.lyticDecreasePercent);
      a.reason = why + "; " + sumText;
    } else if (a.changeFromBaselinePercent && atMost(*a.changeFromBaselinePercent, options.partialResponseSpdPercent)) {
      a.category = ResponseCategory::PartialResponse;
      a.reason = fmt::format("SPD decreased by at least {:.0f} % from baseline: ", -options.partialResponseSpdPercent) +
                 sumText;
    } else {
      a.category = ResponseCategory::StableDisease;
      a.reason = fmt::format("no new bone lesion, SPD change between -{:.0f} % and +{:.0f} %, no sclerosis or fill-in "
                             "reaching the response thresholds: ",
                             -options.partialResponseSpdPercent, options.progressionSpdPercent) + sumText;
    }
    out.push_back(a);
  }
  return out;
}

std::vector<ResponseAssessment> assessInverseChoi(const std::vector<TimePointObservation>& series,
                                                  const ChoiOptions& options) {
  constexpr const char* kName = "inverse Choi";
  checkSeries(series, kName);
  const auto targets = baselineTargets(series.front(), [](const LesionObservation& l) { return l.bone; });
  double baselineSum = 0.0;
  for (const LesionObservation& l : targets) baselineSum += l.longAxisMm;
  const std::optional<double> baselineHu =
      weightedMean(targets, [](const LesionObservation& l) { return l.meanHu; });

  std::vector<ResponseAssessment> out;
  out.push_back(baselineAssessment(kName, series.front(), targets, baselineSum, "sum of long axes (mm)"));
  if (!targets.empty() && baselineHu)
    out.back().reason += fmt::format("; mean density {:.1f} HU", *baselineHu);
  std::vector<double> evaluableSums{baselineSum};
  for (std::size_t t = 1; t < series.size(); ++t) {
    const TimePointObservation& tp = series[t];
    ResponseAssessment a = assessmentFor(kName, tp, targets);
    const bool newLesions = tp.newLesions || tp.newBoneLesions;
    if (targets.empty()) {
      a.category = newLesions ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotApplicable;
      a.reason = newLesions ? "new lesion(s) appeared" : "no bone lesions at baseline";
      out.push_back(a);
      continue;
    }
    const Gathered g = gather(tp, targets);
    if (!g.missing.empty()) {
      a.category = newLesions ? ResponseCategory::ProgressiveDisease : ResponseCategory::NotEvaluable;
      a.reason = fmt::format("{}lesion {} was not assessed at this time point", newLesions ? "new lesion(s); " : "",
                             g.missing);
      out.push_back(a);
      continue;
    }
    double sum = 0.0;
    for (const LesionObservation& l : g.lesions) sum += l.longAxisMm;
    fillSums(a, sum, baselineSum, evaluableSums);
    evaluableSums.push_back(sum);
    const std::optional<double> hu = weightedMean(g.lesions, [](const LesionObservation& l) { return l.meanHu; });
    const std::optional<double> densityChange =
        baselineHu && hu && *baselineHu > 0.0 ? percentChange(*baselineHu, *hu) : std::nullopt;
    std::string densityText = "density change n/a";
    if (densityChange)
      densityText = fmt::format("mean density {:.1f} HU (baseline {:.1f} HU, {})", *hu, *baselineHu,
                                percentText(densityChange));
    else if (baselineHu && *baselineHu <= 0.0)
      densityText = fmt::format("density change not evaluable: baseline mean {:.1f} HU is not positive", *baselineHu);
    const std::string text = fmt::format("size sum {:.1f} mm (baseline {:.1f}, {}; nadir {:.1f}, {}); ", sum,
                                         baselineSum, percentText(a.changeFromBaselinePercent), a.nadirSum,
                                         percentText(a.changeFromNadirPercent)) +
                             densityText;
    const bool densityResponse = densityChange && atLeast(*densityChange, options.densityPartialResponsePercent);
    const bool sizeResponse =
        a.changeFromBaselinePercent && atMost(*a.changeFromBaselinePercent, options.sizePartialResponsePercent);
    const bool grew = (a.nadirSum <= 0.0 && sum > 0.0) ||
                      (a.changeFromNadirPercent && atLeast(*a.changeFromNadirPercent, options.sizeProgressionPercent));
    const bool allGone = std::all_of(g.lesions.begin(), g.lesions.end(), [](const LesionObservation& l) { return !l.present; });
    if (newLesions) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = "new lesion(s) appeared; " + text;
    } else if (allGone) {
      a.category = ResponseCategory::CompleteResponse;
      a.reason = "every lesion disappeared; " + text;
    } else if (grew && !densityResponse) {
      a.category = ResponseCategory::ProgressiveDisease;
      a.reason = fmt::format("size grew by at least {:.0f} % over the nadir without a density response: ",
                             options.sizeProgressionPercent) + text;
    } else if (sizeResponse || densityResponse) {
      a.category = ResponseCategory::PartialResponse;
      std::string why = sizeResponse ? fmt::format("size down by at least {:.0f} %", -options.sizePartialResponsePercent)
                                     : std::string();
      if (densityResponse)
        why += std::string(why.empty() ? "" : " and ") +
               fmt::format("density up by at least {:.0f} %", options.densityPartialResponsePercent);
      a.reason = why + ": " + text;
    } else {
      a.category = ResponseCategory::StableDisease;
      a.reason = "neither response nor progression thresholds reached: " + text;
    }
    out.push_back(a);
  }
  return out;
}

std::vector<ResponseAssessment> assessRecistForLesion(const std::vector<TimePointObservation>& series,
                                                      const std::string& lesionId, RecistOptions options) {
  std::vector<TimePointObservation> single;
  for (const TimePointObservation& tp : series) {
    TimePointObservation s;
    s.label = tp.label;
    if (const LesionObservation* l = findLesion(tp, lesionId)) s.lesions.push_back(*l);
    single.push_back(s);
  }
  if (single.empty() || single.front().lesions.empty())
    throw InputError(fmt::format("RECIST 1.1: lesion '{}' is not in the baseline time point", lesionId));
  options.includeBoneLesions = true;
  return assessRecist(single, options);
}

ResponseAssessment assessRecistPair(double baselineLongMm, double baselineShortMm, double followLongMm,
                                    double followShortMm, bool lymphNode, const RecistOptions& options) {
  LesionObservation before{"lesion", lymphNode, false, true, baselineLongMm, baselineShortMm};
  LesionObservation after = before;
  after.longAxisMm = followLongMm;
  after.shortAxisMm = followShortMm;
  after.present = lymphNode ? true : followLongMm > 0.0;
  std::vector<TimePointObservation> series{{"baseline", {before}}, {"follow-up", {after}}};
  RecistOptions o = options;
  o.includeBoneLesions = true;
  return assessRecist(series, o).back();
}

} // namespace lesion::longitudinal
