#pragma once
// A DicomInstance header as compact JSON, so the index can rebuild series (split them and check
// their slice stacks) without reading the files again. Default values are left out.

#include <filesystem>
#include <string>
#include <string_view>

#include "lesion/dicomio/DicomHeader.h"

namespace lesion::archive::detail {

[[nodiscard]] std::string encodeInstance(const dicomio::DicomInstance& instance);
/// Throws lesion::ProcessingError when `json` is not an encoded instance.
[[nodiscard]] dicomio::DicomInstance decodeInstance(std::string_view json, const std::filesystem::path& path);

} // namespace lesion::archive::detail
