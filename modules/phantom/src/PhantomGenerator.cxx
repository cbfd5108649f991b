/// \file PhantomGenerator.cxx
/// Voxelises the continuous phantom model: tissue codes on the voxel-corner lattice decide which
/// voxels are pure; voxels on a boundary are supersampled (partial volume). Gaussian noise is
/// seeded per slice so the result does not depend on the number of threads.

#include "lesion/phantom/Phantom.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/core/Text.h"

namespace lesion::phantom {
namespace {

constexpr double kDeg = 3.14159265358979323846 / 180.0;

/// Runs body(k) for k in [0, n) on `threads` threads (dynamic scheduling); rethrows the first error.
template <typename F>
void parallelFor(std::size_t n, int threads, F body) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex errorMutex;
  auto worker = [&] {
    try {
      for (std::size_t k = next++; k < n; k = next++) body(k);
    } catch (...) {
      const std::lock_guard lock(errorMutex);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

int threadCount(const PhantomOptions& o) {
  if (o.threads > 0) return o.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

/// SplitMix64: decorrelates per-slice seeds derived from (seed, time point, slice).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Mat3 orientationMatrix(const PhantomOptions& o) {
  if (o.orientation == Orientation::Oblique) {
    return Mat3::rotation({0, 1, 0}, 12.0 * kDeg) * Mat3::rotation({1, 0, 0}, 8.0 * kDeg);
  }
  return Mat3::identity();
}

/// Voxelises one time point: image (mean intensity with partial volume, no noise yet) and labels.
void voxelise(const PhantomAnatomy& anatomy, const RigidTransform& fromBaseline, const std::array<float, 256>& intensity,
              int supersampling, int threads, const Progress& progress, Volume& image, LabelMap& labels) {
  const ImageGeometry& g = image.geometry;
  const std::size_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const RigidTransform toPatient = fromBaseline.inverse();
  // Index step vectors in scanner LPS, composed with the inverse motion: patient-frame steps.
  const Vec3 di = toPatient.rotation * (g.direction.column(0) * g.spacing.x);
  const Vec3 dj = toPatient.rotation * (g.direction.column(1) * g.spacing.y);
  const Vec3 dk = toPatient.rotation * (g.direction.column(2) * g.spacing.z);
  const Vec3 p0 = toPatient.apply(g.origin);
  auto at = [&](double i, double j, double k) { return p0 + di * i + dj * j + dk * k; };

  // Tissue codes at voxel corners (index - 0.5): a voxel whose 8 corners and centre agree is pure.
  const std::size_t cx = nx + 1, cy = ny + 1, cz = nz + 1;
  std::vector<std::uint8_t> corners(cx * cy * cz);
  std::mutex progressMutex;
  std::atomic<std::size_t> done{0};
  const std::size_t totalSteps = cz + nz;
  auto step = [&] {
    const std::size_t d = ++done;
    if (progress.active() && (d % 4 == 0 || d == totalSteps)) {
      const std::lock_guard lock(progressMutex);
      progress.report(double(d) / double(totalSteps), "voxelising");
    }
  };
  parallelFor(cz, threads, [&](std::size_t k) {
    for (std::size_t j = 0; j < cy; ++j) {
      Vec3 p = at(-0.5, double(j) - 0.5, double(k) - 0.5);
      std::uint8_t* row = &corners[cx * (j + cy * k)];
      for (std::size_t i = 0; i < cx; ++i, p += di) row[i] = anatomy.classify(p);
    }
    step();
  });

  const int n = std::max(1, supersampling);
  const double inv = 1.0 / n;
  parallelFor(nz, threads, [&](std::size_t k) {
    for (std::size_t j = 0; j < ny; ++j) {
      for (std::size_t i = 0; i < nx; ++i) {
        const Vec3 centre = at(double(i), double(j), double(k));
        const std::uint8_t c = anatomy.classify(centre);
        const std::size_t v = g.linearIndex(i, j, k);
        labels.voxels[v] = labelOfTissue(c);
        bool pure = true;
        for (std::size_t b = 0; b < 8 && pure; ++b) {
          pure = corners[(i + (b & 1)) + cx * ((j + ((b >> 1) & 1)) + cy * (k + ((b >> 2) & 1)))] == c;
        }
        if (pure || n == 1) {
          image.voxels[v] = intensity[c];
          continue;
        }
        double sum = 0.0;
        for (int a = 0; a < n; ++a) {
          for (int b = 0; b < n; ++b) {
            for (int e = 0; e < n; ++e) {
              sum += intensity[anatomy.classify(at(double(i) + (e + 0.5) * inv - 0.5, double(j) + (b + 0.5) * inv - 0.5,
                                                   double(k) + (a + 0.5) * inv - 0.5))];
            }
          }
        }
        image.voxels[v] = static_cast<float>(sum / (n * n * n));
      }
    }
    step();
  });
}

/// Adds seeded Gaussian noise and rounds to whole numbers (the values DICOM stores exactly).
void addNoiseAndQuantise(Volume& image, double sd, std::uint64_t seed, int timePoint, Contrast contrast, int threads) {
  const ImageGeometry& g = image.geometry;
  const std::size_t slice = g.size[0] * g.size[1];
  const float lo = contrast == Contrast::CT ? -1024.0f : 0.0f;
  const float hi = contrast == Contrast::CT ? 3071.0f : 4095.0f;
  parallelFor(g.size[2], threads, [&](std::size_t k) {
    std::mt19937_64 rng(mix(mix(seed) ^ (std::uint64_t(timePoint) << 32) ^ std::uint64_t(k)));
    std::normal_distribution<double> noise(0.0, sd > 0 ? sd : 1.0);
    float* v = &image.voxels[slice * k];
    for (std::size_t i = 0; i < slice; ++i) {
      const double value = v[i] + (sd > 0 ? noise(rng) : 0.0);
      v[i] = std::clamp(static_cast<float>(std::lround(value)), lo, hi);
    }
  });
}

} // namespace

void PhantomOptions::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw UsageError(what);
  };
  require(pixelSizeMm >= 0.2 && pixelSizeMm <= 10.0, fmt::format("--voxel-size must be 0.2..10 mm, got {}", pixelSizeMm));
  require(sliceThicknessMm >= 0.2 && sliceThicknessMm <= 20.0,
          fmt::format("--slice-thickness must be 0.2..20 mm, got {}", sliceThicknessMm));
  require(std::abs(gantryTiltDegrees) <= 30.0, fmt::format("--tilt must be -30..30 degrees, got {}", gantryTiltDegrees));
  require(noiseSd >= 0.0 && noiseSd <= 500.0, fmt::format("--noise must be 0..500, got {}", noiseSd));
  require(timePoints >= 1 && timePoints <= 6, fmt::format("--time-points must be 1..6, got {}", timePoints));
  require(supersampling >= 1 && supersampling <= 8, fmt::format("--supersampling must be 1..8, got {}", supersampling));
  require(threads >= 0 && threads <= 256, fmt::format("--threads must be 0..256, got {}", threads));
  require(intervalDays >= 1 && intervalDays <= 3650, fmt::format("interval must be 1..3650 days, got {}", intervalDays));
  require(!patientId.empty() && patientId.size() <= 64, "patient ID must have 1..64 characters");
  // Written as UTF-8 (ISO_IR 192) when not ASCII; a DICOM LO value has no backslash (the value
  // separator) and no control characters.
  require(isUtf8(patientId), "patient ID must be UTF-8 text");
  require(std::none_of(patientId.begin(), patientId.end(),
                       [](char c) { return c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }),
          "patient ID must not contain a backslash or control characters (DICOM LO)");
  require(zFromMm <= zToMm, fmt::format("z range {}..{} is empty", zFromMm, zToMm));
  (void)addDays(baselineDate, 0); // throws for a malformed date
}

ImageGeometry phantomGrid(const PhantomOptions& o) {
  const PhantomAnatomy anatomy = buildPhantomAnatomy(defaultTimePointState(0));
  const Mat3 orient = orientationMatrix(o);
  const Vec3 row = orient * Vec3{1, 0, 0};
  const Vec3 col = orient * (Mat3::rotation({1, 0, 0}, o.gantryTiltDegrees * kDeg) * Vec3{0, 1, 0});
  // Tilted CT: slices stack along the table axis (z), so the grid is sheared; otherwise
  // the stack axis is the slice normal.
  const Vec3 stack = orient * Vec3{0, 0, 1};
  ImageGeometry g;
  g.direction = Mat3::fromColumns(row, col, stack);
  g.spacing = {o.pixelSizeMm, o.pixelSizeMm, o.sliceThicknessMm};
  Vec3 boxMin = anatomy.boxMin, boxMax = anatomy.boxMax;
  if (o.zFromMm != 0.0 || o.zToMm != 0.0) {
    boxMin.z = o.zFromMm;
    boxMax.z = o.zToMm;
  }
  const Mat3 m = g.direction * Mat3::fromColumns({g.spacing.x, 0, 0}, {0, g.spacing.y, 0}, {0, 0, g.spacing.z});
  const Mat3 mInv = m.inverse();
  Vec3 lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (int c = 0; c < 8; ++c) {
    const Vec3 corner{(c & 1) ? boxMax.x : boxMin.x, (c & 2) ? boxMax.y : boxMin.y, (c & 4) ? boxMax.z : boxMin.z};
    const Vec3 idx = mInv * corner;
    for (std::size_t a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], idx[a]);
      hi[a] = std::max(hi[a], idx[a]);
    }
  }
  for (std::size_t a = 0; a < 3; ++a) g.size[a] = static_cast<std::size_t>(std::ceil(hi[a] - lo[a] - 1e-9)) + 1;
  g.origin = m * lo;
  return g;
}

PhantomStudy generatePhantomStudy(const PhantomOptions& options, Progress progress) {
  options.validate();
  PhantomStudy study;
  study.options = options;
  const ImageGeometry grid = phantomGrid(options);
  // Image + labels + corner codes take ~7 bytes per voxel: refuse grids that cannot fit rather
  // than failing minutes later.
  constexpr std::size_t kMaxVoxels = 400'000'000;
  if (grid.voxelCount() > kMaxVoxels) {
    throw UsageError(fmt::format("a {} x {} x {} grid ({:.0f} M voxels) is too large (limit {} M): use a larger "
                                 "--voxel-size or --slice-thickness",
                                 grid.size[0], grid.size[1], grid.size[2], grid.voxelCount() / 1e6, kMaxVoxels / 1000000));
  }
  const auto intensity = tissueIntensities(options.contrast);
  const int threads = threadCount(options);
  const PhantomAnatomy baseline = buildPhantomAnatomy(defaultTimePointState(0));
  const Vec3 rotationCentre{0.0, 0.0, 0.5 * (baseline.zMin + baseline.zMax)};
  for (int t = 0; t < options.timePoints; ++t) {
    const Progress p = progress.sub(double(t) / options.timePoints, double(t + 1) / options.timePoints);
    PhantomTimePoint tp;
    tp.anatomy = buildPhantomAnatomy(defaultTimePointState(t));
    const RigidTransform motion = defaultFollowUpMotion(t, rotationCentre);
    tp.image = Volume(grid);
    tp.labels = LabelMap(grid);
    const auto start = std::chrono::steady_clock::now();
    voxelise(tp.anatomy, motion, intensity, options.supersampling, threads, p.sub(0.0, 0.85), tp.image, tp.labels);
    const auto voxelised = std::chrono::steady_clock::now();
    if (options.gantryTiltDegrees != 0.0) {
      PhantomOptions axial = options;
      axial.gantryTiltDegrees = 0.0;
      Volume unused(phantomGrid(axial));
      tp.tiltCorrectedLabels = LabelMap(unused.geometry);
      voxelise(tp.anatomy, motion, intensity, 1, threads, {}, unused, tp.tiltCorrectedLabels);
    }
    addNoiseAndQuantise(tp.image, options.noiseSd, options.seed, t, options.contrast, threads);
    p.report(0.9, "ground truth");
    tp.truth = computeTimePointTruth(tp.anatomy, motion, t,
                                     addDays(options.baselineDate, static_cast<int>(std::lround(t * options.intervalDays))));
    const auto finished = std::chrono::steady_clock::now();
    auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
    logDebug("phantom time point {}: voxelised in {:.2f} s, noise + truth in {:.2f} s ({} threads)", t,
             seconds(voxelised - start), seconds(finished - voxelised), threads);
    p.report(1.0, fmt::format("time point {} done", t));
    study.timePoints.push_back(std::move(tp));
  }
  return study;
}

std::string addDays(const std::string& d, int days) {
  const bool digits = d.size() == 8 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw UsageError(fmt::format("date '{}' is not YYYYMMDD", d));
  int y = std::stoi(d.substr(0, 4));
  const unsigned m = unsigned(std::stoi(d.substr(4, 2))), dd = unsigned(std::stoi(d.substr(6, 2)));
  if (m < 1 || m > 12 || dd < 1 || dd > 31 || y < 1900) throw UsageError(fmt::format("date '{}' is not a valid date", d));
  // days_from_civil / civil_from_days (H. Hinnant's public-domain algorithms).
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long z = long(era) * 146097 + long(doe) - 719468 + days;
  z += 719468;
  const long era2 = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe2 = unsigned(z - era2 * 146097);
  const unsigned yoe2 = (doe2 - doe2 / 1460 + doe2 / 36524 - doe2 / 146096) / 365;
  const long y2 = long(yoe2) + era2 * 400;
  const unsigned doy2 = doe2 - (365 * yoe2 + yoe2 / 4 - yoe2 / 100);
  const unsigned mp = (5 * doy2 + 2) / 153;
  const unsigned d2 = doy2 - (153 * mp + 2) / 5 + 1;
  const unsigned m2 = mp < 10 ? mp + 3 : mp - 9;
  return fmt::format("{:04d}{:02d}{:02d}", y2 + (m2 <= 2), m2, d2);
}

} // namespace lesion::phantom
