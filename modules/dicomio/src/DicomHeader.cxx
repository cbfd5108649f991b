#include "lesion/dicomio/DicomHeader.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/ofstd/ofchrenc.h>

#include <fmt/format.h>

#include "DicomFile.h"
#include "JapaneseText.h"
#include "TextElements.h"
#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/core/Log.h"
#include "lesion/core/Text.h"

namespace lesion::dicomio {

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
    s.pop_back();
  while (!s.empty() && s.front() == ' ')
    s.erase(s.begin());
  return s;
}

/// The bytes of a value of VR UN (an implicit-VR tag unknown to the writer, e.g. a private
/// dictionary) as text when they are printable, as a string VR would hold them.
std::optional<std::string> unknownVrText(DcmItem* item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (!item->findAndGetElement(tag, element).good() || !element || element->ident() != EVR_UN)
    return std::nullopt;
  Uint8* bytes = nullptr;
  if (!element->getUint8Array(bytes).good() || !bytes)
    return std::string();
  const std::string text(reinterpret_cast<const char*>(bytes), element->getLength());
  const bool printable = std::all_of(text.begin(), text.end(),
                                     [](char c) { return c == '\0' || std::isprint(static_cast<unsigned char>(c)); });
  return printable ? std::optional<std::string>(trimmed(text)) : std::nullopt;
}

/// A text value as LesionKit keeps it, in UTF-8. Escape sequences (ISO 2022 code extensions that
/// could not be converted) are not text:
/// a person name keeps its alphabetic group (before the first '='), other values what precedes
/// the escape. Bytes that are not UTF-8 (no or an unknown Specific Character Set) are read as
/// ISO 8859-1.
std::string asUtf8(std::string text) {
  if (const std::size_t escape = text.find('\x1B'); escape != std::string::npos) {
    const std::size_t group = text.rfind('=', escape);
    text = trimmed(text.substr(0, group != std::string::npos ? group : escape));
  }
  if (isUtf8(text))
    return text;
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string getString(DcmItem* item, const DcmTagKey& tag) {
  if (!item)
    return {};
  if (auto text = unknownVrText(item, tag))
    return asUtf8(*text);
  OFString value;
  if (item->findAndGetOFStringArray(tag, value).good())
    return asUtf8(trimmed(value.c_str()));
  return {};
}

/// Converts the text elements of `dataset` from `declared` to UTF-8 one by one, so that a character
/// the iconv cannot convert spoils only its own element; within a single-byte set (ISO_IR 100,
/// 144, ...) such an element keeps every byte that converts. Returns what went wrong, or nothing.
std::string convertEachTextElement(DcmItem& dataset, const std::string& declared) {
  DcmSpecificCharacterSet converter;
  if (const OFCondition status = converter.selectCharacterSet(declared.c_str(), "ISO_IR 192"); status.bad())
    return status.text();
  const bool singleByte = declared.rfind("ISO_IR ", 0) == 0; // no code extensions
  std::string problem;
  detail::forEachTextElement(dataset, [&](DcmElement& element) {
    OFString value;
    if (element.getOFStringArray(value).bad())
      return;
    const OFCondition status = element.convertCharacterSet(converter);
    if (status.good())
      return;
    problem = status.text();
    std::string kept; // the convertible bytes, converted
    for (std::size_t i = 0; singleByte && i < value.length(); ++i) {
      OFString character;
      if (static_cast<unsigned char>(value[i]) < 0x80)
        kept += value[i];
      else if (converter.convertString(value.c_str() + i, 1, character).good())
        kept.append(character.c_str(), character.length());
    }
    element.putOFStringArray(singleByte ? OFString(kept.c_str(), kept.size()) : value);
  });
  dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  return problem;
}

/// Text values in UTF-8: a file declaring another Specific Character Set (ISO_IR 100 for a
/// "Müller" is routine in European archives, ISO_IR 144 in Russian ones) is converted by DCMTK
/// (iconv). DCMTK converts a dataset in one pass that stops at the first character the iconv cannot
/// convert, unless it may drop such characters (GNU libiconv can; glibc's iconv, DCMTK's on Debian,
/// cannot: asking for it failed every conversion, and Cyrillic names were read as ISO 8859-1), so
/// without that the elements are converted one by one. Japanese (ISO 2022 IR 13 / 87 / 159) is
/// decoded here, as DCMTK's names for it are not glibc's. What is not converted is said once per
/// character set; asUtf8 makes the rest valid UTF-8.
void convertTextToUtf8(DcmFileFormat& file, const std::filesystem::path& path) {
  OFString charset;
  if (file.getDataset()->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset).bad())
    return;
  const std::string declared = trimmed(charset.c_str());
  if (declared.empty() || declared == "ISO_IR 6" || declared == "ISO_IR 192")
    return;
  std::string problem;
  if (detail::isJapaneseCharacterSet(declared)) {
    if (!detail::convertJapaneseTextToUtf8(*file.getDataset()))
      problem = "not Japanese as DICOM encodes it";
  } else if (OFCharacterEncoding::supportsConversionFlags(OFCharacterEncoding::DiscardIllegalSequences)) {
    if (const OFCondition status = file.convertCharacterSet("ISO_IR 192", DCMTypes::CF_discardIllegal); status.bad())
      problem = status.text();
  } else {
    problem = convertEachTextElement(*file.getDataset(), declared);
  }
  if (!problem.empty() && firstTimeFor("dicomio character set\n" + declared))
    logWarning("'{}': text in Specific Character Set '{}' not all converted to UTF-8 ({}): what could not be "
               "converted is left out or read as ISO 8859-1 (a name with escape sequences keeps its alphabetic group)",
               path.string(), declared, problem);
}

std::vector<std::string> getStrings(DcmItem* item, const DcmTagKey& tag) {
  std::vector<std::string> values;
  const std::string all = getString(item, tag);
  std::size_t start = 0;
  while (!all.empty()) {
    const std::size_t end = all.find('\\', start);
    std::string v = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
    while (!v.empty() && v.back() == ' ')
      v.pop_back();
    while (!v.empty() && v.front() == ' ')
      v.erase(v.begin());
    values.push_back(v);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return values;
}

std::optional<double> getDouble(DcmItem* item, const DcmTagKey& tag, unsigned long pos = 0) {
  Float64 v = 0;
  if (item && item->findAndGetFloat64(tag, v, pos).good())
    return double(v);
  return std::nullopt;
}

std::optional<int> getInt(DcmItem* item, const DcmTagKey& tag) {
  // IS values arrive as strings; US/SS as integers: findAndGetSint32 handles IS and SL only,
  // findAndGetLongInt the binary integer VRs.
  Sint32 s = 0;
  if (item && item->findAndGetSint32(tag, s).good())
    return int(s);
  long l = 0;
  if (item && item->findAndGetLongInt(tag, l).good())
    return int(l);
  const std::string text = getString(item, tag);
  if (!text.empty()) {
    try {
      return std::stoi(text);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<long> getLong(DcmItem* item, const DcmTagKey& tag) {
  long l = 0;
  if (item && item->findAndGetLongInt(tag, l).good())
    return l;
  return std::nullopt;
}

template <std::size_t N> std::optional<std::array<double, N>> getDoubles(DcmItem* item, const DcmTagKey& tag) {
  std::array<double, N> values{};
  for (std::size_t i = 0; i < N; ++i) {
    const auto v = getDouble(item, tag, i);
    if (!v)
      return std::nullopt;
    values[i] = *v;
  }
  return values;
}

DcmItem* firstItem(DcmItem* parent, const DcmTagKey& sequence) {
  DcmItem* item = nullptr;
  if (parent && parent->findAndGetSequenceItem(sequence, item, 0).good())
    return item;
  return nullptr;
}

/// `values` of attribute `name` of `path`, refused when one is NaN, infinite or larger than
/// `largest`: DCMTK parses "nan" in a DS, which passed every geometry check (comparisons with NaN
/// are false) into an abort in ITK, or made every voxel NaN through the Rescale Slope.
template <std::size_t N>
const std::array<double, N>& requireFinite(const std::filesystem::path& path, const char* name,
                                           const std::array<double, N>& values,
                                           double largest = std::numeric_limits<double>::max()) {
  if (std::all_of(values.begin(), values.end(), [&](double v) { return std::isfinite(v) && std::abs(v) <= largest; }))
    return values;
  throw DicomError(fmt::format(
      "'{}': {} holds a value that is not a finite number{} ({:g})", path.string(), name,
      largest < std::numeric_limits<double>::max() ? fmt::format(" of at most {:g} in magnitude", largest) : "",
      fmt::join(values, "\\")));
}

/// Rescale Slope and Intercept beyond it would turn a 32-bit stored value into infinity as float.
constexpr double kLargestRescale = 7.9e28; // float max / 2^32

double requireRescale(const std::filesystem::path& path, const char* name, double value) {
  return requireFinite<1>(path, name, {value}, kLargestRescale)[0];
}

/// Fills the fields of `frame` that `group` (a functional-group item or the dataset) carries;
/// numbers that place or scale the pixels must be finite.
void readFrameAttributes(const std::filesystem::path& path, DcmItem* group, DicomFrameGeometry& frame,
                         bool functionalGroup) {
  DcmItem* position = functionalGroup ? firstItem(group, DCM_PlanePositionSequence) : group;
  DcmItem* orientation = functionalGroup ? firstItem(group, DCM_PlaneOrientationSequence) : group;
  DcmItem* measures = functionalGroup ? firstItem(group, DCM_PixelMeasuresSequence) : group;
  DcmItem* transform = functionalGroup ? firstItem(group, DCM_PixelValueTransformationSequence) : group;
  if (auto ipp = getDoubles<3>(position, DCM_ImagePositionPatient)) {
    const auto& p = requireFinite(path, "Image Position (Patient)", *ipp);
    frame.imagePositionPatient = Vec3{p[0], p[1], p[2]};
  }
  if (auto iop = getDoubles<6>(orientation, DCM_ImageOrientationPatient))
    frame.imageOrientationPatient = requireFinite(path, "Image Orientation (Patient)", *iop);
  if (auto ps = getDoubles<2>(measures, DCM_PixelSpacing))
    frame.pixelSpacing = requireFinite(path, "Pixel Spacing", *ps);
  if (auto st = getDouble(measures, DCM_SliceThickness))
    frame.sliceThicknessMm = st;
  if (transform) {
    if (auto slope = getDouble(transform, DCM_RescaleSlope))
      frame.rescaleSlope = requireRescale(path, "Rescale Slope", *slope);
    if (auto intercept = getDouble(transform, DCM_RescaleIntercept))
      frame.rescaleIntercept = requireRescale(path, "Rescale Intercept", *intercept);
    if (frame.rescaleSlope == 0.0)
      throw DicomError(fmt::format("'{}': Rescale Slope is 0: every pixel would have the value of the Rescale "
                                   "Intercept ({:g})",
                                   path.string(), frame.rescaleIntercept));
  }
  if (!functionalGroup)
    return;
  DcmItem* frameTypeItem = firstItem(group, DCM_MRImageFrameTypeSequence);
  if (!frameTypeItem)
    frameTypeItem = firstItem(group, DCM_CTImageFrameTypeSequence);
  if (frameTypeItem)
    frame.frameType = getString(frameTypeItem, DCM_FrameType);
  if (DcmItem* echo = firstItem(group, DCM_MREchoSequence)) {
    if (auto te = getDouble(echo, DCM_EffectiveEchoTime))
      frame.effectiveEchoTimeMs = te;
  }
  if (DcmItem* content = firstItem(group, DCM_FrameContentSequence)) {
    if (auto t = getLong(content, DCM_TemporalPositionIndex))
      frame.temporalPositionIndex = t;
    const std::string stack = getString(content, DCM_StackID);
    if (!stack.empty())
      frame.stackId = stack;
  }
}

/// Native pixel data shorter than Rows x Columns x Number of Frames x Bits Allocated says is
/// refused from the header (the element's length; the value stays on disk): Rows and Columns of
/// 65535 over a 161 x 121 slice had a volume of the header's size allocated first, which ended in
/// "out of memory" naming no file.
void requireNativePixelDataLength(DcmDataset& ds, const DicomInstance& d) {
  DcmElement* pixels = nullptr;
  if (DcmXfer(ds.getOriginalXfer()).isEncapsulated() || d.rows <= 0 || d.columns <= 0 || d.bitsAllocated % 8 != 0 ||
      !ds.findAndGetElement(DCM_PixelData, pixels).good() || !pixels || pixels->getLength() == DCM_UndefinedLength)
    return;
  const std::uint64_t needed =
      std::uint64_t(d.rows) * std::uint64_t(d.columns) * std::uint64_t(d.numberOfFrames) * (d.bitsAllocated / 8);
  if (pixels->getLength() < needed)
    throw DicomError(detail::pixelDataLengthMismatch(d, needed, pixels->getLength(), "truncated file?"));
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

} // namespace

std::string DicomInstance::specialImageKind() const {
  for (const std::string& value : imageType) {
    const std::string v = upper(value);
    if (v == "LOCALIZER" || v == "SCOUT" || v == "TOPOGRAM")
      return "localizer";
    if (v == "DOSE_INFO" || v == "DOSE" || v == "DOSE INFO")
      return "dose report";
    if (v == "SCREEN SAVE" || v == "SCREENSHOT")
      return "screen save";
  }
  // Secondary Capture SOP classes (1.2.840.10008.5.1.4.1.1.7 and .7.x).
  if (sopClassUid.rfind("1.2.840.10008.5.1.4.1.1.7", 0) == 0)
    return "secondary capture";
  return {};
}

bool DicomInstance::isMosaic() const {
  return std::any_of(imageType.begin(), imageType.end(), [](const std::string& v) { return upper(v) == "MOSAIC"; });
}

bool isDerivedObjectModality(const std::string& modality) {
  static const char* const kinds[] = {"SEG", "SR", "RTSTRUCT", "RTDOSE", "RTPLAN", "PR", "KO", "REG", "DOC"};
  return std::any_of(std::begin(kinds), std::end(kinds), [&](const char* k) { return modality == k; });
}

DicomInstance readDicomHeader(const std::filesystem::path& path) {
  auto file = detail::loadDicomFile(path, true);
  convertTextToUtf8(*file, path);
  DcmDataset* ds = file->getDataset();
  DcmMetaInfo* meta = file->getMetaInfo();
  DicomInstance d;
  d.path = path;
  d.gzipped = detail::isGzipName(path);
  d.sopClassUid = getString(ds, DCM_SOPClassUID);
  if (d.sopClassUid.empty())
    d.sopClassUid = getString(meta, DCM_MediaStorageSOPClassUID);
  d.sopInstanceUid = getString(ds, DCM_SOPInstanceUID);
  if (d.sopInstanceUid.empty())
    d.sopInstanceUid = getString(meta, DCM_MediaStorageSOPInstanceUID);
  if (d.sopClassUid.empty() && d.sopInstanceUid.empty() && getString(ds, DCM_SeriesInstanceUID).empty()) {
    throw DicomError("'" + path.string() + "' is not a DICOM object: expected SOP Class/Instance UID, found none");
  }
  d.seriesInstanceUid = getString(ds, DCM_SeriesInstanceUID);
  d.studyInstanceUid = getString(ds, DCM_StudyInstanceUID);
  d.frameOfReferenceUid = getString(ds, DCM_FrameOfReferenceUID);
  d.transferSyntaxUid = getString(meta, DCM_TransferSyntaxUID);
  if (d.transferSyntaxUid.empty()) {
    // No meta header: report the encoding DCMTK detected while parsing.
    const DcmXfer xfer(ds->getOriginalXfer());
    d.transferSyntaxUid = xfer.getXferID();
  }
  d.patientId = getString(ds, DCM_PatientID);
  d.patientName = getString(ds, DCM_PatientName);
  d.patientBirthDate = getString(ds, DCM_PatientBirthDate);
  d.patientSex = getString(ds, DCM_PatientSex);
  d.modality = getString(ds, DCM_Modality);
  d.manufacturer = getString(ds, DCM_Manufacturer);
  d.seriesDescription = getString(ds, DCM_SeriesDescription);
  d.studyDescription = getString(ds, DCM_StudyDescription);
  d.accessionNumber = getString(ds, DCM_AccessionNumber);
  d.studyId = getString(ds, DCM_StudyID);
  d.referringPhysicianName = getString(ds, DCM_ReferringPhysicianName);
  d.bodyPartExamined = getString(ds, DCM_BodyPartExamined);
  d.convolutionKernel = getString(ds, DCM_ConvolutionKernel);
  d.studyDate = getString(ds, DCM_StudyDate);
  d.studyTime = getString(ds, DCM_StudyTime);
  d.seriesDate = getString(ds, DCM_SeriesDate);
  d.acquisitionDate = getString(ds, DCM_AcquisitionDate);
  d.contentDate = getString(ds, DCM_ContentDate);
  d.imageType = getStrings(ds, DCM_ImageType);
  d.rows = getInt(ds, DCM_Rows).value_or(0);
  d.columns = getInt(ds, DCM_Columns).value_or(0);
  d.numberOfFrames = std::max(1, getInt(ds, DCM_NumberOfFrames).value_or(1));
  d.samplesPerPixel = getInt(ds, DCM_SamplesPerPixel).value_or(1);
  d.bitsAllocated = getInt(ds, DCM_BitsAllocated).value_or(0);
  d.bitsStored = getInt(ds, DCM_BitsStored).value_or(d.bitsAllocated);
  d.pixelRepresentation = getInt(ds, DCM_PixelRepresentation).value_or(0);
  d.photometricInterpretation = getString(ds, DCM_PhotometricInterpretation);
  d.hasPixelData =
      ds->tagExists(DCM_PixelData) || ds->tagExists(DCM_FloatPixelData) || ds->tagExists(DCM_DoubleFloatPixelData);
  requireNativePixelDataLength(*ds, d);
  d.seriesNumber = getInt(ds, DCM_SeriesNumber);
  d.instanceNumber = getInt(ds, DCM_InstanceNumber);
  d.acquisitionNumber = getInt(ds, DCM_AcquisitionNumber);
  d.echoNumber = getInt(ds, DCM_EchoNumbers);
  d.gantryTiltDeg = getDouble(ds, DCM_GantryDetectorTilt);
  d.spacingBetweenSlicesMm = getDouble(ds, DCM_SpacingBetweenSlices);
  d.pixelPaddingValue = getLong(ds, DCM_PixelPaddingValue);
  d.pixelPaddingRangeLimit = getLong(ds, DCM_PixelPaddingRangeLimit);

  DicomFrameGeometry top;
  readFrameAttributes(path, ds, top, false);
  DcmSequenceOfItems* perFrame = nullptr;
  if (ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).good() && perFrame &&
      perFrame->card() > 0) {
    d.enhancedMultiframe = true;
    DcmItem* shared = firstItem(ds, DCM_SharedFunctionalGroupsSequence);
    DicomFrameGeometry sharedFrame = top;
    if (shared)
      readFrameAttributes(path, shared, sharedFrame, true);
    if (static_cast<int>(perFrame->card()) != d.numberOfFrames) {
      throw DicomError("'" + path.string() + "': expected " + std::to_string(d.numberOfFrames) +
                       " items in the Per-frame Functional Groups Sequence (Number of Frames), found " +
                       std::to_string(perFrame->card()));
    }
    for (unsigned long f = 0; f < perFrame->card(); ++f) {
      DicomFrameGeometry frame = sharedFrame;
      readFrameAttributes(path, perFrame->getItem(f), frame, true);
      d.frames.push_back(frame);
    }
  } else {
    d.frames.push_back(top);
  }
  return d;
}

std::vector<SkippedFile> missingDicomdirReferences(const std::filesystem::path& dicomdir) {
  std::vector<SkippedFile> missing;
  std::unique_ptr<DcmFileFormat> file;
  try {
    file = detail::loadDicomFile(dicomdir, false);
  } catch (const DicomError& e) {
    return {{dicomdir, e.what()}};
  }
  DcmSequenceOfItems* records = nullptr;
  if (file->getDataset()->findAndGetSequence(DCM_DirectoryRecordSequence, records).bad() || !records)
    return missing;
  const std::filesystem::path folder = dicomdir.parent_path();
  for (unsigned long i = 0; i < records->card(); ++i) {
    const std::vector<std::string> parts = getStrings(records->getItem(i), DCM_ReferencedFileID);
    if (parts.empty())
      continue;
    std::filesystem::path referenced = folder;
    for (const std::string& part : parts)
      referenced /= part;
    std::error_code ec;
    if (std::filesystem::exists(referenced, ec))
      continue;
    // File IDs are upper case on the medium; copies to case-sensitive disks are often lower case.
    std::string lower = referenced.lexically_relative(folder).string();
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (std::filesystem::exists(folder / lower, ec))
      continue;
    missing.push_back({referenced, "'" + dicomdir.string() + "' references '" + referenced.string() +
                                       "', which does not exist (a missing image of the media)"});
  }
  return missing;
}

namespace {

bool vanished(const std::filesystem::path& file) {
  std::error_code ec;
  return std::filesystem::status(file, ec).type() == std::filesystem::file_type::not_found; // or its link's target
}

} // namespace

DicomScanResult readDicomHeaders(std::vector<std::filesystem::path> files, const Progress& progress, unsigned threads,
                                 const std::filesystem::path& scanRoot) {
  std::sort(files.begin(), files.end());
  // One slot per file, filled in parallel, collected in path order.
  std::vector<std::optional<DicomInstance>> headers(files.size());
  std::vector<std::string> reasons(files.size());
  std::vector<char> unparsable(files.size(), 0); // char, not bool: written from several threads
  std::atomic<std::size_t> next{0}, done{0};
  auto worker = [&](bool reports) {
    for (std::size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      const auto& file = files[i];
      if (file.filename() == "DICOMDIR") { // indexes the folder; the images are scanned directly
        reasons[i] = "'" + file.string() + "': DICOMDIR (media directory, not an image)";
      } else if (isInTemporaryOutput(file, scanRoot)) {
        // Half a file of a killed pull or write (or one in its staging folder): not a damaged slice.
        reasons[i] = unfinishedTemporaryFileNote(file);
      } else {
        try {
          DicomInstance instance = readDicomHeader(file);
          if (instance.hasPixelData) {
            headers[i] = std::move(instance);
          } else {
            reasons[i] =
                "'" + file.string() + "': DICOM object without pixel data (SOP Class " + instance.sopClassUid + ")";
          }
        } catch (const DicomError& e) {
          reasons[i] = e.what();
          unparsable[i] = 1;
        } catch (const std::exception& e) { // e.g. std::bad_alloc on a hostile length field
          reasons[i] = "'" + file.string() + "': " + e.what();
          unparsable[i] = 1;
        }
      }
      const std::size_t finished = done.fetch_add(1) + 1;
      if (reports && progress.active() && (finished % 32 == 0 || finished == files.size())) {
        progress.report(double(finished) / double(files.size()), "scanning DICOM headers");
      }
    }
  };
  const unsigned count =
      std::max(1u, std::min<unsigned>(threads, unsigned(std::max<std::size_t>(1, files.size() / 16))));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < count; ++t)
    pool.emplace_back(worker, false);
  worker(true);
  for (auto& t : pool)
    t.join();
  DicomScanResult result;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (headers[i]) {
      result.instances.push_back(std::move(*headers[i]));
    } else {
      // A file that cannot be opened (permissions, a copy still running) may be a slice too.
      const bool damaged =
          unparsable[i] && (detail::hasDicomPreamble(files[i]) || detail::isCutShortDicomFile(files[i]) ||
                            !detail::whyUnopenable(files[i]).empty());
      // Deleted or moved since it was listed (checked last: also when it went during these checks):
      // not there, as a walk would not have seen it.
      if (unparsable[i] && vanished(files[i]))
        continue;
      result.skipped.push_back({files[i], reasons[i], damaged});
      if (files[i].filename() == "DICOMDIR") {
        for (SkippedFile& m : missingDicomdirReferences(files[i]))
          result.skipped.push_back(std::move(m));
      }
    }
  }
  return result;
}

DicomScanResult scanDicomFolder(const std::filesystem::path& folder, const Progress& progress, unsigned threads) {
  std::error_code ec;
  if (!std::filesystem::exists(folder, ec)) {
    throw InputError("DICOM folder '" + folder.string() + "' does not exist");
  }
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_regular_file(folder, ec)) {
    files.push_back(folder);
  } else {
    std::filesystem::recursive_directory_iterator it(folder, std::filesystem::directory_options::skip_permission_denied,
                                                     ec);
    if (ec)
      throw InputError("cannot list DICOM folder '" + folder.string() + "': " + ec.message());
    for (const auto& entry : it) {
      if (entry.is_regular_file(ec))
        files.push_back(entry.path());
    }
  }
  return readDicomHeaders(std::move(files), progress, threads, folder);
}

} // namespace lesion::dicomio
