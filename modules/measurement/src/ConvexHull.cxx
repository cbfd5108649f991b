#include "ConvexHull.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>

extern "C" {
#include <libqhull_r/qhull_ra.h>
}

#include "lesion/core/Error.h"
#include "lesion/core/Log.h"

namespace lesion::measurement::detail {

std::vector<std::size_t> convexHull2d(const std::vector<Point2>& points) {
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return points[a].x < points[b].x || (points[a].x == points[b].x && points[a].y < points[b].y);
  });
  order.erase(std::unique(order.begin(), order.end(),
                          [&](std::size_t a, std::size_t b) {
                            return points[a].x == points[b].x && points[a].y == points[b].y;
                          }),
              order.end());
  if (order.size() < 3) return order;
  const auto turn = [&](std::size_t o, std::size_t a, std::size_t b) {
    return (points[a].x - points[o].x) * (points[b].y - points[o].y) -
           (points[a].y - points[o].y) * (points[b].x - points[o].x);
  };
  std::vector<std::size_t> hull(2 * order.size());
  std::size_t n = 0;
  for (std::size_t idx : order) { // lower hull
    while (n >= 2 && turn(hull[n - 2], hull[n - 1], idx) <= 0) --n;
    hull[n++] = idx;
  }
  const std::size_t lowerSize = n + 1;
  for (auto it = order.rbegin() + 1; it != order.rend(); ++it) { // upper hull
    while (n >= lowerSize && turn(hull[n - 2], hull[n - 1], *it) <= 0) --n;
    hull[n++] = *it;
  }
  hull.resize(n - 1); // the last point repeats the first
  return hull;
}

std::vector<std::size_t> convexHull3d(const std::vector<Vec3>& points) {
  if (points.size() < 4) return {};
  std::vector<coordT> coordinates;
  coordinates.reserve(points.size() * 3);
  for (const Vec3& p : points) {
    coordinates.push_back(p.x);
    coordinates.push_back(p.y);
    coordinates.push_back(p.z);
  }
  // qhull reports to a FILE*; capture it in memory so the library never prints.
  char* messageBuffer = nullptr;
  std::size_t messageSize = 0;
  FILE* messages = open_memstream(&messageBuffer, &messageSize);
  if (!messages) throw ProcessingError("convex hull: cannot allocate a message stream for qhull");

  qhT qhullState;
  qhT* qh = &qhullState;
  qh_zero(qh, messages);
  char command[] = "qhull Qt";
  const int exitCode = qh_new_qhull(qh, 3, static_cast<int>(points.size()), coordinates.data(), False, command,
                                    nullptr, messages);
  std::vector<std::size_t> vertices;
  if (exitCode == 0) {
    vertexT* vertex = nullptr;
    FORALLvertices { vertices.push_back(static_cast<std::size_t>(qh_pointid(qh, vertex->point))); }
  }
  qh_freeqhull(qh, !qh_ALL);
  int currentLong = 0;
  int totalLong = 0;
  qh_memfreeshort(qh, &currentLong, &totalLong);
  std::fclose(messages); // flushes the buffer
  if (exitCode != 0 && messageBuffer != nullptr)
    logDebug("convex hull: qhull found the {} points flat, using all of them: {}", points.size(),
             std::string(messageBuffer, messageSize).substr(0, 200));
  std::free(messageBuffer);
  // A non-zero exit code means flat (coplanar/collinear) input here: the caller falls back.
  return exitCode == 0 ? vertices : std::vector<std::size_t>{};
}

} // namespace lesion::measurement::detail
