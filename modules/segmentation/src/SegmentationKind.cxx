#include "lesion/segmentation/SegmentationKind.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::segmentation {

namespace {
constexpr std::array<std::pair<SegmentationKind, std::string_view>, 1> kKinds{{
    {SegmentationKind::SoftTissue, "soft-tissue"},
}};
} // namespace

std::vector<std::string> segmentationKindNames() {
  std::vector<std::string> names;
  for (const auto& [kind, name] : kKinds) names.emplace_back(name);
  return names;
}

std::string_view segmentationKindName(SegmentationKind kind) {
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "unknown";
}

SegmentationKind parseSegmentationKind(std::string_view name) {
  for (const auto& [kind, n] : kKinds)
    if (n == name) return kind;
  throw UsageError(fmt::format("--kind {}: unknown lesion kind; expected one of: {}", name,
                               fmt::join(segmentationKindNames(), ", ")));
}

} // namespace lesion::segmentation
