#include "SpineImageOps.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <queue>
#include <thread>
#include <utility>

namespace lesion::spine::detail {
namespace {

constexpr double kFar = 1e20;

// 1D squared distance transform of samples f at positions q * s (Felzenszwalb & Huttenlocher 2012).
void edt1d(const std::vector<double>& f, std::size_t n, double s, std::vector<double>& out, std::vector<int>& v,
           std::vector<double>& z) {
  int k = 0;
  v[0] = 0;
  z[0] = -std::numeric_limits<double>::infinity();
  z[1] = std::numeric_limits<double>::infinity();
  for (std::size_t q = 1; q < n; ++q) {
    const double pq = double(q) * s;
    double sIntersect = 0;
    while (true) {
      const double pv = double(v[std::size_t(k)]) * s;
      sIntersect = ((f[q] + pq * pq) - (f[std::size_t(v[std::size_t(k)])] + pv * pv)) / (2.0 * (pq - pv));
      if (sIntersect <= z[std::size_t(k)] && k > 0) {
        --k;
      } else {
        break;
      }
    }
    if (sIntersect <= z[std::size_t(k)]) { // k == 0 and the new parabola dominates
      v[0] = int(q);
      z[0] = -std::numeric_limits<double>::infinity();
      z[1] = std::numeric_limits<double>::infinity();
      continue;
    }
    ++k;
    v[std::size_t(k)] = int(q);
    z[std::size_t(k)] = sIntersect;
    z[std::size_t(k) + 1] = std::numeric_limits<double>::infinity();
  }
  k = 0;
  for (std::size_t q = 0; q < n; ++q) {
    const double pq = double(q) * s;
    while (z[std::size_t(k) + 1] < pq) ++k;
    const double pv = double(v[std::size_t(k)]) * s;
    out[q] = (pq - pv) * (pq - pv) + f[std::size_t(v[std::size_t(k)])];
  }
}

} // namespace

std::vector<float> squaredDistanceToBackground(const Mask& mask, const Dims& d) {
  std::vector<double> buf(d.count());
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = mask[i] ? kFar : 0.0;
  const std::size_t nmax = std::max({d.nx, d.ny, d.nz});
  // Lines [from, to) of one pass; each worker has its own scratch buffers.
  auto lines = [&](std::size_t n, double s, std::size_t stride, const std::vector<std::size_t>& starts, std::size_t from,
                   std::size_t to) {
    std::vector<double> f(nmax), out(nmax), z(nmax + 1);
    std::vector<int> v(nmax);
    for (std::size_t l = from; l < to; ++l) {
      const std::size_t start = starts[l];
      bool allZero = true, allFar = true;
      for (std::size_t q = 0; q < n; ++q) {
        f[q] = buf[start + q * stride];
        allZero = allZero && f[q] == 0.0;
        allFar = allFar && f[q] >= kFar;
      }
      // A line of background stays 0, a line that has seen no background yet stays "far" (a later
      // pass brings the distance in): nothing to compute.
      if (allZero || allFar) continue;
      edt1d(f, n, s, out, v, z);
      for (std::size_t q = 0; q < n; ++q) buf[start + q * stride] = out[q];
    }
  };
  // Large grids: two workers (the lines of a pass are independent).
  const bool parallel = d.count() >= (std::size_t(1) << 17);
  auto pass = [&](std::size_t n, double s, std::size_t stride, const std::vector<std::size_t>& starts) {
    if (!parallel) return lines(n, s, stride, starts, 0, starts.size());
    const std::size_t half = starts.size() / 2;
    std::thread worker(lines, n, s, stride, std::cref(starts), 0, half);
    lines(n, s, stride, starts, half, starts.size());
    worker.join();
  };
  std::vector<std::size_t> starts;
  starts.reserve(d.count() / std::max<std::size_t>(1, std::min({d.nx, d.ny, d.nz})));
  for (std::size_t k = 0; k < d.nz; ++k)
    for (std::size_t j = 0; j < d.ny; ++j) starts.push_back(d.index(0, j, k));
  pass(d.nx, d.sx, 1, starts);
  starts.clear();
  for (std::size_t k = 0; k < d.nz; ++k)
    for (std::size_t i = 0; i < d.nx; ++i) starts.push_back(d.index(i, 0, k));
  pass(d.ny, d.sy, d.nx, starts);
  starts.clear();
  for (std::size_t j = 0; j < d.ny; ++j)
    for (std::size_t i = 0; i < d.nx; ++i) starts.push_back(d.index(i, j, 0));
  pass(d.nz, d.sz, d.nx * d.ny, starts);
  return {buf.begin(), buf.end()};
}

Mask erode(const Mask& mask, const Dims& d, double radiusMm) {
  const auto dist = squaredDistanceToBackground(mask, d);
  const double r2 = radiusMm * radiusMm;
  Mask out(mask.size(), 0);
  for (std::size_t i = 0; i < mask.size(); ++i) out[i] = mask[i] && dist[i] > r2 ? 1 : 0;
  return out;
}

Mask dilate(const Mask& mask, const Dims& d, double radiusMm) {
  Mask inverse(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) inverse[i] = mask[i] ? 0 : 1;
  const auto dist = squaredDistanceToBackground(inverse, d);
  const double r2 = radiusMm * radiusMm;
  Mask out(mask.size(), 0);
  for (std::size_t i = 0; i < mask.size(); ++i) out[i] = mask[i] || dist[i] <= r2 ? 1 : 0;
  return out;
}

Components connectedComponents(const Mask& mask, const Dims& d, bool connectivity26) {
  Components c;
  c.labels.assign(mask.size(), 0);
  c.sizes.assign(1, 0);
  std::vector<std::size_t> stack;
  for (std::size_t start = 0; start < mask.size(); ++start) {
    if (!mask[start] || c.labels[start]) continue;
    const auto label = std::int32_t(c.sizes.size());
    std::size_t size = 0;
    c.labels[start] = label;
    stack.push_back(start);
    while (!stack.empty()) {
      const std::size_t p = stack.back();
      stack.pop_back();
      ++size;
      const long i = long(p % d.nx), j = long((p / d.nx) % d.ny), k = long(p / (d.nx * d.ny));
      for (long dk = -1; dk <= 1; ++dk)
        for (long dj = -1; dj <= 1; ++dj)
          for (long di = -1; di <= 1; ++di) {
            const int manhattan = std::abs(int(di)) + std::abs(int(dj)) + std::abs(int(dk));
            if (manhattan == 0 || (!connectivity26 && manhattan > 1)) continue;
            const long a = i + di, b = j + dj, cc = k + dk;
            if (a < 0 || b < 0 || cc < 0 || a >= long(d.nx) || b >= long(d.ny) || cc >= long(d.nz)) continue;
            const std::size_t q = d.index(std::size_t(a), std::size_t(b), std::size_t(cc));
            if (mask[q] && !c.labels[q]) {
              c.labels[q] = label;
              stack.push_back(q);
            }
          }
    }
    c.sizes.push_back(size);
  }
  return c;
}

std::vector<std::int32_t> components2d(const Mask& slice, std::size_t nx, std::size_t ny, std::vector<std::size_t>& sizes) {
  std::vector<std::int32_t> labels(slice.size(), 0);
  sizes.assign(1, 0);
  std::vector<std::size_t> stack;
  for (std::size_t start = 0; start < slice.size(); ++start) {
    if (!slice[start] || labels[start]) continue;
    const auto label = std::int32_t(sizes.size());
    std::size_t size = 0;
    labels[start] = label;
    stack.push_back(start);
    while (!stack.empty()) {
      const std::size_t p = stack.back();
      stack.pop_back();
      ++size;
      const long i = long(p % nx), j = long(p / nx);
      for (long dj = -1; dj <= 1; ++dj)
        for (long di = -1; di <= 1; ++di) {
          const long a = i + di, b = j + dj;
          if ((di == 0 && dj == 0) || a < 0 || b < 0 || a >= long(nx) || b >= long(ny)) continue;
          const std::size_t q = std::size_t(a) + nx * std::size_t(b);
          if (slice[q] && !labels[q]) {
            labels[q] = label;
            stack.push_back(q);
          }
        }
    }
    sizes.push_back(size);
  }
  return labels;
}

void fillConvexHull(const std::vector<std::size_t>& pixels, std::size_t nx, std::size_t ny, Mask& slice, double sx,
                    double sy) {
  if (pixels.empty()) return;
  struct P { double x, y; };
  std::vector<P> pts;
  pts.reserve(pixels.size());
  long i0 = long(nx), i1 = -1, j0 = long(ny), j1 = -1;
  for (std::size_t p : pixels) {
    const long i = long(p % nx), j = long(p / nx);
    pts.push_back({double(i) * sx, double(j) * sy});
    i0 = std::min(i0, i); i1 = std::max(i1, i); j0 = std::min(j0, j); j1 = std::max(j1, j);
  }
  std::sort(pts.begin(), pts.end(), [](const P& a, const P& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  auto crossZ = [](const P& o, const P& a, const P& b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); };
  // Andrew's monotone chain; the hull comes out counter-clockwise.
  std::vector<P> hull(2 * pts.size());
  std::size_t k = 0;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    while (k >= 2 && crossZ(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  for (std::size_t i = pts.size() - 1, t = k + 1; i-- > 0;) {
    while (k >= t && crossZ(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  hull.resize(k > 1 ? k - 1 : k);
  if (hull.size() < 3) {
    for (std::size_t p : pixels) slice[p] = 1;
    return;
  }
  const double eps = 1e-6 * (sx + sy);
  for (long j = j0; j <= j1; ++j)
    for (long i = i0; i <= i1; ++i) {
      const P q{double(i) * sx, double(j) * sy};
      bool inside = true;
      for (std::size_t e = 0; e < hull.size() && inside; ++e) {
        const P& a = hull[e];
        const P& b = hull[(e + 1) % hull.size()];
        if (crossZ(a, b, q) < -eps * (std::abs(b.x - a.x) + std::abs(b.y - a.y))) inside = false;
      }
      if (inside) slice[std::size_t(i) + nx * std::size_t(j)] = 1;
    }
}

Mask close2d(const Mask& slice, std::size_t nx, std::size_t ny) {
  auto morph = [&](const Mask& in, bool dilation) {
    Mask out(in.size(), 0);
    for (std::size_t j = 0; j < ny; ++j)
      for (std::size_t i = 0; i < nx; ++i) {
        bool any = false, all = true;
        for (long dj = -1; dj <= 1; ++dj)
          for (long di = -1; di <= 1; ++di) {
            const long a = long(i) + di, b = long(j) + dj;
            const bool v = a >= 0 && b >= 0 && a < long(nx) && b < long(ny) && in[std::size_t(a) + nx * std::size_t(b)];
            any = any || v;
            all = all && v;
          }
        out[i + nx * j] = dilation ? any : all;
      }
    return out;
  };
  Mask closed = morph(morph(slice, true), false);
  for (std::size_t p = 0; p < slice.size(); ++p) closed[p] = closed[p] || slice[p]; // border pixels stay
  return closed;
}

std::vector<std::uint16_t> growLabels(const std::vector<std::uint16_t>& seeds, const Mask& allowed, const Dims& d) {
  std::vector<std::uint16_t> out = seeds;
  std::deque<std::size_t> queue;
  for (std::size_t p = 0; p < seeds.size(); ++p)
    if (seeds[p]) queue.push_back(p);
  while (!queue.empty()) {
    const std::size_t p = queue.front();
    queue.pop_front();
    forEachNeighbour26(p, d, [&](std::size_t q, long, long, long) {
      if (allowed[q] && !out[q]) {
        out[q] = out[p];
        queue.push_back(q);
      }
    });
  }
  return out;
}

std::vector<std::uint16_t> growLabelsGeodesic(const std::vector<std::uint16_t>& seeds, const Mask& allowed, const Dims& d,
                                              double plusKStepFactor, double minusKStepFactor) {
  std::vector<std::uint16_t> out = seeds;
  std::vector<float> cost(seeds.size(), std::numeric_limits<float>::infinity());
  using Entry = std::pair<float, std::size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
  for (std::size_t p = 0; p < seeds.size(); ++p)
    if (seeds[p]) {
      cost[p] = 0.0f;
      queue.push({0.0f, p});
    }
  // Step lengths of the 26 neighbours (index (dk + 1) * 9 + (dj + 1) * 3 + di + 1).
  double step[27];
  for (int dk = -1; dk <= 1; ++dk)
    for (int dj = -1; dj <= 1; ++dj)
      for (int di = -1; di <= 1; ++di) {
        const double length = std::sqrt(std::pow(di * d.sx, 2) + std::pow(dj * d.sy, 2) + std::pow(dk * d.sz, 2));
        step[(dk + 1) * 9 + (dj + 1) * 3 + di + 1] = length * (dk > 0 ? plusKStepFactor : dk < 0 ? minusKStepFactor : 1.0);
      }
  while (!queue.empty()) {
    const auto [c, p] = queue.top();
    queue.pop();
    if (c > cost[p]) continue;
    forEachNeighbour26(p, d, [&, c = c, p = p](std::size_t q, long di, long dj, long dk) {
      if (!allowed[q] || seeds[q]) return;
      const float next = c + float(step[(dk + 1) * 9 + (dj + 1) * 3 + di + 1]);
      if (next < cost[q]) {
        cost[q] = next;
        out[q] = out[p];
        queue.push({next, q});
      }
    });
  }
  return out;
}

} // namespace lesion::spine::detail
