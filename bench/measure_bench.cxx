// Measurement engine timing: a 100 mL rotated ellipsoid (semi-axes 36 x 28 x 23.7 mm) on a
// 0.7 mm isotropic CT grid, the size of a large soft-tissue mass. See bench/README.md.
#include <cmath>

#include <benchmark/benchmark.h>

#include "lesion/measurement/LesionMeasurement.h"

namespace {

struct Phantom {
  lesion::Volume volume;
  lesion::LabelMap labels;
};

const Phantom& hundredMillilitreLesion() {
  static const Phantom phantom = [] {
    lesion::ImageGeometry g;
    g.size = {120, 120, 120};
    g.spacing = {0.7, 0.7, 0.7};
    Phantom p{lesion::Volume(g, -100.0f), lesion::LabelMap(g, 0)};
    const lesion::Mat3 rotation = lesion::Mat3::rotation(lesion::normalized({1.0, 2.0, 0.5}), 0.6);
    const lesion::Vec3 centre = g.indexToPoint(60, 60, 60);
    const lesion::Vec3 semi{36.0, 28.0, 23.7};
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const lesion::Vec3 q = rotation.transposed() * (g.indexToPoint(i, j, k) - centre);
          if (q.x * q.x / (semi.x * semi.x) + q.y * q.y / (semi.y * semi.y) + q.z * q.z / (semi.z * semi.z) <= 1.0) {
            p.labels.at(i, j, k) = 1;
            p.volume.at(i, j, k) = 40.0f + float((i * 7 + j * 13 + k * 3) % 200); // some calcified voxels
          }
        }
    return p;
  }();
  return phantom;
}

void measureAll(benchmark::State& state) {
  const Phantom& p = hundredMillilitreLesion();
  lesion::measurement::MeasurementOptions options;
  options.computeSurfaceMesh = state.range(0) != 0;
  double volumeMl = 0.0;
  for (auto _ : state) {
    const auto results = lesion::measurement::measureLesions(p.volume, p.labels, options);
    volumeMl = results.front().voxelVolumeMl;
    benchmark::DoNotOptimize(results);
  }
  state.counters["volumeMl"] = volumeMl;
  state.SetLabel(options.computeSurfaceMesh ? "with surface mesh" : "without surface mesh");
}
BENCHMARK(measureAll)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

/// Worst case for the RECIST search: a torus (ring radius 30 mm, tube radius 10 mm, ~59 mL) lying
/// in the acquisition plane, so every slice is an annulus whose hull diameter crosses the hole and
/// the long axis needs the all-boundary-pairs search.
const Phantom& concaveTorus() {
  static const Phantom phantom = [] {
    lesion::ImageGeometry g;
    g.size = {120, 120, 34};
    g.spacing = {0.7, 0.7, 0.7};
    Phantom p{lesion::Volume(g, -100.0f), lesion::LabelMap(g, 0)};
    const lesion::Vec3 centre = g.indexToPoint(60, 60, 17);
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const lesion::Vec3 q = g.indexToPoint(i, j, k) - centre;
          const double ring = std::hypot(q.x, q.y) - 30.0;
          if (ring * ring + q.z * q.z <= 100.0) {
            p.labels.at(i, j, k) = 1;
            p.volume.at(i, j, k) = 40.0f;
          }
        }
    return p;
  }();
  return phantom;
}

void measureConcave(benchmark::State& state) {
  const Phantom& p = concaveTorus();
  lesion::measurement::MeasurementOptions options;
  options.computeSurfaceMesh = false;
  double longAxisMm = 0.0;
  for (auto _ : state) {
    const auto results = lesion::measurement::measureLesions(p.volume, p.labels, options);
    longAxisMm = results.front().recist.longAxisMm;
    benchmark::DoNotOptimize(results);
  }
  state.counters["longAxisMm"] = longAxisMm;
  state.SetLabel("torus, without surface mesh");
}
BENCHMARK(measureConcave)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
