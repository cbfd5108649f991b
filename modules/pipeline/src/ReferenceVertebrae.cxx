#include "lesion/pipeline/ReferenceVertebrae.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/spine/LyticLesionDetection.h"
#include "lesion/spine/SpineSegmentation.h"

namespace lesion::pipeline {

namespace {

/// A vertebral level named by the lesion ("L4"), or empty.
std::string levelNamed(const std::string& name) {
  try {
    return spine::levelOfLabel(spine::labelOfLevel(name));
  } catch (const UsageError&) {
    return {};
  }
}

Vec3 centroidOf(const LabelMap& map, std::uint16_t label) {
  Vec3 sum{};
  std::size_t n = 0;
  const ImageGeometry& g = map.geometry;
  for (std::size_t k = 0, idx = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++idx)
        if (map.voxels[idx] == label) {
          sum += g.indexToPoint(i, j, k);
          ++n;
        }
  return n ? sum / double(n) : sum;
}

/// segmentSpine; when no sacrum or rib fixes the levels (a scan around the lesion only), again
/// anchored at the first bone lesion named by its level, as `lesionkit spine --level L4 --seed`.
spine::SpineResult segmentSpineOf(const Volume& ct, const LabelMap& lesions,
                                  const std::vector<measurement::LesionSpec>& followed, std::string& anchoredAt) {
  try {
    return spine::segmentSpine(ct);
  } catch (const spine::NoLevelAnchorError&) {
    for (const measurement::LesionSpec& spec : followed) {
      const std::string level = levelNamed(spec.name);
      if (!measurement::isBoneKind(spec.kind) || level.empty())
        continue;
      spine::SpineOptions o;
      o.anchorLevel = level;
      o.anchorSeed = centroidOf(lesions, spec.label);
      anchoredAt = fmt::format("levels anchored at lesion {} named {}", spec.label, level);
      return spine::segmentSpine(ct, o);
    }
    throw ProcessingError("spine segmentation: neither the sacrum nor ribs are in view, so the vertebral levels cannot "
                          "be counted, and no bone lesion is named by its level; name one by its level (e.g. "
                          "1:lytic-bone:L4) or give the reference region (--reference)");
  }
}

/// Levels of the vertebrae (body or whole vertebra) within `marginMm` of a followed lesion's
/// voxels, each with the lesions that touch it.
std::map<std::string, std::vector<std::string>> levelsTouched(const spine::SpineResult& spine, const LabelMap& lesions,
                                                              const std::vector<measurement::LesionSpec>& followed,
                                                              double marginMm) {
  std::map<std::uint16_t, std::string> nameOf;
  for (const measurement::LesionSpec& spec : followed)
    nameOf[spec.label] = fmt::format("lesion {} ({})", spec.label, spec.name);
  const ImageGeometry& g = lesions.geometry;
  const long rx = long(std::ceil(marginMm / g.spacing.x)), ry = long(std::ceil(marginMm / g.spacing.y)),
             rz = long(std::ceil(marginMm / g.spacing.z));
  std::map<std::string, std::set<std::string>> touched;
  for (std::size_t k = 0, idx = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++idx) {
        const auto lesion = nameOf.find(lesions.voxels[idx]);
        if (lesion == nameOf.end())
          continue;
        for (long c = long(k) - rz; c <= long(k) + rz; ++c)
          for (long b = long(j) - ry; b <= long(j) + ry; ++b)
            for (long a = long(i) - rx; a <= long(i) + rx; ++a) {
              if (!g.containsIndex(a, b, c))
                continue;
              const std::size_t n = g.linearIndex(std::size_t(a), std::size_t(b), std::size_t(c));
              for (const LabelMap* map : {&spine.bodies, &spine.vertebrae}) {
                const std::string level = spine::levelOfLabel(map->voxels[n]);
                if (!level.empty())
                  touched[level].insert(lesion->second);
              }
            }
      }
  std::map<std::string, std::vector<std::string>> result;
  for (const auto& [level, names] : touched)
    result[level] = {names.begin(), names.end()};
  return result;
}

/// Why body `n` of the spine is not unaffected bone on its own (empty: it is), apart from lesions.
std::string ownReasonToLeaveOut(const std::vector<spine::VertebraMeasurement>& levels, std::size_t n) {
  const spine::VertebraMeasurement& v = levels[n];
  if (v.level == "S1")
    return "first sacral segment (fattier marrow than the lumbar and thoracic bodies)";
  if (!v.complete)
    return "cut by the scan edge";
  // Several bodies merged (a disc not found): their discs and endplates would widen the spread.
  if (const std::string why = spine::implausibleBodySize(levels, n); !why.empty())
    return why + ": implausible for one vertebral body (several merged?)";
  if (v.genantGrade >= 1)
    return fmt::format("height loss {:.0f} % (Genant grade {}): deformed", 100.0 * v.heightLossRatio, v.genantGrade);
  return {};
}

} // namespace

longitudinal::FoundReference findUnaffectedVertebrae(const Volume& ct, const LabelMap& lesions,
                                                     const std::vector<measurement::LesionSpec>& followed,
                                                     const UnaffectedVertebraeOptions& options) {
  std::string anchoredAt;
  const spine::SpineResult spine = segmentSpineOf(ct, lesions, followed, anchoredAt);
  // Affected levels, each with why: a followed lesion touches it, or an unfollowed lytic lesion lies in it.
  std::map<std::string, std::string> affected;
  for (const auto& [level, names] : levelsTouched(spine, lesions, followed, options.touchMarginMm))
    affected[level] = fmt::format("touches {}", fmt::join(names, ", "));
  if (options.screenLytic) {
    const spine::LyticResult screened = spine::detectLyticLesions(ct, spine);
    for (const spine::LyticLesion& c : screened.candidates)
      if (c.labelled && !affected.count(c.level))
        affected[c.level] = fmt::format("lytic candidate that no followed lesion covers ({:.1f} mL)", c.volumeMl);
  }
  std::vector<std::string> candidates, neighbours;
  longitudinal::FoundReference found;
  for (std::size_t n = 0; n < spine.levels.size(); ++n) {
    const spine::VertebraMeasurement& v = spine.levels[n];
    std::string why = affected.count(v.level) ? affected[v.level] : ownReasonToLeaveOut(spine.levels, n);
    if (!why.empty()) {
      found.region.excluded.push_back(v.level + ": " + why);
      continue;
    }
    const std::string above = spine::levelAbove(v.level, 1), below = spine::levelAbove(v.level, -1);
    const std::string& next = affected.count(above) ? above : below;
    if (options.excludeNeighbours && affected.count(next)) {
      found.region.excluded.push_back(v.level + ": next to " + next);
      neighbours.push_back(v.level);
    } else {
      candidates.push_back(v.level);
    }
  }
  found.region.method = "vertebral bodies of the baseline spine segmentation" +
                        (anchoredAt.empty() ? "" : ", " + anchoredAt) + ", leaving out affected bodies" +
                        (options.excludeNeighbours ? " and their direct neighbours" : "");
  if (candidates.empty() && !neighbours.empty()) {
    // A scan of a few levels: the neighbours are still better than no reference at all.
    candidates = neighbours;
    found.region.method += " (neighbours used: no other body is unaffected)";
    found.region.excluded.erase(
        std::remove_if(found.region.excluded.begin(), found.region.excluded.end(),
                       [](const std::string& e) { return e.find(": next to ") != std::string::npos; }),
        found.region.excluded.end());
  }
  if (candidates.empty())
    throw ProcessingError(fmt::format("no unaffected vertebral body among {} levels ({})", spine.levels.size(),
                                      fmt::join(found.region.excluded, "; ")));
  for (const std::string& level : candidates)
    found.labels.push_back(spine::labelOfLevel(level));
  found.region.structures = candidates;
  found.map = LabelMap(ct.geometry, 0);
  for (std::size_t i = 0; i < found.map.voxels.size(); ++i) {
    const std::uint16_t v = spine.bodies.voxels[i];
    if (v != 0 && std::find(found.labels.begin(), found.labels.end(), v) != found.labels.end())
      found.map.voxels[i] = v;
  }
  return found;
}

longitudinal::ReferenceFinder unaffectedVertebraeFinder(const UnaffectedVertebraeOptions& options) {
  return [options](const Volume& ct, const LabelMap& lesions, const std::vector<measurement::LesionSpec>& followed) {
    return findUnaffectedVertebrae(ct, lesions, followed, options);
  };
}

} // namespace lesion::pipeline
