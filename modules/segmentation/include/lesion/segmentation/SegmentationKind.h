#pragma once
/// \file SegmentationKind.h
/// The kinds of lesion `lesionkit segment` knows. New kinds (e.g. the spine work's lytic lesion)
/// add one enumerator, one row in SegmentationKind.cxx and one branch in the command.

#include <string>
#include <string_view>
#include <vector>

namespace lesion::segmentation {

enum class SegmentationKind {
  SoftTissue ///< soft-tissue mass on CT or MR (segmentSoftTissueMass)
};

/// Command-line names of every kind, in enumeration order ("soft-tissue", ...).
[[nodiscard]] std::vector<std::string> segmentationKindNames();
[[nodiscard]] std::string_view segmentationKindName(SegmentationKind kind);
/// Throws lesion::UsageError listing the known names when `name` is not one of them.
[[nodiscard]] SegmentationKind parseSegmentationKind(std::string_view name);

} // namespace lesion::segmentation
