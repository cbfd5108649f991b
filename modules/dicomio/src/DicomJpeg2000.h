#pragma once
// Private: JPEG 2000 decoding through GDCM (see DicomJpeg2000.cxx).

#include <filesystem>
#include <string>
#include <vector>

namespace lesion::dicomio::detail {

[[nodiscard]] bool isJpeg2000TransferSyntax(const std::string& uid);

/// Raw stored pixel bytes (all frames, host byte order) of a JPEG 2000 encoded file. Throws
/// lesion::DicomError naming the file when GDCM cannot decode it.
[[nodiscard]] std::vector<char> decodeJpeg2000PixelBytes(const std::filesystem::path& path, std::size_t expectedBytes);

} // namespace lesion::dicomio::detail
