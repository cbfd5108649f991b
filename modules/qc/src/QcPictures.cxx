// QC pictures with OpenCV: resampled planes, window/level, contour, RECIST axes, captions.
// The only file of qc that touches OpenCV.
#include "lesion/qc/QcPictures.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <png.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"

namespace lesion::qc {

DisplayWindow windowForKind(const std::string& kind) {
  if (kind == "lytic-bone" || kind == "sclerotic-bone") return {1500.0, 450.0};
  return {400.0, 40.0};
}

namespace {

cv::Scalar bgr(const std::array<std::uint8_t, 3>& rgb) { return cv::Scalar(rgb[2], rgb[1], rgb[0]); }

RgbImage fromMat(const cv::Mat& bgrImage) {
  RgbImage out;
  out.width = bgrImage.cols;
  out.height = bgrImage.rows;
  out.rgb.resize(std::size_t(out.width) * std::size_t(out.height) * 3);
  for (int y = 0; y < bgrImage.rows; ++y)
    for (int x = 0; x < bgrImage.cols; ++x) {
      const cv::Vec3b p = bgrImage.at<cv::Vec3b>(y, x);
      const std::size_t n = 3 * (std::size_t(y) * std::size_t(out.width) + std::size_t(x));
      out.rgb[n] = p[2];
      out.rgb[n + 1] = p[1];
      out.rgb[n + 2] = p[0];
    }
  return out;
}

cv::Mat toMat(const RgbImage& image) {
  cv::Mat m(image.height, image.width, CV_8UC3);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      const auto p = image.pixel(x, y);
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(p[2], p[1], p[0]);
    }
  return m;
}

// Text with a dark outline so it reads on any background.
void caption(cv::Mat& img, const std::string& text, cv::Point at, const cv::Scalar& colour, double scale = 0.5) {
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv::LINE_AA);
}

double fieldFor(const measurement::LesionMeasurement& lesion, const QcPictureOptions& o) {
  if (o.fieldMm) return *o.fieldMm;
  const double extent = std::max({lesion.extentLrMm, lesion.extentApMm, lesion.extentSiMm});
  return std::max(o.minimumFieldMm, extent + 2.0 * o.marginMm);
}

double pixelFor(double nativeMm, double fieldMm, const QcPictureOptions& o) {
  if (o.pixelMm) return *o.pixelMm;
  return std::min(nativeMm, fieldMm / std::max(16, o.minimumSizePx));
}

struct Plane {
  std::string view;
  Vec3 centre;
  Vec3 right;
  Vec3 down;
  double nativeMm; // finest spacing of the volume in this plane
};

SliceView render(const Volume& volume, const LabelMap& labels, const measurement::LesionMeasurement& lesion,
                 const Plane& plane, const QcPictureOptions& o) {
  volume.geometry.validate("QC picture volume");
  if (volume.voxels.size() != volume.geometry.voxelCount() || labels.voxels.size() != labels.geometry.voxelCount())
    throw InputError("QC picture: voxel count does not match the image size");
  const double field = fieldFor(lesion, o);
  const double px = pixelFor(plane.nativeMm, field, o);
  const int n = std::max(16, int(std::ceil(field / px)));
  SliceView view;
  view.view = plane.view;
  view.right = plane.right;
  view.down = plane.down;
  view.pixelMm = px;
  view.origin = plane.centre - plane.right * (px * (n - 1) / 2.0) - plane.down * (px * (n - 1) / 2.0);

  // Sample values and the lesion mask at pixel centres (nearest voxel); both index maps are affine.
  std::vector<float> values(std::size_t(n) * n, 0.0f);
  std::vector<bool> valid(values.size(), false);
  cv::Mat mask(n, n, CV_8U, cv::Scalar(0));
  auto sampler = [&](const ImageGeometry& g) {
    const Vec3 c0 = g.pointToIndex(view.origin);
    return std::array<Vec3, 3>{c0, g.pointToIndex(view.origin + view.right * px) - c0,
                               g.pointToIndex(view.origin + view.down * px) - c0};
  };
  const auto sv = sampler(volume.geometry), sl = sampler(labels.geometry);
  std::vector<float> inside;
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const Vec3 ci = sv[0] + sv[1] * double(x) + sv[2] * double(y);
      const long i = std::lround(ci.x), j = std::lround(ci.y), k = std::lround(ci.z);
      const std::size_t p = std::size_t(y) * n + x;
      if (volume.geometry.containsIndex(i, j, k)) {
        values[p] = volume.at(std::size_t(i), std::size_t(j), std::size_t(k));
        valid[p] = true;
        inside.push_back(values[p]);
      }
      const Vec3 cl = sl[0] + sl[1] * double(x) + sl[2] * double(y);
      const long li = std::lround(cl.x), lj = std::lround(cl.y), lk = std::lround(cl.z);
      if (labels.geometry.containsIndex(li, lj, lk) &&
          labels.at(std::size_t(li), std::size_t(lj), std::size_t(lk)) == lesion.spec.label)
        mask.at<std::uint8_t>(y, x) = 255;
    }

  DisplayWindow window = windowForKind(lesion.spec.kind);
  if (o.window) {
    window = *o.window;
  } else if (lesion.intensity.unit != "HU" && !inside.empty()) {
    // Arbitrary units (MR): the 1st-99th percentile of what the picture shows.
    std::sort(inside.begin(), inside.end());
    const double lo = inside[inside.size() / 100], hi = inside[inside.size() - 1 - inside.size() / 100];
    window = {std::max(hi - lo, 1e-6), (hi + lo) / 2.0};
  }
  cv::Mat img(n, n, CV_8UC3);
  const double low = window.level - window.width / 2.0;
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const std::size_t p = std::size_t(y) * n + x;
      const double g = valid[p] ? std::clamp((values[p] - low) / window.width * 255.0, 0.0, 255.0) : 0.0;
      const auto b = static_cast<std::uint8_t>(std::lround(g));
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(b, b, b);
    }

  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask.clone(), contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
  cv::drawContours(img, contours, -1, bgr(kContourColour), 1, cv::LINE_8);

  const int thickness = std::max(1, n / 256);
  auto toPoint = [&](const Vec3& p) {
    const auto xy = view.pointToPixel(p);
    return cv::Point(int(std::lround(xy[0])), int(std::lround(xy[1])));
  };
  const std::string title = fmt::format("{} ({})", lesion.spec.name.empty() ? fmt::format("label {}", lesion.spec.label)
                                                                            : lesion.spec.name,
                                        lesion.spec.kind);
  if (plane.view == "axial") {
    if (lesion.recist.shortAxisMm > 0)
      cv::line(img, toPoint(lesion.recist.shortAxis.start), toPoint(lesion.recist.shortAxis.end), bgr(kShortAxisColour),
               thickness, cv::LINE_8);
    if (lesion.recist.longAxisMm > 0)
      cv::line(img, toPoint(lesion.recist.longAxis.start), toPoint(lesion.recist.longAxis.end), bgr(kLongAxisColour),
               thickness, cv::LINE_8);
    if (o.annotate) {
      caption(img,
              title + (lesion.recist.onAcquisitionSlices
                           ? fmt::format(", slice {}", lesion.recist.sliceIndex)
                           : fmt::format(", z = {:.1f} mm", lesion.recist.longAxis.start.z)),
              {6, 18}, cv::Scalar(255, 255, 255));
      caption(img, fmt::format("long axis {:.1f} mm", lesion.recist.longAxisMm), {6, 38}, bgr(kLongAxisColour));
      caption(img, fmt::format("short axis {:.1f} mm", lesion.recist.shortAxisMm), {6, 58}, bgr(kShortAxisColour));
    }
  } else if (o.annotate) {
    caption(img, fmt::format("{}, {} through centroid", title, plane.view), {6, 18}, cv::Scalar(255, 255, 255));
  }
  if (o.annotate) {
    // Scale bar of 10 mm, bottom left.
    const int bar = int(std::lround(10.0 / px));
    cv::line(img, {8, n - 10}, {8 + bar, n - 10}, cv::Scalar(255, 255, 255), 2, cv::LINE_8);
    caption(img, "10 mm", {12 + bar, n - 5}, cv::Scalar(255, 255, 255), 0.4);
    caption(img, fmt::format("W {:.0f} L {:.0f}", window.width, window.level), {n - 110, n - 5}, cv::Scalar(255, 255, 255),
            0.4);
  }
  view.image = fromMat(img);
  return view;
}

Vec3 lesionCentre(const measurement::LesionMeasurement& l) { return (l.boundingBoxMin + l.boundingBoxMax) * 0.5; }

// Flips `axis` so it points along `towards` (keeps pictures in radiological orientation).
Vec3 along(const Vec3& axis, const Vec3& towards) { return dot(axis, towards) < 0 ? -axis : axis; }

} // namespace

SliceView renderAxialView(const Volume& volume, const LabelMap& labels, const measurement::LesionMeasurement& lesion,
                          const QcPictureOptions& options) {
  const ImageGeometry& g = volume.geometry;
  // The axial plane LPS z = const that holds RECIST axes measured on resampled axial sections.
  if (!lesion.recist.onAcquisitionSlices) {
    Vec3 centre = lesionCentre(lesion);
    centre.z = lesion.recist.longAxis.start.z;
    return render(volume, labels, lesion, {"axial", centre, {1, 0, 0}, {0, 1, 0}, std::min(g.spacing.x, g.spacing.y)},
                  options);
  }
  // The acquisition plane (constant k) that holds the RECIST axes.
  const Vec3 right = along(normalized(g.direction.column(0)), {1, 0, 0});
  const Vec3 down = along(normalized(g.direction.column(1)), {0, 1, 0});
  const Vec3 normal = normalized(cross(g.direction.column(0), g.direction.column(1)));
  const Vec3 onSlice = g.indexToPoint(0, 0, lesion.recist.sliceIndex);
  Vec3 centre = lesionCentre(lesion);
  centre -= normal * dot(centre - onSlice, normal);
  return render(volume, labels, lesion, {"axial", centre, right, down, std::min(g.spacing.x, g.spacing.y)}, options);
}

SliceView renderCoronalView(const Volume& volume, const LabelMap& labels, const measurement::LesionMeasurement& lesion,
                            const QcPictureOptions& options) {
  const Vec3& s = volume.geometry.spacing;
  return render(volume, labels, lesion,
                {"coronal", lesion.principalAxes.centroid, {1, 0, 0}, {0, 0, -1}, std::min({s.x, s.y, s.z})}, options);
}

SliceView renderSagittalView(const Volume& volume, const LabelMap& labels, const measurement::LesionMeasurement& lesion,
                             const QcPictureOptions& options) {
  const Vec3& s = volume.geometry.spacing;
  return render(volume, labels, lesion,
                {"sagittal", lesion.principalAxes.centroid, {0, 1, 0}, {0, 0, -1}, std::min({s.x, s.y, s.z})}, options);
}

void writePng(const RgbImage& image, const std::filesystem::path& path) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != std::size_t(image.width) * image.height * 3)
    throw InputError(fmt::format("PNG '{}': empty or inconsistent picture", path.string()));
  // libpng's simplified API (no setjmp here), not OpenCV's imgcodecs: that one library pulls
  // ~140 shared libraries (GDAL...) into the start-up of every command.
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = png_uint_32(image.width);
  png.height = png_uint_32(image.height);
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  std::vector<std::uint8_t> bytes;
  if (png_image_write_get_memory_size(png, size, 0, image.rgb.data(), 0, nullptr)) {
    bytes.resize(size);
    if (!png_image_write_to_memory(&png, bytes.data(), &size, 0, image.rgb.data(), 0, nullptr)) bytes.clear();
    bytes.resize(size);
  }
  if (bytes.empty())
    throw ProcessingError(fmt::format("PNG '{}': encoding failed: {}", path.string(), png.message));
  writeFileAtomically(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.close();
    if (!out) throw InputError(fmt::format("PNG '{}': cannot write", path.string()));
  });
}

std::vector<QcPictureFiles> writeQcPictures(const Volume& volume, const LabelMap& labels,
                                            const std::vector<measurement::LesionMeasurement>& lesions,
                                            const std::filesystem::path& folder, const QcPictureOptions& options) {
  ensureWritableFolder(folder);
  std::vector<QcPictureFiles> files;
  for (const auto& lesion : lesions) {
    QcPictureFiles f;
    f.label = lesion.spec.label;
    f.axial = folder / fmt::format("lesion-{}-axial.png", lesion.spec.label);
    f.coronal = folder / fmt::format("lesion-{}-coronal.png", lesion.spec.label);
    f.sagittal = folder / fmt::format("lesion-{}-sagittal.png", lesion.spec.label);
    writePng(renderAxialView(volume, labels, lesion, options).image, f.axial);
    writePng(renderCoronalView(volume, labels, lesion, options).image, f.coronal);
    writePng(renderSagittalView(volume, labels, lesion, options).image, f.sagittal);
    files.push_back(f);
  }
  return files;
}

RgbImage renderFollowUpPicture(const std::vector<TimepointLesion>& timepoints, const QcPictureOptions& options) {
  if (timepoints.empty()) throw InputError("follow-up picture: no time point given");
  // One scale for all: the largest field and the finest pixel.
  QcPictureOptions common = options;
  double field = 0.0, px = 1e9;
  for (const auto& t : timepoints) {
    if (!t.volume || !t.labels) throw InputError("follow-up picture: a time point has no volume or label map");
    const double f = fieldFor(t.lesion, options);
    field = std::max(field, f);
  }
  for (const auto& t : timepoints) {
    const Vec3& s = t.volume->geometry.spacing;
    px = std::min(px, pixelFor(std::min(s.x, s.y), field, options));
  }
  common.fieldMm = field;
  common.pixelMm = px;
  constexpr int band = 30, gap = 8;
  std::vector<cv::Mat> tiles;
  int width = 0, height = 0;
  for (const auto& t : timepoints) {
    tiles.push_back(toMat(renderAxialView(*t.volume, *t.labels, t.lesion, common).image));
    width += tiles.back().cols + (tiles.size() > 1 ? gap : 0);
    height = std::max(height, tiles.back().rows);
  }
  cv::Mat out(height + band, width, CV_8UC3, cv::Scalar(32, 32, 32));
  int x = 0;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    tiles[i].copyTo(out(cv::Rect(x, band, tiles[i].cols, tiles[i].rows)));
    caption(out, timepoints[i].caption, {x + 6, band - 9}, cv::Scalar(255, 255, 255), 0.6);
    x += tiles[i].cols + gap;
  }
  return fromMat(out);
}

void writeFollowUpPicture(const std::vector<TimepointLesion>& timepoints, const std::filesystem::path& path,
                          const QcPictureOptions& options) {
  writePng(renderFollowUpPicture(timepoints, options), path);
}

} // namespace lesion::qc
