// DICOM's Japanese character sets read as UTF-8. DCMTK hands them to iconv under names (ISO-IR-87,
// JIS_X0201) that GNU libiconv knows and glibc's iconv, DCMTK's on Debian, does not: every
// Japanese name came out as its romanised group only. The two-byte runs are converted by iconv
// as ISO-2022-JP-2, which glibc has; the single-byte parts are mapped here.
#include "JapaneseText.h"

#include <array>

#include <dcmtk/ofstd/ofchrenc.h>

#include "TextElements.h"

namespace lesion::dicomio::detail {
namespace {

std::string_view trimmedTerm(std::string_view term) {
  while (!term.empty() && term.front() == ' ')
    term.remove_prefix(1);
  while (!term.empty() && term.back() == ' ')
    term.remove_suffix(1);
  return term;
}

void appendUtf8(std::string& out, char32_t code) {
  if (code < 0x80) {
    out += char(code);
  } else if (code < 0x800) {
    out += char(0xC0 | (code >> 6));
    out += char(0x80 | (code & 0x3F));
  } else {
    out += char(0xE0 | (code >> 12));
    out += char(0x80 | ((code >> 6) & 0x3F));
    out += char(0x80 | (code & 0x3F));
  }
}

/// A run of two-byte codes (7-bit, after `designation`) through iconv as ISO-2022-JP-2.
std::optional<std::string> twoByteRunAsUtf8(const std::string& designation, const std::string& run) {
  OFCharacterEncoding encoding;
  if (encoding.selectEncoding("ISO-2022-JP-2", "UTF-8").bad())
    return std::nullopt;
  OFString out;
  const std::string text = designation + run + "\x1B(B";
  if (encoding.convertString(text.c_str(), text.size(), out).bad())
    return std::nullopt;
  return std::string(out.c_str(), out.length());
}

/// What is kept of a value that is not Japanese as DICOM encodes it: the text before the first
/// escape or byte outside ASCII, and of a person name its alphabetic group (before the '=' there),
/// as for text no character set converts (asUtf8).
std::string asciiPartOf(std::string_view value, bool personName) {
  std::size_t end = 0;
  while (end < value.size() && static_cast<unsigned char>(value[end]) >= 0x20 &&
         static_cast<unsigned char>(value[end]) < 0x7F)
    ++end;
  if (end < value.size() && personName)
    if (const std::size_t group = value.rfind('=', end); group != std::string_view::npos)
      end = group;
  value = value.substr(0, end);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  return std::string(value);
}

} // namespace

bool isJapaneseCharacterSet(std::string_view specificCharacterSet) {
  bool japanese = false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = specificCharacterSet.find('\\', start);
    const std::string_view term = trimmedTerm(specificCharacterSet.substr(start, end - start));
    if (term == "ISO_IR 13" || term == "ISO 2022 IR 13" || term == "ISO 2022 IR 87" || term == "ISO 2022 IR 159")
      japanese = true;
    else if (!term.empty() && term != "ISO 2022 IR 6")
      return false;
    if (end == std::string_view::npos)
      return japanese;
    start = end + 1;
  }
}

std::optional<std::string> decodeJapaneseText(std::string_view in) {
  static const std::array<std::pair<std::string_view, const char*>, 6> escapes = {{
      {"\x1B(B", ""},         // G0: ASCII
      {"\x1B(J", ""},         // G0: JIS X 0201 Roman (read as ASCII, as pydicom does)
      {"\x1B$B", "\x1B$B"},   // G0: JIS X 0208
      {"\x1B$@", "\x1B$B"},   // G0: JIS C 6226-1978, read as its successor JIS X 0208
      {"\x1B$(D", "\x1B$(D"}, // G0: JIS X 0212
      {"\x1B)I", nullptr},    // G1: JIS X 0201 katakana (bytes A1-DF, read whatever G1 holds)
  }};
  std::string out, run, designation; // designation: the two-byte set in G0, empty for ASCII
  const auto flush = [&]() {
    if (run.empty())
      return true;
    const auto text = twoByteRunAsUtf8(designation, run);
    if (!text)
      return false;
    out += *text;
    run.clear();
    return true;
  };
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == 0x1B) {
      if (!flush())
        return std::nullopt;
      bool known = false;
      for (const auto& [sequence, designates] : escapes)
        if (in.substr(i, sequence.size()) == sequence) {
          if (designates)
            designation = designates;
          i += sequence.size();
          known = true;
          break;
        }
      if (!known)
        return std::nullopt;
    } else if (c == 0x00 || c == 0x7F) {
      return std::nullopt;
    } else if (!designation.empty() && c >= 0x21 && c <= 0x7E) {
      if (i + 1 >= in.size() || static_cast<unsigned char>(in[i + 1]) < 0x21 ||
          static_cast<unsigned char>(in[i + 1]) > 0x7E)
        return std::nullopt;
      run.append(in.substr(i, 2));
      i += 2;
    } else if (!designation.empty() && c != '\r' && c != '\n' && c != '\t' && c != '\f') {
      return std::nullopt; // a byte no two-byte set holds (text returns to ASCII before a space)
    } else {
      if (!flush())
        return std::nullopt;
      if (c < 0x80)
        out += char(c);
      else if (c >= 0xA1 && c <= 0xDF)
        appendUtf8(out, char32_t(0xFF61 + (c - 0xA1))); // half-width katakana
      else
        return std::nullopt;
      ++i;
    }
  }
  if (!flush())
    return std::nullopt;
  return out;
}

bool convertJapaneseTextToUtf8(DcmItem& dataset) {
  bool all = true;
  forEachTextElement(dataset, [&](DcmElement& element) {
    OFString value;
    if (element.getOFStringArray(value).bad() || value.empty())
      return;
    const std::string_view bytes(value.c_str(), value.length());
    std::string text;
    if (auto decoded = decodeJapaneseText(bytes)) {
      text = std::move(*decoded);
    } else {
      all = false;
      text = asciiPartOf(bytes, element.ident() == EVR_PN);
    }
    element.putOFStringArray(OFString(text.c_str(), text.size()));
  });
  dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  return all;
}

} // namespace lesion::dicomio::detail
