// Soft-tissue mass segmentation on a full-size CT: 512 x 512 x 300 voxels (0.8 x 0.8 x 1.25 mm),
// an axillary-like mass (32 x 26 x 24 mm, 45 HU) touching a muscle slab (55 HU) in fat, noise SD
// 12 HU. Target: under 5 s per lesion on 2 cores. The cost should follow the lesion, not the scan.
//   build-seg/bin/segment_bench --benchmark_min_time=1
#include <cmath>
#include <random>

#include <benchmark/benchmark.h>

#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace {

using namespace lesion;

const Volume& fullCt() {
  static const Volume volume = [] {
    ImageGeometry g;
    g.size = {512, 512, 300};
    g.spacing = {0.8, 0.8, 1.25};
    g.origin = {-204.4, -204.4, -186.9};
    Volume v(g);
    std::mt19937 rng(11);
    std::normal_distribution<float> noise(0.0f, 12.0f);
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i) {
          const Vec3 p = g.indexToPoint(i, j, k);
          const double e = std::pow(p.x / 16, 2) + std::pow(p.y / 13, 2) + std::pow(p.z / 12, 2);
          float hu = -100.0f;
          if (std::hypot(p.x, p.y) > 190.0) hu = -1000.0f;   // air around the body
          else if (e <= 1.0) hu = 45.0f;                       // mass
          else if (p.x >= 14.0 && p.x < 60.0) hu = 55.0f;      // muscle slab touching it
          v.at(i, j, k) = hu + noise(rng);
        }
    return v;
  }();
  return volume;
}

// A timing of a wrong answer is worth nothing: the mass is 4/3 pi 16 13 12 mm3 = 10.45 mL.
bool plausible(double volumeMl) { return std::abs(volumeMl - 10.455) < 0.08 * 10.455; }

void BM_SegmentSeed(benchmark::State& state) {
  const Volume& v = fullCt();
  for (auto _ : state) {
    auto r = segmentation::segmentSoftTissueMass(v, segmentation::SoftTissueInit::fromSeeds({{0, 0, 0}}));
    if (!plausible(r.volumeMl)) state.SkipWithError("seed: implausible volume");
    const double volumeMl = r.volumeMl; // const: the non-const DoNotOptimize may clobber a double (GCC)
    benchmark::DoNotOptimize(volumeMl);
  }
}
BENCHMARK(BM_SegmentSeed)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SegmentRecist(benchmark::State& state) {
  const Volume& v = fullCt();
  for (auto _ : state) {
    auto r = segmentation::segmentSoftTissueMass(v, segmentation::SoftTissueInit::fromRecist({-16, 0, 0}, {16, 0, 0}));
    if (!plausible(r.volumeMl)) state.SkipWithError("RECIST: implausible volume");
    const double volumeMl = r.volumeMl;
    benchmark::DoNotOptimize(volumeMl);
  }
}
BENCHMARK(BM_SegmentRecist)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
