// Level names, label values and the Genant grade: small, ITK-free helpers.
#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::spine {
namespace {

// Top to bottom; index t has label 50 - t (TotalSegmentator's numbering: C1 50 .. S1 26).
const std::array<const char*, 25> kLevels{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2",
                                          "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11",
                                          "T12", "L1", "L2", "L3", "L4", "L5", "S1"};

int indexOf(const std::string& level) {
  for (std::size_t t = 0; t < kLevels.size(); ++t)
    if (level == kLevels[t]) return int(t);
  return -1;
}

double meanHeight(const VertebraMeasurement& v) {
  return (v.anteriorHeightMm + v.middleHeightMm + v.posteriorHeightMm) / 3.0;
}

} // namespace

std::uint16_t labelOfLevel(const std::string& level) {
  const int t = indexOf(level);
  if (t < 0) throw UsageError(fmt::format("unknown vertebral level '{}': expected C1..C7, T1..T12, L1..L5 or S1", level));
  return static_cast<std::uint16_t>(50 - t);
}

std::string levelOfLabel(std::uint16_t label) {
  if (label < 26 || label > 50) return {};
  return kLevels[std::size_t(50 - label)];
}

std::string levelAbove(const std::string& level, int steps) {
  const int t = indexOf(level);
  if (t < 0) throw UsageError(fmt::format("unknown vertebral level '{}': expected C1..C7, T1..T12, L1..L5 or S1", level));
  const int u = t - steps;
  if (u < 0 || u >= int(kLevels.size())) return {};
  return kLevels[std::size_t(u)];
}

int genantGrade(double heightLossRatio) {
  if (heightLossRatio < 0.20) return 0;
  if (heightLossRatio < 0.25) return 1;
  if (heightLossRatio <= 0.40) return 2;
  return 3;
}

const char* anchorName(LevelAnchor anchor) {
  switch (anchor) {
  case LevelAnchor::UserSeed: return "user-seed";
  case LevelAnchor::Sacrum: return "sacrum";
  case LevelAnchor::LowestRib: return "lowest-rib";
  }
  return "?";
}

void gradeHeightLoss(std::vector<VertebraMeasurement>& levels) {
  // A body of implausible size (several merged where a disc was missed) keeps its shape, but its
  // height is no vertebra's: it neither serves as a reference nor is graded.
  std::vector<bool> merged(levels.size());
  for (std::size_t n = 0; n < levels.size(); ++n)
    merged[n] = !implausibleBodySize(levels, n).empty();
  auto undeformed = [&](std::size_t m) {
    const VertebraMeasurement& v = levels[m];
    const double hmax = std::max({v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm});
    const double hmin = std::min({v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm});
    return v.complete && v.level != "S1" && !merged[m] && hmax > 0 && hmin / hmax >= 0.85;
  };
  for (std::size_t n = 0; n < levels.size(); ++n) {
    VertebraMeasurement& v = levels[n];
    const double hmin = std::min({v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm});
    const double hmax = std::max({v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm});
    // Nearest undeformed neighbour on each side (at most two levels away).
    double sum = 0;
    int count = 0;
    for (int dir : {-1, 1}) {
      for (int step = 1; step <= 2; ++step) {
        const long m = long(n) + dir * step;
        if (m < 0 || m >= long(levels.size())) break;
        if (undeformed(std::size_t(m))) {
          sum += meanHeight(levels[std::size_t(m)]);
          ++count;
          break;
        }
      }
    }
    v.referenceHeightMm = count > 0 ? sum / count : hmax;
    v.heightLossRatio = v.referenceHeightMm > 0 ? std::max(0.0, 1.0 - hmin / v.referenceHeightMm) : 0.0;
    // The sacrum, bodies cut by the scan edge and merged bodies are not graded.
    v.graded = v.complete && v.level != "S1" && !merged[n];
    v.genantGrade = v.graded ? genantGrade(v.heightLossRatio) : 0;
  }
}

std::string implausibleBodySize(const std::vector<VertebraMeasurement>& levels, std::size_t n) {
  auto judged = [](const VertebraMeasurement& v) { return v.level != "C1" && v.level != "C2" && v.level != "S1"; };
  const VertebraMeasurement& v = levels.at(n);
  if (!judged(v))
    return {};
  std::vector<double> heights, volumes;
  for (std::size_t m = n >= 3 ? n - 3 : 0; m < std::min(levels.size(), n + 4); ++m)
    if (m != n && levels[m].complete && judged(levels[m])) {
      heights.push_back(meanHeight(levels[m]));
      volumes.push_back(levels[m].bodyVolumeMl);
    }
  if (heights.size() < 2)
    return {};
  auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x.size() % 2 ? x[x.size() / 2] : 0.5 * (x[x.size() / 2 - 1] + x[x.size() / 2]);
  };
  const double height = std::min({v.anteriorHeightMm, v.middleHeightMm, v.posteriorHeightMm});
  const double usualHeight = median(heights), usualVolume = median(volumes);
  if (usualHeight > 0 && height >= 1.5 * usualHeight)
    return fmt::format("body {:.0f} mm tall, {:.1f} x the median of the bodies within three levels ({:.0f} mm)", height,
                       height / usualHeight, usualHeight);
  if (usualVolume > 0 && v.bodyVolumeMl >= 2.0 * usualVolume)
    return fmt::format("body {:.0f} mL, {:.1f} x the median of the bodies within three levels ({:.0f} mL)",
                       v.bodyVolumeMl, v.bodyVolumeMl / usualVolume, usualVolume);
  return {};
}

void markDoubtfulLevels(std::vector<VertebraMeasurement>& levels, const std::string& anchorLevel) {
  std::size_t anchor = levels.size();
  for (std::size_t n = 0; n < levels.size(); ++n)
    if (levels[n].level == anchorLevel)
      anchor = n;
  for (std::size_t m = 0; m < levels.size(); ++m) {
    if (implausibleBodySize(levels, m).empty())
      continue;
    // Above the anchor the count runs upwards (doubtful from the merged body up), below it downwards;
    // a merged anchor body shifts both.
    const std::size_t from = m > anchor ? m : 0, to = m < anchor ? m + 1 : levels.size();
    for (std::size_t n = from; n < to; ++n)
      levels[n].levelDoubtful = true;
  }
}

bool levelIsDoubtful(const std::vector<VertebraMeasurement>& levels, const std::string& level) {
  return std::any_of(levels.begin(), levels.end(),
                     [&](const VertebraMeasurement& v) { return v.level == level && v.levelDoubtful; });
}

namespace {

// Adult vertebral bodies, C3 to L5 (lumbar bodies about 15-60 mL and 25-35 mm tall), with a margin.
constexpr double kMinBodyMl = 1.5, kMaxBodyMl = 100.0;
constexpr double kMinBodyHeightMm = 8.0, kMaxBodyHeightMm = 50.0;

bool completeBodyOfAdultSize(const VertebraMeasurement& v) {
  const double height = meanHeight(v);
  return v.complete && v.bodyVolumeMl >= kMinBodyMl && v.bodyVolumeMl <= kMaxBodyMl && height >= kMinBodyHeightMm &&
         height <= kMaxBodyHeightMm;
}

} // namespace

std::string implausibleSpine(const std::vector<VertebraMeasurement>& levels) {
  if (std::any_of(levels.begin(), levels.end(), completeBodyOfAdultSize))
    return {};
  std::string found;
  for (const VertebraMeasurement& v : levels)
    found += fmt::format("{}{} {:.1f} mL, {:.0f} mm tall{}", found.empty() ? "" : "; ", v.level, v.bodyVolumeMl,
                         meanHeight(v), v.complete ? "" : ", cut by the scan edge");
  return fmt::format("no complete vertebral body of adult size ({}-{} mL, {}-{} mm tall) among the {} bod{} found "
                     "({}): not a vertebral column (e.g. a head CT, or a scan too short to hold one whole vertebra)",
                     kMinBodyMl, kMaxBodyMl, kMinBodyHeightMm, kMaxBodyHeightMm, levels.size(),
                     levels.size() == 1 ? "y" : "ies", found);
}

} // namespace lesion::spine
