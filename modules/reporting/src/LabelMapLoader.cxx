#include "lesion/reporting/LabelMapLoader.h"

#include <algorithm>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

SegmentAlgorithm segmentAlgorithmOfSeg(const SegmentationImage& seg, const std::filesystem::path& path,
                                       std::vector<std::string>* warnings) {
  if (seg.segments.empty())
    return {};
  const SegmentRecord& first = seg.segments.front();
  const auto manualBecause = [&](const std::string& why) {
    if (warnings)
      warnings->push_back(fmt::format("mask '{}': {}; the new SEG calls them MANUAL (--segment-algorithm-type and "
                                      "--segment-algorithm-name say otherwise)",
                                      path.string(), why));
    return SegmentAlgorithm{};
  };
  const bool agree = std::all_of(seg.segments.begin(), seg.segments.end(), [&](const SegmentRecord& s) {
    return s.algorithmType == first.algorithmType && s.algorithmName == first.algorithmName;
  });
  if (!agree)
    return manualBecause("its segments were not all made the same way (Segment Algorithm Type and Name)");
  const std::string its = seg.segments.size() == 1 ? "its segment has" : "its segments have";
  const auto type = segmentAlgorithmTypeOfTerm(first.algorithmType);
  if (!type)
    return manualBecause(first.algorithmType.empty()
                             ? its + " no Segment Algorithm Type"
                             : fmt::format("{} an unknown Segment Algorithm Type '{}'", its, first.algorithmType));
  if (*type == SegmentAlgorithmType::Manual)
    return {};
  if (first.algorithmName.empty()) // DICOM requires it: the SEG written from this mask could not say who
    return manualBecause(
        fmt::format("{} Segment Algorithm Type {} but no Segment Algorithm Name", its, first.algorithmType));
  return {*type, first.algorithmName};
}

SegmentAlgorithm segmentAlgorithmOfRecord(const dicomio::LabelMapOrigin& origin) {
  const auto type = segmentAlgorithmTypeOfTerm(origin.algorithmType);
  return origin.byLesionKit() && type ? lesionKitAlgorithm(*type) : SegmentAlgorithm{};
}

dicomio::LabelMapOrigin labelMapRecordOf(const SegmentAlgorithm& algorithm, const std::string& version) {
  if (algorithm.type == SegmentAlgorithmType::Manual || algorithm.name != kLesionKitAlgorithmName)
    return {};
  return {segmentAlgorithmTypeTerm(algorithm.type), version};
}

dicomio::LabelMapOrigin lesionKitRecord(bool automatic, const std::string& version) {
  return labelMapRecordOf(
      lesionKitAlgorithm(automatic ? SegmentAlgorithmType::Automatic : SegmentAlgorithmType::SemiAutomatic), version);
}

LabelMap loadLabelMapFile(const std::filesystem::path& path, SegmentAlgorithm* algorithm,
                          std::vector<std::string>* algorithmWarnings, dicomio::LabelMapOrigin* record) {
  dicomio::LabelMapOrigin origin;
  LabelMap labels = dicomio::readLabelMapFile(path, &origin);
  // Only a label map LesionKit made (and nobody edited since) says so; any other is MANUAL.
  if (algorithm)
    *algorithm = segmentAlgorithmOfRecord(origin);
  if (algorithmWarnings && origin.editedAfterWriting)
    algorithmWarnings->push_back(dicomio::editedLabelMapNote(path));
  if (record)
    *record = std::move(origin);
  return labels;
}

LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid, SegmentationImage* segment,
                      SegmentAlgorithm* algorithm, std::vector<std::string>* algorithmWarnings) {
  if (dicomio::isVolumeFileName(path))
    return loadLabelMapFile(path, algorithm, algorithmWarnings);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) // not "no such file": it is there, but a folder
    throw InputError(fmt::format(
        "'{}' is a folder; expected a label map file (.nrrd, .nii, .nii.gz) or a DICOM SEG file", path.string()));
  SegmentationImage seg = readDicomSeg(path);
  if (algorithm)
    *algorithm = segmentAlgorithmOfSeg(seg, path, algorithmWarnings);
  LabelMap labels = !referenceGrid || seg.labels.geometry.sameGrid(*referenceGrid)
                        ? std::move(seg.labels)
                        : resampleLabelMapNearest(seg.labels, *referenceGrid);
  if (segment) {
    seg.labels = LabelMap{};
    *segment = std::move(seg);
  }
  return labels;
}

} // namespace lesion::reporting
