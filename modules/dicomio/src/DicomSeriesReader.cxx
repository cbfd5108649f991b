#include "lesion/dicomio/DicomSeriesReader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
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
  std::vector<char> jpeg2000;          ///< owns `bytes` on the GDCM path
  const unsigned char* bytes{nullptr};
  std::size_t available{0};
};

PixelBytes decodePixelBytes(const DicomInstance& inst) {
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
  if (detail::isJpeg2000TransferSyntax(inst.transferSyntaxUid)) {
    // Debian's DCMTK has no JPEG 2000 codec: GDCM (OpenJPEG) decodes these.
    px.jpeg2000 = detail::decodeJpeg2000PixelBytes(inst.path, count * bytesPer);
    px.bytes = reinterpret_cast<const unsigned char*>(px.jpeg2000.data());
    px.available = px.jpeg2000.size();
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
  }
  if (!px.bytes) {
    throw DicomError(fmt::format("{}: cannot read the pixel data values (transfer syntax {})", where,
                                 detail::transferSyntaxName(inst.transferSyntaxUid)));
  }
  if (px.available < count * bytesPer) {
    throw DicomError(fmt::format("{}: expected {} bytes of pixel data ({} frames of {}x{}, {} bits), found {} "
                                 "(truncated file?)",
                                 where, count * bytesPer, inst.numberOfFrames, inst.columns, inst.rows,
                                 inst.bitsAllocated, px.available));
  }
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
    if (isSigned && (raw >> (stored - 1)) & 1ull) value -= static_cast<long>(1ll << stored);
    return value;
  }
};

/// Stored values of every frame of `inst` (frames × rows × columns), sign-extended/masked to Bits Stored.
std::vector<long> decodeAllStored(const DicomInstance& inst) {
  const PixelBytes px = decodePixelBytes(inst);
  const std::size_t count = std::size_t(inst.rows) * std::size_t(inst.columns) * std::size_t(inst.numberOfFrames);
  const ValueMapping map(inst, 0);
  std::vector<long> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = map.storedValue(px.bytes, i);
  return values;
}

/// Smallest non-padding value and whether padding was met, of the frames converted by one task.
struct FrameStats {
  float minimum{std::numeric_limits<float>::infinity()};
  bool padding{false};
};

template <typename Raw>
void convertTyped(const Raw* src, std::size_t n, const ValueMapping& m, float* out, FrameStats& stats) {
  const float slope = float(m.slope), intercept = float(m.intercept);
  const bool plain = m.stored == int(8 * sizeof(Raw)); // no masking / sign extension needed
  float lowest = stats.minimum;
  bool padding = false;
  for (std::size_t i = 0; i < n; ++i) {
    long value;
    if (plain) {
      value = m.isSigned ? long(std::make_signed_t<Raw>(src[i])) : long(src[i]);
    } else {
      const unsigned long long raw = static_cast<unsigned long long>(src[i]) & m.mask;
      value = static_cast<long>(raw);
      if (m.isSigned && (raw >> (m.stored - 1)) & 1ull) value -= static_cast<long>(1ll << m.stored);
    }
    if (value >= m.padLow && value <= m.padHigh) {
      out[i] = std::numeric_limits<float>::quiet_NaN();
      padding = true;
    } else {
      const float f = slope * float(value) + intercept;
      out[i] = f;
      lowest = std::min(lowest, f);
    }
  }
  stats.minimum = lowest;
  stats.padding = stats.padding || padding;
}

/// Rescaled values of one frame into `out` (rows × columns floats); padding becomes NaN.
void toFloatFrame(const DicomInstance& inst, const PixelBytes& px, int frame, float* out, FrameStats& stats) {
  const std::size_t perFrame = std::size_t(inst.rows) * std::size_t(inst.columns);
  const ValueMapping m(inst, frame);
  const unsigned char* base = px.bytes + perFrame * std::size_t(frame) * std::size_t(m.bytesPer);
  // The decoders hand out aligned buffers; copy to an aligned scratch when one is not.
  if (m.bytesPer == 1) {
    convertTyped(reinterpret_cast<const std::uint8_t*>(base), perFrame, m, out, stats);
  } else if (m.bytesPer == 2 && reinterpret_cast<std::uintptr_t>(base) % alignof(std::uint16_t) == 0) {
    convertTyped(reinterpret_cast<const std::uint16_t*>(base), perFrame, m, out, stats);
  } else if (m.bytesPer == 4 && reinterpret_cast<std::uintptr_t>(base) % alignof(std::uint32_t) == 0) {
    convertTyped(reinterpret_cast<const std::uint32_t*>(base), perFrame, m, out, stats);
  } else {
    for (std::size_t i = 0; i < perFrame; ++i) {
      const long value = m.storedValue(base, i);
      if (value >= m.padLow && value <= m.padHigh) {
        out[i] = std::numeric_limits<float>::quiet_NaN();
        stats.padding = true;
      } else {
        out[i] = float(m.slope * double(value) + m.intercept);
        stats.minimum = std::min(stats.minimum, out[i]);
      }
    }
  }
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
  toFloatFrame(instance, decodePixelBytes(instance), frame, out.data(), stats);
  return out;
}

LoadedVolume readDicomSeries(const DicomSeries& series, const LoadOptions& options, const Progress& progress) {
  const SliceStackGeometry g = analyzeSliceStack(series);
  const std::size_t n = g.order.size();
  const std::size_t cols = g.columns, rows = g.rows, perSlice = cols * rows;
  LoadedVolume out;
  out.warnings = g.warnings;
  out.seriesInstanceUid = series.seriesInstanceUid;
  out.seriesId = series.id;
  out.studyInstanceUid = series.first().studyInstanceUid;
  out.frameOfReferenceUid = series.first().frameOfReferenceUid;
  out.modality = series.first().modality;
  out.seriesDescription = series.first().seriesDescription;
  out.tiltDeg = g.tilted() ? g.tiltDeg : 0.0;
  if (!series.specialKind.empty()) out.warnings.push_back("series is a " + series.specialKind + ", not a diagnostic volume");

  if ((g.unevenSpacing || !g.gaps.empty()) && options.unevenSpacing == SpacingHandling::Refuse) {
    std::string details;
    for (const std::string& w : g.warnings) details += "; " + w;
    throw DicomError(fmt::format("series {} (first file '{}'): expected evenly spaced slices, found{}", series.id,
                                 series.first().path.string(), details));
  }

  // Decode: one work item per file (a multiframe file is decoded once for all its frames).
  std::map<std::size_t, std::vector<std::pair<int, std::size_t>>> byInstance; // instance -> (frame, stack index)
  for (std::size_t k = 0; k < n; ++k) {
    const DicomSliceRef& ref = series.slices[g.order[k]];
    byInstance[ref.instance].push_back({ref.frame, k});
    out.sopInstanceUids.push_back(series.instanceOf(ref).sopInstanceUid);
  }
  std::vector<std::pair<std::size_t, std::vector<std::pair<int, std::size_t>>>> items(byInstance.begin(), byInstance.end());
  // All acquired slices in stack order, contiguous: without resampling this becomes the volume.
  std::vector<float> stack(n * perSlice);
  std::vector<FrameStats> itemStats(items.size()); // one per task: no sharing between threads
  std::atomic<std::size_t> next{0}, done{0};
  std::exception_ptr firstError;
  std::mutex errorMutex;
  auto worker = [&](bool reports) {
    for (;;) {
      const std::size_t item = next.fetch_add(1);
      if (item >= items.size()) return;
      try {
        const DicomInstance& inst = series.instances[items[item].first];
        const PixelBytes px = decodePixelBytes(inst);
        for (const auto& [frame, k] : items[item].second)
          toFloatFrame(inst, px, frame, stack.data() + k * perSlice, itemStats[item]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!firstError) firstError = std::current_exception();
        next.store(items.size());
      }
      const std::size_t finished = done.fetch_add(1) + 1;
      if (reports && progress.active()) progress.report(0.9 * double(finished) / double(items.size()), "decoding DICOM slices");
    }
  };
  const unsigned threads = std::max(1u, std::min<unsigned>(options.threads, unsigned(items.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker, false);
  worker(true);
  for (auto& t : pool) t.join();
  if (firstError) std::rethrow_exception(firstError);

  // Padding (NaN) → the smallest real value of the series.
  float minimum = std::numeric_limits<float>::infinity();
  bool anyPadding = false;
  for (const FrameStats& st : itemStats) {
    minimum = std::min(minimum, st.minimum);
    anyPadding = anyPadding || st.padding;
  }
  if (!std::isfinite(minimum)) minimum = 0.0f;
  out.paddingValue = minimum;
  if (anyPadding)
    for (float& v : stack)
      if (std::isnan(v)) v = minimum;

  bool integralValues = true;
  for (const DicomInstance& inst : series.instances)
    for (const DicomFrameGeometry& f : inst.frames)
      if (f.rescaleSlope != std::round(f.rescaleSlope) || f.rescaleIntercept != std::round(f.rescaleIntercept))
        integralValues = false;

  // Stack axis: the normal (orthogonal grid) unless a tilt is to be kept sheared.
  const bool keepShear = g.tilted() && options.tilt == TiltHandling::KeepSheared;
  const Vec3 axis = keepShear ? g.stackDirection : g.normal;
  const Vec3 origin = g.imagePositions[0];
  auto ippOf = [&](std::size_t k) { return g.imagePositions[k]; };
  const double axisDotNormal = dot(axis, g.normal);
  std::vector<double> e(n); // distance of each slice plane from the first along `axis`
  for (std::size_t k = 0; k < n; ++k) e[k] = dot(ippOf(k) - origin, g.normal) / axisDotNormal;

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
    if (!(geom.spacing.z > 0)) geom.spacing.z = 1.0;
  }
  if (keepShear) {
    out.warnings.push_back(fmt::format("kept sheared: the third direction column is the stacking direction, {:.2f} deg "
                                       "off the slice normal (not orthogonal)", g.tiltDeg));
  }

  if (!resample) {
    geom.size = {cols, rows, n};
    out.volume.geometry = geom;
    out.volume.voxels = std::move(stack);
  } else {
    double step = geom.spacing.z;
    if (uneven) {
      step = std::numeric_limits<double>::infinity();
      for (std::size_t k = 1; k < n; ++k) step = std::min(step, e[k] - e[k - 1]);
    }
    // One odd tiny step (e.g. 0.02 mm) must not blow a 300-slice series up to 15000 slices: the
    // output holds at most max(4 × acquired slices, 256) slices; the step grows if needed.
    const std::size_t maxSlices = std::max<std::size_t>(4 * n, 256);
    if (e[n - 1] / step + 1.0 > double(maxSlices)) {
      step = e[n - 1] / double(maxSlices - 1);
      out.warnings.push_back(fmt::format("resampling step enlarged to {:.3f} mm to keep the volume at {} slices", step,
                                         maxSlices));
    }
    const std::size_t m = std::size_t(std::floor(e[n - 1] / step + 1e-3)) + 1;
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
        if (std::abs(du - std::round(du)) < 1e-4) du = std::round(du);
        if (std::abs(dw - std::round(dw)) < 1e-4) dw = std::round(dw);
        const long iu = long(std::floor(du)), iw = long(std::floor(dw));
        const float fu = float(du - double(iu)), fw = float(dw - double(iw));
        const float weight = float(c.weight);
        const float* src = stack.data() + c.src * perSlice;
        const long C = long(cols), R = long(rows);
        for (long j = 0; j < R; ++j) {
          float* row = dst + std::size_t(j) * cols;
          const long w0 = j + iw, w1 = fw > 0.0f ? w0 + 1 : w0;
          if (w0 < 0 || w1 >= R) {
            for (long i = 0; i < C; ++i) row[i] += weight * minimum;
            continue;
          }
          const float* r0 = src + std::size_t(w0) * cols;
          const float* r1 = src + std::size_t(w1) * cols;
          // Columns whose samples lie inside the source: [begin, end); branch-free inside so
          // the compiler vectorises it.
          const long step1 = fu > 0.0f ? 1 : 0;
          const long begin = std::clamp(-iu, 0L, C), end = std::clamp(C - iu - step1, begin, C);
          for (long i = 0; i < begin; ++i) row[i] += weight * minimum;
          for (long i = end; i < C; ++i) row[i] += weight * minimum;
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
      for (std::size_t k = nextSlice.fetch_add(1); k < m; k = nextSlice.fetch_add(1)) resampleSlice(k);
    };
    const unsigned resampleThreads = std::max(1u, std::min<unsigned>(options.threads, unsigned(m)));
    std::vector<std::thread> resamplePool;
    for (unsigned t = 1; t < resampleThreads; ++t) resamplePool.emplace_back(resampleWorker);
    resampleWorker();
    for (auto& t : resamplePool) t.join();
    std::vector<std::string> reasons;
    if (g.tilted() && !keepShear) reasons.push_back(fmt::format("gantry tilt {:.2f} deg", g.tiltDeg));
    if (uneven) reasons.push_back("uneven spacing");
    std::string joined;
    for (const auto& r : reasons) joined += (joined.empty() ? "" : " and ") + r;
    out.warnings.push_back(fmt::format("resampled for {}: {} acquired slices -> {} slices of {:.3f} mm (linear{})",
                                       joined, n, m, step, integralValues ? ", rounded to whole numbers" : ""));
  }
  for (const std::string& w : out.warnings) logWarning("{}: {}", series.id, w);
  if (progress.active()) progress.report(1.0, "DICOM series loaded");
  return out;
}

} // namespace lesion::dicomio
