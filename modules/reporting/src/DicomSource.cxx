// Patient/study identity and instance positions of the source series, for SEG/SR references.
// The files are found, read and split into series by dicomio, as the volume loader does: whatever
// the loader reads (.dcm.gz, no meta header, nested folders) is found here as well, and the frames
// of a multi-frame source are those of the part it loaded.
#include <set>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/DicomHeader.h"
#include "lesion/dicomio/DicomSeries.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

namespace {
void copyIdentity(const dicomio::DicomInstance& d, DicomSourceInfo& info) {
  info.patientName = d.patientName;
  info.patientId = d.patientId;
  info.patientBirthDate = d.patientBirthDate;
  info.patientSex = d.patientSex;
  info.studyInstanceUid = d.studyInstanceUid;
  info.studyDate = d.studyDate;
  info.studyTime = d.studyTime;
  info.studyId = d.studyId;
  info.accessionNumber = d.accessionNumber;
  info.referringPhysicianName = d.referringPhysicianName;
  info.studyDescription = d.studyDescription;
  info.frameOfReferenceUid = d.frameOfReferenceUid;
  info.modality = d.modality;
}

bool holdsAny(const dicomio::DicomSeries& part, const std::set<std::string>& sopInstanceUids) {
  for (const dicomio::DicomInstance& d : part.instances)
    if (sopInstanceUids.empty() || sopInstanceUids.count(d.sopInstanceUid))
      return true;
  return false;
}

/// The part named `seriesId` ("UID" or "UID#2", LoadedVolume::seriesId) when it holds the wanted
/// instances (it then tells the frames of one multi-frame file apart), else every part of its UID.
std::vector<const dicomio::DicomSeries*> partsOf(const std::vector<dicomio::DicomSeries>& series,
                                                 const std::string& seriesId, const std::set<std::string>& wanted) {
  for (const dicomio::DicomSeries& part : series)
    if (part.id == seriesId && holdsAny(part, wanted))
      return {&part};
  const std::string uid = seriesId.substr(0, seriesId.find('#'));
  std::vector<const dicomio::DicomSeries*> parts;
  for (const dicomio::DicomSeries& part : series)
    if (part.seriesInstanceUid == uid)
      parts.push_back(&part);
  return parts;
}
} // namespace

DicomSourceInfo readDicomSourceInfo(const std::filesystem::path& dicomFolderOrFile, const std::string& seriesId,
                                    const std::vector<std::string>& sopInstanceUids) {
  const std::set<std::string> wanted(sopInstanceUids.begin(), sopInstanceUids.end());
  const std::vector<dicomio::DicomSeries> series =
      dicomio::splitDicomSeries(dicomio::scanDicomFolder(dicomFolderOrFile).instances);
  DicomSourceInfo info;
  for (const dicomio::DicomSeries* part : partsOf(series, seriesId, wanted)) {
    for (const dicomio::DicomSliceRef& slice : part->slices) {
      const dicomio::DicomInstance& d = part->instanceOf(slice);
      if (!wanted.empty() && !wanted.count(d.sopInstanceUid))
        continue;
      if (info.seriesInstanceUid.empty()) {
        info.seriesInstanceUid = d.seriesInstanceUid;
        copyIdentity(d, info);
      }
      if (const auto& position = part->frameOf(slice).imagePositionPatient)
        info.instances.push_back(
            {d.sopClassUid, d.sopInstanceUid, *position, d.numberOfFrames > 1 ? slice.frame + 1 : 0});
    }
  }
  if (info.seriesInstanceUid.empty())
    throw DicomError(fmt::format("'{}': no DICOM file of series {} found", dicomFolderOrFile.string(), seriesId));
  return info;
}

} // namespace lesion::reporting
