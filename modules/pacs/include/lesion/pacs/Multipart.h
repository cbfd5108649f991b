#pragma once
/// \file Multipart.h
/// multipart/related bodies (RFC 2387) as DICOMweb uses them: WADO-RS answers and STOW-RS requests.

#include <string>
#include <vector>

namespace lesion::pacs {

struct MultipartPart {
  std::string contentType{}; ///< the part's Content-Type header ("" when absent)
  std::string body{};
};

/// The boundary parameter of a Content-Type header (quoted or not); "" when there is none.
[[nodiscard]] std::string multipartBoundary(const std::string& contentType);

/// Splits a multipart body at `boundary`. Throws lesion::ProcessingError when the body does not
/// start with the boundary or a part's headers are not terminated (a truncated answer).
[[nodiscard]] std::vector<MultipartPart> parseMultipart(const std::string& body, const std::string& boundary);

/// A multipart body of `parts` (each with its Content-Type) delimited by `boundary`.
[[nodiscard]] std::string buildMultipart(const std::vector<MultipartPart>& parts, const std::string& boundary);

} // namespace lesion::pacs
