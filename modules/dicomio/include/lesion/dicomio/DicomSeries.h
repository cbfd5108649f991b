#pragma once
/// \file DicomSeries.h
/// Series splitting the way dcm2niix does it, and the slice-stack geometry checks (order along
/// the slice normal, gantry tilt, uneven spacing, missing slices, duplicate positions).

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/dicomio/DicomHeader.h"

namespace lesion::dicomio {

/// One 2D image of a series: frame `frame` of `instances[instance]`.
struct DicomSliceRef {
  std::size_t instance{0};
  int frame{0};
};

/// Several slices at the same Image Position (within 0.01 mm): reported, never stacked.
struct DuplicatePosition {
  Vec3 positionMm{};
  std::vector<std::string> files; ///< "path" or "path#frame" of every slice at that position
};

/// A set of slices that can form one volume.
struct DicomSeries {
  /// SeriesInstanceUID; when one UID was split, the parts after the first get "#2", "#3"...
  std::string id{};
  std::string seriesInstanceUid{};
  /// What sets this part apart from the others of its UID ("echo 2", "localizer", "256x256"...); empty when not split.
  std::string splitReason{};
  std::string specialKind{}; ///< localizer / secondary capture / dose report / screen save, or empty
  std::vector<DicomInstance> instances{};
  std::vector<DicomSliceRef> slices{}; ///< every frame of every instance
  std::vector<DuplicatePosition> duplicatePositions{};

  [[nodiscard]] const DicomInstance& first() const { return instances.front(); }
  [[nodiscard]] const DicomInstance& instanceOf(const DicomSliceRef& s) const { return instances[s.instance]; }
  [[nodiscard]] const DicomFrameGeometry& frameOf(const DicomSliceRef& s) const;
  /// Number of slices at distinct positions (duplicates counted once).
  [[nodiscard]] std::size_t distinctPositionCount() const;
  /// One line for listings: id, modality, description, slice count, size, kind.
  [[nodiscard]] std::string summary() const;
};

/// Groups instances by SeriesInstanceUID, then splits a UID where image size, orientation,
/// echo number or image kind (localizer, secondary capture, dose report) differ, and by
/// Acquisition Number only where that separates repeated positions (CT scanners often give
/// every rotation its own acquisition number inside one volume, which must not split it).
/// Duplicate positions left in a part are listed in DicomSeries::duplicatePositions.
/// The result is sorted by SeriesInstanceUID, then part.
[[nodiscard]] std::vector<DicomSeries> splitDicomSeries(const std::vector<DicomInstance>& instances);

/// The series to load: the one whose id or SeriesInstanceUID is `requested` (its main part),
/// or, when `requested` is empty, the best one: ordinary images before localizers / secondary
/// captures / dose reports, then the most distinct slice positions, then axial before other
/// orientations. Throws lesion::InputError listing the available series when `requested` is
/// not found or `series` is empty.
[[nodiscard]] const DicomSeries& selectDicomSeries(const std::vector<DicomSeries>& series,
                                                   const std::string& requested = {});

/// A run of missing slices between two slices, positions along the slice normal in mm.
struct SliceGap {
  double fromMm{0.0}; ///< position of the slice before the gap
  double toMm{0.0};   ///< position of the slice after the gap
  Vec3 fromPoint{};   ///< Image Position of the slice before the gap
  Vec3 toPoint{};     ///< Image Position of the slice after the gap
  int missingSlices{0};
};

/// A step wider than both of these is too wide to interpolate across by default: the slices it
/// would invent (e.g. 161 of them across 202.5 mm between 1.25 mm slices) are anatomy nobody
/// scanned. Uneven series of real scanners (4 mm then 7 mm sections, a missing slice or three)
/// stay well below it.
inline constexpr double kWideGapStepFactor = 4.0; ///< times the series' median step
inline constexpr double kWideGapMinMm = 10.0;

/// True when a step of `stepMm` in a series whose median step is `medianStepMm` is too wide to
/// interpolate across (see kWideGapStepFactor, kWideGapMinMm).
[[nodiscard]] inline bool isTooWideToInterpolate(double stepMm, double medianStepMm) {
  return stepMm > kWideGapStepFactor * medianStepMm && stepMm > kWideGapMinMm;
}

/// Geometry of a slice stack derived from Image Position/Orientation only (never from Slice
/// Thickness or Instance Number).
struct SliceStackGeometry {
  Vec3 rowCosine{};          ///< IOP first triplet: direction of increasing column index
  Vec3 columnCosine{};       ///< IOP second triplet: direction of increasing row index
  Vec3 normal{};             ///< rowCosine × columnCosine
  Vec3 stackDirection{};     ///< unit vector from the first to the last Image Position
  double pixelSpacingX{1.0}; ///< between columns (DICOM PixelSpacing[1])
  double pixelSpacingY{1.0}; ///< between rows (DICOM PixelSpacing[0])
  std::size_t columns{0};
  std::size_t rows{0};
  std::vector<std::size_t> order{};   ///< indices into DicomSeries::slices, sorted along the normal, duplicates removed
  std::vector<double> positionsMm{};  ///< position of each ordered slice along the normal
  std::vector<Vec3> imagePositions{}; ///< Image Position of each ordered slice (LPS mm)
  double tiltDeg{0.0};                ///< angle between the normal and the stacking direction
  double minStepMm{0.0};
  double maxStepMm{0.0};
  double medianStepMm{0.0};
  bool unevenSpacing{false};           ///< steps differ by more than the tolerance (gaps included)
  std::vector<SliceGap> gaps{};        ///< steps close to a whole multiple (>= 2) of the median step
  std::vector<SliceGap> wideGaps{};    ///< steps too wide to interpolate across (isTooWideToInterpolate)
  std::vector<std::string> warnings{}; ///< tilt, uneven steps, gaps, duplicates in words

  [[nodiscard]] bool tilted() const { return tiltDeg > 0.05; }
};

/// Checks and orders the slices of `series`. Throws lesion::DicomError naming a file when it is a
/// Siemens mosaic (not unpacked: convert it with dcm2niix), when
/// positions/orientations are missing (a lone 2D image without them gets an identity geometry
/// and a warning, as dcm2niix does) or the orientation differs between slices.
[[nodiscard]] SliceStackGeometry analyzeSliceStack(const DicomSeries& series);

} // namespace lesion::dicomio
