#pragma once
/// \file Arguments.h
/// Parsed and type-checked command-line values of one command.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lesion/cli/Parameter.h"
#include "lesion/core/Geometry.h"

namespace lesion::cli {

class Arguments {
public:
  /// Parses argv (after the sub-command name) against `parameters`. Throws lesion::UsageError
  /// naming the offending argument when a value is missing, malformed, unknown or out of range.
  static Arguments parse(const std::vector<Parameter>& parameters, const std::vector<std::string>& argv);

  [[nodiscard]] bool has(const std::string& name) const; ///< given, or has a default
  [[nodiscard]] std::string string(const std::string& name) const;
  [[nodiscard]] std::vector<std::string> strings(const std::string& name) const;
  [[nodiscard]] std::filesystem::path path(const std::string& name) const;
  [[nodiscard]] double number(const std::string& name) const;
  [[nodiscard]] long integer(const std::string& name) const;
  [[nodiscard]] bool flag(const std::string& name) const;
  [[nodiscard]] Vec3 point(const std::string& name) const;
  [[nodiscard]] std::vector<Vec3> points(const std::string& name) const;
  [[nodiscard]] std::vector<double> numbers(const std::string& name) const; ///< a FloatVector

  /// Parses "x,y,z" (or "x y z"); throws UsageError mentioning `what` on failure.
  static Vec3 parsePoint(const std::string& text, const std::string& what);
  static std::vector<double> parseNumberList(const std::string& text, const std::string& what);

private:
  [[nodiscard]] const std::vector<std::string>& values(const std::string& name) const;
  [[nodiscard]] const Parameter& parameter(const std::string& name) const;
  std::map<std::string, std::vector<std::string>> m_Values; ///< given values, else the default
  std::vector<Parameter> m_Table;
};

} // namespace lesion::cli
