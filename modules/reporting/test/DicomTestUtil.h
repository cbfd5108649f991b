#pragma once
// Test helpers: validate DICOM objects with dciodvfy (dicom3tools) and dump them with dcmdump.
#include <filesystem>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "lesion/testing/TestHarness.h"

namespace lesion::reporting {

inline bool toolAvailable(const char* path) { return path[0] != '\0' && std::filesystem::exists(path); }

/// dciodvfy's report lines that start with "Error" (empty when valid); skips when the tool is missing.
inline void expectValidDicom(const std::filesystem::path& file) {
#ifdef LESIONKIT_DCIODVFY
  if (!toolAvailable(LESIONKIT_DCIODVFY)) {
    std::cerr << "dciodvfy not available: validation of " << file << " skipped\n";
    return;
  }
  const test::ProcessResult r = test::runProcess({LESIONKIT_DCIODVFY, file.string()});
  std::istringstream lines(r.out + "\n" + r.err);
  std::string line, errors;
  while (std::getline(lines, line))
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
  EXPECT_TRUE(errors.empty()) << "dciodvfy " << file << ":\n" << errors;
#else
  (void)file;
#endif
}

inline std::string dcmdump(const std::filesystem::path& file) {
#ifdef LESIONKIT_DCMDUMP
  if (!toolAvailable(LESIONKIT_DCMDUMP)) return {};
  return test::runProcess({LESIONKIT_DCMDUMP, "-q", file.string()}).out;
#else
  (void)file;
  return {};
#endif
}

} // namespace lesion::reporting
