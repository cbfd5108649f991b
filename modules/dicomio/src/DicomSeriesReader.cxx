#include "lesion/dicomio/DicomSeriesReader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "DicomFile.h"
#include "DicomJpeg2000.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::dicomio {

namespace {

bool isHighThroughputJpeg2000(const std::string& uid) { return uid.rfind("1.2.840.10008.1.2.4.20", 0) == 0; }

/// Decoded pixel bytes of every frame (host byte order) and what keeps them alive.
struct PixelBytes {
  std::unique_ptr<DcmFileFormat> file; ///< owns `bytes` on the DCMTK path
  std::vector<char> owned;             ///< owns `bytes` on the GDCM and the native-read paths
  const unsigned char* bytes{nullptr};
  std::size_t available{0};
};

bool hostIsLittleEndian() {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

/// Uncompressed little endian files (the bulk of CT series) without a second DCMTK parse: the
/// Pixel Data value is the end of the file in practice, so it is read from there after checking
/// the element header in front of it (tag (7FE0,0010), VR OB/OW when explicit, the expected
/// length). Returns false (nothing read) whenever that check fails: the caller parses the file
/// with DCMTK, which also produces the error messages.
bool readNativePixelData(const DicomInstance& inst, std::size_t expectedBytes, std::vector<char>& buffer) {
  const bool explicitVr = inst.transferSyntaxUid == "1.2.840.10008.1.2.1";
  const bool implicitVr = inst.transferSyntaxUid == "1.2.840.10008.1.2";
  if (inst.gzipped || !(explicitVr || implicitVr) || inst.numberOfFrames < 1 || !hostIsLittleEndian())
    return false;
  const std::size_t valueBytes = expectedBytes + (expectedBytes % 2); // values have even length
  std::FILE* f = std::fopen(inst.path.c_str(), "rb");
  if (!f)
    return false;
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  const std::size_t header = explicitVr ? 12 : 8;
  if (std::fseek(f, 0, SEEK_END) != 0)
    return false;
  const long size = std::ftell(f);
  if (size < 0 || std::size_t(size) < valueBytes + header + 132)
    return false;
  if (std::fseek(f, size - long(valueBytes + header), SEEK_SET) != 0)
    return false;
  unsigned char h[12];
  if (std::fread(h, 1, header, f) != header)
    return false;
  if (!(h[0] == 0xE0 && h[1] == 0x7F && h[2] == 0x10 && h[3] == 0x00))
    return false;
  std::uint32_t length;
  if (explicitVr) {
    if (!((h[4] == 'O' && (h[5] == 'W' || h[5] == 'B')) && h[6] == 0 && h[7] == 0))
      return false;
    std::memcpy(&length, h + 8, 4);
  } else {
    std::memcpy(&length, h + 4, 4);
  }
  if (length != valueBytes)
    return false;
  buffer.resize(valueBytes);
  return std::fread(buffer.data(), 1, valueBytes, f) == valueBytes;
}

/// `scratch` (optional) is a buffer to reuse for the native-read path; PixelBytes::owned hands it back.
PixelBytes decodePixelBytes(const DicomInstance& inst, std::vector<char>* scratch = nullptr) {
  const std::string where = "'" + inst.path.string() + "'";
  if (inst.samplesPerPixel != 1) {
    throw DicomError(fmt::format("{}: expected a greyscale image (Samples per Pixel 1), found {} samples ({})", where,
                                 inst.samplesPerPixel, inst.photometricInterpretation));
  }
  if (inst.bitsAllocated != 8 && inst.bitsAllocated != 16 && inst.bitsAllocated != 32) {
    throw DicomError(fmt::format("{}: expected 8, 16 or 32 Bits Allocated, found {}", where, inst.bitsAllocated));
  }
  if (inst.rows <= 0 || inst.columns <= 0) {
    throw DicomError(fmt::format("{}: expected positive Rows/Columns, found {}x{}", where, inst.columns, inst.rows));
  }
  if (isHighThroughputJpeg2000(inst.transferSyntaxUid)) {
    throw DicomError(fmt::format("{}: transfer syntax {} cannot be decoded: High-Throughput JPEG 2000 is supported "
                                 "by neither DCMTK 3.6.7 nor GDCM 3.0",
                                 where, detail::transferSyntaxName(inst.transferSyntaxUid)));
  }
  const std::size_t perFrame = std::size_t(inst.rows) * std::size_t(inst.columns);
  const std::size_t count = perFrame * std::size_t(inst.numberOfFrames);
  const std::size_t bytesPer = std::size_t(inst.bitsAllocated / 8);
  PixelBytes px;
  if (scratch)
    px.owned = std::move(*scratch);
  if (readNativePixelData(inst, count * bytesPer, px.owned)) {
    px.bytes = reinterpret_cast<const unsigned char*>(px.owned.data());
    px.available = px.owned.size();
  } else if (detail::isJpeg2000TransferSyntax(inst.transferSyntaxUid)) {
    // Debian's DCMTK has no JPEG 2000 codec: GDCM (OpenJPEG) decodes these.
    px.owned = detail::decodeJpeg2000PixelBytes(inst.path, count * bytesPer);
    px.bytes = reinterpret_cast<const unsigned char*>(px.owned.data());
    px.available = px.owned.size();
  } else {
    detail::registerDecoders();
    px.file = detail::loadDicomFile(inst.path, false);
    DcmDataset* ds = px.file->getDataset();
    const DcmXfer original(ds->getOriginalXfer());
    if (original.isEncapsulated()) {
      const OFCondition status = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
      if (status.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
        throw DicomError(fmt::format("{}: cannot decode pixel data in transfer syntax {}: {}", where,
                                     detail::transferSyntaxName(inst.transferSyntaxUid),
                                     status.bad() ? status.text() : "no decoder for this transfer syntax"));
      }
    }
    DcmElement* element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element) {
      throw DicomError(fmt::format("{}: expected Pixel Data (7FE0,0010), found none", where));
    }
    // Bytes in host order: DCMTK swaps big endian data on access.
    Uint16* words = nullptr;
    Uint8* octets = nullptr;
    if (bytesPer >= 2 && element->getUint16Array(words).good() && words) {
      px.bytes = reinterpret_cast<const unsigned char*>(words);
      px.available = element->getLength(EXS_LittleEndianExplicit);
    } else if (element->getUint8Array(octets).good() && octets) {
      px.bytes = octets;
      px.available = element->getLength(EXS_LittleEndianExplicit);
    }
    // Native pixel data a whole frame or more longer than the header says does not match it
    // (e.g. Bits Allocated 8 over 16-bit data): read on, the slice would be noise. Less is
    // padding some writers add (pydicom's MR_small_padded.dcm: 128 bytes).
    if (px.bytes && !original.isEncapsulated() && px.available >= (count + perFrame) * bytesPer)
      throw DicomError(
          detail::pixelDataLengthMismatch(inst, count * bytesPer, px.available,
                                          "Rows, Columns, Bits Allocated or Number of Frames do not match the "
                                          "pixel data"));
  }
  if (!px.bytes) {
    throw DicomError(fmt::format("{}: cannot read the pixel data values (transfer syntax {})", where,
                                 detail::transferSyntaxName(inst.transferSyntaxUid)));
  }
  if (px.available < count * bytesPer)
    throw DicomError(detail::pixelDataLengthMismatch(inst, count * bytesPer, px.available, "truncated file?"));
  return px;
}

/// How stored values become numbers: Bits Stored, sign, rescale and padding of one frame.
struct ValueMapping {
  int bytesPer{2};
  int stored{16};
  bool isSigned{false};
  unsigned long long mask{0xFFFF};
  double slope{1.0};
  double intercept{0.0};
  long padLow{1}, padHigh{0}; ///< empty range: no padding

  ValueMapping(const DicomInstance& inst, int frame) {
    bytesPer = inst.bitsAllocated / 8;
    stored = inst.bitsStored > 0 && inst.bitsStored <= inst.bitsAllocated ? inst.bitsStored : inst.bitsAllocated;
    isSigned = inst.pixelRepresentation == 1;
    mask = stored >= 64 ? ~0ull : ((1ull << stored) - 1ull);
    const DicomFrameGeometry& f = inst.frames.size() > std::size_t(frame) ? inst.frames[frame] : inst.frames.front();
    slope = f.rescaleSlope;
    intercept = f.rescaleIntercept;
    if (inst.pixelPaddingValue) {
      padLow = padHigh = *inst.pixelPaddingValue;
      if (inst.pixelPaddingRangeLimit) {
        padLow = std::min(*inst.pixelPaddingValue, *inst.pixelPaddingRangeLimit);
        padHigh = std::max(*inst.pixelPaddingValue, *inst.pixelPaddingRangeLimit);
      }
    }
  }

  [[nodiscard]] long storedValue(const unsigned char* bytes, std::size_t i) const {
    unsigned long long raw = 0;
    if (bytesPer == 1) {
      raw = bytes[i];
    } else if (bytesPer == 2) {
      Uint16 v;
      std::memcpy(&v, bytes + 2 * i, 2);
      raw = v;
    } else {
      Uint32 v;
      std::memcpy(&v, bytes + 4 * i, 4);
      raw = v;
    }
    raw &= mask; // high bits may hold overlays
    long value = static_cast<long>(raw);
    if (isSigned && (raw >> (stored - 1)) & 1ull)
      value -= static_cast<long>(1ll << stored);
    return value;
  }
};

/// Stored values of every frame of `inst` (frames × rows × columns), sign-extended/masked to Bits Stored.
std::vector<long> decodeAllStored(const DicomInstance& inst) {
  const PixelBytes px = decodePixelBytes(inst);
  const std::size_t count = std::size_t(inst.rows) * std::size_t(inst.columns) * std::size_t(inst.numberOfFrames);
  const ValueMapping map(inst, 0);
  std::vector<long> values(count);
  for (std::size_t i = 0; i < count; ++i)
    values[i] = map.storedValue(px.bytes, i);
  return values;
}

/// What the frames converted by one task held: smallest non-padding value, whether padding
/// was met, and (int16 output) whether every value fitted.
struct FrameStats {
  float minimum{std::numeric_limits<float>::infinity()};
  bool padding{false};
  bool fits{true};
};

/// Padding voxels of an int16 stack until the series minimum is known.
constexpr std::int16_t kInt16Padding = std::numeric_limits<std::int16_t>::min();

/// Stored value → output voxel: rescaled float (padding NaN) ...
template <typename Out> struct VoxelWriter {
  float slope, intercept;
  VoxelWriter(const ValueMapping& m, bool /*paddingPossible*/) : slope(float(m.slope)), intercept(float(m.intercept)) {}
  static void padding(float& out) { out = std::numeric_limits<float>::quiet_NaN(); }
  float value(long stored, float& out, bool& /*fits*/) const { return out = slope * float(stored) + intercept; }
};

/// ... or the exact whole number in int16 (integral Rescale Slope/Intercept only); `fits` turns
/// false at the first value out of range. kInt16Padding marks padding, so a real value may only
/// take it when the series declares no padding.
template <> struct VoxelWriter<std::int16_t> {
  long long slope, intercept, lowest;
  VoxelWriter(const ValueMapping& m, bool paddingPossible)
      : slope(std::llround(m.slope)), intercept(std::llround(m.intercept)),
        lowest(paddingPossible ? kInt16Padding + 1 : kInt16Padding) {}
  static void padding(std::int16_t& out) { out = kInt16Padding; }
  float value(long stored, std::int16_t& out, bool& fits) const {
    const long long v = slope * stored + intercept;
    const bool inRange = v >= lowest && v <= std::numeric_limits<std::int16_t>::max();
    fits = fits && inRange;
    out = static_cast<std::int16_t>(inRange ? v : 0);
    return float(v);
  }
};

template <typename Out, typename StoredAt>
void convertValues(std::size_t n, const ValueMapping& m, const VoxelWriter<Out>& w, const StoredAt& storedAt, Out* out,
                   FrameStats& stats) {
  float lowest = stats.minimum;
  bool padding = false, fits = true;
  for (std::size_t i = 0; i < n; ++i) {
    const long value = storedAt(i);
    if (value >= m.padLow && value <= m.padHigh) {
      w.padding(out[i]);
      padding = true;
    } else {
      lowest = std::min(lowest, w.value(value, out[i], fits));
    }
  }
  stats.minimum = lowest;
  stats.padding = stats.padding || padding;
  stats.fits = stats.fits && fits;
}

/// int16 output from 8/16-bit stored values: the same mapping as VoxelWriter<std::int16_t>, in
/// 32-bit integers without branches so that the compiler vectorises it (the bulk of a CT load).
/// Returns false (nothing done) when the rescale could overflow 32 bits.
template <typename Raw>
bool convertToInt16Fast(const Raw* src, std::size_t n, const ValueMapping& m, const VoxelWriter<std::int16_t>& w,
                        std::int16_t* out, FrameStats& stats) {
  static_assert(sizeof(Raw) <= 2);
  if (std::llabs(w.slope) > (1 << 14) || std::llabs(w.intercept) > (1 << 28))
    return false;
  using Wide = std::int32_t;
  const Wide slope = Wide(w.slope), intercept = Wide(w.intercept), lowest = Wide(w.lowest);
  const Wide mask = Wide(m.mask), signBit = m.isSigned ? Wide(1) << (m.stored - 1) : 0;
  const Wide padLow = Wide(std::clamp<long>(m.padLow, -(1L << 20), 1L << 20));
  const Wide padHigh = Wide(std::clamp<long>(m.padHigh, -(1L << 20), 1L << 20));
  constexpr Wide highest = std::numeric_limits<std::int16_t>::max();
  Wide minimum = std::numeric_limits<Wide>::max(), bad = 0, padded = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Wide x = ((Wide(src[i]) & mask) ^ signBit) - signBit; // masked to Bits Stored, sign-extended
    const Wide pad = Wide(x >= padLow) & Wide(x <= padHigh);
    const Wide padMask = -pad; // all ones on padding: selects by masks, no branch
    const Wide v = x * slope + intercept;
    bad |= (Wide(v < lowest) | Wide(v > highest)) & (pad ^ 1);
    padded |= pad;
    out[i] = std::int16_t((v & ~padMask) | (Wide(kInt16Padding) & padMask));
    minimum = std::min(minimum, (v & ~padMask) | (std::numeric_limits<Wide>::max() & padMask));
  }
  if (minimum != std::numeric_limits<Wide>::max())
    stats.minimum = std::min(stats.minimum, float(minimum));
  stats.padding = stats.padding || padded != 0;
  stats.fits = stats.fits && bad == 0;
  return true;
}

template <typename Raw, typename Out>
void convertTyped(const Raw* src, std::size_t n, const ValueMapping& m, const VoxelWriter<Out>& w, Out* out,
                  FrameStats& stats) {
  if constexpr (std::is_same_v<Out, std::int16_t> && sizeof(Raw) <= 2) {
    if (convertToInt16Fast(src, n, m, w, out, stats))
      return;
  }
  if (m.stored == int(8 * sizeof(Raw))) { // no masking / sign extension needed
    if (m.isSigned)
      convertValues(
          n, m, w, [src](std::size_t i) { return long(std::make_signed_t<Raw>(src[i])); }, out, stats);
    else
      convertValues(
          n, m, w, [src](std::size_t i) { return long(src[i]); }, out, stats);
    return;
  }
  convertValues(
      n, m, w,
      [src, &m](std::size_t i) {
        const unsigned long long raw = static_cast<unsigned long long>(src[i]) & m.mask;
        long value = static_cast<long>(raw);
        if (m.isSigned && (raw >> (m.stored - 1)) & 1ull)
          value -= static_cast<long>(1ll << m.stored);
        return value;
      },
      out, stats);
}

/// Rescaled values of one frame into `out` (rows × columns): float with padding NaN, or int16
/// with padding kInt16Padding (see VoxelWriter).
template <typename Out>
void convertFrame(const DicomInstance& inst, const PixelBytes& px, int frame, bool paddingPossible, Out* out,
                  FrameStats& stats) {
  const std::size_t perFrame = std::size_t(inst.rows) * std::size_t(inst.columns);
  const ValueMapping m(inst, frame);
  const VoxelWriter<Out> w(m, paddingPossible);
  const unsigned char* base = px.bytes + perFrame * std::size_t(frame) * std::size_t(m.bytesPer);
  // The decoders hand out aligned buffers; read byte-wise when one is not.
  if (m.bytesPer == 1) {
    convertTyped(reinterpret_cast<const std::uint8_t*>(base), perFrame, m, w, out, stats);
  } else if (m.bytesPer == 2 && reinterpret_cast<std::uintptr_t>(base) % alignof(std::uint16_t) == 0) {
    convertTyped(reinterpret_cast<const std::uint16_t*>(base), perFrame, m, w, out, stats);
  } else if (m.bytesPer == 4 && reinterpret_cast<std::uintptr_t>(base) % alignof(std::uint32_t) == 0) {
    convertTyped(reinterpret_cast<const std::uint32_t*>(base), perFrame, m, w, out, stats);
  } else {
    convertValues(
        perFrame, m, w, [base, &m](std::size_t i) { return m.storedValue(base, i); }, out, stats);
  }
}

/// Slices of a series grouped by file: (instance, [(frame, stack index)]), one decode task each.
using DecodeItems = std::vector<std::pair<std::size_t, std::vector<std::pair<int, std::size_t>>>>;

/// Decodes every item into `stack` (stack index × perSlice values) on `threads` threads, one file
/// per task; returns the stats per task. For int16 output the decoding stops early once a value
/// does not fit (FrameStats::fits). Rethrows the first decoding error.
template <typename Out>
std::vector<FrameStats> decodeStack(const DicomSeries& series, const DecodeItems& items, std::size_t perSlice,
                                    bool paddingPossible, unsigned threads, const Progress& progress, Out* stack) {
  std::vector<FrameStats> itemStats(items.size()); // one per task: no sharing between threads
  std::atomic<std::size_t> next{0}, done{0};
  std::exception_ptr firstError;
  std::mutex errorMutex;
  auto worker = [&](bool reports) {
    std::vector<char> scratch; // one read buffer per thread, reused from file to file
    for (;;) {
      const std::size_t item = next.fetch_add(1);
      if (item >= items.size())
        return;
      try {
        const DicomInstance& inst = series.instances[items[item].first];
        PixelBytes px = decodePixelBytes(inst, &scratch);
        for (const auto& [frame, k] : items[item].second)
          convertFrame(inst, px, frame, paddingPossible, stack + k * perSlice, itemStats[item]);
        scratch = std::move(px.owned);
        if (!itemStats[item].fits)
          next.store(items.size()); // int16 does not fit: the caller falls back to float
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!firstError)
          firstError = std::current_exception();
        next.store(items.size());
      }
      const std::size_t finished = done.fetch_add(1) + 1;
      if (reports && progress.active())
        progress.report(0.9 * double(finished) / double(items.size()), "decoding DICOM slices");
    }
  };
  const unsigned count = std::max(1u, std::min<unsigned>(threads, unsigned(items.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < count; ++t)
    pool.emplace_back(worker, false);
  worker(true);
  for (auto& t : pool)
    t.join();
  if (firstError)
    std::rethrow_exception(firstError);
  return itemStats;
}

/// Smallest real value of the series (0 when there is none) and whether any padding was met.
std::pair<float, bool> seriesMinimum(const std::vector<FrameStats>& itemStats) {
  float minimum = std::numeric_limits<float>::infinity();
  bool anyPadding = false;
  for (const FrameStats& st : itemStats) {
    minimum = std::min(minimum, st.minimum);
    anyPadding = anyPadding || st.padding;
  }
  if (!std::isfinite(minimum))
    minimum = 0.0f;
  return {minimum, anyPadding};
}

} // namespace

std::vector<long> decodeDicomFrameStoredValues(const DicomInstance& instance, int frame) {
  if (frame < 0 || frame >= instance.numberOfFrames) {
    throw DicomError(fmt::format("'{}': expected a frame number below {}, got {}", instance.path.string(),
                                 instance.numberOfFrames, frame));
  }
  const std::vector<long> all = decodeAllStored(instance);
  const std::size_t perFrame = std::size_t(instance.rows) * std::size_t(instance.columns);
  return {all.begin() + perFrame * frame, all.begin() + perFrame * (frame + 1)};
}

std::vector<float> decodeDicomFrame(const DicomInstance& instance, int frame) {
  if (frame < 0 || frame >= instance.numberOfFrames) {
    throw DicomError(fmt::format("'{}': expected a frame number below {}, got {}", instance.path.string(),
                                 instance.numberOfFrames, frame));
  }
  std::vector<float> out(std::size_t(instance.rows) * std::size_t(instance.columns));
  FrameStats stats;
  convertFrame(instance, decodePixelBytes(instance), frame, false, out.data(), stats);
  return out;
}

namespace {

/// Throws when `handling` refuses the stack's spacing: any uneven step (Refuse) or, by default,
/// a gap too wide to interpolate across; says how to load the series anyway.
void refuseSpacingAsAsked(const DicomSeries& series, const SliceStackGeometry& g, SpacingHandling handling) {
  const bool uneven = g.unevenSpacing || !g.gaps.empty();
  if (uneven && handling == SpacingHandling::Refuse) {
    std::string details;
    for (const std::string& w : g.warnings)
      details += (details.empty() ? "" : "; ") + w;
    throw DicomError(fmt::format("series {} (first file '{}'): expected evenly spaced slices, found: {}", series.id,
                                 series.first().path.string(), details));
  }
  if (g.wideGaps.empty() || handling != SpacingHandling::Resample)
    return;
  const SliceGap& widest =
      *std::max_element(g.wideGaps.begin(), g.wideGaps.end(),
                        [](const SliceGap& a, const SliceGap& b) { return a.toMm - a.fromMm < b.toMm - b.fromMm; });
  const double stepMm = widest.toMm - widest.fromMm;
  throw DicomError(fmt::format(
      "series {} in '{}': a gap of {:.2f} mm between the slices at {} and {} ({:.0f} x the series' usual {:.2f} mm "
      "step{}): interpolating across it would invent about {} slices, so the series is refused (gaps wider than "
      "{:.0f} x the usual step and {:.0f} mm are); choose another series with --series, or interpolate anyway with "
      "--uneven-spacing resample-across-gaps (lesionkit convert)",
      series.id, series.first().path.parent_path().string(), stepMm, formatPoint(widest.fromPoint),
      formatPoint(widest.toPoint), stepMm / g.medianStepMm, g.medianStepMm,
      g.wideGaps.size() > 1 ? fmt::format("; {} such gaps", g.wideGaps.size()) : "", widest.missingSlices,
      kWideGapStepFactor, kWideGapMinMm));
}

/// The Slice Thickness of the stacked slices for RECIST measurability: the one they share, else
/// the largest (the conservative choice: a lesion must reach twice it) with a warning naming the
/// values; none when a slice lacks it (the spacing then stands in).
std::optional<double> seriesSliceThickness(const DicomSeries& series, const std::vector<std::size_t>& order,
                                           std::vector<std::string>& warnings) {
  std::map<double, std::size_t> slicesOf; // thickness (to 0.001 mm) -> slices
  for (const std::size_t s : order) {
    const std::optional<double> t = series.frameOf(series.slices[s]).sliceThicknessMm;
    if (!t || !(*t > 0.0))
      return std::nullopt;
    ++slicesOf[std::round(*t * 1000.0) / 1000.0];
  }
  if (slicesOf.empty())
    return std::nullopt;
  const double largest = slicesOf.rbegin()->first;
  if (slicesOf.size() > 1) {
    std::string values;
    for (const auto& [thickness, slices] : slicesOf)
      values +=
          fmt::format("{}{:g} mm on {} slice{}", values.empty() ? "" : ", ", thickness, slices, slices == 1 ? "" : "s");
    warnings.push_back(fmt::format("mixed Slice Thickness: {}; the largest, {:g} mm, is used for RECIST "
                                   "measurability (a lesion must reach twice it)",
                                   values, largest));
  }
  return largest;
}

} // namespace

LoadedVolume readDicomSeries(const DicomSeries& series, const LoadOptions& options, const Progress& progress) {
  const SliceStackGeometry g = analyzeSliceStack(series);
  const std::size_t n = g.order.size();
  const std::size_t cols = g.columns, rows = g.rows, perSlice = cols * rows;
  LoadedVolume out;
  out.warnings = g.warnings;
  out.seriesInstanceUid = series.seriesInstanceUid;
  out.seriesId = series.id;
  out.studyInstanceUid = series.first().studyInstanceUid;
  out.patientId = series.first().patientId;
  out.patientName = series.first().patientName;
  out.patientBirthDate = series.first().patientBirthDate;
  out.patientSex = series.first().patientSex;
  out.accessionNumber = series.first().accessionNumber;
  out.studyId = series.first().studyId;
  out.studyTime = series.first().studyTime;
  out.studyDate = series.first().studyDate;
  out.frameOfReferenceUid = series.first().frameOfReferenceUid;
  out.modality = series.first().modality;
  out.seriesDescription = series.first().seriesDescription;
  out.tiltDeg = g.tilted() ? g.tiltDeg : 0.0;
  if (!series.specialKind.empty())
    out.warnings.push_back("series is a " + series.specialKind + ", not a diagnostic volume");

  refuseSpacingAsAsked(series, g, options.unevenSpacing);

  // Decode: one work item per file (a multiframe file is decoded once for all its frames).
  std::map<std::size_t, std::vector<std::pair<int, std::size_t>>> byInstance; // instance -> (frame, stack index)
  for (std::size_t k = 0; k < n; ++k) {
    const DicomSliceRef& ref = series.slices[g.order[k]];
    byInstance[ref.instance].push_back({ref.frame, k});
    out.sopInstanceUids.push_back(series.instanceOf(ref).sopInstanceUid);
  }
  out.sliceThicknessMm = seriesSliceThickness(series, g.order, out.warnings);
  const DecodeItems items(byInstance.begin(), byInstance.end());

  // Whole numbers small enough for the int16 path's 64-bit arithmetic (llround of a larger one
  // is undefined); a larger slope makes no int16 values anyway.
  auto int16Rescale = [](double v, double largest) { return v == std::round(v) && std::abs(v) <= largest; };
  bool integralValues = true;
  for (const DicomInstance& inst : series.instances)
    for (const DicomFrameGeometry& f : inst.frames)
      if (!int16Rescale(f.rescaleSlope, 65535.0) || !int16Rescale(f.rescaleIntercept, 1e9))
        integralValues = false;

  // Stack axis: the normal (orthogonal grid) unless a tilt is to be kept sheared.
  const bool keepShear = g.tilted() && options.tilt == TiltHandling::KeepSheared;
  const Vec3 axis = keepShear ? g.stackDirection : g.normal;
  const Vec3 origin = g.imagePositions[0];
  auto ippOf = [&](std::size_t k) { return g.imagePositions[k]; };
  const double axisDotNormal = dot(axis, g.normal);
  std::vector<double> e(n); // distance of each slice plane from the first along `axis`
  for (std::size_t k = 0; k < n; ++k)
    e[k] = dot(ippOf(k) - origin, g.normal) / axisDotNormal;

  const bool uneven = g.unevenSpacing || !g.gaps.empty();
  const bool resample = uneven || (g.tilted() && !keepShear);
  ImageGeometry geom;
  geom.origin = origin;
  geom.direction = Mat3::fromColumns(g.rowCosine, g.columnCosine, axis);
  geom.spacing = Vec3{g.pixelSpacingX, g.pixelSpacingY, 1.0};
  const DicomFrameGeometry& f0 = series.frameOf(series.slices[g.order[0]]);
  if (n > 1) {
    geom.spacing.z = e[n - 1] / double(n - 1);
  } else {
    geom.spacing.z = f0.sliceThicknessMm.value_or(series.first().spacingBetweenSlicesMm.value_or(1.0));
    if (!(geom.spacing.z > 0))
      geom.spacing.z = 1.0;
  }
  if (keepShear) {
    out.warnings.push_back(fmt::format("kept sheared: the third direction column is the stacking direction, {:.2f} deg "
                                       "off the slice normal (not orthogonal)",
                                       g.tiltDeg));
  }
  // Checked as a volume file's grid is, before a pixel is decoded or an output mapped, on every
  // path here (a folder load and the archive's indexed series): convert wrote 1e30 mm pixels that
  // every other command refused. A series kept sheared may lean.
  ImageGeometry acquired = geom;
  acquired.size = {cols, rows, n};
  acquired.validate("'" + series.first().path.parent_path().string() + "'", keepShear);
  if (options.checkGrid)
    options.checkGrid(acquired);

  auto finish = [&]() -> LoadedVolume {
    for (const std::string& w : out.warnings)
      logWarning("{}: {}", series.id, w);
    if (progress.active())
      progress.report(1.0, "DICOM series loaded");
    return std::move(out);
  };

  // int16 on request: straight into the final buffer when nothing is resampled and the values are
  // whole numbers in range; otherwise (or at the first value out of range) float, saying why.
  if (options.storage == VoxelStorage::Int16WhenExact) {
    if (resample) {
      out.voxelStorageNote = "float: the slices are resampled (interpolated in float, then rounded when whole numbers)";
    } else if (!integralValues) {
      out.voxelStorageNote = "float: Rescale Slope/Intercept are not whole numbers";
    } else {
      bool paddingPossible = false;
      for (const DicomInstance& inst : series.instances)
        paddingPossible = paddingPossible || inst.pixelPaddingValue.has_value();
      geom.size = {cols, rows, n};
      Int16Volume stack;
      stack.geometry = geom;
      std::int16_t* voxels = options.int16Destination ? options.int16Destination(geom) : nullptr;
      if (!voxels) {
        stack.voxels.resize(geom.voxelCount()); // zero-filled; every voxel is overwritten
        voxels = stack.voxels.data();
      }
      const std::vector<FrameStats> stats =
          decodeStack(series, items, perSlice, paddingPossible, options.threads, progress, voxels);
      if (std::all_of(stats.begin(), stats.end(), [](const FrameStats& st) { return st.fits; })) {
        const auto [minimum, anyPadding] = seriesMinimum(stats);
        out.paddingValue = minimum;
        if (anyPadding)
          std::replace(voxels, voxels + geom.voxelCount(), kInt16Padding, std::int16_t(minimum));
        out.int16InDestination = stack.voxels.empty();
        out.volumeInt16 = std::move(stack);
        return finish();
      }
      out.voxelStorageNote = "float: values outside the int16 range";
    }
  }

  // All acquired slices in stack order, contiguous: without resampling this becomes the volume.
  std::vector<float> stack(n * perSlice);
  const std::pair<float, bool> seriesMin =
      seriesMinimum(decodeStack(series, items, perSlice, false, options.threads, progress, stack.data()));
  const float minimum = seriesMin.first;
  const bool anyPadding = seriesMin.second;
  // Padding (NaN) → the smallest real value of the series.
  out.paddingValue = minimum;
  if (anyPadding)
    for (float& v : stack)
      if (std::isnan(v))
        v = minimum;

  if (!resample) {
    geom.size = {cols, rows, n};
    out.volume.geometry = geom;
    out.volume.voxels = std::move(stack);
  } else {
    double step = geom.spacing.z;
    if (uneven) {
      step = std::numeric_limits<double>::infinity();
      for (std::size_t k = 1; k < n; ++k)
        step = std::min(step, e[k] - e[k - 1]);
    }
    // One odd tiny step (e.g. 0.02 mm) must not blow a 300-slice series up to 15000 slices: the
    // output holds at most max(4 × acquired slices, 256) slices; the step grows if needed.
    const std::size_t maxSlices = std::max<std::size_t>(4 * n, 256);
    if (e[n - 1] / step + 1.0 > double(maxSlices)) {
      step = e[n - 1] / double(maxSlices - 1);
      out.warnings.push_back(
          fmt::format("resampling step enlarged to {:.3f} mm to keep the volume at {} slices", step, maxSlices));
    }
    // From the first acquired plane to the last, both on the grid: the step shortened so that a whole
    // number of steps spans the stack (a floor left the last acquired slice up to a step beyond the
    // grid, its data lost; a ceil at the same step would reach beyond the data).
    const std::size_t m = std::size_t(std::ceil(e[n - 1] / step - 1e-3)) + 1;
    step = e[n - 1] / double(m - 1);
    geom.spacing.z = step;
    geom.size = {cols, rows, m};
    out.volume = Volume(geom, 0.0f); // accumulated below
    out.resampled = true;
    // Per output slice: the (one or two) bracketing source slices with their weights.
    struct Contribution {
      std::size_t src;
      double weight;
    };
    std::vector<std::vector<Contribution>> plan(m);
    for (std::size_t k = 0; k < m; ++k) {
      const double t = std::min(double(k) * step, e[n - 1]);
      std::size_t b = std::size_t(std::lower_bound(e.begin(), e.end(), t - 1e-6) - e.begin());
      b = std::min(b, n - 1);
      if (std::abs(e[b] - t) <= 1e-6 || b == 0) {
        plan[k] = {{b, 1.0}};
      } else {
        const double wb = (t - e[b - 1]) / (e[b] - e[b - 1]);
        plan[k] = {{b - 1, 1.0 - wb}, {b, wb}};
      }
    }
    // The in-plane offset of source slice `srcK` seen from output slice `outK` (in pixels) is the
    // same for every pixel of the slice: the shear of a tilted stack, zero otherwise.
    auto resampleSlice = [&](std::size_t outK) {
      float* dst = out.volume.voxels.data() + outK * perSlice; // zero-initialised
      for (const Contribution& c : plan[outK]) {
        const Vec3 p0 = origin + axis * (double(outK) * step);
        const Vec3 ipp = ippOf(c.src);
        const double lambda = -dot(p0 - ipp, g.normal) / axisDotNormal;
        const Vec3 q0 = p0 + axis * lambda - ipp;
        double du = dot(q0, g.rowCosine) / g.pixelSpacingX;
        double dw = dot(q0, g.columnCosine) / g.pixelSpacingY;
        // Exact copies when a slice is shifted by whole pixels (or not at all).
        if (std::abs(du - std::round(du)) < 1e-4)
          du = std::round(du);
        if (std::abs(dw - std::round(dw)) < 1e-4)
          dw = std::round(dw);
        const long iu = long(std::floor(du)), iw = long(std::floor(dw));
        const float fu = float(du - double(iu)), fw = float(dw - double(iw));
        const float weight = float(c.weight);
        const float* src = stack.data() + c.src * perSlice;
        const long C = long(cols), R = long(rows);
        for (long j = 0; j < R; ++j) {
          float* row = dst + std::size_t(j) * cols;
          const long w0 = j + iw, w1 = fw > 0.0f ? w0 + 1 : w0;
          if (w0 < 0 || w1 >= R) {
            for (long i = 0; i < C; ++i)
              row[i] += weight * minimum;
            continue;
          }
          const float* r0 = src + std::size_t(w0) * cols;
          const float* r1 = src + std::size_t(w1) * cols;
          // Columns whose samples lie inside the source: [begin, end); branch-free inside so
          // the compiler vectorises it.
          const long step1 = fu > 0.0f ? 1 : 0;
          const long begin = std::clamp(-iu, 0L, C), end = std::clamp(C - iu - step1, begin, C);
          for (long i = 0; i < begin; ++i)
            row[i] += weight * minimum;
          for (long i = end; i < C; ++i)
            row[i] += weight * minimum;
          const float* a0 = r0 + iu;
          const float* a1 = r1 + iu;
          for (long i = begin; i < end; ++i) {
            const float top = a0[i] + fu * (a0[i + step1] - a0[i]);
            const float bottom = a1[i] + fu * (a1[i + step1] - a1[i]);
            row[i] += weight * (top + fw * (bottom - top));
          }
        }
      }
      // Whole-number sources (stored integers, integral rescale) stay whole numbers: interpolated
      // CT values are rounded to the nearest HU (error <= 0.5 HU, far below CT noise) so the
      // volume can be written as int16 like the original.
      if (integralValues)
        for (std::size_t i = 0; i < perSlice; ++i) {
          const float x = dst[i]; // half away from zero; HU-sized values fit an int
          dst[i] = float(int(x + (x >= 0.0f ? 0.5f : -0.5f)));
        }
    };
    std::atomic<std::size_t> nextSlice{0};
    auto resampleWorker = [&] {
      for (std::size_t k = nextSlice.fetch_add(1); k < m; k = nextSlice.fetch_add(1))
        resampleSlice(k);
    };
    const unsigned resampleThreads = std::max(1u, std::min<unsigned>(options.threads, unsigned(m)));
    std::vector<std::thread> resamplePool;
    for (unsigned t = 1; t < resampleThreads; ++t)
      resamplePool.emplace_back(resampleWorker);
    resampleWorker();
    for (auto& t : resamplePool)
      t.join();
    std::vector<std::string> reasons;
    if (g.tilted() && !keepShear)
      reasons.push_back(fmt::format("gantry tilt {:.2f} deg", g.tiltDeg));
    if (uneven)
      reasons.push_back("uneven spacing");
    std::string joined;
    for (const auto& r : reasons)
      joined += (joined.empty() ? "" : " and ") + r;
    out.warnings.push_back(fmt::format("resampled for {}: {} acquired slices -> {} slices of {:.3f} mm (linear{})",
                                       joined, n, m, step, integralValues ? ", rounded to whole numbers" : ""));
  }
  return finish();
}

} // namespace lesion::dicomio
