#pragma once
/// \file QcPictures.h
/// Pictures to check a lesion by eye: an axial (acquisition-plane) slice through the RECIST long
/// axis with the lesion contour, the long and short axis and their lengths, plus coronal and
/// sagittal slices through the centroid; and the same lesion side by side over time points.
/// Plain RGB values in and out; OpenCV stays inside QcPictures.cxx.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"
#include "lesion/measurement/LesionMeasurement.h"

namespace lesion::qc {

/// Display window in the volume's units (HU on CT).
struct DisplayWindow {
  double width{400.0};
  double level{40.0};
};
/// Bone window (W 1500 / L 450) for lytic-bone and sclerotic-bone lesions, soft-tissue window
/// (W 400 / L 40) otherwise.
[[nodiscard]] DisplayWindow windowForKind(const std::string& kind);

/// An 8-bit RGB picture, rows top to bottom, 3 bytes per pixel (R, G, B).
struct RgbImage {
  int width{0};
  int height{0};
  std::vector<std::uint8_t> rgb{};
  [[nodiscard]] std::array<std::uint8_t, 3> pixel(int x, int y) const {
    const std::size_t n = 3 * (std::size_t(y) * std::size_t(width) + std::size_t(x));
    return {rgb[n], rgb[n + 1], rgb[n + 2]};
  }
};

/// A rendered plane: pixel (x, y) has its centre at origin + x·pixelMm·right + y·pixelMm·down (LPS mm).
struct SliceView {
  RgbImage image{};
  std::string view{};   ///< "axial", "coronal", "sagittal"
  Vec3 origin{};
  Vec3 right{};         ///< unit LPS vector of increasing x
  Vec3 down{};          ///< unit LPS vector of increasing y
  double pixelMm{1.0};
  /// Continuous pixel coordinates (x, y) of an LPS point projected onto the plane.
  [[nodiscard]] std::array<double, 2> pointToPixel(const Vec3& p) const {
    return {dot(p - origin, right) / pixelMm, dot(p - origin, down) / pixelMm};
  }
};

/// Colours (R, G, B) of the overlays, so tests and users know what they see.
inline constexpr std::array<std::uint8_t, 3> kContourColour{255, 220, 0};   // yellow
inline constexpr std::array<std::uint8_t, 3> kLongAxisColour{255, 40, 40};  // red
inline constexpr std::array<std::uint8_t, 3> kShortAxisColour{40, 140, 255}; // blue

struct QcPictureOptions {
  /// Window; default from the lesion kind, or (non-HU volumes) the 1st-99th percentile of the view.
  std::optional<DisplayWindow> window{};
  int minimumSizePx{384};    ///< pictures are upsampled until their side reaches this
  double marginMm{15.0};     ///< field of view = lesion extent plus this on each side
  double minimumFieldMm{60.0};
  std::optional<double> pixelMm{};      ///< force the pixel size (side-by-side pictures share one)
  std::optional<double> fieldMm{};      ///< force the field of view side
  bool annotate{true};       ///< lengths and labels as text
};

/// Axial view: the plane holding the RECIST axes, centred on the lesion: the acquisition plane
/// (index k of the grid), radiological orientation (patient left on the right for an axial CT
/// grid); or, for axes measured on resampled axial sections (a non-axial scan), the plane LPS
/// z = const (right = L, down = P).
[[nodiscard]] SliceView renderAxialView(const Volume& volume, const LabelMap& labels,
                                        const measurement::LesionMeasurement& lesion, const QcPictureOptions& options = {});
/// Coronal (right = L, down = I) and sagittal (right = P, down = I) planes through the centroid.
[[nodiscard]] SliceView renderCoronalView(const Volume& volume, const LabelMap& labels,
                                          const measurement::LesionMeasurement& lesion, const QcPictureOptions& options = {});
[[nodiscard]] SliceView renderSagittalView(const Volume& volume, const LabelMap& labels,
                                           const measurement::LesionMeasurement& lesion, const QcPictureOptions& options = {});

/// PNG, written atomically; throws lesion::InputError naming the file when it cannot be written.
void writePng(const RgbImage& image, const std::filesystem::path& path);

struct QcPictureFiles {
  std::uint16_t label{0};
  std::filesystem::path axial{};
  std::filesystem::path coronal{};
  std::filesystem::path sagittal{};
};

/// Per lesion: lesion-<label>-axial.png, -coronal.png, -sagittal.png in `folder` (created).
std::vector<QcPictureFiles> writeQcPictures(const Volume& volume, const LabelMap& labels,
                                            const std::vector<measurement::LesionMeasurement>& lesions,
                                            const std::filesystem::path& folder, const QcPictureOptions& options = {});

/// One time point of a lesion for the side-by-side picture.
struct TimepointLesion {
  const Volume* volume{nullptr};
  const LabelMap* labels{nullptr};
  measurement::LesionMeasurement lesion{};
  std::string caption{}; ///< e.g. "baseline 2024-01-10"
};

/// Axial views of the same lesion at each time point, left to right, at one common scale, with
/// the caption above each. Throws lesion::InputError when `timepoints` is empty or a pointer is null.
[[nodiscard]] RgbImage renderFollowUpPicture(const std::vector<TimepointLesion>& timepoints,
                                             const QcPictureOptions& options = {});
void writeFollowUpPicture(const std::vector<TimepointLesion>& timepoints, const std::filesystem::path& path,
                          const QcPictureOptions& options = {});

} // namespace lesion::qc
