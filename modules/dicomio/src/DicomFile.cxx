#include "DicomFile.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <vector>

#include <zlib.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/VolumeFileIO.h"

namespace lesion::dicomio::detail {

namespace {
/// Libraries never print: DCMTK's own logger (stderr by default) is silenced; every failure
/// reaches the caller as a DicomError instead.
void quietDcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}
} // namespace

void registerDecoders() {
  static std::once_flag once;
  std::call_once(once, [] {
    quietDcmtk();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

bool isGzipName(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".gz";
}

std::vector<unsigned char> gunzipFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw DicomError("cannot open '" + path.string() + "' for reading");
  const std::vector<unsigned char> packed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<unsigned char> out;
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    throw DicomError("zlib could not start decompressing '" + path.string() + "'");
  zs.next_in = const_cast<unsigned char*>(packed.data());
  zs.avail_in = static_cast<uInt>(packed.size());
  std::vector<unsigned char> chunk(1 << 18);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = chunk.data();
    zs.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw DicomError("'" + path.string() + "' is not a valid gzip file (zlib error " + std::to_string(rc) + ")");
    }
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw DicomError("'" + path.string() + "' is a truncated gzip file");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::unique_ptr<DcmFileFormat> loadDicomFile(const std::filesystem::path& path, bool headerOnly) {
  quietDcmtk();
  auto file = std::make_unique<DcmFileFormat>();
  OFCondition status;
  if (isGzipName(path)) {
    const std::vector<unsigned char> bytes = gunzipFile(path);
    DcmInputBufferStream stream;
    stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    stream.setEos();
    file->transferInit();
    // Every value is read now (no deferred loading): the buffer does not outlive this call.
    status = file->read(stream, EXS_Unknown, EGL_noChange, 0xFFFFFFFFu);
    file->transferEnd();
  } else if (headerOnly) {
    // Values above 4 kB (the pixel data) stay on disk: a header scan reads a few kB per file
    // yet still sees whether the pixel data element is present.
    status = file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  } else {
    status = file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  }
  if (status.bad()) {
    // Without the preamble DCMTK guesses a raw data set, so any other file fails with a stream
    // error that says nothing to a user: name what the file is not instead.
    if (const std::string why = whyUnopenable(path); !why.empty())
      throw DicomError("'" + path.string() + "': cannot open: " + why);
    if (const std::string format = volumeFileFormat(path); !format.empty())
      throw DicomError("'" + path.string() + "' is a " + format + " volume, not a DICOM file");
    if (isCutShortDicomFile(path)) {
      std::error_code ec;
      throw DicomError("'" + path.string() +
                       "' is a truncated DICOM file: " + std::to_string(std::filesystem::file_size(path, ec)) +
                       " bytes, shorter than any DICOM file (an interrupted copy?)");
    }
    if (!isGzipName(path) && !hasDicomPreamble(path)) {
      throw DicomError("'" + path.string() + "' is not a DICOM file (no DICM preamble, and it does not parse as a " +
                       "DICOM data set without one)");
    }
    if (status == EC_StreamNotifyClient) { // DCMTK: "I/O suspension or premature end of stream"
      std::error_code ec;
      throw DicomError("'" + path.string() + "' is a damaged DICOM file: it ends inside its data (" +
                       std::to_string(std::filesystem::file_size(path, ec)) +
                       " bytes; cut short by an interrupted copy?)");
    }
    throw DicomError("cannot read '" + path.string() + "' as DICOM: " + std::string(status.text()));
  }
  return file;
}

bool hasDicomPreamble(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  return in.read(head, sizeof head) && std::string(head + 128, 4) == "DICM";
}

std::string whyUnopenable(const std::filesystem::path& path) {
  errno = 0;
  if (std::ifstream(path, std::ios::binary))
    return {};
  return errno != 0 ? std::strerror(errno) : "unknown reason";
}

bool isCutShortDicomFile(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return !ec && size < 132 && (ext == ".dcm" || ext == ".dicom" || ext == ".ima");
}

std::string transferSyntaxName(const std::string& uid) {
  const DcmXfer xfer(uid.c_str());
  if (xfer.getXfer() == EXS_Unknown)
    return uid.empty() ? std::string("(no transfer syntax)") : uid;
  return std::string(xfer.getXferName()) + " (" + uid + ")";
}

std::string pixelDataLengthMismatch(const DicomInstance& inst, std::size_t expected, std::size_t found,
                                    const char* likelyCause) {
  return fmt::format("'{}': expected {} bytes of pixel data ({} frames of {}x{}, {} bits), found {} ({})",
                     inst.path.string(), expected, inst.numberOfFrames, inst.columns, inst.rows, inst.bitsAllocated,
                     found, likelyCause);
}

} // namespace lesion::dicomio::detail
