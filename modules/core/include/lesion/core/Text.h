#pragma once
/// \file Text.h
/// Checks on text LesionKit writes or reads: which bytes are UTF-8.

#include <string_view>

namespace lesion {

/// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), as JSON
/// writers and DICOM's ISO_IR 192 require it.
[[nodiscard]] bool isUtf8(std::string_view text);

/// Only 7-bit ASCII characters (the DICOM default repertoire's bytes).
[[nodiscard]] bool isAscii(std::string_view text);

} // namespace lesion
