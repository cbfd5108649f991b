/// \file PhantomDicomWriter.cxx
/// One phantom time point as a DICOM series with DCMTK: CT Image Storage (int16 stored values,
/// Rescale Intercept -1024) or, for the MR contrast, MR Image Storage (unsigned 12-bit values).
/// The attributes are the ones the CT/MR Image IODs require (checked with dciodvfy in the tests).

#include <cmath>
#include <cstdint>
#include <vector>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <fmt/format.h>

#include "lesion/core/Error.h"
#include "lesion/core/Text.h"
#include "lesion/phantom/Phantom.h"

namespace lesion::phantom {
namespace {

std::string newUid(const char* root) {
  char buffer[100];
  dcmGenerateUniqueIdentifier(buffer, root);
  return buffer;
}

/// Decimal String values: at most 16 characters.
std::string ds(double v) {
  if (std::abs(v) < 5e-7) v = 0.0;
  for (int precision = 8; precision > 0; --precision) {
    std::string s = fmt::format("{:.{}g}", v, precision);
    if (s.size() <= 16) return s;
  }
  return "0";
}

std::string dsList(std::initializer_list<double> values) {
  std::string s;
  for (double v : values) s += (s.empty() ? "" : "\\") + ds(v);
  return s;
}

class DatasetWriter {
public:
  DatasetWriter(DcmDataset* ds, const std::filesystem::path& file) : m_Dataset(ds), m_File(file) {}
  void put(const DcmTagKey& tag, const std::string& value) {
    check(m_Dataset->putAndInsertString(tag, value.c_str()), tag);
  }
  void put16(const DcmTagKey& tag, Uint16 value) { check(m_Dataset->putAndInsertUint16(tag, value), tag); }
  void check(const OFCondition& c, const DcmTagKey& tag) const {
    if (c.bad()) {
      throw InputError(fmt::format("cannot set DICOM attribute {} for '{}': {}", tag.toString().c_str(), m_File.string(), c.text()));
    }
  }

private:
  DcmDataset* m_Dataset;
  std::filesystem::path m_File;
};

/// The Specific Character Set of the text written: UTF-8 (ISO_IR 192) once a value is not ASCII.
/// Under ISO_IR 100 every reader decodes the UTF-8 bytes of "ü" as Latin-1 "Ã¼".
std::string characterSetOf(const PhantomOptions& o) {
  return isAscii(o.patientId) && isAscii(o.patientName) ? "ISO_IR 100" : "ISO_IR 192";
}

} // namespace

DicomSeriesInfo writeDicomSeries(const PhantomStudy& study, int t, const std::filesystem::path& seriesFolder) {
  const PhantomOptions& o = study.options;
  const PhantomTimePoint& tp = study.timePoints.at(std::size_t(t));
  const ImageGeometry& g = tp.image.geometry;
  const bool ct = o.contrast == Contrast::CT;
  std::error_code ec;
  std::filesystem::create_directories(seriesFolder, ec);
  if (ec) throw InputError(fmt::format("cannot create '{}': {}", seriesFolder.string(), ec.message()));

  DicomSeriesInfo info;
  info.studyInstanceUid = newUid(SITE_STUDY_UID_ROOT);
  info.seriesInstanceUid = newUid(SITE_SERIES_UID_ROOT);
  info.frameOfReferenceUid = newUid(SITE_INSTANCE_UID_ROOT);
  info.sopClassUid = ct ? UID_CTImageStorage : UID_MRImageStorage;
  const std::string date = tp.truth.studyDate;
  const std::string time = fmt::format("{:02d}0000", 9 + t % 8);
  const Vec3 row = g.direction.column(0), col = g.direction.column(1);
  const std::size_t nx = g.size[0], ny = g.size[1];
  std::vector<Uint16> pixels(nx * ny);

  for (std::size_t k = 0; k < g.size[2]; ++k) {
    const std::filesystem::path file = seriesFolder / fmt::format("IM{:04d}.dcm", k + 1);
    DcmFileFormat format;
    DatasetWriter w(format.getDataset(), file);
    // SOP Common, Patient, General Study, Patient Study
    w.put(DCM_SpecificCharacterSet, characterSetOf(o));
    w.put(DCM_SOPClassUID, info.sopClassUid);
    w.put(DCM_SOPInstanceUID, newUid(SITE_INSTANCE_UID_ROOT));
    w.put(DCM_PatientName, o.patientName);
    w.put(DCM_PatientID, o.patientId);
    w.put(DCM_PatientBirthDate, "19560301");
    w.put(DCM_PatientSex, "M");
    w.put(DCM_PatientAge, "068Y");
    w.put(DCM_StudyInstanceUID, info.studyInstanceUid);
    w.put(DCM_StudyDate, date);
    w.put(DCM_StudyTime, time);
    w.put(DCM_ReferringPhysicianName, "");
    w.put(DCM_StudyID, fmt::format("{}", t + 1));
    w.put(DCM_AccessionNumber, fmt::format("LK{}{:02d}", date, t + 1));
    w.put(DCM_StudyDescription, t == 0 ? "LesionKit phantom baseline" : fmt::format("LesionKit phantom follow-up {}", t));
    // General Series, Frame of Reference, General Equipment
    w.put(DCM_Modality, ct ? "CT" : "MR");
    w.put(DCM_SeriesInstanceUID, info.seriesInstanceUid);
    w.put(DCM_SeriesNumber, "1");
    w.put(DCM_SeriesDate, date);
    w.put(DCM_SeriesTime, time);
    w.put(DCM_SeriesDescription, ct ? "Phantom CT abdomen" : "Phantom MR T1-like");
    w.put(DCM_BodyPartExamined, "ABDOMEN");
    w.put(DCM_PatientPosition, "HFS");
    w.put(DCM_FrameOfReferenceUID, info.frameOfReferenceUid);
    w.put(DCM_PositionReferenceIndicator, "");
    w.put(DCM_Manufacturer, "LesionKit");
    w.put(DCM_ManufacturerModelName, "LesionKit digital phantom");
    w.put(DCM_SoftwareVersions, "lesion::phantom");
    // General Image, General Acquisition
    w.put(DCM_InstanceNumber, fmt::format("{}", k + 1));
    w.put(DCM_ContentDate, date);
    w.put(DCM_ContentTime, time);
    w.put(DCM_AcquisitionNumber, "1");
    w.put(DCM_AcquisitionDate, date);
    w.put(DCM_AcquisitionTime, time);
    w.put(DCM_ImageType, ct ? "DERIVED\\SECONDARY\\AXIAL" : "DERIVED\\SECONDARY\\OTHER");
    w.put(DCM_BurnedInAnnotation, "NO");
    // Image Plane
    const Vec3 position = g.indexToPoint(0, 0, k);
    w.put(DCM_ImagePositionPatient, dsList({position.x, position.y, position.z}));
    w.put(DCM_ImageOrientationPatient, dsList({row.x, row.y, row.z, col.x, col.y, col.z}));
    w.put(DCM_PixelSpacing, dsList({g.spacing.y, g.spacing.x})); // row spacing \ column spacing
    w.put(DCM_SliceThickness, ds(g.spacing.z));
    w.put(DCM_SliceLocation, ds(dot(position, normalized(cross(row, col)))));
    // Image Pixel
    w.put16(DCM_SamplesPerPixel, 1);
    w.put(DCM_PhotometricInterpretation, "MONOCHROME2");
    w.put16(DCM_Rows, static_cast<Uint16>(ny));
    w.put16(DCM_Columns, static_cast<Uint16>(nx));
    w.put16(DCM_BitsAllocated, 16);
    const float* v = &tp.image.voxels[nx * ny * k];
    if (ct) {
      // CT Image: HU = stored - 1024, stored as signed 16 bit.
      w.put16(DCM_BitsStored, 16);
      w.put16(DCM_HighBit, 15);
      w.put16(DCM_PixelRepresentation, 1);
      w.put(DCM_RescaleIntercept, "-1024");
      w.put(DCM_RescaleSlope, "1");
      w.put(DCM_RescaleType, "HU");
      w.put(DCM_KVP, "120");
      w.put(DCM_GantryDetectorTilt, ds(o.gantryTiltDegrees));
      w.put(DCM_ConvolutionKernel, "STANDARD");
      w.put(DCM_WindowCenter, "40\\400");
      w.put(DCM_WindowWidth, "400\\1800");
      w.put(DCM_WindowCenterWidthExplanation, "SOFT TISSUE\\BONE");
      for (std::size_t i = 0; i < nx * ny; ++i) {
        pixels[i] = static_cast<Uint16>(static_cast<std::int16_t>(std::lround(v[i]) + 1024));
      }
    } else {
      // MR Image: unsigned 12-bit values, no rescale.
      w.put16(DCM_BitsStored, 12);
      w.put16(DCM_HighBit, 11);
      w.put16(DCM_PixelRepresentation, 0);
      w.put(DCM_ScanningSequence, "SE");
      w.put(DCM_SequenceVariant, "NONE");
      w.put(DCM_ScanOptions, "");
      w.put(DCM_MRAcquisitionType, "2D");
      w.put(DCM_RepetitionTime, "500");
      w.put(DCM_EchoTime, "15");
      w.put(DCM_EchoTrainLength, "1");
      w.put(DCM_MagneticFieldStrength, "1.5");
      w.put(DCM_WindowCenter, "500");
      w.put(DCM_WindowWidth, "1200");
      for (std::size_t i = 0; i < nx * ny; ++i) pixels[i] = static_cast<Uint16>(std::lround(v[i]));
    }
    w.check(format.getDataset()->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())),
            DCM_PixelData);
    const OFCondition saved = format.saveFile(file.c_str(), EXS_LittleEndianExplicit);
    if (saved.bad()) throw InputError(fmt::format("cannot write DICOM file '{}': {}", file.string(), saved.text()));
    ++info.fileCount;
  }
  return info;
}

} // namespace lesion::phantom
