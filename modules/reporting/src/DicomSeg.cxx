// DICOM SEG writer (DCMTK dcmseg) and reader (plain dcmdata, so other tools' SEGs with old SRT
// codes or fractional segments read too). The only file of reporting that touches dcmseg.
#include "lesion/reporting/DicomSeg.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmiod/iodreferences.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include "DicomCommon.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Hash.h"
#include "lesion/core/Log.h"

namespace lesion::reporting {

using detail::check;
using detail::dicomNumber;
using detail::newUid;
using detail::shortString;

LesionCodes lesionCodes(const std::string& kind) {
  LesionCodes codes;
  codes.category = {"49755003", "SCT", "Morphologically Altered Structure"};
  codes.type = {"52988006", "SCT", "Lesion"};
  if (kind == "soft-tissue") codes.type = {"4147007", "SCT", "Mass"};
  if (kind == "lytic-bone" || kind == "sclerotic-bone") codes.anatomicRegion = {"272673000", "SCT", "Bone structure"};
  if (kind == "lymph-node") codes.anatomicRegion = {"59441001", "SCT", "Lymph node structure"};
  return codes;
}

std::string derivedTrackingUid(const std::string& patientId, const std::string& trackingId) {
  // Two FNV-1a 64-bit hashes with different offsets make a 128-bit number, the 2.25 (UUID) form.
  const std::string text = patientId + '\x1f' + trackingId;
  auto fnv = [&](std::uint64_t offsetBasis) { return Fnv1a64(offsetBasis).add(text).value(); };
  unsigned __int128 value =
      (static_cast<unsigned __int128>(fnv(Fnv1a64::kOffsetBasis)) << 64) | fnv(0x84222325cbf29ce4ULL);
  std::string digits;
  do {
    digits.insert(digits.begin(), char('0' + int(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + digits;
}

SegmentInfo resolvedSegmentInfo(const SegmentInfo& segment, const std::string& patientId) {
  SegmentInfo s = segment;
  if (s.name.empty()) s.name = fmt::format("lesion {}", s.label);
  if (s.trackingId.empty()) s.trackingId = s.name;
  if (s.trackingUid.empty()) s.trackingUid = derivedTrackingUid(patientId, s.trackingId);
  return s;
}

SegmentAlgorithm lesionKitAlgorithm(SegmentAlgorithmType type) {
  return {type, type == SegmentAlgorithmType::Manual ? "" : kLesionKitAlgorithmName};
}

std::string segmentAlgorithmTypeTerm(SegmentAlgorithmType type) {
  switch (type) {
  case SegmentAlgorithmType::Manual:
    return "MANUAL";
  case SegmentAlgorithmType::SemiAutomatic:
    return "SEMIAUTOMATIC";
  case SegmentAlgorithmType::Automatic:
    return "AUTOMATIC";
  }
  return {};
}

std::optional<SegmentAlgorithmType> segmentAlgorithmTypeOfTerm(const std::string& term) {
  std::string upper = term;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  for (auto type : {SegmentAlgorithmType::Manual, SegmentAlgorithmType::SemiAutomatic, SegmentAlgorithmType::Automatic})
    if (segmentAlgorithmTypeTerm(type) == upper)
      return type;
  return std::nullopt;
}

namespace {

DcmSegTypes::E_SegmentAlgoType dcmtkAlgorithmType(SegmentAlgorithmType type) {
  switch (type) {
  case SegmentAlgorithmType::Manual:
    return DcmSegTypes::SAT_MANUAL;
  case SegmentAlgorithmType::SemiAutomatic:
    return DcmSegTypes::SAT_SEMIAUTOMATIC;
  case SegmentAlgorithmType::Automatic:
    return DcmSegTypes::SAT_AUTOMATIC;
  }
  return DcmSegTypes::SAT_UNKNOWN;
}

// Distinct, readable colours for segment display (RGB 0..255).
constexpr std::array<std::array<int, 3>, 8> kPalette{{{230, 60, 60},
                                                       {60, 160, 230},
                                                       {240, 200, 40},
                                                       {80, 200, 100},
                                                       {200, 90, 220},
                                                       {250, 140, 40},
                                                       {40, 210, 210},
                                                       {160, 120, 80}}};

CodeSequenceMacro toMacro(const CodedConcept& c) { return CodeSequenceMacro(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str()); }

std::string frameOfReferenceOrNew(const DicomSourceInfo& source) {
  return source.frameOfReferenceUid.empty() ? newUid() : source.frameOfReferenceUid;
}

} // namespace

DicomObjectInfo writeDicomSeg(const LabelMap& labels, const std::vector<SegmentInfo>& segmentsIn,
                              const DicomSourceInfo& source, const std::filesystem::path& path,
                              const DicomSegOptions& options) {
  detail::quietDcmtk();
  labels.geometry.validate("label map for DICOM SEG '" + path.string() + "'");
  const ImageGeometry& g = labels.geometry;
  if (g.size[0] > 65535 || g.size[1] > 65535)
    throw InputError(fmt::format("DICOM SEG '{}': a slice of {}x{} voxels exceeds DICOM's 65535 rows/columns",
                                 path.string(), g.size[0], g.size[1]));
  if (segmentsIn.empty()) throw InputError(fmt::format("DICOM SEG '{}': no segment requested", path.string()));
  const SegmentAlgorithm& algorithm = options.algorithm;
  const bool manual = algorithm.type == SegmentAlgorithmType::Manual;
  if (!manual && algorithm.name.empty())
    throw InputError(fmt::format("DICOM SEG '{}': a {} segmentation needs the name of its algorithm "
                                 "(--segment-algorithm-name NAME, or --segment-algorithm-type manual)",
                                 path.string(), segmentAlgorithmTypeTerm(algorithm.type)));

  // Which slices hold which label: one pass over the voxels.
  std::map<std::uint16_t, std::set<std::size_t>> slicesOf;
  for (const SegmentInfo& s : segmentsIn) {
    if (s.label == 0) throw InputError(fmt::format("DICOM SEG '{}': label 0 is background, not a segment", path.string()));
    if (!slicesOf.emplace(s.label, std::set<std::size_t>{}).second)
      throw InputError(fmt::format("DICOM SEG '{}': label {} listed twice", path.string(), s.label));
  }
  const std::size_t sliceVoxels = g.size[0] * g.size[1];
  for (std::size_t n = 0; n < labels.voxels.size(); ++n) {
    const std::uint16_t v = labels.voxels[n];
    if (v == 0) continue;
    auto it = slicesOf.find(v);
    if (it != slicesOf.end()) it->second.insert(n / sliceVoxels);
  }
  std::vector<SegmentInfo> segments;
  for (const SegmentInfo& s : segmentsIn) {
    if (slicesOf[s.label].empty())
      logWarning("DICOM SEG '{}': label {} has no voxels and is left out", path.string(), s.label);
    else
      segments.push_back(resolvedSegmentInfo(s, source.patientId));
  }
  if (segments.empty())
    throw InputError(fmt::format("DICOM SEG '{}': none of the requested labels has voxels", path.string()));

  IODGeneralEquipmentModule::EquipmentInfo equipment("LesionKit", "lesionkit", "0",
                                                     options.algorithmVersion.empty() ? "unknown" : options.algorithmVersion);
  // Who segmented: the algorithm, or nobody claimed for a MANUAL (e.g. a reader's) mask.
  const std::string contentDescription =
      (manual ? std::string("Lesion segmentation") : "Lesion segmentation by " + algorithm.name).substr(0, 64); // LO
  ContentIdentificationMacro content("1", "LESIONS", contentDescription.c_str(),
                                     options.contentCreatorName); // type 2: empty unless a person is named
  DcmSegmentation* raw = nullptr;
  check(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(g.size[1]), static_cast<Uint16>(g.size[0]),
                                                  equipment, content),
        path, "creating the segmentation");
  std::unique_ptr<DcmSegmentation> seg(raw);

  // Patient, study, frame of reference: from the source series, or new for NRRD input.
  const std::string studyUid = source.studyInstanceUid.empty() ? newUid() : source.studyInstanceUid;
  const std::string forUid = frameOfReferenceOrNew(source);
  const std::string seriesUid = options.seriesInstanceUid.empty() ? newUid() : options.seriesInstanceUid;
  const std::string sopUid = options.sopInstanceUid.empty() ? newUid() : options.sopInstanceUid;
  // Not checked by dcmiod: it checks against the default (ASCII) repertoire whatever the data set
  // declares, and refused every non-ASCII name ("Müller"); the values are UTF-8, as declared below.
  auto setIf = [&](auto& module, auto setter, const std::string& value) {
    if (!value.empty())
      check((module.*setter)(value.c_str(), OFFalse), path, "setting " + value);
  };
  // Every text LesionKit holds is UTF-8 (dicomio converts the sources' character sets).
  check(seg->getSOPCommon().setSpecificCharacterSet("ISO_IR 192"), path, "setting the character set");
  setIf(seg->getPatient(), &IODPatientModule::setPatientName, source.patientName);
  setIf(seg->getPatient(), &IODPatientModule::setPatientID, source.patientId);
  setIf(seg->getPatient(), &IODPatientModule::setPatientBirthDate, source.patientBirthDate);
  setIf(seg->getPatient(), &IODPatientModule::setPatientSex, source.patientSex);
  check(seg->getStudy().setStudyInstanceUID(studyUid.c_str()), path, "setting the study UID");
  setIf(seg->getStudy(), &IODGeneralStudyModule::setStudyDate, source.studyDate);
  setIf(seg->getStudy(), &IODGeneralStudyModule::setStudyTime, source.studyTime);
  setIf(seg->getStudy(), &IODGeneralStudyModule::setStudyID, shortString(source.studyId, "Study ID"));
  setIf(seg->getStudy(), &IODGeneralStudyModule::setAccessionNumber,
        shortString(source.accessionNumber, "Accession Number"));
  setIf(seg->getStudy(), &IODGeneralStudyModule::setReferringPhysicianName, source.referringPhysicianName);
  setIf(seg->getStudy(), &IODGeneralStudyModule::setStudyDescription, source.studyDescription);
  check(seg->getFrameOfReference().setFrameOfReferenceUID(forUid.c_str()), path, "setting the frame of reference");
  check(seg->getSeries().setSeriesInstanceUID(seriesUid.c_str()), path, "setting the series UID");
  check(seg->getSeries().setSeriesNumber(std::to_string(options.seriesNumber).c_str()), path, "setting the series number");
  check(seg->getSeries().setSeriesDescription(options.seriesDescription.c_str()), path, "setting the series description");
  check(seg->getSOPCommon().setSOPInstanceUID(sopUid.c_str()), path, "setting the SOP instance UID");
  {
    const std::string date = detail::todayDate(), time = detail::nowTime();
    seg->getSeries().setSeriesDate(date.c_str());
    seg->getSeries().setSeriesTime(time.c_str());
    seg->getGeneralImage().setContentDate(date.c_str());
    seg->getGeneralImage().setContentTime(time.c_str());
  }

  // Shared functional groups: one orientation and pixel spacing for every frame.
  const Vec3 row = g.direction.column(0), col = g.direction.column(1);
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      dicomNumber(row.x).c_str(), dicomNumber(row.y).c_str(), dicomNumber(row.z).c_str(), dicomNumber(col.x).c_str(),
      dicomNumber(col.y).c_str(), dicomNumber(col.z).c_str()));
  check(seg->addForAllFrames(*orientation), path, "adding the plane orientation");
  FGPixelMeasures measures;
  // DICOM Pixel Spacing is (between rows, between columns) = (spacing j, spacing i).
  check(measures.setPixelSpacing((dicomNumber(g.spacing.y) + "\\" + dicomNumber(g.spacing.x)).c_str()), path,
        "setting the pixel spacing");
  check(measures.setSliceThickness(dicomNumber(g.spacing.z).c_str()), path, "setting the slice thickness");
  check(measures.setSpacingBetweenSlices(dicomNumber(g.spacing.z).c_str()), path, "setting the slice spacing");
  check(seg->addForAllFrames(measures), path, "adding the pixel measures");

  const std::string dimensionUid = newUid();
  check(seg->getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, dimensionUid.c_str(),
                                               DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
        path, "adding the segment dimension");
  check(seg->getDimensions().addDimensionIndex(DCM_ImagePositionPatient, dimensionUid.c_str(), DCM_PlanePositionSequence,
                                               "ImagePositionPatient"),
        path, "adding the position dimension");

  // Source instance of each slice, matched by position (not by order: robust to any stacking).
  auto sourceOf = [&](std::size_t k) -> const DicomSourceInfo::Instance* {
    const Vec3 p = g.indexToPoint(0, 0, k);
    const double tolerance = std::max(0.01, 0.05 * g.spacing.z);
    for (const auto& inst : source.instances)
      if (distance(inst.imagePositionPatient, p) < tolerance) return &inst;
    return nullptr;
  };
  std::set<std::string> referencedInstances;
  IODReferences references;
  std::size_t unmatchedSlices = 0;

  DicomObjectInfo info;
  info.path = path;
  info.sopClassUid = UID_SegmentationStorage;
  info.sopInstanceUid = sopUid;
  info.seriesInstanceUid = seriesUid;
  info.studyInstanceUid = studyUid;
  info.frameOfReferenceUid = forUid;

  std::vector<Uint8> frame(sliceVoxels);
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const SegmentInfo& si = segments[s];
    const LesionCodes codes = lesionCodes(si.kind);
    DcmSegment* segRaw = nullptr;
    check(DcmSegment::create(segRaw, si.name.c_str(), toMacro(codes.category), toMacro(codes.type),
                             dcmtkAlgorithmType(algorithm.type), manual ? "" : algorithm.name.c_str()),
          path, "creating segment " + si.name);
    std::unique_ptr<DcmSegment> segment(segRaw);
    check(segment->setSegmentDescription(fmt::format("LesionKit label {}: {}", si.label, si.kind).c_str()), path,
          "setting the segment description");
    check(segment->setTrackingID(si.trackingId.c_str()), path, "setting the tracking ID");
    check(segment->setTrackingUID(si.trackingUid.c_str()), path, "setting the tracking UID");
    if (!codes.anatomicRegion.empty())
      check(segment->getGeneralAnatomyCode().getAnatomicRegion().set(
                codes.anatomicRegion.value.c_str(), codes.anatomicRegion.scheme.c_str(), codes.anatomicRegion.meaning.c_str()),
            path, "setting the anatomic region");
    const auto& rgb = kPalette[s % kPalette.size()];
    double L = 0, a = 0, b = 0;
    IODCIELabUtil::rgb2DicomLab(L, a, b, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    check(segment->setRecommendedDisplayCIELabValue(Uint16(std::lround(L)), Uint16(std::lround(a)), Uint16(std::lround(b))),
          path, "setting the segment colour");
    Uint16 segmentNumber = 0;
    check(seg->addSegment(segment.get(), segmentNumber), path, "adding segment " + si.name);
    segment.release(); // owned by the segmentation now
    info.segmentNumbers.push_back(segmentNumber);

    for (std::size_t k : slicesOf[si.label]) {
      const std::uint16_t* slice = labels.voxels.data() + k * sliceVoxels;
      for (std::size_t n = 0; n < sliceVoxels; ++n) frame[n] = slice[n] == si.label ? 1 : 0;
      const Vec3 p = g.indexToPoint(0, 0, k);
      std::unique_ptr<FGPlanePosPatient> position(
          FGPlanePosPatient::createMinimal(dicomNumber(p.x).c_str(), dicomNumber(p.y).c_str(), dicomNumber(p.z).c_str()));
      FGFrameContent frameContent;
      check(frameContent.setDimensionIndexValues(segmentNumber, 0), path, "setting a dimension index");
      check(frameContent.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), path, "setting a dimension index");
      OFVector<FGBase*> perFrame;
      perFrame.push_back(position.get());
      perFrame.push_back(&frameContent);
      std::unique_ptr<FGDerivationImage> derivation;
      if (const auto* inst = sourceOf(k)) {
        ImageSOPInstanceReferenceMacro ref;
        check(ref.setReferencedSOPClassUID(inst->sopClassUid.c_str()), path, "referencing a source image");
        check(ref.setReferencedSOPInstanceUID(inst->sopInstanceUid.c_str()), path, "referencing a source image");
        if (inst->frameNumber > 0) // required when the source is multi-frame (PS3.3 Table 10-3)
          check(ref.addReferencedFrameNumber(static_cast<Uint16>(inst->frameNumber)), path,
                "referencing a source frame");
        OFVector<ImageSOPInstanceReferenceMacro> refs;
        refs.push_back(ref);
        derivation.reset(DcmSegmentation::createDerivationImageFG(refs, "Segmentation"));
        if (!derivation) throw DicomError(fmt::format("DICOM SEG '{}': cannot reference source image", path.string()));
        perFrame.push_back(derivation.get());
        if (referencedInstances.insert(inst->sopInstanceUid).second)
          references.add(new IODImageReference(source.patientId.c_str(), studyUid.c_str(), source.seriesInstanceUid.c_str(),
                                               inst->sopInstanceUid.c_str(), inst->sopClassUid.c_str()));
      } else if (source.fromDicom()) {
        ++unmatchedSlices;
      }
      check(seg->addFrame(frame.data(), segmentNumber, perFrame), path, "adding a frame");
      ++info.frameCount;
    }
  }
  if (unmatchedSlices > 0)
    logWarning("DICOM SEG '{}': {} frame(s) lie on no source slice (resampled volume?) and reference none",
               path.string(), unmatchedSlices);
  if (references.size() > 0) seg->getCommonInstanceReference().addReferences(references, studyUid.c_str());

  writeFileAtomically(path, [&](const std::filesystem::path& temporary) {
    check(seg->saveFile(temporary.string().c_str(), EXS_LittleEndianExplicit), path, "writing");
  });
  return info;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

struct FramePlane {
  std::optional<Vec3> position;
  std::optional<std::array<double, 6>> orientation;
  std::optional<std::array<double, 2>> pixelSpacing;
  std::optional<double> sliceSpacing;
  std::optional<double> sliceThickness;
  Uint16 segmentNumber{0};
};

std::optional<double> getDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0) {
  Float64 v = 0;
  if (item.findAndGetFloat64(tag, v, pos).good()) return v;
  return std::nullopt;
}

std::string getString(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v.c_str();
}

CodedConcept getCode(DcmItem& item, const DcmTagKey& sequence) {
  DcmItem* code = nullptr;
  if (item.findAndGetSequenceItem(sequence, code, 0).bad() || !code) return {};
  return {getString(*code, DCM_CodeValue), getString(*code, DCM_CodingSchemeDesignator), getString(*code, DCM_CodeMeaning)};
}

// Reads plane/segment facts of one functional-groups item (shared or per-frame) into `plane`.
void readGroups(DcmItem& groups, FramePlane& plane) {
  DcmItem* sub = nullptr;
  if (groups.findAndGetSequenceItem(DCM_PlanePositionSequence, sub, 0).good() && sub) {
    auto x = getDouble(*sub, DCM_ImagePositionPatient, 0), y = getDouble(*sub, DCM_ImagePositionPatient, 1),
         z = getDouble(*sub, DCM_ImagePositionPatient, 2);
    if (x && y && z) plane.position = Vec3{*x, *y, *z};
  }
  if (groups.findAndGetSequenceItem(DCM_PlaneOrientationSequence, sub, 0).good() && sub) {
    std::array<double, 6> o{};
    bool ok = true;
    for (unsigned long i = 0; i < 6; ++i) {
      auto v = getDouble(*sub, DCM_ImageOrientationPatient, i);
      ok = ok && v.has_value();
      o[i] = v.value_or(0.0);
    }
    if (ok) plane.orientation = o;
  }
  if (groups.findAndGetSequenceItem(DCM_PixelMeasuresSequence, sub, 0).good() && sub) {
    auto r = getDouble(*sub, DCM_PixelSpacing, 0), c = getDouble(*sub, DCM_PixelSpacing, 1);
    if (r && c) plane.pixelSpacing = std::array<double, 2>{*r, *c};
    if (auto s = getDouble(*sub, DCM_SpacingBetweenSlices)) plane.sliceSpacing = s;
    if (auto t = getDouble(*sub, DCM_SliceThickness)) plane.sliceThickness = t;
  }
  if (groups.findAndGetSequenceItem(DCM_SegmentIdentificationSequence, sub, 0).good() && sub) {
    Uint16 n = 0;
    if (sub->findAndGetUint16(DCM_ReferencedSegmentNumber, n).good()) plane.segmentNumber = n;
  }
}

} // namespace

SegmentationImage readDicomSeg(const std::filesystem::path& path) {
  detail::quietDcmtk();
  if (!std::filesystem::is_regular_file(path))
    throw InputError(fmt::format("DICOM SEG '{}': no such file", path.string()));
  DcmFileFormat file;
  const OFCondition loaded = file.loadFile(path.string().c_str());
  if (loaded.bad())
    throw DicomError(fmt::format("DICOM SEG '{}': not a readable DICOM file ({})", path.string(), loaded.text()));
  DcmDataset& ds = *file.getDataset();
  const std::string sopClass = getString(ds, DCM_SOPClassUID);
  if (sopClass != UID_SegmentationStorage)
    throw DicomError(fmt::format("'{}': expected a DICOM Segmentation (SOP class {}), found SOP class '{}'", path.string(),
                                 UID_SegmentationStorage, sopClass));
  if (ds.getOriginalXfer() != EXS_LittleEndianExplicit && ds.getOriginalXfer() != EXS_LittleEndianImplicit &&
      ds.getOriginalXfer() != EXS_BigEndianExplicit) {
    DcmRLEDecoderRegistration::registerCodecs();
    if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
      throw DicomError(fmt::format("DICOM SEG '{}': cannot decompress its pixel data (transfer syntax {})", path.string(),
                                   DcmXfer(ds.getOriginalXfer()).getXferName()));
  }

  SegmentationImage out;
  out.sopInstanceUid = getString(ds, DCM_SOPInstanceUID);
  out.seriesInstanceUid = getString(ds, DCM_SeriesInstanceUID);
  out.studyInstanceUid = getString(ds, DCM_StudyInstanceUID);
  out.frameOfReferenceUid = getString(ds, DCM_FrameOfReferenceUID);
  for (unsigned long i = 0;; ++i) {
    DcmItem* item = nullptr;
    if (ds.findAndGetSequenceItem(DCM_ReferencedSeriesSequence, item, i).bad() || !item) break;
    out.referencedSeriesUids.push_back(getString(*item, DCM_SeriesInstanceUID));
  }

  Uint16 rows = 0, columns = 0, bitsAllocated = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad() || rows == 0 ||
      columns == 0)
    throw DicomError(fmt::format("DICOM SEG '{}': Rows/Columns missing or zero", path.string()));
  ds.findAndGetUint16(DCM_BitsAllocated, bitsAllocated);
  const std::string segType = getString(ds, DCM_SegmentationType);
  if (!(bitsAllocated == 1 && segType == "BINARY") && !(bitsAllocated == 8 && segType == "FRACTIONAL"))
    throw DicomError(fmt::format("DICOM SEG '{}': unsupported Segmentation Type '{}' with {} bits allocated",
                                 path.string(), segType, bitsAllocated));
  Uint16 maxFractional = 255;
  ds.findAndGetUint16(DCM_MaximumFractionalValue, maxFractional);

  // Segments.
  std::map<Uint16, std::size_t> segmentIndex;
  const std::regex ourLabel(R"(^LesionKit label (\d+):)");
  for (unsigned long i = 0;; ++i) {
    DcmItem* item = nullptr;
    if (ds.findAndGetSequenceItem(DCM_SegmentSequence, item, i).bad() || !item) break;
    SegmentRecord r;
    item->findAndGetUint16(DCM_SegmentNumber, r.segmentNumber);
    r.segmentLabel = getString(*item, DCM_SegmentLabel);
    r.segmentDescription = getString(*item, DCM_SegmentDescription);
    r.algorithmType = getString(*item, DCM_SegmentAlgorithmType);
    r.algorithmName = getString(*item, DCM_SegmentAlgorithmName);
    r.category = getCode(*item, DCM_SegmentedPropertyCategoryCodeSequence);
    r.type = getCode(*item, DCM_SegmentedPropertyTypeCodeSequence);
    r.anatomicRegion = getCode(*item, DCM_AnatomicRegionSequence);
    r.trackingId = getString(*item, DCM_TrackingID);
    r.trackingUid = getString(*item, DCM_TrackingUID);
    r.label = r.segmentNumber;
    std::smatch m;
    if (std::regex_search(r.segmentDescription, m, ourLabel)) {
      const long v = std::stol(m[1].str());
      if (v >= 1 && v <= 65535) r.label = static_cast<std::uint16_t>(v);
    }
    segmentIndex[r.segmentNumber] = out.segments.size();
    out.segments.push_back(r);
  }
  if (out.segments.empty()) throw DicomError(fmt::format("DICOM SEG '{}': Segment Sequence is empty", path.string()));

  // Frame geometry.
  FramePlane shared;
  DcmItem* sharedItem = nullptr;
  if (ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, sharedItem, 0).good() && sharedItem)
    readGroups(*sharedItem, shared);
  std::vector<FramePlane> frames;
  for (unsigned long i = 0;; ++i) {
    DcmItem* item = nullptr;
    if (ds.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, item, i).bad() || !item) break;
    FramePlane f = shared;
    f.position.reset();
    f.segmentNumber = shared.segmentNumber;
    readGroups(*item, f);
    frames.push_back(f);
  }
  Sint32 numberOfFrames = 0;
  ds.findAndGetSint32(DCM_NumberOfFrames, numberOfFrames);
  if (frames.empty() || numberOfFrames != static_cast<Sint32>(frames.size()))
    throw DicomError(fmt::format("DICOM SEG '{}': Number of Frames {} but {} per-frame functional group items",
                                 path.string(), numberOfFrames, frames.size()));
  const FramePlane& first = frames.front();
  if (!first.orientation || !first.pixelSpacing)
    throw DicomError(fmt::format("DICOM SEG '{}': Plane Orientation or Pixel Measures missing", path.string()));
  const Vec3 row{(*first.orientation)[0], (*first.orientation)[1], (*first.orientation)[2]};
  const Vec3 col{(*first.orientation)[3], (*first.orientation)[4], (*first.orientation)[5]};
  const Vec3 normal = normalized(cross(row, col));
  std::vector<double> along;
  for (std::size_t f = 0; f < frames.size(); ++f) {
    const FramePlane& fr = frames[f];
    if (!fr.position)
      throw DicomError(fmt::format("DICOM SEG '{}': frame {} has no Plane Position", path.string(), f + 1));
    if (fr.orientation && distance(Vec3{(*fr.orientation)[0], (*fr.orientation)[1], (*fr.orientation)[2]}, row) +
                                  distance(Vec3{(*fr.orientation)[3], (*fr.orientation)[4], (*fr.orientation)[5]}, col) >
                              1e-4)
      throw DicomError(fmt::format("DICOM SEG '{}': frame {} has another orientation than frame 1; frames of several "
                                   "orientations do not form one grid",
                                   path.string(), f + 1));
    if (!segmentIndex.count(fr.segmentNumber))
      throw DicomError(fmt::format("DICOM SEG '{}': frame {} refers to segment {} which is not in the Segment Sequence",
                                   path.string(), f + 1, fr.segmentNumber));
    along.push_back(dot(*fr.position, normal));
    if (!std::isfinite(along.back()))
      throw DicomError(fmt::format("DICOM SEG '{}': frame {} has a Plane Position or Orientation that is not a finite "
                                   "number",
                                   path.string(), f + 1));
  }
  std::vector<double> sorted = along;
  std::sort(sorted.begin(), sorted.end());
  double step = first.sliceSpacing.value_or(0.0);
  if (!(step > 0)) {
    step = 0;
    for (std::size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i] - sorted[i - 1] > 1e-3 && (step == 0 || sorted[i] - sorted[i - 1] < step)) step = sorted[i] - sorted[i - 1];
    if (step == 0) step = first.sliceThickness.value_or(1.0);
  }
  const double minAlong = sorted.front();
  const std::size_t firstFrame = static_cast<std::size_t>(std::min_element(along.begin(), along.end()) - along.begin());

  ImageGeometry g;
  g.direction = Mat3::fromColumns(row, col, normal);
  g.spacing = {(*first.pixelSpacing)[1], (*first.pixelSpacing)[0], step};
  g.origin = *frames[firstFrame].position;
  g.size = {columns, rows, 1};
  // Before the slice count is taken from the positions: NaN spacing or orientation made it a
  // vector "larger than max_size()" (exit 3 naming nothing) or a mask of nothing.
  g.validate(fmt::format("DICOM SEG '{}'", path.string()));
  g.size[2] = static_cast<std::size_t>(std::llround((sorted.back() - minAlong) / step)) + 1;
  out.labels = LabelMap(g, 0);

  // Pixel data: binary frames are bit-packed back to back (not byte-aligned per frame).
  const Uint8* pixels = nullptr;
  unsigned long byteCount = 0;
  if (ds.findAndGetUint8Array(DCM_PixelData, pixels, &byteCount).bad() || !pixels)
    throw DicomError(fmt::format("DICOM SEG '{}': no Pixel Data", path.string()));
  const std::size_t framePixels = std::size_t(rows) * columns;
  const std::size_t needed = bitsAllocated == 1 ? (frames.size() * framePixels + 7) / 8 : frames.size() * framePixels;
  if (byteCount < needed)
    throw DicomError(fmt::format("DICOM SEG '{}': Pixel Data has {} bytes, {} frames of {}x{} need {}", path.string(),
                                 byteCount, frames.size(), rows, columns, needed));
  std::vector<std::uint16_t> owner(out.labels.voxels.size(), 0); // segment number claiming each voxel
  for (std::size_t f = 0; f < frames.size(); ++f) {
    const Vec3 offset = *frames[f].position - g.origin;
    const double kExact = dot(offset, normal) / step;
    const long k = std::lround(kExact);
    if (std::abs(kExact - double(k)) > 0.1 || std::abs(dot(offset, row)) > 0.1 * g.spacing.x ||
        std::abs(dot(offset, col)) > 0.1 * g.spacing.y)
      throw DicomError(fmt::format("DICOM SEG '{}': frame {} at {} is off the slice grid (step {:.4g} mm)", path.string(),
                                   f + 1, formatPoint(*frames[f].position), step));
    SegmentRecord& rec = out.segments[segmentIndex[frames[f].segmentNumber]];
    ++rec.frameCount;
    std::uint16_t* slice = out.labels.voxels.data() + std::size_t(k) * framePixels;
    std::uint16_t* sliceOwner = owner.data() + std::size_t(k) * framePixels;
    for (std::size_t n = 0; n < framePixels; ++n) {
      bool inside;
      if (bitsAllocated == 1) {
        const std::size_t bit = f * framePixels + n;
        inside = (pixels[bit / 8] >> (bit % 8)) & 1U;
      } else {
        inside = 2u * pixels[f * framePixels + n] >= maxFractional && pixels[f * framePixels + n] > 0;
      }
      if (!inside) continue;
      if (sliceOwner[n] != 0 && sliceOwner[n] != rec.segmentNumber) {
        ++out.overlappingVoxels;
        if (sliceOwner[n] > rec.segmentNumber) continue;
      }
      sliceOwner[n] = rec.segmentNumber;
      slice[n] = rec.label;
    }
  }
  if (out.overlappingVoxels > 0)
    logWarning("DICOM SEG '{}': {} voxels belong to several segments; the label map keeps the higher segment number",
               path.string(), out.overlappingVoxels);
  return out;
}

LabelMap resampleLabelMapNearest(const LabelMap& labels, const ImageGeometry& grid) {
  LabelMap out(grid, 0);
  const ImageGeometry& src = labels.geometry;
  // Both index maps are affine: the source index of (i,j,k) is c0 + i*di + j*dj + k*dk.
  const Vec3 c0 = src.pointToIndex(grid.indexToPoint(0, 0, 0));
  const Vec3 di = src.pointToIndex(grid.indexToPoint(1, 0, 0)) - c0;
  const Vec3 dj = src.pointToIndex(grid.indexToPoint(0, 1, 0)) - c0;
  const Vec3 dk = src.pointToIndex(grid.indexToPoint(0, 0, 1)) - c0;
  for (std::size_t k = 0; k < grid.size[2]; ++k)
    for (std::size_t j = 0; j < grid.size[1]; ++j) {
      const Vec3 base = c0 + dj * double(j) + dk * double(k);
      for (std::size_t i = 0; i < grid.size[0]; ++i) {
        const Vec3 c = base + di * double(i);
        const long si = std::lround(c.x), sj = std::lround(c.y), sk = std::lround(c.z);
        if (src.containsIndex(si, sj, sk)) out.at(i, j, k) = labels.at(std::size_t(si), std::size_t(sj), std::size_t(sk));
      }
    }
  return out;
}

} // namespace lesion::reporting
