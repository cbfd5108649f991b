#pragma once
/// \file Parameter.h
/// One table of parameters per command: the single source of truth for argument parsing,
/// --help and the Slicer Execution Model --xml description.

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lesion::cli {

/// Parameter kinds, named after the Slicer Execution Model elements they become.
enum class ParameterType {
  Image,             ///< <image type="scalar">: a volume file (NRRD, NIfTI) or a DICOM folder
  LabelImage,        ///< <image type="label">: a label map file
  Point,             ///< <point coordinateSystem="lps">: x,y,z in mm
  Region,            ///< <region coordinateSystem="lps">: cx,cy,cz,rx,ry,rz in mm (centre and half sizes)
  File,              ///< <file>
  Directory,         ///< <directory>
  Table,             ///< <table>: a CSV/TSV file
  Float,             ///< <float>
  Integer,           ///< <integer>
  Boolean,           ///< <boolean>: a bare flag on the command line
  String,            ///< <string>
  StringEnumeration, ///< <string-enumeration>
  FloatVector        ///< <float-vector>: comma separated numbers
};

/// Inputs are read, outputs written. Scalars with an Output channel are results reported in the
/// --returnparameterfile, not command-line options.
enum class Channel { None, Input, Output };

struct Parameter {
  std::string name;        ///< C identifier (Slicer <name>); the long flag is its kebab-case form
  ParameterType type{ParameterType::String};
  std::string label;       ///< short title
  std::string description; ///< one or two sentences: what it is, units, conventions
  Channel channel{Channel::None};
  std::optional<int> index{}; ///< positional argument number (0-based) instead of a flag
  char flag{0};               ///< optional one-letter flag
  std::string defaultValue{};
  std::vector<std::string> elements{}; ///< choices of a StringEnumeration
  bool required{false};
  bool multiple{false}; ///< may be given several times (e.g. --seed)
  std::string group{"Parameters"}; ///< Slicer <parameters> group / --help section
  std::string fileExtensions{};    ///< e.g. ".nrrd,.nii.gz" for files and images
  std::optional<int> expectedCount{}; ///< number of values of a FloatVector, when fixed
  /// Float / Integer: the accepted range (checked when parsing, Slicer <constraints>) and the
  /// step of Slicer's spin box.
  struct Range {
    double minimum;
    double maximum;
    double step;
  };
  std::optional<Range> range{};
  /// A value meaning "not given" (also the XML <default>). Slicer always passes a number's spin box,
  /// 0 when the XML has no default, so an optional integer needs a value the user can leave it at.
  std::string noneValue{};
  /// Not shown by Slicer (XML hidden="true"): a command-line-only switch, e.g. one Slicer does itself.
  bool hidden{false};

  /// Chainable setters for the command tables: `c.add({...}).withDefault("2").asRequired();`
  Parameter& withDefault(std::string value) { defaultValue = std::move(value); return *this; }
  Parameter& withNoneValue(std::string value) {
    noneValue = value;
    return withDefault(std::move(value));
  }
  Parameter& withChoices(std::vector<std::string> choices) { elements = std::move(choices); return *this; }
  Parameter& withExtensions(std::string extensions) { fileExtensions = std::move(extensions); return *this; }
  Parameter& withCount(int count) { expectedCount = count; return *this; }
  Parameter& withRange(double minimum, double maximum, double step) {
    range = Range{minimum, maximum, step};
    return *this;
  }
  Parameter& inGroup(std::string name) { group = std::move(name); return *this; }
  Parameter& withFlag(char letter) { flag = letter; return *this; }
  Parameter& asRequired() { required = true; return *this; }
  Parameter& asMultiple() { multiple = true; return *this; }
  Parameter& asHidden() {
    hidden = true;
    return *this;
  }

  /// "--slice-thickness-mm" for name "sliceThicknessMm".
  [[nodiscard]] std::string longFlag() const;
  [[nodiscard]] bool isPositional() const { return index.has_value(); }
  /// A result written to the return parameter file, never parsed from argv.
  [[nodiscard]] bool isReturnValue() const;
};

[[nodiscard]] const char* slicerElementName(ParameterType type);
[[nodiscard]] std::string typeHint(ParameterType type); ///< e.g. "X,Y,Z" for --help

} // namespace lesion::cli
