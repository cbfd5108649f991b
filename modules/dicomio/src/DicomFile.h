#pragma once
// Private: opening DICOM files with DCMTK (plain or .dcm.gz) and turning OFCondition into
// lesion::DicomError at the module edge.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>

namespace lesion::dicomio {
struct DicomInstance;
}

namespace lesion::dicomio::detail {

/// Registers the DCMTK decoders (JPEG, JPEG-LS, RLE) once per process.
void registerDecoders();

/// True when the name ends with ".gz" (case-insensitive).
[[nodiscard]] bool isGzipName(const std::filesystem::path& path);

/// Loads `path`. With `headerOnly`, parsing stops at the pixel data (and big values are not
/// read into memory). Throws lesion::DicomError naming the file on failure.
[[nodiscard]] std::unique_ptr<DcmFileFormat> loadDicomFile(const std::filesystem::path& path, bool headerOnly);

/// The 128-byte preamble followed by "DICM" of a DICOM Part 10 file.
[[nodiscard]] bool hasDicomPreamble(const std::filesystem::path& path);

/// Why `path` cannot be opened for reading (e.g. "Permission denied"), or empty when it can: a
/// file that may well be a slice, not a file that is not DICOM, and worth reading again later.
[[nodiscard]] std::string whyUnopenable(const std::filesystem::path& path);

/// A file named as DICOM (.dcm, .dicom, .ima) yet shorter than the 128-byte preamble and "DICM" of
/// a DICOM file: what an interrupted copy leaves (often 0 bytes), a slice its series lost.
[[nodiscard]] bool isCutShortDicomFile(const std::filesystem::path& path);

/// Bytes of a gzip file, decompressed in memory. Throws lesion::DicomError naming the file.
[[nodiscard]] std::vector<unsigned char> gunzipFile(const std::filesystem::path& path);

/// Human name of a transfer syntax UID, e.g. "JPEG 2000 Image Compression (Lossless Only)".
[[nodiscard]] std::string transferSyntaxName(const std::string& uid);

/// "'FILE': expected N bytes of pixel data (F frames of CxR, B bits), found M (likelyCause)".
[[nodiscard]] std::string pixelDataLengthMismatch(const DicomInstance& inst, std::size_t expected, std::size_t found,
                                                  const char* likelyCause);

} // namespace lesion::dicomio::detail
