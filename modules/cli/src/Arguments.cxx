#include "lesion/cli/Arguments.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::cli {
namespace {

std::string displayName(const Parameter& p) {
  return p.isPositional() ? fmt::format("argument {} ({})", *p.index + 1, p.label.empty() ? p.name : p.label)
                          : p.longFlag();
}

double toNumber(const std::string& text, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    throw UsageError(fmt::format("{}: expected a number, got '{}'", what, text));
  }
  return v;
}

long toInteger(const std::string& text, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end == text.c_str() || *end != '\0' || errno == ERANGE) {
    throw UsageError(fmt::format("{}: expected a whole number, got '{}'", what, text));
  }
  return v;
}

/// A number outside its parameter's declared range is a usage error (Slicer's spin box keeps it in).
void checkRange(const Parameter& p, double value, const std::string& text) {
  if (p.range && (value < p.range->minimum || value > p.range->maximum))
    throw UsageError(
        fmt::format("{}: expected {:g} to {:g}, got '{}'", displayName(p), p.range->minimum, p.range->maximum, text));
}

/// "m.nii" or "M.NII", not "m.Nii": NIfTI's library reads no mixed-case extension.
bool endsWithInLowerOrUpperCase(const std::string& text, const std::string& suffix) {
  std::string upper = suffix;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  const auto endsWith = [&](const std::string& s) {
    return text.size() > s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0;
  };
  return endsWith(suffix) || endsWith(upper);
}

/// {".nrrd", ".nii.gz", ".nii"} from ".nrrd,.nii.gz,.nii".
std::vector<std::string> extensionList(const std::string& extensions) {
  std::vector<std::string> list;
  for (std::size_t from = 0; from <= extensions.size();) {
    const std::size_t comma = std::min(extensions.find(',', from), extensions.size());
    if (comma > from)
      list.push_back(extensions.substr(from, comma - from));
    from = comma + 1;
  }
  return list;
}

/// An image written by the command (a volume or label map) must be named for a format its writer
/// takes, checked before any work: "-o a.txt" or "-o outdir/" failed only after the whole
/// segmentation had run, as bad input (2), without naming the option.
void checkImageOutputName(const Parameter& p, const std::string& v) {
  if (p.channel != Channel::Output || (p.type != ParameterType::Image && p.type != ParameterType::LabelImage) ||
      p.fileExtensions.empty())
    return;
  const std::vector<std::string> extensions = extensionList(p.fileExtensions);
  std::string expected;
  for (std::size_t i = 0; i < extensions.size(); ++i)
    expected += (i == 0 ? "" : i + 1 == extensions.size() ? " or " : ", ") + extensions[i];
  std::error_code ec;
  if (std::filesystem::is_directory(v, ec))
    throw UsageError(
        fmt::format("{} '{}' is a folder: expected a file name ending in {}", displayName(p), v, expected));
  if (std::none_of(extensions.begin(), extensions.end(),
                   [&](const std::string& e) { return endsWithInLowerOrUpperCase(v, e); }))
    throw UsageError(fmt::format("{} '{}': expected a file name ending in {} (in lower or upper case)", displayName(p),
                                 v, expected));
}

/// Checks one raw value against its parameter's type now, so errors surface before any work.
void checkValue(const Parameter& p, const std::string& v) {
  const std::string what = displayName(p);
  checkImageOutputName(p, v);
  switch (p.type) {
  case ParameterType::Float:
    checkRange(p, toNumber(v, what), v);
    break;
  case ParameterType::Integer:
    checkRange(p, double(toInteger(v, what)), v);
    break;
  case ParameterType::Point: (void)Arguments::parsePoint(v, what); break;
  case ParameterType::Region: {
    const auto n = Arguments::parseNumberList(v, what);
    if (n.size() != 6) throw UsageError(fmt::format("{}: expected CX,CY,CZ,RX,RY,RZ (6 numbers), got '{}'", what, v));
    break;
  }
  case ParameterType::FloatVector: {
    const auto n = Arguments::parseNumberList(v, what);
    if (p.expectedCount && static_cast<int>(n.size()) != *p.expectedCount) {
      throw UsageError(fmt::format("{}: expected {} comma-separated numbers, got '{}'", what, *p.expectedCount, v));
    }
    break;
  }
  case ParameterType::StringEnumeration:
    if (std::find(p.elements.begin(), p.elements.end(), v) == p.elements.end()) {
      std::string choices;
      for (const auto& e : p.elements) choices += (choices.empty() ? "" : ", ") + e;
      throw UsageError(fmt::format("{}: '{}' is not one of {}", what, v, choices));
    }
    break;
  case ParameterType::Boolean:
    if (v != "true" && v != "false") throw UsageError(fmt::format("{}: expected true or false, got '{}'", what, v));
    break;
  default:
    if (v.empty()) throw UsageError(fmt::format("{}: empty value", what));
    break;
  }
}

} // namespace

Vec3 Arguments::parsePoint(const std::string& text, const std::string& what) {
  const auto n = parseNumberList(text, what);
  if (n.size() != 3) throw UsageError(fmt::format("{}: expected a point X,Y,Z in mm, got '{}'", what, text));
  return {n[0], n[1], n[2]};
}

std::vector<double> Arguments::parseNumberList(const std::string& text, const std::string& what) {
  std::vector<double> out;
  std::string token;
  auto flush = [&] {
    if (!token.empty()) out.push_back(toNumber(token, what));
    token.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ') flush();
    else token += c;
  }
  flush();
  if (out.empty()) throw UsageError(fmt::format("{}: expected comma-separated numbers, got '{}'", what, text));
  return out;
}

Arguments Arguments::parse(const std::vector<Parameter>& parameters, const std::vector<std::string>& argv) {
  Arguments a;
  a.m_Table = parameters;

  auto byFlag = [&](const std::string& arg) -> const Parameter* {
    for (const auto& p : a.m_Table) {
      if (p.isPositional() || p.isReturnValue()) continue;
      if (arg == p.longFlag() || (p.flag != 0 && arg == std::string{'-', p.flag})) return &p;
    }
    return nullptr;
  };
  std::vector<const Parameter*> positional;
  for (const auto& p : a.m_Table) {
    if (p.isPositional()) positional.push_back(&p);
  }
  std::sort(positional.begin(), positional.end(), [](auto* l, auto* r) { return *l->index < *r->index; });

  std::size_t nextPositional = 0;
  bool onlyPositional = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (!onlyPositional && arg == "--") {
      onlyPositional = true;
      continue;
    }
    if (!onlyPositional && arg.size() > 1 && arg[0] == '-' && !(std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.')) {
      std::string inlineValue;
      bool hasInline = false;
      if (const auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        inlineValue = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        hasInline = true;
      }
      const Parameter* p = byFlag(arg);
      if (p == nullptr) throw UsageError(fmt::format("unknown option '{}' (see --help)", arg));
      std::string value;
      if (p->type == ParameterType::Boolean) {
        value = hasInline ? inlineValue : "true";
      } else if (hasInline) {
        value = inlineValue;
      } else {
        if (i + 1 >= argv.size()) throw UsageError(fmt::format("{} needs a value ({})", arg, typeHint(p->type)));
        value = argv[++i];
      }
      checkValue(*p, value);
      auto& slot = a.m_Values[p->name];
      if (!slot.empty() && !p->multiple) throw UsageError(fmt::format("{} given more than once", arg));
      slot.push_back(value);
      continue;
    }
    if (nextPositional >= positional.size()) throw UsageError(fmt::format("unexpected argument '{}' (see --help)", arg));
    const Parameter* p = positional[nextPositional];
    checkValue(*p, arg);
    a.m_Values[p->name].push_back(arg);
    if (!p->multiple) ++nextPositional;
  }

  for (const auto& p : a.m_Table) {
    if (p.required && !p.isReturnValue() && a.m_Values.count(p.name) == 0) {
      throw UsageError(fmt::format("missing {}: {}", displayName(p), p.label.empty() ? p.description : p.label));
    }
    if (!p.defaultValue.empty() && !p.isReturnValue() && a.m_Values.count(p.name) == 0) {
      a.m_Values[p.name] = {p.defaultValue};
    }
    if (!p.noneValue.empty() && a.m_Values.count(p.name) != 0) { // e.g. Slicer's untouched spin box: not given
      auto& given = a.m_Values[p.name];
      given.erase(std::remove(given.begin(), given.end(), p.noneValue), given.end());
      if (given.empty())
        a.m_Values.erase(p.name);
    }
  }
  return a;
}

const std::vector<std::string>& Arguments::values(const std::string& name) const {
  (void)parameter(name);
  static const std::vector<std::string> none;
  const auto it = m_Values.find(name);
  return it != m_Values.end() ? it->second : none;
}

const Parameter& Arguments::parameter(const std::string& name) const {
  for (const auto& p : m_Table) {
    if (p.name == name) return p;
  }
  throw ProcessingError("internal: no parameter named '" + name + "'");
}

bool Arguments::has(const std::string& name) const { return !values(name).empty(); }

std::string Arguments::string(const std::string& name) const {
  const auto& v = values(name);
  if (v.empty()) throw UsageError(fmt::format("missing {}", parameter(name).longFlag()));
  return v.front();
}

std::vector<std::string> Arguments::strings(const std::string& name) const { return values(name); }

std::filesystem::path Arguments::path(const std::string& name) const { return string(name); }

double Arguments::number(const std::string& name) const { return toNumber(string(name), displayName(parameter(name))); }

long Arguments::integer(const std::string& name) const { return toInteger(string(name), displayName(parameter(name))); }

bool Arguments::flag(const std::string& name) const {
  const auto& v = values(name);
  return !v.empty() && v.front() == "true";
}

Vec3 Arguments::point(const std::string& name) const { return parsePoint(string(name), displayName(parameter(name))); }

std::vector<Vec3> Arguments::points(const std::string& name) const {
  std::vector<Vec3> out;
  for (const auto& v : values(name)) out.push_back(parsePoint(v, displayName(parameter(name))));
  return out;
}

std::vector<double> Arguments::numbers(const std::string& name) const {
  return parseNumberList(string(name), displayName(parameter(name)));
}

} // namespace lesion::cli
