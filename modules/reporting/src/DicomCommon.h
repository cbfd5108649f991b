#pragma once
// Internal helpers shared by the DCMTK-using files of reporting (SEG, SR, source scan).

#include <cmath>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/ofstd/ofcond.h>
#include <dcmtk/oflog/oflog.h>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::reporting::detail {

/// Libraries never print: DCMTK's logger (stderr by default) is silenced; failures reach the
/// caller as lesion::DicomError instead.
inline void quietDcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

/// OFCondition → lesion::DicomError naming the file and the step.
inline void check(const OFCondition& condition, const std::filesystem::path& path, const std::string& what) {
  if (condition.bad())
    throw DicomError(fmt::format("DICOM object '{}': {} failed: {}", path.string(), what, condition.text()));
}

/// A Decimal String value (at most 16 characters), exact to the precision that fits.
inline std::string dicomNumber(double v) {
  if (std::abs(v) < 1e-12) return "0";
  for (int precision = 12; precision > 1; --precision) {
    std::string s = fmt::format("{:.{}g}", v, precision);
    if (s.size() <= 16) return s;
  }
  return fmt::format("{:.1g}", v);
}

/// A value of VR SH (Study ID, Accession Number) as a SEG or SR can carry it: at most 16
/// characters. A longer one (IBSI's Study ID 'IBSI_1_STS_002_CT', from the DICOM or a convert
/// sidecar) is cut to 16, with one warning per value; the study link is the Study Instance UID.
inline std::string shortString(const std::string& value, const char* attribute) {
  constexpr std::size_t kShortStringMax = 16; // characters; the text is UTF-8
  std::size_t characters = 0, end = 0;
  for (; end < value.size(); ++end)
    if ((static_cast<unsigned char>(value[end]) & 0xC0) != 0x80 && ++characters > kShortStringMax)
      break;
  if (end == value.size())
    return value;
  const std::string cut = value.substr(0, end);
  if (firstTimeFor(std::string("reporting short string\n") + attribute + '\n' + value))
    logWarning("{} '{}' of the source is longer than DICOM allows (16 characters): the SEG and SR get '{}'", attribute,
               value, cut);
  return cut;
}

inline std::string newUid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

inline std::string todayDate() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

inline std::string nowTime() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H%M%S", &tm);
  return buf;
}

} // namespace lesion::reporting::detail
