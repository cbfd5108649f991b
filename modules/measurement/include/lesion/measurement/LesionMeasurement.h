#pragma once
/// \file LesionMeasurement.h
/// Plain front end of the measurement engine: a volume and a label map in, one
/// LesionMeasurement per label out. Every distance and point is in patient LPS millimetres,
/// whatever the voxel grid and its direction cosines. The conventions are spelled out on each
/// field and in docs/measurement.md.
///
/// RECIST 1.1: Eisenhauer EA et al., New response evaluation criteria in solid tumours:
/// revised RECIST guideline (version 1.1), Eur J Cancer 2009;45:228-247,
/// doi:10.1016/j.ejca.2008.10.026.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Geometry.h"
#include "lesion/core/Image.h"

namespace lesion::measurement {

/// What a label is, as the user declared it ("1:soft-tissue:axilla" on the command line).
struct LesionSpec {
  std::uint16_t label{1};
  std::string kind{"soft-tissue"}; ///< soft-tissue, lytic-bone, sclerotic-bone, lymph-node, other
  std::string name{};              ///< free text, e.g. "axilla"; "label <n>" when empty
  /// RECIST 1.1 lymph node: measured and judged by its short axis. Set automatically when
  /// kind is "lymph-node".
  bool lymphNode{false};
  /// RECIST 1.1 target lesion (summed); false: non-target (measured and followed, not summed).
  bool target{true};
};

/// Parses "LABEL[:KIND[:NAME]]" (e.g. "1:soft-tissue:axilla", "3:lymph-node"). Throws
/// lesion::UsageError naming the text when the label is not an integer in 1..65535 or the kind
/// is not one of knownLesionKinds().
[[nodiscard]] LesionSpec parseLesionSpec(const std::string& text);
[[nodiscard]] const std::vector<std::string>& knownLesionKinds();
/// lytic-bone or sclerotic-bone: mineral inside is sclerosis, the rest of the lesion is lytic.
[[nodiscard]] bool isBoneKind(const std::string& kind);

enum class IntensityUnit {
  HounsfieldUnit, ///< CT: calcification and Agatston scoring are computed
  Arbitrary       ///< MR and others: no calcification figures
};

struct MeasurementOptions {
  /// Labels to measure, in this order, followed by the labels of `lesions` not listed here.
  /// Both empty: every non-zero label present in the map, ascending.
  std::vector<std::uint16_t> labels{};
  /// Per-label kind/name/node flag; labels without a spec get kind "soft-tissue".
  std::vector<LesionSpec> lesions{};
  IntensityUnit intensityUnit{IntensityUnit::HounsfieldUnit};
  double calcificationThresholdHu{130.0}; ///< Agatston's classic 130 HU
  double boneThresholdHu{400.0};          ///< "bone-dense" mineral inside the lesion
  /// Slice thickness used by RECIST measurability. Unset: the slice
  /// spacing (distance between acquisition planes, spacing along index axis k).
  std::optional<double> sliceThicknessMm{};
  /// Where a set sliceThicknessMm came from, for the report: "option" (the user) or "dicom" (the
  /// series' Slice Thickness). Unset sliceThicknessMm reports "spacing".
  std::string sliceThicknessSource{"option"};
  bool computeSurfaceMesh{true}; ///< mesh volume, surface area and sphericity (VTK)
};

/// A segment between two points (LPS mm).
struct Segment {
  Vec3 start{};
  Vec3 end{};
  [[nodiscard]] double lengthMm() const { return distance(start, end); }
};

/// RECIST 1.1 diameters on one axial section of the patient (lesion::axialSectionsOf): the
/// acquisition plane (constant index k) of an axial scan, also when tilted or slightly oblique; for
/// a sagittal, coronal or steeply oblique scan a plane LPS z = const of the lesion's mask resampled
/// (nearest neighbour) onto an LPS-aligned grid at the scan's finest in-plane spacing.
///
/// Convention: the long axis is the longest segment joining the centres of two boundary voxels
/// (lesion voxels with an in-plane 4-neighbour outside the lesion) of one section that stays
/// inside the lesion (every point of the segment, sampled at a fifth of the
/// smallest in-plane spacing, falls in a lesion voxel). The short axis is the longest such
/// segment on the same slice whose direction is perpendicular to the long axis to within half a
/// pixel of offset at its end. Both lengths are between voxel centres, so they are about one
/// voxel shorter than the edge-to-edge size a reader calipers on screen.
struct RecistDiameters {
  double longAxisMm{0.0};
  double shortAxisMm{0.0};
  Segment longAxis{};
  Segment shortAxis{};
  /// Index k of the acquisition slice holding both axes; on resampled axial sections, the slice
  /// nearest the long axis' middle.
  std::size_t sliceIndex{0};
  bool onAcquisitionSlices{true};                          ///< false: on resampled axial sections (a non-axial scan)
  std::string sections{"acquisition slices (constant k)"}; ///< AxialSections::description()
};

/// Principal component analysis of the lesion's voxel centres (population covariance).
struct PrincipalAxes {
  std::array<Vec3, 3> directions{}; ///< unit LPS vectors, major first
  std::array<double, 3> eigenvaluesMm2{};
  /// 4·sqrt(eigenvalue): IBSI / pyradiomics Major/Minor/LeastAxisLength.
  std::array<double, 3> ibsiAxisLengthsMm{};
  /// 2·sqrt(5·eigenvalue): full axes of the solid ellipsoid with the same second moments
  /// (exact for an ellipsoidal lesion).
  std::array<double, 3> ellipsoidAxisLengthsMm{};
  /// Oriented bounding box along `directions`, including the voxel (voxel boxes projected).
  std::array<double, 3> orientedBoxExtentsMm{};
  Vec3 centroid{};
};

struct ShapeFeatures {
  double elongation{0.0}; ///< sqrt(lambda2/lambda1), 1 for a sphere (IBSI)
  double flatness{0.0};   ///< sqrt(lambda3/lambda1), 1 for a sphere (IBSI)
  /// pi^(1/3)·(6V)^(2/3)/A from the surface mesh; 1 for a sphere. Unset without a mesh.
  std::optional<double> sphericity{};
};

/// Statistics of the voxel values inside the lesion (population SD; percentiles linearly
/// interpolated between order statistics, like numpy's default).
struct IntensityStatistics {
  std::string unit{"HU"}; ///< "HU" or "arbitrary"
  double mean{0.0};
  double standardDeviation{0.0};
  double median{0.0};
  double percentile5{0.0};
  double percentile95{0.0};
  double minimum{0.0};
  double maximum{0.0};
};

/// Mineral inside the lesion (CT only).
///
/// Calcified voxels: in a bone lesion (isBoneKind) every voxel >= calcificationThresholdHu
/// (sclerosis). In any other lesion the threshold is raised to median + 4 robust SD of the
/// lesion's voxels below it when that is higher (its own soft tissue's noise tail, e.g. 222 HU for
/// the IBSI sarcoma STS_002 at SD 45 HU), and only 26-connected clusters of at least 3 voxels and
/// 3 mm³ count; thresholdHu is the threshold used.
///
/// Agatston-style score: on each acquisition slice, connected regions (8-connected in plane) of
/// calcified voxels with an area of at least 1 mm² contribute
/// area_mm² × weight, with weight 1 (130-199 HU peak), 2 (200-299), 3 (300-399), 4 (>= 400);
/// the sum is scaled by the slice spacing / 3 mm (Agatston's contiguous 3 mm slices; with every
/// reconstructed slice summed, each stands for its spacing, not its thickness).
struct Calcification {
  double thresholdHu{130.0};
  double volumeMl{0.0};
  double fraction{0.0}; ///< of the lesion's voxel count
  double boneThresholdHu{400.0};
  double boneVolumeMl{0.0};
  double boneFraction{0.0};
  double agatstonScore{0.0};
};

/// RECIST 1.1 measurability (section 3.1.1 and 3.1.2 of the guideline).
struct Measurability {
  bool measurable{false};
  std::string category{};  ///< "measurable", "non-measurable", "pathological-node-non-target", "non-pathological-node"
  std::string basis{};     ///< "long-axis" or "short-axis" (nodes)
  double thresholdMm{0.0}; ///< the size the basis had to reach
  std::string reason{};    ///< one sentence in words
};

/// Stated uncertainties: a distance between voxel centres is uncertain by about one voxel
/// diagonal; a volume by half a voxel diagonal times the surface area.
struct Uncertainty {
  double distanceMm{0.0};
  double volumeMl{0.0};
};

struct LesionMeasurement {
  LesionSpec spec{};
  std::size_t voxelCount{0};
  double voxelVolumeMl{0.0};            ///< voxel count × voxel volume
  std::optional<double> meshVolumeMl{}; ///< closed marching-cubes surface (vertices halfway between voxel centres)
  std::optional<double> surfaceAreaMm2{};
  RecistDiameters recist{};
  double maxDiameter3dMm{0.0}; ///< 3D Feret between voxel centres (convex hull of boundary voxel centres)
  Segment maxDiameter3d{};
  /// Size along patient Left-Right, Anterior-Posterior, Superior-Inferior including the voxel:
  /// extent of the union of the lesion's voxel boxes.
  double extentLrMm{0.0};
  double extentApMm{0.0};
  double extentSiMm{0.0};
  Vec3 boundingBoxMin{}; ///< LPS corners of that axis-aligned box
  Vec3 boundingBoxMax{};
  PrincipalAxes principalAxes{};
  ShapeFeatures shape{};
  IntensityStatistics intensity{};
  std::optional<Calcification> calcification{}; ///< CT (IntensityUnit::HounsfieldUnit) only
  double sliceThicknessMm{0.0};
  Measurability measurability{};
  Uncertainty uncertainty{};
};

/// Measures each requested label of `labels` over `volume`. Both must share one grid.
/// Throws lesion::InputError when the grids differ, a requested label is absent or the
/// geometry is invalid.
[[nodiscard]] std::vector<LesionMeasurement> measureLesions(const Volume& volume, const LabelMap& labels,
                                                            const MeasurementOptions& options = {});

/// `options` for measuring one scan, the same in every command (measure, report, followup, patient,
/// batch, demo): a set sliceThicknessMm (the user's) stays; else the scan's own Slice Thickness when
/// it has one (`scanSliceThicknessMm`: the one every slice of its DICOM series shares, or the one a
/// NRRD/NIfTI's convert sidecar recorded; source "dicom"); else it stays unset and measurability
/// uses the slice spacing. RECIST 1.1 means the reconstructed thickness, which thin, thick or
/// overlapping slices make differ from the spacing.
[[nodiscard]] MeasurementOptions withScanSliceThickness(MeasurementOptions options,
                                                        std::optional<double> scanSliceThicknessMm);

/// The slice thickness measurability uses on `grid`: options.sliceThicknessMm, else the slice spacing.
[[nodiscard]] double sliceThicknessMmOf(const MeasurementOptions& options, const ImageGeometry& grid);

/// Where that thickness came from: options.sliceThicknessSource ("option", "dicom") when set, else "spacing".
[[nodiscard]] std::string sliceThicknessSourceOf(const MeasurementOptions& options);

/// Non-zero labels present in `labels`, ascending.
[[nodiscard]] std::vector<std::uint16_t> labelsPresent(const LabelMap& labels);

/// RECIST 1.1 measurability of a lesion with these axes (exposed for follow-up assessment);
/// `blasticBone`: a sclerotic bone lesion, non-measurable at any size (§3.1.3).
[[nodiscard]] Measurability assessMeasurability(double longAxisMm, double shortAxisMm, bool lymphNode,
                                                double sliceThicknessMm, bool blasticBone = false);

} // namespace lesion::measurement
