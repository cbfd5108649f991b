// Archive indexing benchmark: a synthetic archive of small CT images (default 100,000 files:
// patients x 2 studies x 2 series x 250 slices), indexed from a warm cache, re-indexed with
// nothing changed and with 1 % touched and 0.1 % removed; DCMTK's dcmmkdir (a DICOMDIR over the
// same tree, reading every header) is timed on the same files as a peer. Timing only, no pass/fail.
//
//   archive_bench [--files N] [--dir FOLDER] [--threads T] [--no-peer]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/ofstd/ofstd.h>
#include <fmt/format.h>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int SlicesPerSeries = 250;
constexpr int SeriesPerStudy = 2;
constexpr int StudiesPerPatient = 2;

std::string uid() {
  char buffer[100];
  return dcmGenerateUniqueIdentifier(buffer, SITE_INSTANCE_UID_ROOT);
}

/// Writes the archive unless `folder` already holds it (a marker file records the count).
void generate(const fs::path& folder, int files) {
  const fs::path marker = folder / "ARCHIVE.TXT";
  if (fs::exists(marker)) return;
  fs::remove_all(folder);
  const int patients = std::max(1, files / (SlicesPerSeries * SeriesPerStudy * StudiesPerPatient));
  std::cerr << "generating " << patients * StudiesPerPatient * SeriesPerStudy * SlicesPerSeries << " files in " << folder
            << " ...\n";
  std::vector<Uint16> pixels(16 * 16, 1000);
  for (int p = 0; p < patients; ++p) {
    for (int st = 0; st < StudiesPerPatient; ++st) {
      const std::string studyUid = uid();
      for (int se = 0; se < SeriesPerStudy; ++se) {
        const std::string seriesUid = uid();
        const std::string forUid = uid();
        // DICOMDIR-compatible names (<= 8 upper-case characters per component) for the peer.
        const fs::path dir = folder / fmt::format("P{:05d}", p) / fmt::format("ST{}", st) / fmt::format("SE{}", se);
        fs::create_directories(dir);
        for (int i = 0; i < SlicesPerSeries; ++i) {
          DcmFileFormat file;
          DcmDataset* ds = file.getDataset();
          const std::string sop = uid();
          ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
          ds->putAndInsertString(DCM_SOPInstanceUID, sop.c_str());
          ds->putAndInsertString(DCM_StudyInstanceUID, studyUid.c_str());
          ds->putAndInsertString(DCM_SeriesInstanceUID, seriesUid.c_str());
          ds->putAndInsertString(DCM_FrameOfReferenceUID, forUid.c_str());
          ds->putAndInsertString(DCM_PatientID, fmt::format("BENCH{:05d}", p).c_str());
          ds->putAndInsertString(DCM_PatientName, fmt::format("BENCH^{:05d}", p).c_str());
          ds->putAndInsertString(DCM_StudyDate, fmt::format("2024{:02d}15", 1 + 3 * st).c_str());
          ds->putAndInsertString(DCM_StudyTime, "101500");
          ds->putAndInsertString(DCM_StudyID, "1");
          ds->putAndInsertString(DCM_AccessionNumber, fmt::format("A{:05d}{}", p, st).c_str());
          ds->putAndInsertString(DCM_Modality, "CT");
          ds->putAndInsertString(DCM_SeriesNumber, std::to_string(se + 1).c_str());
          ds->putAndInsertString(DCM_InstanceNumber, std::to_string(i + 1).c_str());
          ds->putAndInsertString(DCM_SeriesDescription, se == 0 ? "AX 1.25mm" : "AX 5mm");
          ds->putAndInsertString(DCM_ConvolutionKernel, se == 0 ? "STANDARD" : "BONE");
          ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
          const double step = se == 0 ? 1.25 : 5.0;
          ds->putAndInsertString(DCM_ImagePositionPatient, fmt::format("-200\\-200\\{}", -i * step).c_str());
          ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
          ds->putAndInsertString(DCM_PixelSpacing, "0.78\\0.78");
          ds->putAndInsertString(DCM_SliceThickness, se == 0 ? "1.25" : "5");
          ds->putAndInsertString(DCM_RescaleIntercept, "-1024");
          ds->putAndInsertString(DCM_RescaleSlope, "1");
          ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
          ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
          ds->putAndInsertUint16(DCM_Rows, 16);
          ds->putAndInsertUint16(DCM_Columns, 16);
          ds->putAndInsertUint16(DCM_BitsAllocated, 16);
          ds->putAndInsertUint16(DCM_BitsStored, 12);
          ds->putAndInsertUint16(DCM_HighBit, 11);
          ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
          ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
          const fs::path path = dir / fmt::format("I{:06d}", i);
          if (file.saveFile(path.c_str(), EXS_LittleEndianExplicit).bad()) {
            throw std::runtime_error("cannot write " + path.string());
          }
        }
      }
    }
  }
  std::FILE* f = std::fopen(marker.c_str(), "w");
  std::fprintf(f, "lesionkit archive_bench workload\n");
  std::fclose(f);
}

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

} // namespace

int main(int argc, char** argv) {
  int files = 100000;
  fs::path dir = "build/archive-workload";
  unsigned threads = 2;
  bool peer = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--files" && i + 1 < argc) files = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (a == "--no-peer") peer = false;
    else {
      std::cerr << "usage: archive_bench [--files N] [--dir FOLDER] [--threads T] [--no-peer]\n";
      return 1;
    }
  }
  generate(dir / "tree", files);
  // Warm the page cache the way a second pass over an archive would find it.
  std::system(fmt::format("find '{}' -type f -exec cat {{}} + > /dev/null", (dir / "tree").string()).c_str());
  const fs::path db = dir / "index.sqlite";
  fs::remove(db);
  using lesion::archive::ArchiveDatabase;
  ArchiveDatabase index(db, ArchiveDatabase::Access::ReadWrite);
  lesion::archive::IndexOptions options;
  options.threads = threads;

  auto t = Clock::now();
  const auto first = lesion::archive::indexArchive(index, dir / "tree", options);
  const double firstS = secondsSince(t);
  std::cout << fmt::format("first index: {} files, {} series in {:.2f} s = {:.0f} files/s ({} threads)\n",
                           first.filesFound, first.seriesTotal, firstS, first.filesFound / firstS, threads);
  t = Clock::now();
  const auto again = lesion::archive::indexArchive(index, dir / "tree", options);
  std::cout << fmt::format("re-index, nothing changed: {} unchanged in {:.2f} s\n", again.filesUnchanged, secondsSince(t));

  // Touch 1 % of the files, remove 0.1 % (then restore them from a copy for the next run).
  std::vector<fs::path> all;
  for (const auto& e : fs::recursive_directory_iterator(dir / "tree")) {
    if (e.is_regular_file() && e.path().filename() != "ARCHIVE.TXT") all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); i += 100) fs::last_write_time(all[i], fs::file_time_type::clock::now());
  const fs::path aside = dir / "removed";
  fs::create_directories(aside);
  std::vector<std::pair<fs::path, fs::path>> moved;
  for (std::size_t i = 50; i < all.size(); i += 1000) {
    const fs::path to = aside / std::to_string(i);
    fs::rename(all[i], to);
    moved.emplace_back(all[i], to);
  }
  t = Clock::now();
  const auto third = lesion::archive::indexArchive(index, dir / "tree", options);
  std::cout << fmt::format("re-index, {} touched + {} removed: {:.2f} s ({} series re-checked)\n", third.filesChanged,
                           third.filesRemoved, secondsSince(t), third.seriesChecked);
  for (const auto& [original, to] : moved) fs::rename(to, original);

  t = Clock::now();
  const auto studies = lesion::archive::catalogDatabase(index);
  std::cout << fmt::format("series listing from the index: {} studies in {:.3f} s\n", studies.size(), secondsSince(t));

  if (peer && std::system("command -v dcmmkdir > /dev/null") == 0) {
    const fs::path dicomdir = dir / "DICOMDIR.bench";
    t = Clock::now();
    const int rc = std::system(fmt::format("cd '{}' && dcmmkdir --recurse --output-file '{}' -q P* > /dev/null 2>&1",
                                           (dir / "tree").string(), fs::absolute(dicomdir).string())
                                   .c_str());
    const double peerS = secondsSince(t);
    std::cout << fmt::format("peer dcmmkdir (DICOMDIR over the same files, 1 thread): {:.2f} s = {:.0f} files/s (exit {})\n",
                             peerS, first.filesFound / peerS, rc);
    std::cout << fmt::format("ratio lesionkit index / dcmmkdir wall time: {:.2f}\n", firstS / peerS);
    fs::remove(dicomdir);
  }
  return 0;
}
