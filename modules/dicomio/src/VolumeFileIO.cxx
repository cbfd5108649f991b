// The only translation unit that instantiates ITK image file readers and writers.
#include "lesion/dicomio/VolumeFileIO.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>
#include <itkCastImageFilter.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOBase.h>
#include <itkMetaDataObject.h>
#include <itkNiftiImageIO.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIO.h>
#include <itkNrrdImageIOFactory.h>
#include <zlib.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Hash.h"
#include "lesion/core/ItkBridge.h"

namespace fs = std::filesystem;

namespace lesion::dicomio {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lowerName(const fs::path& p) {
  std::string n = p.filename().string();
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return n;
}

/// An explicit IO object per format: no reliance on ITK's factory registration at link time.
itk::ImageIOBase::Pointer ioFor(const fs::path& path) {
  const std::string format = volumeFileFormat(path);
  if (format == "NRRD")
    return itk::NrrdImageIO::New().GetPointer();
  if (format == "NIfTI")
    return itk::NiftiImageIO::New().GetPointer();
  throw InputError(fmt::format("'{}': unsupported volume file type (expected .nrrd, .nhdr, .nii or .nii.gz)", path.string()));
}

/// ITK's exception text in the user's terms: without "itk::ERROR: NrrdImageIO(0x55d0c8f1fa80): ",
/// teem's function names and its chain of bare "trouble" lines; what is left joined on one line.
std::string itkReason(const itk::ExceptionObject& e) {
  std::string text = e.GetDescription();
  for (const std::string prefix : {"itk::ERROR: ", "ITK ERROR: "})
    if (text.rfind(prefix, 0) == 0)
      text.erase(0, prefix.size());
  const auto close = text.find("): "); // "ClassName(0x...): "
  if (close != std::string::npos && text.find("(0x") < close && text.find(' ') > text.find("(0x"))
    text.erase(0, close + 3);
  std::string reason;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("[nrrd] ", 0) == 0)
      line.erase(0, 7);
    // A teem function name ("_nrrdRead: ", "nrrdSave: ") in front of its message.
    const auto colon = line.find(':');
    if (colon != std::string::npos && line.find(' ') > colon && line.find("nrrd") < colon)
      line.erase(0, std::min(line.size(), colon + 2));
    const bool bareTrouble = line == "trouble" || line.rfind("trouble reading", 0) == 0;
    const bool namesTheFile =
        line.find("Error reading ") != std::string::npos || line.find("Error writing ") != std::string::npos;
    if (!line.empty() && !bareTrouble && !namesTheFile)
      reason += (reason.empty() ? "" : "; ") + line;
  }
  return reason.empty() ? e.GetDescription() : reason;
}

/// Voxel spacing from the header, checked before ITK's own "spacing of 0" exception.
void requirePositiveSpacing(const fs::path& path, const std::vector<double>& spacing, bool signFree = false) {
  if (std::all_of(spacing.begin(), spacing.end(),
                  [&](double s) { return std::isfinite(s) && (signFree ? s != 0.0 : s > 0.0); }))
    return;
  throw InputError(
      fmt::format("'{}': voxel spacing must be positive, found {:g} mm", path.string(), fmt::join(spacing, " x ")));
}

void checkHeaderSpacing(const fs::path& path, const itk::ImageIOBase& io) {
  std::vector<double> spacing;
  for (unsigned a = 0; a < std::min(3u, io.GetNumberOfDimensions()); ++a)
    spacing.push_back(io.GetSpacing(a));
  requirePositiveSpacing(path, spacing);
}

/// NaN or infinite voxels: how many, and the first (linear index, value).
struct NonFiniteVoxels {
  std::uint64_t count = 0;
  std::uint64_t first = 0;
  double firstValue = 0.0;
  void add(std::uint64_t index, double value) {
    if (count++ == 0) {
      first = index;
      firstValue = value;
    }
  }
};

/// NaN, or infinity from a float64 file beyond the float range, would pass every threshold test
/// the wrong way and turn means into NaN: refused, with where the first one is on a grid whose
/// rows hold `nx` voxels and whose slices `ny` rows.
void refuseNonFiniteVoxels(const fs::path& path, const NonFiniteVoxels& found, std::uint64_t nx, std::uint64_t ny) {
  if (found.count == 0)
    return;
  throw InputError(fmt::format("'{}': {} voxel(s) hold no finite number (NaN, or beyond the float range), the first "
                               "at voxel ({}, {}, {}): {}; replace them (e.g. with the background value) first",
                               path.string(), found.count, found.first % nx, found.first / nx % ny,
                               found.first / (nx * ny), found.firstValue));
}

/// Where a NIfTI file's voxels start and how many bytes they take on disk (from its own dim[] and
/// bitpix: ITK reports a rescaled int16 file as float), for a NIfTI-1 or -2 header in either byte
/// order, read through zlib so that .nii and .nii.gz are one case; nullopt when it is not NIfTI.
struct NiftiLayout {
  std::uint64_t voxelOffset;
  std::uint64_t voxelBytes;
  std::uint64_t voxelCount;    ///< product of dim[1..dim[0]]: every axis, not only the first three
  std::vector<double> spacing; ///< pixdim[1..n] of the n <= 3 spatial axes (their sign is free)
  std::string badTransform;    ///< "qform" or "sform" when the one in use holds NaN or infinity
  std::string badMagic;        ///< the magic found when it is not NIfTI's (an Analyze 7.5 header)
  std::uint64_t rowLength;     ///< dim[1]
  std::uint64_t rowsPerSlice;  ///< dim[2]
  std::uint64_t sliceCount;    ///< dim[3]
  int datatype;                ///< NIfTI datatype code (16: float32, 64: float64)
  bool swapped;                ///< stored in the other byte order
  std::uint64_t qformCode;
  std::uint64_t sformCode;
  std::array<double, 12> sform; ///< srow_x, srow_y, srow_z (mm, RAS)
  std::array<double, 6> quatern; ///< quatern_b, _c, _d, qoffset_x, _y, _z (the qform)
  std::array<double, 4> pixdim;  ///< pixdim[0] (the qform's qfac) to pixdim[3]
  NonFiniteVoxels nonFinite;    ///< of float voxels, which the NIfTI library sets to 0 without a word
};

/// Where a NIfTI header's fields are (bytes from its start) and how wide its integers and reals
/// are: dim[0..7], datatype (bitpix after it), pixdim[0..7], qform_code and sform_code, quatern_b,
/// srow_x, the magic.
struct NiftiFields {
  std::size_t dim, intWidth, datatype, pixdim, realWidth, codes, codeWidth, quatern, srow, magic;
  char version;
};
constexpr NiftiFields kNifti1Fields{40, 2, 70, 76, 4, 252, 2, 256, 280, 344, '1'};
constexpr NiftiFields kNifti2Fields{16, 8, 12, 104, 8, 344, 4, 352, 400, 4, '2'};

constexpr std::size_t kNiftiMinimumSniffBytes = 176; // through NIfTI-2's vox_offset
constexpr std::size_t kNiftiHeaderBytes = 540;       // a whole NIfTI-2 header (NIfTI-1: 348)

std::optional<NiftiLayout> niftiLayout(gzFile file, std::size_t& bytesRead) {
  unsigned char header[kNiftiHeaderBytes] = {};
  const int got = gzread(file, header, sizeof header);
  bytesRead = got > 0 ? std::size_t(got) : 0;
  if (bytesRead < kNiftiMinimumSniffBytes)
    return std::nullopt;
  auto value = [&](std::size_t at, std::size_t bytes, bool swap) {
    std::uint64_t v = 0;
    for (std::size_t b = 0; b < bytes; ++b)
      v |= std::uint64_t(header[at + (swap ? bytes - 1 - b : b)]) << (8 * b);
    return v;
  };
  // dim[0] dimensions from dim[1] on; each `width` bytes from `at`; bitpix in bits.
  auto voxelCount = [&](std::size_t at, std::size_t width, bool swap) {
    const std::uint64_t dims = std::min<std::uint64_t>(value(at, width, swap), 7);
    std::uint64_t count = 1;
    for (std::uint64_t d = 1; d <= dims; ++d)
      count *= std::max<std::uint64_t>(1, value(at + d * width, width, swap));
    return count;
  };
  auto real = [&](std::size_t at, std::size_t bytes, bool swap) {
    const std::uint64_t bits = value(at, bytes, swap);
    if (bytes == 8) {
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    const auto bits32 = static_cast<std::uint32_t>(bits);
    float f;
    std::memcpy(&f, &bits32, sizeof f);
    return double(f);
  };
  // pixdim[1..n] of the first n = min(dim[0], 3) axes: `width`-byte reals from `at` (pixdim[0],
  // the qfac, skipped); dim[0] is a `dimWidth`-byte integer at `dimAt`.
  auto pixdim = [&](std::size_t at, std::size_t width, std::size_t dimAt, std::size_t dimWidth, bool swap) {
    std::vector<double> spacing;
    for (std::uint64_t a = 1; a <= std::min<std::uint64_t>(value(dimAt, dimWidth, swap), 3); ++a)
      spacing.push_back(real(at + a * width, width, swap));
    return spacing;
  };
  // The qform (quatern_b..qoffset_z, 6 reals from `quatern`) or sform (srow_x..srow_z, 12 reals
  // from `srow`) that a code > 0 puts in use: NaN or infinity there aborts ITK (vnl_svd asserts
  // finite) or is silently replaced by the NIfTI library.
  auto nonFiniteTransform = [&](std::size_t codesAt, std::size_t codeWidth, std::size_t quatern, std::size_t srow,
                                std::size_t width, bool swap) -> std::string {
    if (bytesRead < srow + 12 * width)
      return {}; // a header cut short: refused as truncated
    auto finite = [&](std::size_t at, std::size_t count) {
      for (std::size_t i = 0; i < count; ++i)
        if (!std::isfinite(real(at + i * width, width, swap)))
          return false;
      return true;
    };
    if (value(codesAt + codeWidth, codeWidth, swap) != 0 && !finite(srow, 12))
      return "sform";
    if (value(codesAt, codeWidth, swap) != 0 && !finite(quatern, 6))
      return "qform";
    return {};
  };
  // "n+1"/"ni1" (NIfTI-1, at 344) or "n+2"/"ni2" (NIfTI-2, at 4); nothing to say of a cut header.
  auto wrongMagic = [&](std::size_t at, char version) -> std::string {
    if (bytesRead < at + 4)
      return {};
    const std::string magic(reinterpret_cast<const char*>(header + at), 4);
    if (magic == std::string{'n', '+', version, '\0'} || magic == std::string{'n', 'i', version, '\0'})
      return {};
    std::string shown;
    for (const char c : magic)
      shown +=
          std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : fmt::format("\\x{:02x}", (unsigned char)c);
    return shown;
  };
  // N `width`-byte reals from `at` (zeros in a header cut short): the sform, the qform, pixdim.
  auto reals = [&](auto values, std::size_t at, std::size_t width, bool swap) {
    for (std::size_t i = 0; i < values.size() && bytesRead >= at + values.size() * width; ++i)
      values[i] = real(at + i * width, width, swap);
    return values;
  };
  auto layoutOf = [&](const NiftiFields& f, std::uint64_t voxelOffset, bool swap) {
    const std::uint64_t count = voxelCount(f.dim, f.intWidth, swap);
    return NiftiLayout{voxelOffset,
                       count * (value(f.datatype + 2, 2, swap) / 8), // bitpix follows datatype
                       count,
                       pixdim(f.pixdim, f.realWidth, f.dim, f.intWidth, swap),
                       nonFiniteTransform(f.codes, f.codeWidth, f.quatern, f.srow, f.realWidth, swap),
                       wrongMagic(f.magic, f.version),
                       std::max<std::uint64_t>(1, value(f.dim + f.intWidth, f.intWidth, swap)),
                       std::max<std::uint64_t>(1, value(f.dim + 2 * f.intWidth, f.intWidth, swap)),
                       std::max<std::uint64_t>(1, value(f.dim + 3 * f.intWidth, f.intWidth, swap)),
                       int(value(f.datatype, 2, swap)),
                       swap,
                       value(f.codes, f.codeWidth, swap),
                       value(f.codes + f.codeWidth, f.codeWidth, swap),
                       reals(std::array<double, 12>{}, f.srow, f.realWidth, swap),
                       reals(std::array<double, 6>{}, f.quatern, f.realWidth, swap),
                       reals(std::array<double, 4>{}, f.pixdim, f.realWidth, swap),
                       {}};
  };
  for (const bool swap : {false, true}) {
    const std::uint64_t size = value(0, 4, swap);
    if (size == 540) // NIfTI-2
      return layoutOf(kNifti2Fields, value(168, 8, swap), swap);
    if (size == 348) { // NIfTI-1
      const double offset = real(108, 4, swap);
      return layoutOf(kNifti1Fields, offset >= 348.0 ? std::uint64_t(offset) : 352u, swap);
    }
  }
  return std::nullopt;
}

/// The gzip trailer holds the uncompressed size modulo 2^32: equal to what is needed, the file is
/// whole without inflating it twice.
bool gzipTrailerSays(const fs::path& path, std::uint64_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in || in.tellg() < 4)
    return false;
  in.seekg(-4, std::ios::end);
  unsigned char t[4];
  in.read(reinterpret_cast<char*>(t), 4);
  const std::uint32_t size = t[0] | (t[1] << 8) | (t[2] << 16) | (std::uint32_t(t[3]) << 24);
  return in && size == static_cast<std::uint32_t>(bytes);
}

constexpr int kNiftiFloat32 = 16;
constexpr int kNiftiFloat64 = 64;

/// Reads the float32 or float64 voxels of `layout` from `file`, counting into layout.nonFinite
/// those that are NaN or infinite; returns how many bytes of voxels the file holds (up to
/// layout.voxelBytes), or less than that when its gzip stream is cut short.
std::uint64_t scanFloatVoxels(gzFile file, NiftiLayout& layout) {
  const std::size_t width = layout.datatype == kNiftiFloat64 ? 8 : 4;
  if (gzseek(file, z_off_t(layout.voxelOffset), SEEK_SET) < 0)
    return 0;
  std::vector<unsigned char> buffer(std::size_t(1) << 20); // a whole number of values
  std::uint64_t bytes = 0, index = 0;
  while (bytes < layout.voxelBytes) {
    const auto wanted = unsigned(std::min<std::uint64_t>(buffer.size(), layout.voxelBytes - bytes));
    const int n = gzread(file, buffer.data(), wanted);
    if (n < 0)
      return std::min<std::uint64_t>(bytes, layout.voxelBytes - 1); // a gzip stream cut short is an error
    if (n == 0)
      break;
    for (std::size_t at = 0; at + width <= std::size_t(n); at += width, ++index) {
      unsigned char v[8];
      for (std::size_t b = 0; b < width; ++b)
        v[b] = buffer[at + (layout.swapped ? width - 1 - b : b)];
      double value;
      if (width == 8) {
        std::memcpy(&value, v, 8);
      } else {
        float f;
        std::memcpy(&f, v, 4);
        value = f;
      }
      if (!std::isfinite(value))
        layout.nonFinite.add(index, value);
    }
    bytes += std::uint64_t(n);
  }
  return bytes;
}

/// Where one of a NIfTI header's transforms puts voxel (i, j, k): RAS mm = origin + steps * (i, j, k).
struct NiftiPlacement {
  Mat3 steps; ///< column j: one step along index axis j (mm)
  Vec3 origin;
  [[nodiscard]] Vec3 at(const Vec3& index) const { return origin + steps * index; }
};

NiftiPlacement sformPlacement(const NiftiLayout& layout) {
  const auto& r = layout.sform;
  return {Mat3{{r[0], r[1], r[2], r[4], r[5], r[6], r[8], r[9], r[10]}}, Vec3{r[3], r[7], r[11]}};
}

/// The qform as nifti1.h defines it: the rotation of the unit quaternion (a, b, c, d), times the
/// voxel sizes pixdim[1..3] (their magnitude, as nibabel), the third axis reversed when pixdim[0]
/// (qfac) is negative.
NiftiPlacement qformPlacement(const NiftiLayout& layout) {
  double b = layout.quatern[0], c = layout.quatern[1], d = layout.quatern[2];
  double a = 1.0 - (b * b + c * c + d * d);
  if (a < 1e-7) { // a half turn: (b, c, d) rounded off the unit sphere, normalised as the NIfTI library does
    const double n = std::sqrt(b * b + c * c + d * d);
    b /= n, c /= n, d /= n, a = 0.0;
  } else {
    a = std::sqrt(a);
  }
  const Mat3 rotation{{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c), //
                       2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b), //
                       2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b}};
  const auto& p = layout.pixdim;
  const double qfac = p[0] < 0 ? -1.0 : 1.0;
  return {Mat3::fromColumns(rotation.column(0) * std::abs(p[1]), rotation.column(1) * std::abs(p[2]),
                            rotation.column(2) * (std::abs(p[3]) * qfac)),
          Vec3{layout.quatern[3], layout.quatern[4], layout.quatern[5]}};
}

/// How far two placements of the grid `layout` describes are apart: the farthest of its 8 corner
/// voxels (said in the message), the first voxel, the widest angle between an index axis's two
/// directions and the largest relative difference of a step's length.
struct PlacementGap {
  double cornerMm = 0.0;
  double originMm = 0.0;
  double axisDeg = 0.0;
  double stepRelative = 0.0;
};

PlacementGap gapBetween(const NiftiPlacement& p, const NiftiPlacement& q, const NiftiLayout& layout) {
  PlacementGap gap;
  const Vec3 last{double(layout.rowLength - 1), double(layout.rowsPerSlice - 1), double(layout.sliceCount - 1)};
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 index{corner & 1 ? last.x : 0.0, corner & 2 ? last.y : 0.0, corner & 4 ? last.z : 0.0};
    gap.cornerMm = std::max(gap.cornerMm, distance(p.at(index), q.at(index)));
  }
  gap.originMm = distance(p.origin, q.origin);
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const Vec3 a = p.steps.column(axis), b = q.steps.column(axis);
    const double cosine = dot(normalized(a), normalized(b));
    gap.axisDeg = std::max(gap.axisDeg, std::acos(std::clamp(cosine, -1.0, 1.0)) * 180.0 / 3.14159265358979);
    gap.stepRelative = std::max(gap.stepRelative, std::abs(norm(a) - norm(b)) / std::max(norm(b), 1e-12));
  }
  return gap;
}

/// Float32 rounding of the sform and the quaternion stays far below these. The corners are not a
/// test: a qform within 0.036 deg of a half turn (an axial scan turned a little in-plane: LPS
/// identity is a half turn in RAS) loses that rotation by nifti1.h's own rule (a = 0), 0.3 mm
/// over 600 mm in LesionKit's own files; the angle bounds the rotation, the first voxel and the
/// step lengths the rest.
constexpr double kPlacementToleranceMm = 0.1;
constexpr double kPlacementToleranceDeg = 0.1;
constexpr double kPlacementToleranceStep = 1e-3;

std::string niftiTransformCode(std::uint64_t code) {
  static const char* const names[] = {"unknown", "scanner", "aligned", "Talairach", "MNI 152", "template"};
  return code < std::size(names) ? fmt::format("code {}, {}", code, names[code]) : fmt::format("code {}", code);
}

/// ITK places a NIfTI image by its qform unless the sform's code is 1 (scanner); nibabel, FSL
/// and FSLeyes by the sform. When the header holds both and they disagree, the image (and every
/// mask written from it, with ITK's choice in both transforms) lands elsewhere in those tools than
/// here: refused rather than guessed. With only one set, that one is the image's placement.
void refuseDisagreeingPlacements(const fs::path& path, const NiftiLayout& layout) {
  if (layout.qformCode == 0 || layout.sformCode == 0)
    return;
  const PlacementGap gap = gapBetween(qformPlacement(layout), sformPlacement(layout), layout);
  if (gap.originMm <= kPlacementToleranceMm && gap.axisDeg <= kPlacementToleranceDeg &&
      gap.stepRelative <= kPlacementToleranceStep)
    return;
  throw InputError(fmt::format(
      "'{}': the header places the image twice, differently: its qform ({}) and its sform ({}) put the image's "
      "corners up to {:.2f} mm apart (axes {:.2f} deg apart). Tools choose between them differently (ITK and 3D "
      "Slicer mostly the qform, nibabel and FSL the sform), so seeds and masks would not line up across tools; fix "
      "the header so that both hold the right placement (e.g. nibabel, when the sform is right: "
      "img.set_qform(img.get_sform())), or set the wrong one's code to 0",
      path.string(), niftiTransformCode(layout.qformCode), niftiTransformCode(layout.sformCode), gap.cornerMm,
      gap.axisDeg));
}

/// ITK fills the missing part of a truncated NIfTI file (.nii or .nii.gz) with zeros without a
/// word, so a broken download would be measured as part of a patient: check the length first.
/// A zero voxel size in a NIfTI header is set to 1 mm by the NIfTI library, or fails in ITK as
/// "orthonormal direction cosines" (no qform or sform): refused from the header itself, which is
/// read once for both checks. The NIfTI library also sets NaN and infinite float voxels to 0
/// without a word: float voxels are read here once, for the length and to count those
/// (layout.nonFinite). A qform and an sform that disagree are refused (refuseDisagreeingPlacements).
/// Returns the layout of a file that passed; anything else throws.
NiftiLayout checkNiftiFile(const fs::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file)
    throw InputError(fmt::format("'{}': cannot open: {}", path.string(), std::strerror(errno)));
  std::size_t headerBytes = 0;
  std::optional<NiftiLayout> layout = niftiLayout(file, headerBytes);
  const bool compressed = gzdirect(file) == 0;
  const std::uint64_t needed = layout ? layout->voxelOffset + layout->voxelBytes : 0;
  std::uint64_t found = needed;
  if (layout && (layout->datatype == kNiftiFloat32 || layout->datatype == kNiftiFloat64)) {
    found = layout->voxelOffset + scanFloatVoxels(file, *layout);
  } else if (layout && !compressed) {
    std::error_code ec;
    found = fs::file_size(path, ec);
  } else if (layout && !gzipTrailerSays(path, needed)) {
    found = headerBytes;
    std::vector<char> buffer(1 << 20);
    int n;
    while ((n = gzread(file, buffer.data(), unsigned(buffer.size()))) > 0)
      found += std::uint64_t(n);
    if (n < 0)
      found = std::min(found, needed - 1); // a gzip stream cut short is an error, not an end
  }
  gzclose(file);
  // Anything else went to the NIfTI library, which read an Analyze 7.5 header (no orientation)
  // or a header of any size field with none of these checks.
  if (!layout && headerBytes < kNiftiMinimumSniffBytes) {
    throw InputError(fmt::format("'{}': truncated or not a NIfTI file: {} bytes, shorter than a NIfTI header",
                                 path.string(), headerBytes));
  }
  if (!layout) {
    throw InputError(fmt::format("'{}': not a NIfTI file: its first 4 bytes hold neither 348 (NIfTI-1) nor 540 "
                                 "(NIfTI-2), the size of the header",
                                 path.string()));
  }
  if (!layout->badMagic.empty()) {
    throw InputError(fmt::format("'{}': the header's magic is '{}', expected 'n+1' or 'n+2' (NIfTI): an Analyze 7.5 "
                                 "file or a damaged header, without an orientation to trust",
                                 path.string(), layout->badMagic));
  }
  requirePositiveSpacing(path, layout->spacing, /*signFree=*/true);
  if (found < needed) {
    throw InputError(fmt::format("'{}': truncated: the header describes {} bytes of voxels from byte {}, the file "
                                 "holds {} bytes{}",
                                 path.string(), layout->voxelBytes, layout->voxelOffset, found,
                                 compressed ? " once decompressed (or its gzip stream is cut short)" : ""));
  }
  if (!layout->badTransform.empty()) {
    throw InputError(fmt::format("'{}': the {} (position and orientation in the header) holds a value that is not a "
                                 "finite number (NaN or infinity)",
                                 path.string(), layout->badTransform));
  }
  refuseDisagreeingPlacements(path, *layout);
  return *layout;
}

/// ITK 5.2's NIfTI reader checks an sform in single precision: with no qform to fall back on it
/// refuses small voxels (0.01 mm; 0.1 mm with the origin 160 mm away) as not "orthonormal direction
/// cosines" although the axes are at right angles. The reason for that, or ITK's own words.
std::string niftiHeaderReason(const NiftiLayout& layout, const itk::ExceptionObject& e) {
  const std::string itkText = itkReason(e);
  if (layout.qformCode != 0 || layout.sformCode == 0 || itkText.find("orthonormal") == std::string::npos)
    return itkText;
  std::array<Vec3, 3> axis;
  for (int j = 0; j < 3; ++j)
    axis[j] = Vec3{layout.sform[j], layout.sform[4 + j], layout.sform[8 + j]};
  for (int j = 0; j < 3; ++j)
    if (norm(axis[j]) == 0.0 || std::abs(dot(normalized(axis[j]), normalized(axis[(j + 1) % 3]))) > 1e-4)
      return itkText; // really skewed (or flat): ITK's words are right
  const Vec3 origin{layout.sform[3], layout.sform[7], layout.sform[11]};
  return fmt::format("the header places the voxels by its sform alone (qform_code 0), whose axes are at right angles, "
                     "but ITK 5.2's NIfTI reader checks the sform in single precision, which fails for voxels of "
                     "{:g} x {:g} x {:g} mm with the origin {:.0f} mm away (too small for that check); write the file "
                     "with a qform as well (e.g. nibabel: img.set_qform(img.affine, code=1)) or as NRRD",
                     norm(axis[0]), norm(axis[1]), norm(axis[2]), norm(origin));
}

/// ITK reads the first 3D volume of a NIfTI file whose dim[5..7] (e.g. vector components
/// without a vector intent code) hold more: the rest would be left out without a word.
void requireOneNiftiVolume(const fs::path& path, const NiftiLayout& layout, const itk::ImageIOBase& io) {
  std::uint64_t read = io.GetNumberOfComponents();
  for (unsigned a = 0; a < std::min(3u, io.GetNumberOfDimensions()); ++a)
    read *= io.GetDimensions(a);
  if (read == layout.voxelCount)
    return;
  throw InputError(fmt::format("'{}': the header's dimensions hold {} values, {} of them one 3D scalar volume; "
                               "expected one 3D scalar volume (no time points, vector components or further axes)",
                               path.string(), layout.voxelCount, read));
}

/// The NRRD header's fields ("space directions", "spacings"...) until the blank line before the
/// data: ITK does not say whether a spacing came from the file or is its 1 mm default.
std::map<std::string, std::string> nrrdHeaderFields(const fs::path& path) {
  std::map<std::string, std::string> fields;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  for (int n = 0; n < 1000 && std::getline(in, line) && !line.empty() && line != "\r"; ++n) {
    const auto colon = line.find(": ");
    if (line[0] != '#' && colon != std::string::npos) {
      // Field names are case-insensitive to the NRRD reader ITK uses ("SPACE DIRECTIONS" too).
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
      fields[name] = line.substr(colon + 2);
    }
  }
  return fields;
}

/// The first of the `axes` spatial axes whose voxel spacing the NRRD header leaves unknown, or
/// nullopt: ITK puts 1 mm there without a word, and every size in mm follows from it. A "none"
/// space direction or a NaN "spacings" entry marks a non-spatial axis (a list of values, a time
/// axis), which ITK leaves out: only the axes that have a spacing are counted, so the header lacks
/// one when fewer than `axes` of them do (or neither field is there).
std::optional<unsigned> nrrdAxisWithoutSpacing(const fs::path& path, unsigned axes) {
  const auto fields = nrrdHeaderFields(path);
  const auto directions = fields.find("space directions");
  const auto spacings = fields.find("spacings");
  if (directions == fields.end() && spacings == fields.end())
    return 0u;
  std::istringstream tokens(directions != fields.end() ? directions->second : spacings->second);
  std::string token;
  unsigned spatial = 0, position = 0;
  std::optional<unsigned> firstWithout; // the axis named when the spatial axes fall short
  while (spatial < axes && tokens >> token) {
    std::transform(token.begin(), token.end(), token.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (token != "none" && token != "nan")
      ++spatial;
    else if (!firstWithout)
      firstWithout = position;
    ++position;
  }
  if (spatial == axes)
    return std::nullopt;
  return firstWithout ? *firstWithout : spatial;
}

void requireNrrdSpacing(const fs::path& path, const itk::ImageIOBase& io) {
  const unsigned axes = std::min(3u, io.GetNumberOfDimensions());
  if (const auto axis = nrrdAxisWithoutSpacing(path, axes)) {
    throw InputError(fmt::format("'{}': the header gives no voxel spacing for axis {} (no 'space directions' or "
                                 "'spacings' value, or 'none'/'nan' there): every size in mm would rest on a guessed "
                                 "1 mm; add the spacing to the header",
                                 path.string(), *axis + 1));
  }
}

template <typename T>
typename itkbridge::ItkImage<T>::Pointer readAs(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(fmt::format("'{}': no such file", path.string()));
  if (fs::is_directory(path, ec)) throw InputError(fmt::format("'{}' is a folder, expected a volume file", path.string()));
  // A FIFO or device (e.g. a link to /dev/zero) would be read until it ends: for ever.
  if (!fs::is_regular_file(path, ec))
    throw InputError(
        fmt::format("'{}' is not a regular file (a device, FIFO or socket), expected a volume file", path.string()));
  auto io = ioFor(path);
  std::optional<NiftiLayout> niftiLayout;
  if (dynamic_cast<itk::NiftiImageIO*>(io.GetPointer()))
    niftiLayout = checkNiftiFile(path);
  try {
    io->SetFileName(path.string());
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw InputError(fmt::format("'{}': cannot read image header: {}", path.string(),
                                 niftiLayout ? niftiHeaderReason(*niftiLayout, e) : itkReason(e)));
  }
  if (io->GetNumberOfDimensions() < 3 && io->GetNumberOfDimensions() != 2) {
    throw InputError(fmt::format("'{}': expected a 3D image, found {} dimensions", path.string(), io->GetNumberOfDimensions()));
  }
  if (io->GetNumberOfDimensions() > 3 && io->GetDimensions(3) > 1) {
    throw InputError(fmt::format("'{}': a 4D image with {} volumes; expected one 3D volume", path.string(), io->GetDimensions(3)));
  }
  if (io->GetNumberOfComponents() != 1) {
    throw InputError(fmt::format("'{}': expected a scalar image, found {} components per voxel", path.string(), io->GetNumberOfComponents()));
  }
  if (niftiLayout) {
    requireOneNiftiVolume(path, *niftiLayout, *io);
    refuseNonFiniteVoxels(path, niftiLayout->nonFinite, niftiLayout->rowLength, niftiLayout->rowsPerSlice);
  }
  if (dynamic_cast<itk::NrrdImageIO*>(io.GetPointer()))
    requireNrrdSpacing(path, *io);
  checkHeaderSpacing(path, *io);
  using Reader = itk::ImageFileReader<itkbridge::ItkImage<T>>;
  auto reader = Reader::New();
  reader->SetImageIO(io);
  reader->SetFileName(path.string());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw InputError(fmt::format("'{}': cannot read image: {}", path.string(), itkReason(e)));
  }
  return reader->GetOutput();
}

/// An itk::Image over `in`'s own buffer (no copy) for the writers, which only read it.
template <typename T>
typename itkbridge::ItkImage<T>::Pointer itkViewOf(const Image<T>& in) {
  auto out = itkbridge::ItkImage<T>::New();
  itkbridge::copyGeometryTo(in.geometry, out.GetPointer());
  out->GetPixelContainer()->SetImportPointer(const_cast<T*>(in.voxels.data()), in.voxels.size(), false);
  return out;
}

/// A detached header (.nhdr) is read, never written: ITK names its data file after the hidden
/// temporary (".a.part-PID-N.raw.gz"), which the rename leaves behind, orphaned, and the header
/// points at; one self-contained .nrrd holds the same.
void requireSingleFileFormat(const fs::path& path) {
  if (endsWith(lowerName(path), ".nhdr")) {
    throw UsageError(fmt::format("'{}': a detached NRRD header (.nhdr) is not written (its voxels would be a second "
                                 "file beside it); write .nrrd, which holds both in one file",
                                 path.string()));
  }
}

template <typename T>
void writeItk(const itkbridge::ItkImage<T>* image, const fs::path& path) {
  requireSingleFileFormat(path);
  requireFileFormatHoldsGrid(itkbridge::geometryOf(image), path);
  auto io = ioFor(path);
  writeFileAtomically(path, [&](const fs::path& tmp) {
    using Writer = itk::ImageFileWriter<itkbridge::ItkImage<T>>;
    auto writer = Writer::New();
    writer->SetImageIO(io);
    writer->SetInput(image);
    writer->SetFileName(tmp.string());
    writer->SetUseCompression(true);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw InputError(fmt::format("cannot write '{}': {}", path.string(), itkReason(e)));
    }
  });
}

} // namespace

std::string volumeFileFormat(const fs::path& path) {
  const std::string n = lowerName(path);
  if (endsWith(n, ".nrrd") || endsWith(n, ".nhdr"))
    return "NRRD";
  if (endsWith(n, ".nii") || endsWith(n, ".nii.gz"))
    return "NIfTI";
  return {};
}

bool isVolumeFileName(const fs::path& path) { return !volumeFileFormat(path).empty(); }

void requireFileFormatHoldsGrid(const ImageGeometry& geometry, const fs::path& path) {
  if (volumeFileFormat(path) != "NIfTI" || geometry.hasOrthonormalAxes())
    return;
  const Mat3& d = geometry.direction;
  const Vec3 planeNormal = normalized(cross(d.column(0), d.column(1)));
  const double leanDeg =
      std::acos(std::clamp(std::abs(dot(normalized(d.column(2)), planeNormal)), 0.0, 1.0)) * 180.0 / 3.14159265358979;
  throw UsageError(fmt::format(
      "'{}': NIfTI cannot hold this grid: its slices are stacked {:.2f} deg off their normal (a gantry-tilted series "
      "kept sheared). NIfTI's qform is a rotation and ITK's writer makes the sform from it, so every slice would be "
      "placed elsewhere without a word; write .nrrd (it keeps the sheared axes), or a resampled grid (convert's "
      "default --tilt resample) as NIfTI",
      path.string(), leanDeg));
}

namespace {

void checkFiniteVoxels(const Volume& v, const fs::path& path) {
  NonFiniteVoxels found;
  for (std::size_t i = 0; i < v.voxels.size(); ++i)
    if (!std::isfinite(v.voxels[i]))
      found.add(i, v.voxels[i]);
  refuseNonFiniteVoxels(path, found, v.geometry.size[0], v.geometry.size[1]);
}

Volume checkedVolume(const itkbridge::ItkImage<float>* image, const fs::path& path) {
  Volume v = itkbridge::fromItk<float>(image);
  v.geometry.validate("'" + path.string() + "'"); // quoted like every other message naming the file
  checkFiniteVoxels(v, path);
  return v;
}

// LabelMapOrigin as NRRD key/value fields (ITK writes string entries of the dictionary there).
// NIfTI has no such fields, and ITK 5.2 does not write its free-text descrip: no record there.
constexpr const char* kAlgorithmTypeKey = "LesionKit_SegmentAlgorithmType";
constexpr const char* kVersionKey = "LesionKit_Version";
constexpr const char* kLabelsHashKey = "LesionKit_LabelsHash";

itk::MetaDataDictionary originDictionary(const LabelMapOrigin& origin, const LabelMap& labels, const fs::path& path) {
  itk::MetaDataDictionary d;
  if (origin.byLesionKit() && volumeFileFormat(path) == "NRRD") {
    itk::EncapsulateMetaData<std::string>(d, kAlgorithmTypeKey, origin.algorithmType);
    itk::EncapsulateMetaData<std::string>(d, kVersionKey, origin.version);
    itk::EncapsulateMetaData<std::string>(d, kLabelsHashKey, labelMapHash(labels));
  }
  return d;
}

/// The record, when there is one and it still describes `labels`.
LabelMapOrigin originOf(const itk::MetaDataDictionary& d, const LabelMap& labels) {
  LabelMapOrigin origin;
  if (!itk::ExposeMetaData<std::string>(d, kAlgorithmTypeKey, origin.algorithmType) ||
      (origin.algorithmType != "SEMIAUTOMATIC" && origin.algorithmType != "AUTOMATIC"))
    return {}; // no record, or a field of that name holding something else
  std::string hash;
  if (!itk::ExposeMetaData<std::string>(d, kLabelsHashKey, hash) || hash != labelMapHash(labels)) {
    LabelMapOrigin edited;
    edited.editedAfterWriting = true;
    return edited;
  }
  itk::ExposeMetaData<std::string>(d, kVersionKey, origin.version);
  return origin;
}

} // namespace

Volume readVolumeFile(const fs::path& path) { return checkedVolume(readAs<float>(path).GetPointer(), path); }

std::string labelMapHash(const LabelMap& labels) {
  Fnv1a64 hash;
  const ImageGeometry& g = labels.geometry;
  const auto addRounded = [&hash](double value, double unit) { hash.addInteger(std::llround(value / unit)); };
  for (std::size_t n : g.size)
    hash.addInteger(static_cast<std::int64_t>(n));
  for (const Vec3& v : {g.spacing, g.origin})
    for (double c : {v.x, v.y, v.z})
      addRounded(c, 1e-4); // 0.1 µm: what survives a NRRD header's decimal text
  for (double c : g.direction.m)
    addRounded(c, 1e-9);
  for (std::uint16_t v : labels.voxels) {
    const unsigned char bytes[2] = {static_cast<unsigned char>(v & 0xff), static_cast<unsigned char>(v >> 8)};
    hash.add(bytes, 2);
  }
  return fmt::format("{:016x}", hash.value());
}

std::string editedLabelMapNote(const fs::path& path) {
  return fmt::format("label map '{}' carries LesionKit's record of what made it, but its labels or grid were changed "
                     "after LesionKit wrote it (LesionKit_LabelsHash differs, or is missing: written before LesionKit "
                     "recorded it): it is treated as a manual mask",
                     path.string());
}

LabelMap readLabelMapFile(const fs::path& path, LabelMapOrigin* origin) {
  // Read as float first so that negative or fractional "labels" are caught, not wrapped.
  const auto image = readAs<float>(path);
  const Volume raw = checkedVolume(image.GetPointer(), path);
  LabelMap labels(raw.geometry);
  for (std::size_t i = 0; i < raw.voxels.size(); ++i) {
    const float v = raw.voxels[i];
    if (v < 0.0f || v > 65535.0f || std::floor(v) != v) {
      throw InputError(fmt::format("'{}': not a label map: voxel value {} is not a whole number in 0..65535", path.string(), v));
    }
    labels.voxels[i] = static_cast<std::uint16_t>(v);
  }
  if (origin)
    *origin = originOf(image->GetMetaDataDictionary(), labels);
  return labels;
}

bool writeVolumeFile(const Volume& volume, const fs::path& path, bool asInt16) {
  if (asInt16) {
    // One pass converts and checks (a 300-slice CT is 80 M voxels): straight into the ITK
    // buffer, falling back to float at the first value that is not a whole int16.
    auto image = itkbridge::ItkImage<std::int16_t>::New();
    itkbridge::copyGeometryTo(volume.geometry, image.GetPointer());
    image->Allocate();
    std::int16_t* out = image->GetBufferPointer();
    bool fits = true;
    constexpr std::size_t block = 4096;
    for (std::size_t start = 0; fits && start < volume.voxels.size(); start += block) {
      const std::size_t end = std::min(volume.voxels.size(), start + block);
      bool blockFits = true;
      for (std::size_t i = start; i < end; ++i) { // branch-free inside a block: vectorised
        const float v = volume.voxels[i];
        const bool inRange = v >= std::numeric_limits<std::int16_t>::min() && v <= std::numeric_limits<std::int16_t>::max();
        const float clamped = inRange ? v : 0.0f;
        out[i] = static_cast<std::int16_t>(clamped);
        blockFits &= inRange & (static_cast<float>(out[i]) == v);
      }
      fits = blockFits;
    }
    if (fits) {
      writeItk<std::int16_t>(image.GetPointer(), path);
      return true;
    }
  }
  writeItk<float>(itkViewOf(volume).GetPointer(), path);
  return false;
}

void writeVolumeFile(const Int16Volume& volume, const fs::path& path) {
  writeItk<std::int16_t>(itkViewOf(volume).GetPointer(), path);
}

void writeLabelMapFile(const LabelMap& labels, const fs::path& path, const LabelMapOrigin& origin) {
  const auto image = itkViewOf(labels);
  image->SetMetaDataDictionary(originDictionary(origin, labels, path));
  writeItk<std::uint16_t>(image.GetPointer(), path);
}

} // namespace lesion::dicomio

namespace lesion::dicomio {

bool isUncompressedNiftiFileName(const fs::path& path) { return endsWith(lowerName(path), ".nii"); }

namespace {

/// The 352 bytes ITK writes in front of the voxels of an int16 .nii on `geometry`: ITK writes a
/// one-slice file of that geometry and the slice count is set in dim[3] (the unit test checks
/// the result against ITK's header of the whole volume byte for byte).
std::vector<char> itkNiftiHeader(const ImageGeometry& geometry, const fs::path& scratch) {
  ImageGeometry oneSlice = geometry;
  oneSlice.size[2] = 1;
  const Int16Volume slice(oneSlice);
  writeItk<std::int16_t>(itkViewOf(slice).GetPointer(), scratch);
  std::vector<char> header(352);
  std::ifstream in(scratch, std::ios::binary);
  in.read(header.data(), std::streamsize(header.size()));
  const bool complete = bool(in);
  in.close();
  std::error_code ignored;
  fs::remove(scratch, ignored);
  std::int32_t sizeOfHeader;
  float voxelOffset;
  std::memcpy(&sizeOfHeader, header.data(), 4);
  std::memcpy(&voxelOffset, header.data() + 108, 4);
  std::int16_t dims[4];
  std::memcpy(dims, header.data() + 40, sizeof dims);
  if (!complete || sizeOfHeader != 348 || voxelOffset != 352.0f || dims[0] != 3 || dims[3] != 1 ||
      geometry.size[2] > std::size_t(std::numeric_limits<std::int16_t>::max())) {
    throw ProcessingError(fmt::format("'{}': unexpected NIfTI header from ITK", scratch.string()));
  }
  dims[3] = std::int16_t(geometry.size[2]);
  std::memcpy(header.data() + 40, dims, sizeof dims);
  return header;
}

} // namespace

MappedInt16NiftiFile::MappedInt16NiftiFile(const fs::path& target, const ImageGeometry& geometry)
    : m_Target(target.lexically_normal()), m_Temporary(temporarySiblingPath(m_Target)) {
  // m_Target normalised as in writeFileAtomically: "out/ro/../x.nii" makes no "out/ro".
  ensureWritableFolder(m_Target.parent_path().empty() ? fs::path(".") : m_Target.parent_path());
  ensureNotASpecialFile(m_Target);
  const std::vector<char> header = itkNiftiHeader(geometry, temporarySiblingPath(m_Target));
  const std::size_t dataBytes = geometry.voxelCount() * sizeof(std::int16_t);
  m_MapBytes = header.size() + dataBytes;
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    unmap();
    throw InputError(fmt::format("cannot write '{}': {}: {}", target.string(), what, reason));
  };
  m_File = ::open(m_Temporary.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (m_File < 0) fail("create");
  if (::write(m_File, header.data(), header.size()) != ssize_t(header.size())) fail("header");
  // Blocks reserved now: a full disk is an error here, not a SIGBUS while decoding into the map.
  if (const int rc = ::posix_fallocate(m_File, 0, off_t(m_MapBytes)); rc != 0) {
    errno = rc;
    fail("reserve space");
  }
  m_Map = ::mmap(nullptr, m_MapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, m_File, 0);
  if (m_Map == MAP_FAILED) {
    m_Map = nullptr;
    fail("map");
  }
  // The header is 352 bytes: the voxels are 2-byte aligned in the (page-aligned) mapping.
  m_Voxels = reinterpret_cast<std::int16_t*>(static_cast<char*>(m_Map) + header.size());
}

void MappedInt16NiftiFile::unmap() {
  if (m_Map) ::munmap(m_Map, m_MapBytes);
  m_Map = nullptr;
  m_Voxels = nullptr;
  if (m_File >= 0) ::close(m_File);
  m_File = -1;
  if (!m_Committed) {
    std::error_code ignored;
    fs::remove(m_Temporary, ignored);
  }
}

void MappedInt16NiftiFile::commit() {
  // munmap leaves the data in the page cache; the kernel writes it back like any written file.
  if (m_Map && ::munmap(m_Map, m_MapBytes) != 0) {
    throw InputError(fmt::format("cannot write '{}': {}", m_Target.string(), std::strerror(errno)));
  }
  m_Map = nullptr;
  m_Voxels = nullptr;
  const int closed = ::close(m_File);
  m_File = -1;
  std::error_code ec;
  if (closed == 0) fs::rename(m_Temporary, m_Target, ec);
  if (closed != 0 || ec) {
    unmap(); // removes the temporary
    throw InputError(fmt::format("cannot write '{}': {}", m_Target.string(),
                                 closed != 0 ? std::strerror(errno) : ec.message()));
  }
  m_Committed = true;
}

MappedInt16NiftiFile::~MappedInt16NiftiFile() { unmap(); }

} // namespace lesion::dicomio
