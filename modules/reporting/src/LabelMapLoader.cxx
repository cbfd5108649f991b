#include "lesion/reporting/LabelMapLoader.h"

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid,
                      SegmentationImage* segment) {
  if (dicomio::isVolumeFileName(path)) return dicomio::readLabelMapFile(path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) // not "no such file": it is there, but a folder
    throw InputError(fmt::format(
        "'{}' is a folder; expected a label map file (.nrrd, .nii, .nii.gz) or a DICOM SEG file", path.string()));
  SegmentationImage seg = readDicomSeg(path);
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
