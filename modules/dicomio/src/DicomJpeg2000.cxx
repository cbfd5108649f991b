// JPEG 2000 pixel data through GDCM (built with OpenJPEG), because Debian's DCMTK has no
// JPEG 2000 codec. Only the raw stored bytes come from GDCM; everything else (bit depth, sign,
// rescale, geometry) is handled like every other transfer syntax.
#include "DicomJpeg2000.h"

#include <sstream>

#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmTrace.h>
#include <mutex>

#include <fmt/format.h>

#include "DicomFile.h"
#include "lesion/core/Error.h"

namespace lesion::dicomio::detail {

bool isJpeg2000TransferSyntax(const std::string& uid) {
  return uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91" || uid == "1.2.840.10008.1.2.4.92" ||
         uid == "1.2.840.10008.1.2.4.93";
}

std::vector<char> decodeJpeg2000PixelBytes(const std::filesystem::path& path, std::size_t expectedBytes) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { // libraries never print: GDCM's warnings would go to stderr
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
  });
  gdcm::ImageReader reader;
  std::istringstream memory;
  if (isGzipName(path)) {
    const std::vector<unsigned char> bytes = gunzipFile(path);
    memory.str(std::string(bytes.begin(), bytes.end()));
    reader.SetStream(memory);
  } else {
    reader.SetFileName(path.c_str());
  }
  if (!reader.Read()) {
    throw DicomError(fmt::format("'{}': GDCM could not read the JPEG 2000 image", path.string()));
  }
  const gdcm::Image& image = reader.GetImage();
  std::vector<char> buffer(image.GetBufferLength());
  if (buffer.size() < expectedBytes || !image.GetBuffer(buffer.data())) {
    throw DicomError(fmt::format("'{}': JPEG 2000 pixel data could not be decoded (expected {} bytes, GDCM gave {})",
                                 path.string(), expectedBytes, buffer.size()));
  }
  return buffer;
}

} // namespace lesion::dicomio::detail
