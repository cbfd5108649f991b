// --help text and Slicer Execution Model XML, both generated from a command's parameter table.
#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>

#include "lesion/cli/Command.h"

namespace lesion::cli {
namespace {

/// Groups in first-appearance order, so the table's order is the documentation's order.
std::vector<std::string> groupsOf(const Command& c) {
  std::vector<std::string> groups;
  for (const auto& p : c.parameters) {
    if (std::find(groups.begin(), groups.end(), p.group) == groups.end())
      groups.push_back(p.group);
  }
  return groups;
}

std::string xmlEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += ch;
    }
  }
  return out;
}

std::string wrap(const std::string& text, std::size_t indent, std::size_t width = 96) {
  std::ostringstream out;
  std::istringstream words(text);
  std::string word;
  std::size_t column = indent;
  bool first = true;
  while (words >> word) {
    if (!first && column + 1 + word.size() > width) {
      out << '\n' << std::string(indent, ' ');
      column = indent;
    } else if (!first) {
      out << ' ';
      ++column;
    }
    out << word;
    column += word.size();
    first = false;
  }
  return out.str();
}

/// "may be repeated", "repeatable": a description that already says a flag can be given again.
bool mentionsRepetition(std::string description) {
  std::transform(description.begin(), description.end(), description.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return description.find("repeat") != std::string::npos;
}

std::string usageToken(const Parameter& p) {
  if (p.isPositional()) {
    std::string t = typeHint(p.type) == "FILE" || typeHint(p.type) == "DIR" ? p.name : typeHint(p.type);
    std::transform(t.begin(), t.end(), t.begin(), ::toupper);
    return p.required ? t : "[" + t + "]";
  }
  std::string t = p.longFlag();
  if (p.type != ParameterType::Boolean)
    t += " " + typeHint(p.type);
  if (p.multiple)
    t += " ...";
  return p.required ? t : "[" + t + "]";
}

} // namespace

const Parameter* Command::find(const std::string& n) const {
  for (const auto& p : parameters) {
    if (p.name == n)
      return &p;
  }
  return nullptr;
}

std::string formatHelp(const ToolInfo& tool, const Command& c) {
  std::ostringstream out;
  out << tool.invocation(c.name) << " - " << c.summary << "\n\nUsage: " << tool.invocation(c.name);
  for (const auto& p : c.parameters) {
    if (p.required && !p.isReturnValue())
      out << ' ' << usageToken(p);
  }
  out << " [options]\n\n" << wrap(c.description, 0) << "\n";
  for (const auto& group : groupsOf(c)) {
    bool header = false;
    for (const auto& p : c.parameters) {
      if (p.group != group || p.isReturnValue())
        continue;
      if (!header) {
        out << '\n' << group << ":\n";
        header = true;
      }
      std::string left =
          p.isPositional() ? usageToken(p) : (p.flag ? fmt::format("-{}, ", p.flag) : "    ") + p.longFlag();
      if (!p.isPositional() && p.type != ParameterType::Boolean)
        left += " " + typeHint(p.type);
      std::string text = p.description;
      if (!text.empty() && text.back() != '.')
        text += '.'; // the sentences below follow it
      if (p.type == ParameterType::StringEnumeration) {
        std::string choices;
        for (const auto& e : p.elements)
          choices += (choices.empty() ? "" : "|") + e;
        text += " One of " + choices + ".";
      }
      if (p.range)
        text += fmt::format(" From {:g} to {:g}.", p.range->minimum, p.range->maximum);
      if (!p.defaultValue.empty() && p.type != ParameterType::Boolean && p.defaultValue != p.noneValue)
        text += " Default: " + p.defaultValue + ".";
      // Some descriptions already say so in their own words.
      if (p.multiple && !mentionsRepetition(p.description))
        text += " May be repeated.";
      if (p.required)
        text += " Required.";
      out << "  " << left;
      if (left.size() + 2 < 30)
        out << std::string(30 - left.size() - 2, ' ');
      else
        out << "\n" << std::string(30, ' ');
      out << wrap(text, 30) << '\n';
    }
  }
  std::vector<const Parameter*> results;
  for (const auto& p : c.parameters) {
    if (p.isReturnValue())
      results.push_back(&p);
  }
  if (!results.empty()) {
    out << "\nResults (written to --returnparameterfile as name = value):\n";
    for (const auto* p : results)
      out << "  " << p->name << std::string(p->name.size() < 28 ? 28 - p->name.size() : 1, ' ')
          << wrap(p->description, 30) << '\n';
  }
  out << "\nCommon options:\n"
         "  -h, --help                  show this help and exit\n"
         "      --xml                   print the Slicer Execution Model description and exit\n"
         "      --returnparameterfile FILE  write scalar results as 'name = value' lines\n"
         "  -v, --verbose               more log messages on stderr\n"
         "  -q, --quiet                 only errors on stderr, no progress bar\n";
  if (!c.examples.empty()) {
    out << "\nExample" << (c.examples.size() > 1 ? "s" : "") << ":\n";
    for (const auto& e : c.examples)
      out << "  " << e << '\n';
  }
  out << "\nExit codes: 0 ok, 1 wrong or missing argument, 2 bad input or unwritable output,\n"
         "            3 processing failure (no trustworthy result; no output written)"
      << (c.canLeaveItemsWithoutResult
              ? ",\n            4 finished, but some items failed or have no result (listed in the "
                "outputs; one line on stderr).\n"
              : ".\n");
  return out.str();
}

std::string formatXml(const ToolInfo& tool, const Command& c) {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<executable>\n"
    << "  <category>" << xmlEscape(tool.category) << "</category>\n"
    << "  <title>" << xmlEscape(c.title) << "</title>\n"
    << "  <description><![CDATA[" << c.description << "]]></description>\n"
    << "  <version>" << xmlEscape(tool.version) << "</version>\n"
    << "  <documentation-url>" << xmlEscape(tool.documentationUrl) << "</documentation-url>\n"
    << "  <license>" << xmlEscape(tool.license) << "</license>\n"
    << "  <contributor>" << xmlEscape(tool.contributor) << "</contributor>\n"
    << "  <acknowledgements><![CDATA[" << tool.acknowledgements << "]]></acknowledgements>\n";
  for (const auto& group : groupsOf(c)) {
    x << "  <parameters>\n    <label>" << xmlEscape(group) << "</label>\n    <description><![CDATA[" << group << " of "
      << c.title << "]]></description>\n";
    for (const auto& p : c.parameters) {
      if (p.group != group)
        continue;
      const char* element = slicerElementName(p.type);
      x << "    <" << element;
      if (p.type == ParameterType::Image)
        x << " type=\"scalar\"";
      if (p.type == ParameterType::LabelImage)
        x << " type=\"label\"";
      if (p.multiple)
        x << " multiple=\"true\"";
      if (p.hidden)
        x << " hidden=\"true\"";
      if (p.type == ParameterType::Point || p.type == ParameterType::Region)
        x << " coordinateSystem=\"lps\"";
      if (!p.fileExtensions.empty())
        x << " fileExtensions=\"" << xmlEscape(p.fileExtensions) << "\"";
      x << ">\n      <name>" << xmlEscape(p.name) << "</name>\n";
      if (p.isPositional()) {
        x << "      <index>" << *p.index << "</index>\n";
      } else if (!p.isReturnValue()) {
        if (p.flag)
          x << "      <flag>-" << p.flag << "</flag>\n";
        x << "      <longflag>" << xmlEscape(p.longFlag()) << "</longflag>\n";
      }
      x << "      <label>" << xmlEscape(p.label.empty() ? p.name : p.label) << "</label>\n"
        << "      <description><![CDATA[" << p.description << "]]></description>\n";
      if (p.channel == Channel::Input)
        x << "      <channel>input</channel>\n";
      if (p.channel == Channel::Output)
        x << "      <channel>output</channel>\n";
      const std::string def = p.type == ParameterType::Boolean && p.defaultValue.empty() ? "false" : p.defaultValue;
      if (!def.empty())
        x << "      <default>" << xmlEscape(def) << "</default>\n";
      for (const auto& e : p.elements)
        x << "      <element>" << xmlEscape(e) << "</element>\n";
      if (p.range)
        x << fmt::format("      <constraints>\n        <minimum>{:g}</minimum>\n        <maximum>{:g}</maximum>\n"
                         "        <step>{:g}</step>\n      </constraints>\n",
                         p.range->minimum, p.range->maximum, p.range->step);
      x << "    </" << element << ">\n";
    }
    x << "  </parameters>\n";
  }
  x << "</executable>\n";
  return x.str();
}

} // namespace lesion::cli
