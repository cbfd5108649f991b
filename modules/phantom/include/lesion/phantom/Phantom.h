#pragma once
/// \file Phantom.h
/// Digital reference object modelled on the LesionKit clinical case (osteolytic L4 lesion with a
/// flattened body, axillary soft-tissue mass, calcification on follow-up): synthetic CT (or
/// MR-like) studies with analytic ground truth. generatePhantomStudy() builds everything in
/// memory; writePhantomStudy() writes DICOM series, truth label maps and truth.json.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Image.h"
#include "lesion/core/Progress.h"
#include "lesion/phantom/PhantomModel.h"

namespace lesion::phantom {

/// Slice orientation of the simulated acquisition.
enum class Orientation {
  Axial,  ///< rows along +x (L), columns along +y (P), slices along +z (S)
  Oblique ///< the axial frame rotated 12 degrees about y and 8 degrees about x (double oblique)
};

struct PhantomOptions {
  double pixelSizeMm{1.0};       ///< in-plane pixel spacing (square pixels)
  double sliceThicknessMm{2.0};  ///< slice spacing = thickness (contiguous slices)
  double gantryTiltDegrees{0.0}; ///< slices tilted about the row (x) axis, positions stacked along z
  Orientation orientation{Orientation::Axial};
  Contrast contrast{Contrast::CT};
  double noiseSd{12.0};          ///< Gaussian noise SD (HU on CT, units on MR); 0 = noise-free
  std::uint64_t seed{1};         ///< noise seed: same seed, same voxels
  int timePoints{3};             ///< baseline + follow-ups (1..6)
  int supersampling{3};          ///< sub-samples per axis in voxels on a tissue boundary (1 = none)
  int threads{0};                ///< 0 = all hardware threads
  double intervalDays{90};       ///< days between time points (study dates)
  std::string patientId{"LKPHANTOM01"};
  std::string patientName{"Phantom^Lesionkit"};
  std::string baselineDate{"20240115"}; ///< YYYYMMDD
  /// Restrict the scan to this axial range (patient-frame z, mm) instead of T12..S1; both 0 = all.
  /// Lets tests make small grids around a lesion.
  double zFromMm{0.0};
  double zToMm{0.0};

  /// Throws lesion::UsageError naming the option when a value is out of range.
  void validate() const;
};

/// A lesion's ground truth at one time point, from the continuous model (not from voxels).
/// Conventions: volumes of the solid; diameters between surface points; extents are the
/// axis-aligned bounding box of the solid in scanner LPS of that time point.
struct LesionTruth {
  std::string id;                 ///< "l4-lytic" or "axillary-mass"
  std::string description;
  std::vector<std::uint16_t> labelValues;
  double volumeMl{0};             ///< whole lesion (for the lytic lesion: lytic + calcified)
  double calcifiedVolumeMl{0};    ///< rim + nodules (0 for the mass)
  double rimVolumeMl{0};
  double noduleVolumeMl{0};
  double maxDiameter3dMm{0};      ///< largest distance between two surface points
  double longAxisMm{0};           ///< RECIST: longest chord of any axial (z = const) section
  double shortAxisMm{0};          ///< longest chord perpendicular to it on the same section
  double axialPlaneZMm{0};        ///< z of that section
  Vec3 longAxisFrom{}, longAxisTo{};
  Vec3 boundsMin{}, boundsMax{};  ///< extents: LR = x, AP = y, SI = z
  Vec3 centroid{};
  Vec3 seed{};                    ///< an interior point of the lesion (for the lytic lesion: in its non-calcified part)
  [[nodiscard]] Vec3 extentMm() const { return boundsMax - boundsMin; }
};

struct VertebraTruth {
  std::string level;              ///< "T12" .. "S1"
  std::uint16_t label{0};
  double anteriorHeightMm{0};     ///< along the body axis, at the anterior / centre / posterior
  double middleHeightMm{0};       ///< edge of the footprint in the mid-sagittal plane
  double posteriorHeightMm{0};
  Vec3 centre{};                  ///< body centre (mid-height) in scanner LPS of the time point
};

struct TimePointTruth {
  int index{0};
  std::string studyDate;          ///< YYYYMMDD
  /// Scanner LPS of this time point = transformFromBaseline(scanner LPS of the baseline), i.e.
  /// p_this = R p_baseline + t. The model value at scanner point q is the baseline model at T^-1(q).
  RigidTransform transformFromBaseline{};
  std::vector<LesionTruth> lesions;
  std::vector<VertebraTruth> vertebrae;
};

struct PhantomTimePoint {
  Volume image;         ///< HU (CT) or MR units, noise included; values are whole numbers
  LabelMap labels;      ///< truth labels at voxel centres, same grid
  /// Only with gantry tilt: labels on the tilt-corrected axial grid (phantomGrid() without tilt),
  /// the grid a tilt-correcting reader produces; the files hold this one, since NRRD/NIfTI
  /// readers (ours included) reject sheared grids.
  LabelMap tiltCorrectedLabels;
  TimePointTruth truth;
  PhantomAnatomy anatomy; ///< the continuous model in the patient (baseline) frame
};

struct PhantomStudy {
  PhantomOptions options;
  std::vector<PhantomTimePoint> timePoints;
};

/// Builds every time point in memory. Throws lesion::UsageError for bad options.
[[nodiscard]] PhantomStudy generatePhantomStudy(const PhantomOptions& options, Progress progress = {});

/// Ground truth of one time point from the continuous model (PhantomTruth.cxx).
[[nodiscard]] TimePointTruth computeTimePointTruth(const PhantomAnatomy& anatomy, const RigidTransform& fromBaseline,
                                                   int index, const std::string& studyDate);

/// The scan grid for the options (same for all time points): FOV cropped to the torso.
/// With gantry tilt the direction matrix is sheared (columns: row, column, z) so that
/// indexToPoint() gives the exact voxel positions of the tilted slices.
[[nodiscard]] ImageGeometry phantomGrid(const PhantomOptions& options);

/// UIDs and size of one written DICOM series.
struct DicomSeriesInfo {
  std::string studyInstanceUid;
  std::string seriesInstanceUid;
  std::string frameOfReferenceUid;
  std::string sopClassUid;
  std::size_t fileCount{0};
};

/// Paths written by writePhantomStudy, relative to the output folder.
struct PhantomOutputFiles {
  std::filesystem::path root;
  std::filesystem::path truthJson;
  std::vector<std::filesystem::path> seriesFolders;  ///< one DICOM series per time point
  std::vector<DicomSeriesInfo> series;
  std::vector<std::vector<std::filesystem::path>> labelMaps; ///< per time point: .nrrd (+ .nii.gz)
  std::size_t dicomFileCount{0};
};

/// Writes OUT/<patient>/<date>/<series>/IM0001.dcm..., OUT/<patient>/<date>/labels.nrrd and
/// .nii.gz, and OUT/<patient>/truth.json, atomically: `outputFolder` appears complete or not at
/// all (an existing folder -- empty or an earlier phantom output -- is replaced only when
/// everything was written).
/// Throws lesion::InputError when the folder cannot be written.
PhantomOutputFiles writePhantomStudy(const PhantomStudy& study, const std::filesystem::path& outputFolder,
                                     Progress progress = {});

/// Throws lesion::InputError unless `outputFolder` can be created (its nearest existing ancestor
/// is a writable folder) and, if it exists, is empty or an earlier phantom output. Cheap: call it
/// before generating. writePhantomStudy() checks it too.
void checkPhantomOutputFolder(const std::filesystem::path& outputFolder);

/// truth.json text for a study (also written by writePhantomStudy).
[[nodiscard]] std::string phantomTruthJson(const PhantomStudy& study, const PhantomOutputFiles& files);

/// Writes one time point as a DICOM series (CT Image Storage, or MR Image Storage for the MR
/// contrast) into `seriesFolder` (created), one file per slice (IM0001.dcm, ...). Every time point
/// is its own study (own date, own frame of reference: the patient was repositioned); UIDs are
/// generated with DCMTK. Throws lesion::InputError when a file cannot be written.
DicomSeriesInfo writeDicomSeries(const PhantomStudy& study, int timePointIndex, const std::filesystem::path& seriesFolder);

/// YYYYMMDD `days` after `yyyymmdd`; throws lesion::UsageError for a malformed date.
[[nodiscard]] std::string addDays(const std::string& yyyymmdd, int days);

} // namespace lesion::phantom
