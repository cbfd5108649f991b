// pull and push against a real Orthanc on loopback, as users run them (`lesionkit push/pull`):
// phantom CT round trips through DIMSE and DICOMweb, SEG and SR from `lesionkit report` through
// C-STORE and STOW-RS, and the failures users meet (unreachable or silent peer, non-DICOM input).
// Skipped with a message when Orthanc or its DICOMweb plugin is not installed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "OrthancServer.h"
#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/dicomio/VolumeLoader.h"
#include "lesion/pacs/Retrieve.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
namespace fs = std::filesystem;

namespace {

constexpr const char* kOurAet = "LESIONKIT";

/// A 3-slice phantom CT around the L4 lesion (2 mm pixels): a real study, small enough to be quick.
struct TinyStudy {
  phantom::PhantomStudy study;
  fs::path ctFolder;
  std::string studyUid;
  std::size_t fileCount{0};
};

TinyStudy writeTinyStudy(const fs::path& out) {
  const phantom::PhantomAnatomy a = phantom::buildPhantomAnatomy(phantom::defaultTimePointState(0));
  phantom::PhantomOptions o;
  o.timePoints = 1;
  o.pixelSizeMm = 2.0;
  o.sliceThicknessMm = 3.0;
  o.supersampling = 1;
  o.zFromMm = a.lyticLesion.centre.z - 3.0;
  o.zToMm = a.lyticLesion.centre.z + 3.0;
  TinyStudy t;
  t.study = phantom::generatePhantomStudy(o);
  const phantom::PhantomOutputFiles files = phantom::writePhantomStudy(t.study, out);
  t.ctFolder = files.root / files.seriesFolders.at(0);
  t.studyUid = files.series.at(0).studyInstanceUid;
  t.fileCount = files.series.at(0).fileCount;
  return t;
}

std::vector<std::string> sortedSopUids(const dicomio::LoadedVolume& v) {
  std::vector<std::string> uids = v.sopInstanceUids;
  std::sort(uids.begin(), uids.end());
  return uids;
}

/// Every pulled file sits at OUT/<study>/<series>/<instance>.dcm and nothing else (no temporaries).
void expectPullLayout(const fs::path& folder, const std::string& studyUid, std::size_t expectedFiles) {
  std::size_t files = 0;
  for (const std::string& rel : test::listFiles(folder)) {
    const fs::path p(rel);
    for (const fs::path& part : p) EXPECT_NE(part.string().front(), '.') << "temporary left behind: " << rel;
    if (!fs::is_regular_file(folder / p)) continue;
    ++files;
    EXPECT_EQ(std::distance(p.begin(), p.end()), 3) << rel;
    EXPECT_EQ(p.begin()->string(), pacs::safeFileName(studyUid)) << rel;
    EXPECT_EQ(p.extension(), ".dcm") << rel;
  }
  EXPECT_EQ(files, expectedFiles);
}

/// Pulled CT equals the original: same SOP Instance UIDs, same grid, bit-identical voxels.
void expectSameSeries(const fs::path& original, const fs::path& pulled) {
  const dicomio::LoadedVolume a = dicomio::loadVolume(original);
  const dicomio::LoadedVolume b = dicomio::loadVolume(pulled);
  EXPECT_EQ(sortedSopUids(a), sortedSopUids(b));
  EXPECT_EQ(a.seriesInstanceUid, b.seriesInstanceUid);
  EXPECT_TRUE(a.volume.geometry.sameGrid(b.volume.geometry, 1e-9));
  ASSERT_EQ(a.volume.voxels.size(), b.volume.voxels.size());
  EXPECT_TRUE(a.volume.voxels == b.volume.voxels) << "voxels differ after the round trip";
}

/// The dataset of a DICOM file encoded canonically (explicit VR little endian, no group lengths):
/// equal bytes = equal content, whatever transfer syntax and meta header the trip gave the file.
std::string canonicalDataset(const fs::path& file, const fs::path& scratch) {
  DcmFileFormat f;
  EXPECT_TRUE(f.loadFile(file.c_str()).good()) << file;
  f.loadAllDataIntoMemory();
  const fs::path out = scratch / ("canonical-" + file.filename().string());
  EXPECT_TRUE(f.getDataset()->saveFile(out.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_withoutGL).good());
  std::ifstream in(out, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tagText(const fs::path& file, const DcmTagKey& tag) {
  DcmFileFormat f;
  OFString s;
  if (f.loadFile(file.c_str()).good()) f.getDataset()->findAndGetOFString(tag, s);
  return s.c_str();
}

/// The pulled file of SOP Instance `uid` under `folder` (searched), or "" when absent.
fs::path findPulled(const fs::path& folder, const std::string& uid) {
  for (const std::string& rel : test::listFiles(folder)) {
    if (fs::path(rel).filename() == pacs::safeFileName(uid) + ".dcm") return folder / rel;
  }
  return {};
}

/// A minimal CT Image Storage object without pixels: enough for a C-STORE to be attempted.
fs::path writeMinimalDicom(const fs::path& path) {
  DcmFileFormat f;
  char uid[100];
  DcmDataset* d = f.getDataset();
  d->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  d->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  d->putAndInsertString(DCM_StudyInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT));
  d->putAndInsertString(DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  d->putAndInsertString(DCM_PatientID, "LKPACS");
  d->putAndInsertString(DCM_Modality, "CT");
  EXPECT_TRUE(f.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  return path;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

/// One Orthanc per test process (ctest runs each test on its own), stopped at the end even on failure.
class PacsOrthanc : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!available()) return;
    try {
      s_Server = std::make_unique<test::OrthancServer>(LESIONKIT_ORTHANC, LESIONKIT_ORTHANC_DICOMWEB, kOurAet);
    } catch (const std::exception& e) {
      s_StartError = e.what();
    }
  }
  static void TearDownTestSuite() { s_Server.reset(); }
  static bool available() {
    return std::string(LESIONKIT_ORTHANC).find("NOTFOUND") == std::string::npos && fs::exists(LESIONKIT_ORTHANC) &&
           fs::exists(LESIONKIT_ORTHANC_DICOMWEB);
  }
  void SetUp() override {
    if (!available()) {
      GTEST_SKIP() << "Orthanc not installed (Orthanc: '" << LESIONKIT_ORTHANC << "', DICOMweb plugin: '"
                   << LESIONKIT_ORTHANC_DICOMWEB << "'): apt-get install orthanc orthanc-dicomweb";
    }
    LESIONKIT_REQUIRE_BINARY();
    ASSERT_TRUE(s_Server) << "Orthanc did not start: " << s_StartError;
  }
  static inline std::unique_ptr<test::OrthancServer> s_Server{};
  static inline std::string s_StartError{};
};

TEST_F(PacsOrthanc, PhantomCtPushedByCStorePullsBackIdenticalThroughCGetAndWado) {
  test::ScratchFolder dir;
  const TinyStudy t = writeTinyStudy(dir / "phantom");
  ASSERT_GE(t.fileCount, 2u);

  auto r = test::runProcess({"lesionkit", "push", t.ctFolder.string(), "--to", s_Server->dimseUrl(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  EXPECT_NE(r.out.find(fmt::format("stored {} of {} files", t.fileCount, t.fileCount)), std::string::npos) << r.out;
  const dicomio::LoadedVolume original = dicomio::loadVolume(t.ctFolder);
  for (const std::string& uid : original.sopInstanceUids) EXPECT_FALSE(s_Server->instanceId(uid).empty()) << uid;

  // DIMSE: C-FIND + C-GET by Study Instance UID.
  r = test::runProcess({"lesionkit", "pull", "--from", s_Server->dimseUrl(), "--aet", kOurAet, "--study", t.studyUid,
                        "-o", (dir / "dimse").string(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  EXPECT_NE(r.out.find(fmt::format("fetched {} of {} instances (1 studies)", t.fileCount, t.fileCount)),
            std::string::npos) << r.out;
  expectPullLayout(dir / "dimse", t.studyUid, t.fileCount);
  expectSameSeries(t.ctFolder, dir / "dimse");

  // DICOMweb: QIDO-RS + WADO-RS, found by Patient ID this time.
  // --db indexes what arrived into the archive index.
  r = test::runProcess({"lesionkit", "pull", "--from", s_Server->dicomWebUrl(), "--patient",
                        t.study.options.patientId, "-o", (dir / "web").string(), "--timeout", "10", "--db",
                        (dir / "archive.sqlite").string()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  expectPullLayout(dir / "web", t.studyUid, t.fileCount);
  expectSameSeries(t.ctFolder, dir / "web");
  r = test::runProcess({"lesionkit", "series", "--db", (dir / "archive.sqlite").string(), "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find(t.studyUid), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("\"sliceCount\": {}", t.fileCount)), std::string::npos) << r.out;

  // A study the PACS does not hold: exit 3 saying so.
  r = test::runProcess({"lesionkit", "pull", "--from", s_Server->dimseUrl(), "--study", "1.2.3.4.5.6.7", "-o",
                        (dir / "none").string(), "--timeout", "10"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("no study on"), std::string::npos) << r.err;
}

TEST_F(PacsOrthanc, SegAndSrFromReportTravelByCStoreAndStowRsUnchanged) {
  test::ScratchFolder dir;
  const TinyStudy t = writeTinyStudy(dir / "phantom");
  // The L4 lesion (labels 1 and 3 of the truth) as lesion 1.
  LabelMap mask = t.study.timePoints.at(0).labels;
  for (auto& v : mask.voxels) v = (v == 1 || v == 3) ? 1 : 0;
  dicomio::writeLabelMapFile(mask, dir / "mask.nrrd");
  auto r = test::runProcess({"lesionkit", "report", t.ctFolder.string(), "--mask", (dir / "mask.nrrd").string(),
                             "--lesion", "1:lytic-bone:L4", "--no-meshes", "--no-pictures", "-o",
                             (dir / "report").string()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const fs::path seg = dir / "report" / "seg.dcm";
  const fs::path sr = dir / "report" / "sr.dcm";
  ASSERT_TRUE(fs::exists(seg) && fs::exists(sr));
  const std::string segUid = tagText(seg, DCM_SOPInstanceUID);
  const std::string srUid = tagText(sr, DCM_SOPInstanceUID);
  EXPECT_EQ(tagText(seg, DCM_SOPClassUID), UID_SegmentationStorage);
  const std::string srClass = tagText(sr, DCM_SOPClassUID);
  EXPECT_TRUE(srClass == UID_ComprehensiveSRStorage || srClass == UID_EnhancedSRStorage ||
              srClass == UID_Comprehensive3DSRStorage) << srClass;

  // C-STORE: both land in Orthanc with their SOP classes.
  r = test::runProcess({"lesionkit", "push", seg.string(), sr.string(), "--to", s_Server->dimseUrl(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  EXPECT_NE(r.out.find("stored 2 of 2 files"), std::string::npos) << r.out;
  for (const auto& [uid, modality, sopClass] :
       {std::tuple{segUid, "SEG", std::string(UID_SegmentationStorage)}, std::tuple{srUid, "SR", srClass}}) {
    const std::string id = s_Server->instanceId(uid);
    ASSERT_FALSE(id.empty()) << uid;
    const auto tags = nlohmann::json::parse(
        test::httpRequest("GET", s_Server->restUrl() + "/instances/" + id + "/simplified-tags").body);
    EXPECT_EQ(tags.value("Modality", ""), modality);
    EXPECT_EQ(tags.value("SOPClassUID", ""), sopClass);
  }
  // ... and come back unchanged through C-GET.
  r = test::runProcess({"lesionkit", "pull", "--from", s_Server->dimseUrl(), "--study", t.studyUid, "-o",
                        (dir / "dimse").string(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  EXPECT_NE(r.out.find("fetched 2 of 2 instances"), std::string::npos) << r.out;
  for (const auto& [original, uid] : {std::pair{seg, segUid}, std::pair{sr, srUid}}) {
    const fs::path pulled = findPulled(dir / "dimse", uid);
    ASSERT_FALSE(pulled.empty()) << uid;
    EXPECT_EQ(canonicalDataset(original, dir.path()), canonicalDataset(pulled, dir.path())) << original;
  }

  // Remove them, then STOW-RS: Orthanc holds them again and QIDO-RS lists them.
  for (const std::string& uid : {segUid, srUid}) {
    EXPECT_EQ(test::httpRequest("DELETE", s_Server->restUrl() + "/instances/" + s_Server->instanceId(uid)).status, 200);
    EXPECT_TRUE(s_Server->instanceId(uid).empty());
  }
  r = test::runProcess({"lesionkit", "push", (dir / "report").string(), "--to", s_Server->dicomWebUrl(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  EXPECT_NE(r.out.find("stored 2 of 2 files"), std::string::npos) << r.out; // the folder's other files are skipped
  EXPECT_NE(r.out.find("skipped"), std::string::npos) << r.out;
  const auto qido = nlohmann::json::parse(
      test::httpRequest("GET", s_Server->dicomWebUrl() + "/studies/" + t.studyUid + "/instances").body);
  std::set<std::string> listed;
  for (const auto& i : qido) listed.insert(i.at("00080018").at("Value").at(0).get<std::string>());
  EXPECT_EQ(listed, (std::set<std::string>{segUid, srUid}));
  r = test::runProcess({"lesionkit", "pull", "--from", s_Server->dicomWebUrl(), "--study", t.studyUid, "-o",
                        (dir / "web").string(), "--timeout", "10"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << s_Server->log();
  for (const auto& [original, uid] : {std::pair{seg, segUid}, std::pair{sr, srUid}}) {
    const fs::path pulled = findPulled(dir / "web", uid);
    ASSERT_FALSE(pulled.empty()) << uid;
    EXPECT_EQ(canonicalDataset(original, dir.path()), canonicalDataset(pulled, dir.path())) << original;
  }

  // The peer says no: exit 3 with its answer (association rejected; HTTP status of STOW-RS).
  std::string wrongAet = s_Server->dimseUrl();
  wrongAet.replace(wrongAet.find("ORTHANC"), 7, "NOTORTHANC");
  r = test::runProcess({"lesionkit", "push", seg.string(), "--to", wrongAet, "--timeout", "10"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot open a DICOM association with " + wrongAet), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Rejected"), std::string::npos) << r.err;
  r = test::runProcess({"lesionkit", "push", seg.string(), "--to", s_Server->restUrl() + "/no-dicom-web-here"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAILED " + seg.string()), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << r.err;
}

TEST(PacsCli, UnreachableOrSilentPeerFailsWithExitCode3WithinTheTimeout) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  const fs::path file = writeMinimalDicom(dir / "ct.dcm");
  const std::string closedPort = std::to_string(test::freeTcpPort());
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::runProcess({"lesionkit", "push", file.string(), "--to", "dicom://NOBODY@127.0.0.1:" + closedPort,
                             "--timeout", "3"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot open a DICOM association with dicom://NOBODY@127.0.0.1:" + closedPort), std::string::npos)
      << r.err;
  EXPECT_LT(secondsSince(t0), 8.0);
  t0 = std::chrono::steady_clock::now();
  r = test::runProcess({"lesionkit", "pull", "--from", "http://127.0.0.1:" + closedPort + "/dicom-web", "--study",
                        "1.2.3", "-o", (dir / "out").string(), "--timeout", "3"});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("no answer from http://127.0.0.1:" + closedPort), std::string::npos) << r.err;
  EXPECT_LT(secondsSince(t0), 8.0);

  // A peer that accepts the connection and never answers: the timeout ends the wait.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 8), 0);
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string silentPort = std::to_string(ntohs(a.sin_port));
  for (const std::string& peer : {"dicom://SILENT@127.0.0.1:" + silentPort, "http://127.0.0.1:" + silentPort + "/dicom-web"}) {
    t0 = std::chrono::steady_clock::now();
    r = test::runProcess({"lesionkit", "push", file.string(), "--to", peer, "--timeout", "2"});
    const double seconds = secondsSince(t0);
    EXPECT_EQ(r.exitCode, 3) << peer << r.out << r.err;
    EXPECT_NE(r.err.find(peer.substr(0, 20)), std::string::npos) << r.err;
    EXPECT_GE(seconds, 1.5) << peer;
    EXPECT_LT(seconds, 8.0) << peer;
    std::printf("silent peer %s: gave up after %.1f s (timeout 2 s)\n", peer.c_str(), seconds);
    std::fflush(stdout); // runProcess forks: an unflushed buffer would be written twice
  }
  ::close(s);
}

TEST(PacsCli, NonDicomInputGivesExitCode2NamingItAndBadArgumentsExitCode1) {
  LESIONKIT_REQUIRE_BINARY();
  test::ScratchFolder dir;
  { std::ofstream(dir / "notes.txt") << "not DICOM"; }
  auto r = test::runProcess({"lesionkit", "push", (dir / "notes.txt").string(), "--to", "dicom://X@127.0.0.1:1"});
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("notes.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was sent"), std::string::npos) << r.err;
  r = test::runProcess({"lesionkit", "pull", "--from", "dicom://X@127.0.0.1:1", "-o", (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 1) << r.err; // no --study/--patient/--accession
  EXPECT_NE(r.err.find("--study"), std::string::npos) << r.err;
  r = test::runProcess({"lesionkit", "pull", "--from", "pacs:4242", "--study", "1.2", "-o", (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("dicom://AET@host:port"), std::string::npos) << r.err;
  r = test::runProcess({"lesionkit", "push", (dir / "notes.txt").string(), "--to", "dicom://X@127.0.0.1:1",
                        "--timeout", "0"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}
