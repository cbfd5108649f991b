#include "lesion/reporting/HtmlReport.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"

namespace lesion::reporting {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string fixed(double v, int digits = 1) { return fmt::format("{:.{}f}", v, digits); }
std::string optionalFixed(const std::optional<double>& v, int digits = 1) { return v ? fixed(*v, digits) : "&ndash;"; }

std::string readBinary(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("HTML report: cannot read picture '{}'", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.meta{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0 16px 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f0f0f0}
td.text,th.text{text-align:left}
.warnings{background:#fff6e0;border:1px solid #e0b040;padding:8px 16px}
.category{font-weight:bold}
figure{display:inline-block;margin:6px;vertical-align:top}
figure img{width:300px;height:auto;border:1px solid #999;image-rendering:auto}
figcaption{font-size:0.85em;color:#444;max-width:300px}
.trends svg{margin:4px 8px 4px 0;border:1px solid #ddd;background:#fff}
.note{color:#666;font-size:0.85em}
)";

} // namespace

std::string lesionKey(const measurement::LesionMeasurement& lesion) {
  return lesion.spec.name.empty() ? fmt::format("label {}", lesion.spec.label) : lesion.spec.name;
}

std::string base64Encode(const std::string& bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8 | (unsigned char)bytes[i + 2];
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += table[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned n = (unsigned char)bytes[i] << 16;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned n = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string trendPlotSvg(const std::string& title, const std::string& unit, const std::vector<std::string>& timepoints,
                         const std::vector<std::optional<double>>& values) {
  constexpr double width = 340, height = 200, left = 48, right = 16, top = 28, bottom = 36;
  double maxValue = 0.0;
  for (const auto& v : values)
    if (v) maxValue = std::max(maxValue, *v);
  // Sizes start at zero so a change is not exaggerated.
  const double yMax = maxValue > 0 ? maxValue * 1.15 : 1.0;
  const std::size_t n = timepoints.size();
  auto xOf = [&](std::size_t i) { return n <= 1 ? left + (width - left - right) / 2 : left + (width - left - right) * double(i) / double(n - 1); };
  auto yOf = [&](double v) { return top + (height - top - bottom) * (1.0 - v / yMax); };
  std::string svg = fmt::format(
      R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img" aria-label="{2}">)",
      width, height, escape(title));
  svg += fmt::format(R"(<text x="{}" y="18" font-size="13" font-weight="bold">{}</text>)", left, escape(title));
  svg += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#888"/>)", left, top, height - bottom);
  svg += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#888"/>)", left, height - bottom, width - right);
  for (int t = 0; t <= 4; ++t) {
    const double v = yMax * t / 4.0;
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" font-size="10" text-anchor="end">{}</text>)", left - 4, yOf(v) + 3,
                       fmt::format("{:.3g}", v));
  }
  svg += fmt::format(R"(<text x="4" y="{:.1f}" font-size="10">{}</text>)", top - 6, escape(unit));
  std::string points;
  for (std::size_t i = 0; i < n; ++i) {
    svg += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="10" text-anchor="middle">{}</text>)", xOf(i),
                       height - bottom + 14, escape(timepoints[i]));
    if (i < values.size() && values[i]) points += fmt::format("{:.1f},{:.1f} ", xOf(i), yOf(*values[i]));
  }
  if (!points.empty())
    svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="#c03030" stroke-width="2"/>)", points);
  for (std::size_t i = 0; i < n && i < values.size(); ++i)
    if (values[i]) {
      svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="#c03030"/>)", xOf(i), yOf(*values[i]));
      svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="10" text-anchor="middle">{}</text>)", xOf(i),
                         yOf(*values[i]) - 8, fmt::format("{:.3g}", *values[i]));
    }
  svg += "</svg>";
  return svg;
}

std::string renderHtmlReport(const HtmlReportInput& input) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<meta name=\"generator\" content=\"LesionKit\">";
  h += "<title>" + escape(input.title) + "</title><style>" + kStyle + "</style></head><body>\n";
  h += "<h1>" + escape(input.title) + "</h1>\n<p class=\"meta\">";
  if (!input.patientName.empty()) h += "Patient " + escape(input.patientName) + " ";
  if (!input.patientId.empty()) h += "(ID " + escape(input.patientId) + ") ";
  h += fmt::format("&middot; {} time point(s)", input.timepoints.size());
  if (!input.timepoints.empty() && !input.timepoints.front().toolVersion.empty())
    h += " &middot; LesionKit " + escape(input.timepoints.front().toolVersion);
  h += "</p>\n";

  // Warnings first: a reader must see them before trusting a figure.
  std::vector<std::string> warnings = input.warnings;
  for (const auto& tp : input.timepoints)
    for (const auto& w : tp.input.warnings) warnings.push_back(tp.timepoint + ": " + w);
  if (!warnings.empty()) {
    h += "<h2 id=\"warnings\">Warnings</h2>\n<div class=\"warnings\"><ul>";
    for (const auto& w : warnings) h += "<li>" + escape(w) + "</li>";
    h += "</ul></div>\n";
  }

  if (!input.responses.empty()) {
    h += "<h2 id=\"response\">Response</h2>\n<table id=\"response-table\"><tr><th class=\"text\">Time point</th>"
         "<th class=\"text\">Criteria</th><th class=\"text\">Lesion</th><th class=\"text\">Category</th>"
         "<th class=\"text\">Reasons</th></tr>\n";
    for (const auto& r : input.responses) {
      h += "<tr><td class=\"text\">" + escape(r.timepoint) + "</td><td class=\"text\">" + escape(r.criteria) +
           "</td><td class=\"text\">" + (r.lesion.empty() ? std::string("overall") : escape(r.lesion)) +
           "</td><td class=\"text category\">" + escape(r.category) + "</td><td class=\"text\"><ul>";
      for (const auto& reason : r.reasons) h += "<li>" + escape(reason) + "</li>";
      h += "</ul></td></tr>\n";
    }
    h += "</table>\n";
  }

  h += "<h2 id=\"lesions\">Lesions</h2>\n";
  for (const auto& tp : input.timepoints) {
    h += "<h3>" + escape(tp.timepoint) + "</h3>\n";
    if (!tp.input.volumePath.empty())
      h += "<p class=\"note\">volume " + escape(tp.input.volumePath) + ", mask " + escape(tp.input.maskPath) + "</p>\n";
    h += "<table class=\"lesion-table\"><tr><th class=\"text\">Lesion</th><th class=\"text\">Kind</th>"
         "<th>Volume (mL)</th><th>Long axis (mm)</th><th>Short axis (mm)</th><th>3D max diameter (mm)</th>"
         "<th>Extent L-R &times; A-P &times; S-I (mm)</th><th>Mean &plusmn; SD</th><th>Calcified (mL)</th>"
         "<th class=\"text\">RECIST 1.1</th></tr>\n";
    for (const auto& l : tp.lesions) {
      const std::optional<double> calcified =
          l.calcification ? std::optional<double>(l.calcification->volumeMl) : std::nullopt;
      h += fmt::format(
          "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{} &times; {} &times; {}</td><td>{} &plusmn; {} {}</td><td>{}</td><td class=\"text\">{}</td></tr>\n",
          escape(lesionKey(l)), escape(l.spec.kind), fixed(l.voxelVolumeMl, 2), fixed(l.recist.longAxisMm),
          fixed(l.recist.shortAxisMm), fixed(l.maxDiameter3dMm), fixed(l.extentLrMm), fixed(l.extentApMm),
          fixed(l.extentSiMm), fixed(l.intensity.mean, 0), fixed(l.intensity.standardDeviation, 0),
          escape(l.intensity.unit), optionalFixed(calcified, 2), escape(l.measurability.category));
    }
    h += "</table>\n";
  }
  h += "<p class=\"note\">Diameters are between voxel centres (about one voxel shorter than an edge-to-edge caliper) "
       "and uncertain by about one voxel diagonal; volumes count voxels; extents include the voxel; coordinates are "
       "patient LPS millimetres.</p>\n";

  // Trends: lesions followed by name across time points.
  if (input.timepoints.size() >= 2) {
    std::vector<std::string> labels, keys;
    for (const auto& tp : input.timepoints) {
      labels.push_back(tp.timepoint);
      for (const auto& l : tp.lesions)
        if (std::find(keys.begin(), keys.end(), lesionKey(l)) == keys.end()) keys.push_back(lesionKey(l));
    }
    h += "<h2 id=\"trends\">Trends</h2>\n<div class=\"trends\">\n";
    for (const auto& key : keys) {
      std::vector<std::optional<double>> diameter, volume, calcified;
      bool node = false, anyCalcified = false;
      for (const auto& tp : input.timepoints) {
        auto it = std::find_if(tp.lesions.begin(), tp.lesions.end(), [&](const auto& l) { return lesionKey(l) == key; });
        if (it == tp.lesions.end()) {
          diameter.emplace_back();
          volume.emplace_back();
          calcified.emplace_back();
          continue;
        }
        node = node || it->spec.lymphNode;
        diameter.emplace_back(it->spec.lymphNode ? it->recist.shortAxisMm : it->recist.longAxisMm);
        volume.emplace_back(it->voxelVolumeMl);
        calcified.emplace_back(it->calcification ? std::optional<double>(it->calcification->volumeMl) : std::nullopt);
        anyCalcified = anyCalcified || (it->calcification && it->calcification->volumeMl > 0);
      }
      h += "<h3>" + escape(key) + "</h3>\n";
      h += trendPlotSvg(node ? "Short axis" : "Long axis", "mm", labels, diameter);
      h += trendPlotSvg("Volume", "mL", labels, volume);
      if (anyCalcified) h += trendPlotSvg("Calcified volume", "mL", labels, calcified);
      h += "\n";
    }
    h += "</div>\n";
  }

  if (!input.pictures.empty()) {
    h += "<h2 id=\"pictures\">QC pictures</h2>\n";
    std::string current = "\x01";
    for (const auto& p : input.pictures) {
      if (p.lesion != current) {
        current = p.lesion;
        if (!current.empty()) h += "<h3>" + escape(current) + "</h3>\n";
      }
      h += "<figure><img class=\"qc\" alt=\"" + escape(p.caption) + "\" src=\"data:image/png;base64," +
           base64Encode(readBinary(p.png)) + "\"><figcaption>" + escape(p.caption) + "</figcaption></figure>\n";
    }
  }

  if (!input.outputs.empty()) {
    h += "<h2 id=\"outputs\">Other outputs</h2>\n<ul>";
    for (const auto& o : input.outputs) h += "<li><code>" + escape(o) + "</code></li>";
    h += "</ul>\n";
  }
  h += "</body></html>\n";
  return h;
}

void writeHtmlReport(const HtmlReportInput& input, const std::filesystem::path& path) {
  writeTextFileAtomically(path, renderHtmlReport(input));
}

} // namespace lesion::reporting
