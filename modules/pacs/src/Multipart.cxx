#include "lesion/pacs/Multipart.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "lesion/core/Error.h"

namespace lesion::pacs {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

/// Value of header `name` in a CRLF-separated header block ("" when absent).
std::string headerValue(const std::string& headers, const std::string& name) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find("\r\n", pos);
    if (end == std::string::npos) end = headers.size();
    const std::string line = headers.substr(pos, end - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos && lower(trim(line.substr(0, colon))) == name) return trim(line.substr(colon + 1));
    pos = end + 2;
  }
  return {};
}

} // namespace

std::string multipartBoundary(const std::string& contentType) {
  const std::string l = lower(contentType);
  std::size_t pos = 0;
  while ((pos = l.find("boundary", pos)) != std::string::npos) {
    // a parameter name: preceded by ';' or space, followed by '='
    const bool starts = pos > 0 && (l[pos - 1] == ';' || l[pos - 1] == ' ' || l[pos - 1] == '\t');
    std::size_t eq = l.find_first_not_of(" \t", pos + 8);
    if (!starts || eq == std::string::npos || l[eq] != '=') {
      pos += 8;
      continue;
    }
    std::size_t v = contentType.find_first_not_of(" \t", eq + 1);
    if (v == std::string::npos) return {};
    if (contentType[v] == '"') {
      const std::size_t close = contentType.find('"', v + 1);
      return close == std::string::npos ? std::string() : contentType.substr(v + 1, close - v - 1);
    }
    const std::size_t end = contentType.find_first_of("; \t", v);
    return contentType.substr(v, end == std::string::npos ? std::string::npos : end - v);
  }
  return {};
}

std::vector<MultipartPart> parseMultipart(const std::string& body, const std::string& boundary) {
  if (boundary.empty()) throw ProcessingError("multipart answer without a boundary");
  const std::string delimiter = "--" + boundary;
  std::vector<MultipartPart> parts;
  std::size_t pos = body.find(delimiter);
  if (pos == std::string::npos) {
    throw ProcessingError(fmt::format("multipart answer ({} bytes) does not hold its boundary '{}'", body.size(), boundary));
  }
  while (true) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0) break; // close delimiter
    const std::size_t lineEnd = body.find("\r\n", pos);
    if (lineEnd == std::string::npos) throw ProcessingError("multipart answer truncated after a boundary");
    const std::size_t headersEnd = body.find("\r\n\r\n", lineEnd);
    // A part without headers has its blank line right after the boundary line.
    const bool noHeaders = body.compare(lineEnd, 4, "\r\n\r\n") == 0;
    if (headersEnd == std::string::npos) throw ProcessingError("multipart answer truncated in a part's headers");
    const std::string headers = noHeaders ? std::string() : body.substr(lineEnd + 2, headersEnd - lineEnd - 2);
    const std::size_t contentStart = headersEnd + 4;
    const std::size_t next = body.find("\r\n" + delimiter, contentStart);
    if (next == std::string::npos) throw ProcessingError("multipart answer truncated: a part has no closing boundary");
    parts.push_back({headerValue(headers, "content-type"), body.substr(contentStart, next - contentStart)});
    pos = next + 2;
  }
  return parts;
}

std::string buildMultipart(const std::vector<MultipartPart>& parts, const std::string& boundary) {
  std::string body;
  for (const MultipartPart& p : parts) {
    body += "--" + boundary + "\r\n";
    if (!p.contentType.empty()) body += "Content-Type: " + p.contentType + "\r\n";
    body += "\r\n";
    body += p.body;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

} // namespace lesion::pacs
