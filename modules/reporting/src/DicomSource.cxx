// Patient/study identity and instance positions of the source series, for SEG/SR references.
#include <algorithm>
#include <set>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include "DicomCommon.h"
#include "lesion/reporting/DicomSeg.h"

namespace lesion::reporting {

namespace {
std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v.c_str();
}
} // namespace

DicomSourceInfo readDicomSourceInfo(const std::filesystem::path& dicomFolderOrFile, const std::string& seriesInstanceUidIn,
                                    const std::vector<std::string>& sopInstanceUids) {
  // A split series id "UID#2" refers to part of the DICOM series UID.
  detail::quietDcmtk();
  const std::string seriesUid = seriesInstanceUidIn.substr(0, seriesInstanceUidIn.find('#'));
  const std::set<std::string> wanted(sopInstanceUids.begin(), sopInstanceUids.end());
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(dicomFolderOrFile, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(dicomFolderOrFile, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(dicomFolderOrFile);
  }

  DicomSourceInfo info;
  for (const auto& file : files) {
    DcmFileFormat ff;
    if (ff.loadFileUntilTag(file.string().c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect,
                            DCM_PixelData)
            .bad())
      continue; // not DICOM: the loader already reported such files
    DcmDataset& ds = *ff.getDataset();
    if (text(ds, DCM_SeriesInstanceUID) != seriesUid) continue;
    const std::string sop = text(ds, DCM_SOPInstanceUID);
    if (!wanted.empty() && !wanted.count(sop)) continue;
    if (info.seriesInstanceUid.empty()) {
      info.seriesInstanceUid = seriesUid;
      info.patientName = text(ds, DCM_PatientName);
      info.patientId = text(ds, DCM_PatientID);
      info.patientBirthDate = text(ds, DCM_PatientBirthDate);
      info.patientSex = text(ds, DCM_PatientSex);
      info.studyInstanceUid = text(ds, DCM_StudyInstanceUID);
      info.studyDate = text(ds, DCM_StudyDate);
      info.studyTime = text(ds, DCM_StudyTime);
      info.studyId = text(ds, DCM_StudyID);
      info.accessionNumber = text(ds, DCM_AccessionNumber);
      info.referringPhysicianName = text(ds, DCM_ReferringPhysicianName);
      info.studyDescription = text(ds, DCM_StudyDescription);
      info.frameOfReferenceUid = text(ds, DCM_FrameOfReferenceUID);
      info.modality = text(ds, DCM_Modality);
    }
    DicomSourceInfo::Instance inst;
    inst.sopClassUid = text(ds, DCM_SOPClassUID);
    inst.sopInstanceUid = sop;
    Float64 x = 0, y = 0, z = 0;
    if (ds.findAndGetFloat64(DCM_ImagePositionPatient, x, 0).good() &&
        ds.findAndGetFloat64(DCM_ImagePositionPatient, y, 1).good() &&
        ds.findAndGetFloat64(DCM_ImagePositionPatient, z, 2).good()) {
      inst.imagePositionPatient = {x, y, z};
      info.instances.push_back(inst);
    }
  }
  if (info.seriesInstanceUid.empty())
    throw DicomError(fmt::format("'{}': no DICOM file of series {} found", dicomFolderOrFile.string(), seriesUid));
  return info;
}

} // namespace lesion::reporting
