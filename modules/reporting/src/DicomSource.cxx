// Patient/study identity and instance positions of the source series, for SEG/SR references.
// The files are found and read by dicomio's folder scan, the one the volume loader uses: whatever
// the loader reads (.dcm.gz, no meta header, nested folders) is found here as well.
#include <set>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/dicomio/DicomHeader.h"
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
} // namespace

DicomSourceInfo readDicomSourceInfo(const std::filesystem::path& dicomFolderOrFile, const std::string& seriesInstanceUidIn,
                                    const std::vector<std::string>& sopInstanceUids) {
  // A split series id "UID#2" refers to part of the DICOM series UID.
  const std::string seriesUid = seriesInstanceUidIn.substr(0, seriesInstanceUidIn.find('#'));
  const std::set<std::string> wanted(sopInstanceUids.begin(), sopInstanceUids.end());
  DicomSourceInfo info;
  for (const dicomio::DicomInstance& d : dicomio::scanDicomFolder(dicomFolderOrFile).instances) {
    if (d.seriesInstanceUid != seriesUid || (!wanted.empty() && !wanted.count(d.sopInstanceUid)))
      continue;
    if (info.seriesInstanceUid.empty()) {
      info.seriesInstanceUid = seriesUid;
      copyIdentity(d, info);
    }
    if (const auto& position = d.frames.front().imagePositionPatient; position && !d.enhancedMultiframe)
      info.instances.push_back({d.sopClassUid, d.sopInstanceUid, *position});
  }
  if (info.seriesInstanceUid.empty())
    throw DicomError(fmt::format("'{}': no DICOM file of series {} found", dicomFolderOrFile.string(), seriesUid));
  return info;
}

} // namespace lesion::reporting
