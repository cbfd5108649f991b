// DICOM SR TID 1500 writer (DCMTK cmr TID1500_MeasurementReport, so the template's structure is
// DCMTK's, not ours) and reader (plain walk of the content tree, so other tools' documents with
// old SRT codes read too). The only file of reporting that touches dcmsr.
#include "lesion/reporting/DicomSr.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include "DicomCommon.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"

namespace lesion::reporting {

using detail::check;
using detail::shortString;

namespace {

// Concepts we write, and the synonyms (old SRT codes) other tools write.
const CodedConcept kVolume{"118565006", "SCT", "Volume"};
const CodedConcept kLongAxis{"103339001", "SCT", "Long Axis"};
const CodedConcept kShortAxis{"103340004", "SCT", "Short Axis"};
const CodedConcept kDiameter{"81827009", "SCT", "Diameter"};
const CodedConcept kAttenuation{"112031", "DCM", "Attenuation Coefficient"};
const CodedConcept kCalcifiedVolume{"CALCVOL", "99LESIONKIT", "Calcified volume"};
const CodedConcept kCalcificationThreshold{"CALCTHR", "99LESIONKIT", "Calcification threshold"};
const CodedConcept kMean{"373098007", "SCT", "Mean"};
const CodedConcept kStandardDeviation{"386136009", "SCT", "Standard Deviation"};
const CodedConcept kMaximum{"56851009", "SCT", "Maximum"};
const CodedConcept kSumOfVoxels{"126030", "DCM", "Sum of segmented voxel volumes"};
const CodedConcept kMl{"ml", "UCUM", "milliliter"};
const CodedConcept kMm{"mm", "UCUM", "millimeter"};
const CodedConcept kHu{"[hnsf'U]", "UCUM", "Hounsfield unit"};
const CodedConcept kNoUnits{"1", "UCUM", "no units"};

bool same(const CodedConcept& c, const CodedConcept& ours, std::initializer_list<const char*> srtSynonyms = {}) {
  if (c.value == ours.value && (c.scheme == ours.scheme || (ours.scheme == "SCT" && c.scheme == "SNM3"))) return true;
  for (const char* s : srtSynonyms)
    if (c.value == s && c.scheme == "SRT") return true;
  return false;
}

DSRCodedEntryValue toEntry(const CodedConcept& c) {
  return DSRCodedEntryValue(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str());
}

std::string number(double v) { return fmt::format("{:.6g}", v); }

// Procedure reported (CID 100): CT or MR when known.
CodedConcept procedureFor(const std::string& modality) {
  if (modality == "CT") return {"77477000", "SCT", "Computerized axial tomography"};
  if (modality == "MR") return {"113091000", "SCT", "Magnetic resonance imaging"};
  return {"363679005", "SCT", "Imaging procedure"};
}

} // namespace

DicomObjectInfo writeDicomSr(const std::vector<measurement::LesionMeasurement>& lesions,
                             const std::vector<SegmentInfo>& segments, const DicomObjectInfo& seg,
                             const DicomSourceInfo& source, const std::filesystem::path& path,
                             const DicomSrOptions& options) {
  detail::quietDcmtk();
  if (lesions.empty()) throw InputError(fmt::format("DICOM SR '{}': no lesion to report", path.string()));

  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  check(report.setLanguage(CID5000_Languages::English), path, "setting the language");
  check(report.getObservationContext().addDeviceObserver(detail::newUid().c_str(), "LesionKit", "LesionKit",
                                                         "lesionkit"),
        path, "adding the device observer");
  check(report.addProcedureReported(toEntry(procedureFor(source.modality))), path, "adding the procedure reported");

  // Segment number of each label in the SEG (segments were written in the order given).
  std::map<std::uint16_t, std::uint16_t> segmentNumberOf;
  std::map<std::uint16_t, SegmentInfo> infoOf;
  for (std::size_t i = 0; i < segments.size(); ++i) infoOf[segments[i].label] = segments[i];
  {
    std::size_t written = 0;
    for (const SegmentInfo& s : segments) {
      const bool hasVoxels = std::any_of(lesions.begin(), lesions.end(),
                                         [&](const auto& l) { return l.spec.label == s.label && l.voxelCount > 0; });
      if (hasVoxels && written < seg.segmentNumbers.size()) segmentNumberOf[s.label] = seg.segmentNumbers[written++];
    }
  }
  const std::string sourceSeries = source.fromDicom() ? source.seriesInstanceUid : seg.seriesInstanceUid;

  bool first = true;
  for (const measurement::LesionMeasurement& lesion : lesions) {
    SegmentInfo base;
    base.label = lesion.spec.label;
    base.kind = lesion.spec.kind;
    base.name = lesion.spec.name;
    if (auto it = infoOf.find(lesion.spec.label); it != infoOf.end()) base = it->second;
    const SegmentInfo info = resolvedSegmentInfo(base, source.patientId);
    const LesionCodes codes = lesionCodes(info.kind);

    if (!first) check(report.addVolumetricROIMeasurements(), path, "adding a measurement group");
    first = false;
    auto& group = report.getVolumetricROIMeasurements();
    check(group.setTrackingIdentifier(info.trackingId.c_str()), path, "setting the tracking identifier");
    check(group.setTrackingUniqueIdentifier(info.trackingUid.c_str()), path, "setting the tracking UID");
    if (!options.timePoint.empty()) check(group.setTimePoint(options.timePoint.c_str()), path, "setting the time point");
    check(group.setFinding(toEntry(codes.type)), path, "setting the finding");
    if (!codes.anatomicRegion.empty()) check(group.addFindingSite(toEntry(codes.anatomicRegion)), path, "adding the finding site");
    if (auto it = segmentNumberOf.find(lesion.spec.label); it != segmentNumberOf.end() && !seg.sopInstanceUid.empty()) {
      DSRImageReferenceValue segment(UID_SegmentationStorage, seg.sopInstanceUid.c_str());
      segment.getSegmentList().addItem(it->second);
      check(group.setReferencedSegment(segment), path, "referencing the segment");
      check(group.setSourceSeriesForSegmentation(sourceSeries.c_str()), path, "setting the source series");
    }

    auto add = [&](const CodedConcept& quantity, double value, const CodedConcept& units, const CodedConcept& derivation,
                   const CodedConcept& method) {
      check(group.addMeasurement(CMR_CID7469(toEntry(quantity)),
                                 CMR_TID1411_in_TID1500::MeasurementValue(number(value).c_str(), CMR_CID7181(toEntry(units))),
                                 OFFalse),
            path, "adding measurement " + quantity.meaning);
      if (!derivation.empty())
        check(group.getMeasurement().setDerivation(CMR_CID7464(toEntry(derivation))), path, "setting a derivation");
      if (!method.empty())
        check(group.getMeasurement().setMeasurementMethod(CMR_CID6147(toEntry(method))), path, "setting a method");
    };
    const bool hu = lesion.intensity.unit == "HU";
    add(kVolume, lesion.voxelVolumeMl, kMl, {}, kSumOfVoxels);
    add(kLongAxis, lesion.recist.longAxisMm, kMm, {}, {});
    add(kShortAxis, lesion.recist.shortAxisMm, kMm, {}, {});
    add(kDiameter, lesion.maxDiameter3dMm, kMm, kMaximum, {});
    if (hu) {
      add(kAttenuation, lesion.intensity.mean, kHu, kMean, {});
      add(kAttenuation, lesion.intensity.standardDeviation, kHu, kStandardDeviation, {});
    }
    if (lesion.calcification) {
      add(kCalcifiedVolume, lesion.calcification->volumeMl, kMl, {}, {});
      // The volume depends on the threshold (measure: 130 HU or the soft-tissue rule, followup: the patient's
      // reference bone): without it, calcified volumes of different commands cannot be told apart.
      check(group.getMeasurement().addDerivationParameter(
                toEntry(kCalcificationThreshold),
                CMR_SRNumericMeasurementValue(number(lesion.calcification->thresholdHu).c_str(), toEntry(kHu))),
            path, "adding the calcification threshold");
    }
  }
  if (!report.isValid()) throw DicomError(fmt::format("DICOM SR '{}': the TID 1500 report is incomplete", path.string()));

  DSRDocument doc(DSRTypes::DT_ComprehensiveSR);
  check(doc.setTreeFromRootTemplate(report, OFTrue /* expand included templates */), path, "building the document tree");
  const std::string studyUid = source.studyInstanceUid.empty() ? seg.studyInstanceUid : source.studyInstanceUid;
  if (!studyUid.empty()) check(doc.createNewSeriesInStudy(studyUid.c_str()), path, "setting the study");
  auto setIf = [&](OFCondition (DSRDocument::*setter)(const OFString&, const OFBool), const std::string& value) {
    if (!value.empty()) check((doc.*setter)(value.c_str(), OFTrue), path, "setting " + value);
  };
  // Every text LesionKit holds is UTF-8 (dicomio converts the sources' character sets).
  check(doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8), path, "setting the character set");
  setIf(&DSRDocument::setPatientName, source.patientName);
  setIf(&DSRDocument::setPatientID, source.patientId);
  setIf(&DSRDocument::setPatientBirthDate, source.patientBirthDate);
  setIf(&DSRDocument::setPatientSex, source.patientSex);
  setIf(&DSRDocument::setStudyDate, source.studyDate);
  setIf(&DSRDocument::setStudyTime, source.studyTime);
  setIf(&DSRDocument::setStudyID, shortString(source.studyId, "Study ID"));
  setIf(&DSRDocument::setAccessionNumber, shortString(source.accessionNumber, "Accession Number"));
  setIf(&DSRDocument::setReferringPhysicianName, source.referringPhysicianName);
  setIf(&DSRDocument::setStudyDescription, source.studyDescription);
  setIf(&DSRDocument::setSeriesDescription, options.seriesDescription);
  setIf(&DSRDocument::setSeriesNumber, std::to_string(options.seriesNumber));
  setIf(&DSRDocument::setManufacturer, "LesionKit");
  setIf(&DSRDocument::setManufacturerModelName, "lesionkit");
  setIf(&DSRDocument::setSoftwareVersions, options.algorithmVersion.empty() ? "unknown" : options.algorithmVersion);
  check(doc.setInstanceNumber("1"), path, "setting the instance number");
  doc.completeDocument(); // COMPLETE; verification stays UNVERIFIED (no human signed it)
  if (std::any_of(lesions.begin(), lesions.end(), [](const auto& l) { return l.calcification.has_value(); })) {
    // Our local code needs its coding scheme identified in the document (PS3.3 C.12.1.1.2).
    check(doc.getCodingSchemeIdentification().addItem(kCalcifiedVolume.scheme.c_str()), path, "adding the coding scheme");
    check(doc.getCodingSchemeIdentification().setCodingSchemeName("LesionKit local codes"), path, "naming the coding scheme");
    check(doc.getCodingSchemeIdentification().setCodingSchemeResponsibleOrganization("LesionKit"), path,
          "naming the coding scheme's organisation");
  }
  if (!seg.sopInstanceUid.empty())
    check(doc.getCurrentRequestedProcedureEvidence().addItem(seg.studyInstanceUid.c_str(), seg.seriesInstanceUid.c_str(),
                                                             seg.sopClassUid.c_str(), seg.sopInstanceUid.c_str()),
          path, "adding the SEG to the evidence");

  DcmFileFormat file;
  check(doc.write(*file.getDataset()), path, "encoding the document");
  DicomObjectInfo info;
  info.path = path;
  OFString uid;
  doc.getSOPClassUID(uid);
  info.sopClassUid = uid.c_str(); // DCMTK picks the simplest SR IOD that holds the tree (Enhanced SR here)
  doc.getSOPInstanceUID(uid);
  info.sopInstanceUid = uid.c_str();
  doc.getSeriesInstanceUID(uid);
  info.seriesInstanceUid = uid.c_str();
  doc.getStudyInstanceUID(uid);
  info.studyInstanceUid = uid.c_str();
  writeFileAtomically(path, [&](const std::filesystem::path& temporary) {
    check(file.saveFile(temporary.string().c_str(), EXS_LittleEndianExplicit), path, "writing");
  });
  return info;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v.c_str();
}

CodedConcept code(DcmItem& item, const DcmTagKey& sequence) {
  DcmItem* c = nullptr;
  if (item.findAndGetSequenceItem(sequence, c, 0).bad() || !c) return {};
  return {text(*c, DCM_CodeValue), text(*c, DCM_CodingSchemeDesignator), text(*c, DCM_CodeMeaning)};
}

/// The value and units of a NUM item; nullopt for a NUM without value (qualifier only), which carries no figure.
std::optional<std::pair<double, CodedConcept>> numericValue(DcmItem& item, const CodedConcept& concept,
                                                            const std::filesystem::path& path) {
  DcmItem* measured = nullptr;
  if (item.findAndGetSequenceItem(DCM_MeasuredValueSequence, measured, 0).bad() || !measured)
    return std::nullopt;
  Float64 v = 0;
  if (measured->findAndGetFloat64(DCM_NumericValue, v).bad())
    throw DicomError(
        fmt::format("DICOM SR '{}': NUM '{}' has an unreadable Numeric Value", path.string(), concept.meaning));
  return std::make_pair(double(v), code(*measured, DCM_MeasurementUnitsCodeSequence));
}

void walk(DcmItem& item, SrMeasurementGroup* group, SrDocument& doc, const std::filesystem::path& path);

void walkChildren(DcmItem& item, SrMeasurementGroup* group, SrDocument& doc, const std::filesystem::path& path) {
  for (unsigned long i = 0;; ++i) {
    DcmItem* child = nullptr;
    if (item.findAndGetSequenceItem(DCM_ContentSequence, child, i).bad() || !child) break;
    walk(*child, group, doc, path);
  }
}

void walk(DcmItem& item, SrMeasurementGroup* group, SrDocument& doc, const std::filesystem::path& path) {
  const std::string type = text(item, DCM_ValueType);
  const CodedConcept concept = code(item, DCM_ConceptNameCodeSequence);
  if (type == "CONTAINER" && concept.value == "125007" && concept.scheme == "DCM") {
    doc.groups.emplace_back();
    walkChildren(item, &doc.groups.back(), doc, path);
    return;
  }
  if (group) {
    if (type == "TEXT" && concept.value == "112039") group->trackingId = text(item, DCM_TextValue);
    if (type == "UIDREF" && concept.value == "112040") group->trackingUid = text(item, DCM_UID);
    if (type == "TEXT" && concept.value == "C2348792") group->timePoint = text(item, DCM_TextValue);
    if (type == "CODE" && concept.value == "121071") group->finding = code(item, DCM_ConceptCodeSequence);
    if (type == "CODE" && (concept.value == "363698007" || concept.value == "G-C0E3"))
      group->findingSite = code(item, DCM_ConceptCodeSequence);
    if (type == "UIDREF" && concept.value == "121232") group->sourceSeriesUid = text(item, DCM_UID);
    if (type == "IMAGE" && concept.value == "121191") {
      DcmItem* ref = nullptr;
      if (item.findAndGetSequenceItem(DCM_ReferencedSOPSequence, ref, 0).good() && ref) {
        group->segmentationSopInstanceUid = text(*ref, DCM_ReferencedSOPInstanceUID);
        Uint16 n = 0;
        if (ref->findAndGetUint16(DCM_ReferencedSegmentNumber, n).good()) group->referencedSegmentNumber = n;
      }
    }
    if (type == "NUM") {
      SrNumericMeasurement m;
      m.quantity = concept;
      const auto value = numericValue(item, concept, path);
      if (!value)
        return;
      std::tie(m.value, m.units) = *value;
      for (unsigned long i = 0;; ++i) {
        DcmItem* mod = nullptr;
        if (item.findAndGetSequenceItem(DCM_ContentSequence, mod, i).bad() || !mod) break;
        const CodedConcept modName = code(*mod, DCM_ConceptNameCodeSequence);
        if (modName.value == "121401") m.derivation = code(*mod, DCM_ConceptCodeSequence);
        if (modName.value == "370129005" || modName.value == "G-C306") m.method = code(*mod, DCM_ConceptCodeSequence);
        if (text(*mod, DCM_ValueType) == "NUM")
          if (const auto parameter = numericValue(*mod, modName, path))
            m.derivationParameters.push_back({modName, parameter->first, parameter->second});
      }
      group->measurements.push_back(m);
      return;
    }
  }
  walkChildren(item, group, doc, path);
}

std::optional<double> toMl(const SrNumericMeasurement& m) {
  if (m.units.value == "ml" || m.units.value == "mL" || m.units.value == "cm3") return m.value;
  if (m.units.value == "mm3") return m.value / 1000.0;
  if (m.units.value == "l" || m.units.value == "L" || m.units.value == "dm3") return m.value * 1000.0;
  return std::nullopt;
}

std::optional<double> toMm(const SrNumericMeasurement& m) {
  if (m.units.value == "mm") return m.value;
  if (m.units.value == "cm") return m.value * 10.0;
  if (m.units.value == "m") return m.value * 1000.0;
  return std::nullopt;
}

} // namespace

SrLesionValues lesionValuesFromGroup(const SrMeasurementGroup& group) {
  SrLesionValues v;
  v.trackingId = group.trackingId;
  v.trackingUid = group.trackingUid;
  v.referencedSegmentNumber = group.referencedSegmentNumber;
  for (const SrNumericMeasurement& m : group.measurements) {
    if (same(m.quantity, kVolume, {"G-D705"}) && (m.method.empty() || same(m.method, kSumOfVoxels)))
      v.volumeMl = toMl(m);
    else if (same(m.quantity, kLongAxis, {"G-A193"}))
      v.longAxisMm = toMm(m);
    else if (same(m.quantity, kShortAxis, {"G-A194"}))
      v.shortAxisMm = toMm(m);
    else if (same(m.quantity, kDiameter, {"M-02550"}) && same(m.derivation, kMaximum, {"G-A437"}))
      v.maxDiameter3dMm = toMm(m);
    else if (same(m.quantity, kAttenuation) && m.units.value == kHu.value && same(m.derivation, kMean, {"R-00317"}))
      v.meanHu = m.value;
    else if (same(m.quantity, kAttenuation) && m.units.value == kHu.value &&
             same(m.derivation, kStandardDeviation, {"R-10047"}))
      v.standardDeviationHu = m.value;
    else if (same(m.quantity, kCalcifiedVolume)) {
      v.calcifiedVolumeMl = toMl(m);
      for (const SrDerivationParameter& p : m.derivationParameters)
        if (same(p.name, kCalcificationThreshold) && p.units.value == kHu.value)
          v.calcificationThresholdHu = p.value;
    }
  }
  return v;
}

SrDocument readDicomSr(const std::filesystem::path& path) {
  detail::quietDcmtk();
  if (!std::filesystem::is_regular_file(path)) throw InputError(fmt::format("DICOM SR '{}': no such file", path.string()));
  DcmFileFormat file;
  const OFCondition loaded = file.loadFile(path.string().c_str());
  if (loaded.bad())
    throw DicomError(fmt::format("DICOM SR '{}': not a readable DICOM file ({})", path.string(), loaded.text()));
  DcmDataset& ds = *file.getDataset();
  if (text(ds, DCM_Modality) != "SR" || text(ds, DCM_ValueType) != "CONTAINER")
    throw DicomError(fmt::format("'{}': expected a DICOM SR document (Modality SR, root CONTAINER), found Modality '{}'",
                                 path.string(), text(ds, DCM_Modality)));
  SrDocument doc;
  doc.sopInstanceUid = text(ds, DCM_SOPInstanceUID);
  doc.seriesInstanceUid = text(ds, DCM_SeriesInstanceUID);
  doc.studyInstanceUid = text(ds, DCM_StudyInstanceUID);
  doc.patientId = text(ds, DCM_PatientID);
  doc.documentTitle = code(ds, DCM_ConceptNameCodeSequence).meaning;
  walkChildren(ds, nullptr, doc, path);
  return doc;
}

} // namespace lesion::reporting
