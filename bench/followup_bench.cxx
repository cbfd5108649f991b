// Rigid follow-up registration on a real-size CT pair (bench/README.md: 512x512x~267 from
// /work/shared/tools/make_ct_series.py), timed, with the error against the known motion.
//   followup_bench BASELINE FOLLOWUP R00,R01,...,R22 TX,TY,TZ [X,Y,Z ...]
// The rotation (row-major) and translation give the true p_followup = R p_baseline + t; the
// points (LPS mm, default: the baseline grid centre) are where the error is measured, the first
// also gets a local refinement (30 mm margin) and a B-spline level (20 mm margin).
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/longitudinal/Registration.h"

namespace {

std::vector<double> numbers(const std::string& text) {
  std::vector<double> v;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) v.push_back(std::stod(item));
  return v;
}

} // namespace

int main(int argc, char** argv) {
  using namespace lesion;
  if (argc < 5) {
    std::fprintf(stderr, "usage: followup_bench BASELINE FOLLOWUP R00,...,R22 TX,TY,TZ [X,Y,Z ...]\n");
    return 1;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const Volume baseline = dicomio::loadVolume(argv[1]).volume;
    const Volume followup = dicomio::loadVolume(argv[2]).volume;
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    RigidTransform truth;
    const auto r = numbers(argv[3]), t = numbers(argv[4]);
    if (r.size() != 9 || t.size() != 3) throw UsageError("expected 9 rotation and 3 translation values");
    for (std::size_t i = 0; i < 9; ++i) truth.rotation.m[i] = r[i];
    truth.translation = {t[0], t[1], t[2]};
    std::vector<Vec3> points;
    for (int a = 5; a < argc; ++a) {
      const auto p = numbers(argv[a]);
      points.push_back({p.at(0), p.at(1), p.at(2)});
    }
    const auto& g = baseline.geometry;
    if (points.empty())
      points.push_back(g.indexToPoint(Vec3{0.5 * double(g.size[0] - 1), 0.5 * double(g.size[1] - 1), 0.5 * double(g.size[2] - 1)}));

    longitudinal::RegistrationOptions options;
    options.clampBelow = -1000.0f;
    const longitudinal::RegistrationResult global = longitudinal::registerRigid(baseline, followup, options);
    const Vec3 c = points.front();
    const longitudinal::RegionOfInterest roi{"point", c - Vec3{45, 45, 45}, c + Vec3{45, 45, 45}};
    longitudinal::LocalRegistrationOptions localOptions;
    localOptions.clampBelow = -1000.0f;
    const auto local = longitudinal::registerRigidLocal(baseline, followup, {roi}, global.baselineToFollowup, localOptions);
    // The B-spline level (as --soft-tissue-registration bspline on CT) on a 70 mm box there: its
    // cost on real-size data; on a rigid pair it should add no error.
    longitudinal::DeformableRegistrationOptions deformableOptions;
    deformableOptions.clampBelow = -200.0f;
    deformableOptions.clampAbove = 300.0f;
    const longitudinal::RegionOfInterest box{"point", c - Vec3{35, 35, 35}, c + Vec3{35, 35, 35}};
    const auto bspline = longitudinal::registerBSplineLocal(baseline, followup, box, local[0].baselineToFollowup,
                                                            deformableOptions);
    std::printf("grid %zux%zux%zu, spacing %.3g x %.3g x %.3g mm; load %.2f s\n", g.size[0], g.size[1], g.size[2],
                g.spacing.x, g.spacing.y, g.spacing.z, loadSeconds);
    std::printf("global: %.2f s, %u iterations (last level), metric %.4f, error at points %.3f mm\n", global.seconds,
                global.iterations, global.finalMetricValue,
                longitudinal::meanPointDistanceMm(global.baselineToFollowup, truth, points));
    std::printf("local (90 mm box at the first point): %.2f s, error there %.3f mm\n", local[0].seconds,
                distance(local[0].baselineToFollowup.apply(c), truth.apply(c)));
    std::printf("B-spline (70 mm box at the first point, 6x6x6 control points): %.2f s, %u iterations (last level), "
                "metric %.4f -> %.4f, max displacement %.2f mm, error there %.3f mm\n",
                bspline.seconds, bspline.iterations, bspline.rigidMetricValue, bspline.finalMetricValue,
                bspline.maxDisplacementMm, distance(bspline.baselineToFollowup.apply(c), truth.apply(c)));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "followup_bench: %s\n", e.what());
    return 2;
  }
}
