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
  const auto type = segmentAlgorithmTypeOfTerm(first.algorithmType);
  const bool agree = std::all_of(seg.segments.begin(), seg.segments.end(), [&](const SegmentRecord& s) {
    return s.algorithmType == first.algorithmType && s.algorithmName == first.algorithmName;
  });
  if (type && agree)
    return {*type, *type == SegmentAlgorithmType::Manual ? "" : first.algorithmName};
  if (warnings)
    warnings->push_back(
        fmt::format("mask '{}': its segments were not all made the same way (Segment Algorithm Type "
                    "and Name); the new SEG calls them MANUAL (--segment-algorithm-type says otherwise)",
                    path.string()));
  return {};
}

LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid, SegmentationImage* segment,
                      SegmentAlgorithm* algorithm) {
  if (dicomio::isVolumeFileName(path)) {
    dicomio::LabelMapOrigin origin;
    LabelMap labels = dicomio::readLabelMapFile(path, &origin);
    // Only a label map LesionKit made says so; any other (a reader's, another tool's) is MANUAL.
    if (algorithm)
      *algorithm = origin.byLesionKit() ? lesionKitAlgorithm(*segmentAlgorithmTypeOfTerm(origin.algorithmType))
                                        : SegmentAlgorithm{};
    return labels;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) // not "no such file": it is there, but a folder
    throw InputError(fmt::format(
        "'{}' is a folder; expected a label map file (.nrrd, .nii, .nii.gz) or a DICOM SEG file", path.string()));
  SegmentationImage seg = readDicomSeg(path);
  if (algorithm)
    *algorithm = segmentAlgorithmOfSeg(seg, path);
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
