#pragma once
// Private: DICOM's Japanese character sets decoded to UTF-8 (see JapaneseText.cxx).

#include <optional>
#include <string>
#include <string_view>

class DcmItem;

namespace lesion::dicomio::detail {

/// Whether every term of a Specific Character Set value is one the Japanese decoder reads: the
/// default repertoire (empty, ISO 2022 IR 6), JIS X 0201 (ISO_IR 13, ISO 2022 IR 13), JIS X 0208
/// (ISO 2022 IR 87) and JIS X 0212 (ISO 2022 IR 159), with at least one Japanese term.
[[nodiscard]] bool isJapaneseCharacterSet(std::string_view specificCharacterSet);

/// One text value in DICOM's Japanese code extensions (PS3.5 6.1.2.5.3, Annex H) as UTF-8:
/// ASCII / JIS X 0201 Roman in G0, half-width katakana (JIS X 0201) as bytes A1-DF, and the
/// two-byte runs after ESC $ B (JIS X 0208) or ESC $ ( D (JIS X 0212). Nothing when the bytes
/// follow none of these (an unknown escape, a byte outside them, a broken two-byte run, NUL, DEL).
[[nodiscard]] std::optional<std::string> decodeJapaneseText(std::string_view bytes);

/// Decodes every text element of `dataset` (forEachTextElement) with decodeJapaneseText and
/// declares ISO_IR 192. A value it cannot decode keeps its ASCII part (a person name its
/// alphabetic group); then it returns false.
bool convertJapaneseTextToUtf8(DcmItem& dataset);

} // namespace lesion::dicomio::detail
