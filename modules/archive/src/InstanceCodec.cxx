#include "InstanceCodec.h"

#include <nlohmann/json.hpp>

#include "lesion/core/Error.h"

namespace lesion::archive::detail {

using nlohmann::json;
using dicomio::DicomFrameGeometry;
using dicomio::DicomInstance;

namespace {

// Each field once, in both directions: a visitor applies `f(key, member)` to every field.
template <typename Instance, typename F> void visitInstance(Instance& d, F&& f) {
  f("sopClass", d.sopClassUid);
  f("sop", d.sopInstanceUid);
  f("series", d.seriesInstanceUid);
  f("study", d.studyInstanceUid);
  f("for", d.frameOfReferenceUid);
  f("ts", d.transferSyntaxUid);
  f("patientId", d.patientId);
  f("patientName", d.patientName);
  f("patientBirthDate", d.patientBirthDate); // absent in indexes made before: unknown
  f("modality", d.modality);
  f("manufacturer", d.manufacturer);
  f("seriesDescription", d.seriesDescription);
  f("studyDescription", d.studyDescription);
  f("accession", d.accessionNumber);
  f("bodyPart", d.bodyPartExamined);
  f("kernel", d.convolutionKernel);
  f("studyDate", d.studyDate);
  f("studyTime", d.studyTime);
  f("seriesDate", d.seriesDate);
  f("acquisitionDate", d.acquisitionDate);
  f("contentDate", d.contentDate);
  f("imageType", d.imageType);
  f("rows", d.rows);
  f("columns", d.columns);
  f("frames", d.numberOfFrames);
  f("spp", d.samplesPerPixel);
  f("bitsAllocated", d.bitsAllocated);
  f("bitsStored", d.bitsStored);
  f("pixelRepresentation", d.pixelRepresentation);
  f("photometric", d.photometricInterpretation);
  f("hasPixelData", d.hasPixelData);
  f("gzipped", d.gzipped);
  f("seriesNumber", d.seriesNumber);
  f("instanceNumber", d.instanceNumber);
  f("acquisitionNumber", d.acquisitionNumber);
  f("echoNumber", d.echoNumber);
  f("tilt", d.gantryTiltDeg);
  f("spacingBetweenSlices", d.spacingBetweenSlicesMm);
  f("padding", d.pixelPaddingValue);
  f("paddingLimit", d.pixelPaddingRangeLimit);
  f("enhanced", d.enhancedMultiframe);
}

template <typename Frame, typename F> void visitFrame(Frame& g, F&& f) {
  f("ipp", g.imagePositionPatient);
  f("iop", g.imageOrientationPatient);
  f("ps", g.pixelSpacing);
  f("thickness", g.sliceThicknessMm);
  f("slope", g.rescaleSlope);
  f("intercept", g.rescaleIntercept);
  f("frameType", g.frameType);
  f("echoTime", g.effectiveEchoTimeMs);
  f("temporal", g.temporalPositionIndex);
  f("stack", g.stackId);
}

json toJson(const Vec3& v) { return json::array({v.x, v.y, v.z}); }
template <typename T> json toJson(const T& v) { return json(v); }

bool isDefault(const std::string& v) { return v.empty(); }
bool isDefault(const std::vector<std::string>& v) { return v.empty(); }
bool isDefault(int v) { return v == 0; }
bool isDefault(bool v) { return !v; }
bool isDefault(double v) { return v == 0.0; }
template <typename T> bool isDefault(const std::optional<T>& v) { return !v.has_value(); }
template <std::size_t N> bool isDefault(const std::array<double, N>&) { return false; }

struct Writer {
  json& out;
  template <typename T> void operator()(const char* key, const T& value) const {
    if (!isDefault(value)) out[key] = toValue(value);
  }
  template <typename T> static json toValue(const std::optional<T>& v) { return toValue(*v); }
  static json toValue(const Vec3& v) { return toJson(v); }
  template <typename T> static json toValue(const T& v) { return json(v); }
};

template <typename T> void fromValue(const json& j, T& v) { j.get_to(v); }
void fromValue(const json& j, Vec3& v) { v = {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>()}; }
template <typename T> void fromValue(const json& j, std::optional<T>& v) {
  T value{};
  fromValue(j, value);
  v = value;
}

struct Reader {
  const json& in;
  template <typename T> void operator()(const char* key, T& value) const {
    const auto it = in.find(key);
    if (it != in.end()) fromValue(*it, value);
  }
};

} // namespace

std::string encodeInstance(const DicomInstance& instance) {
  json j = json::object();
  visitInstance(instance, Writer{j});
  // Frames that differ only in defaults still need their slot: one object per frame.
  json frames = json::array();
  for (const DicomFrameGeometry& frame : instance.frames) {
    json f = json::object();
    visitFrame(frame, Writer{f});
    if (frame.rescaleSlope != 1.0) f["slope"] = frame.rescaleSlope;
    else f.erase("slope");
    frames.push_back(std::move(f));
  }
  j["g"] = std::move(frames);
  return j.dump();
}

DicomInstance decodeInstance(std::string_view text, const std::filesystem::path& path) {
  try {
    const json j = json::parse(text);
    DicomInstance d;
    visitInstance(d, Reader{j});
    d.path = path;
    for (const json& f : j.at("g")) {
      DicomFrameGeometry frame;
      frame.rescaleSlope = 1.0;
      visitFrame(frame, Reader{f});
      d.frames.push_back(frame);
    }
    return d;
  } catch (const json::exception& e) {
    throw ProcessingError("the index entry of '" + path.string() + "' is damaged (" + e.what() +
                          "); re-index after deleting the index file");
  }
}

} // namespace lesion::archive::detail
