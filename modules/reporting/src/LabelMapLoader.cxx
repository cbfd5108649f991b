#include "lesion/reporting/LabelMapLoader.h"

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

LabelMap loadLabelMap(const std::filesystem::path& path, const ImageGeometry* referenceGrid) {
  if (dicomio::isVolumeFileName(path)) return dicomio::readLabelMapFile(path);
  SegmentationImage seg = readDicomSeg(path);
  if (!referenceGrid || seg.labels.geometry.sameGrid(*referenceGrid)) return std::move(seg.labels);
  return resampleLabelMapNearest(seg.labels, *referenceGrid);
}

} // namespace lesion::reporting
