#include "lesion/cli/Parameter.h"

#include <cctype>

namespace lesion::cli {

std::string Parameter::longFlag() const {
  std::string flagText{"--"};
  for (char c : name) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      flagText += '-';
      flagText += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flagText += c;
    }
  }
  return flagText;
}

bool Parameter::isReturnValue() const {
  if (channel != Channel::Output) return false;
  switch (type) {
  case ParameterType::Float:
  case ParameterType::Integer:
  case ParameterType::Boolean:
  case ParameterType::String:
  case ParameterType::StringEnumeration:
  case ParameterType::FloatVector:
    return true;
  default:
    return false;
  }
}

const char* slicerElementName(ParameterType type) {
  switch (type) {
  case ParameterType::Image:
  case ParameterType::LabelImage: return "image";
  case ParameterType::Point: return "point";
  case ParameterType::Region: return "region";
  case ParameterType::File: return "file";
  case ParameterType::Directory: return "directory";
  case ParameterType::Table: return "table";
  case ParameterType::Float: return "float";
  case ParameterType::Integer: return "integer";
  case ParameterType::Boolean: return "boolean";
  case ParameterType::String: return "string";
  case ParameterType::StringEnumeration: return "string-enumeration";
  case ParameterType::FloatVector: return "float-vector";
  }
  return "string";
}

std::string typeHint(ParameterType type) {
  switch (type) {
  case ParameterType::Image: return "VOLUME";
  case ParameterType::LabelImage: return "LABELS";
  case ParameterType::Point: return "X,Y,Z";
  case ParameterType::Region: return "CX,CY,CZ,RX,RY,RZ";
  case ParameterType::File: return "FILE";
  case ParameterType::Directory: return "DIR";
  case ParameterType::Table: return "TABLE";
  case ParameterType::Float: return "NUMBER";
  case ParameterType::Integer: return "INTEGER";
  case ParameterType::Boolean: return "";
  case ParameterType::String: return "TEXT";
  case ParameterType::StringEnumeration: return "CHOICE";
  case ParameterType::FloatVector: return "A,B,...";
  }
  return "VALUE";
}

} // namespace lesion::cli
