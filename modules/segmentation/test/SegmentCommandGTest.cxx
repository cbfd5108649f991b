// `lesionkit segment` as a user runs it: exit codes, the atomic mask, --ras, --recist parsing.
// Skipped when the lesionkit binary has not been built (it is built with the apps target).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lesion/dicomio/VolumeFileIO.h"
#include "lesion/testing/TestHarness.h"

namespace lesion::segmentation {
namespace {

/// A small CT: a 24 mm sphere at 45 HU in fat, air in front, noise SD 10 HU; `withNeighbour`: and a
/// 12 mm sphere of the same density beside it, joined by a thin neck (what the segmentation cuts off).
std::filesystem::path writeSmallCt(const std::filesystem::path& folder, bool withNeighbour = false) {
  ImageGeometry g;
  g.size = {64, 64, 32};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {-31.5, -31.5, -31.0};
  Volume v(g);
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 10.0);
  for (std::size_t k = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const Vec3 p = g.indexToPoint(i, j, k);
        const bool neighbour =
            withNeighbour && (norm(p - Vec3{20.0, 0.0, 0.0}) <= 6.0 ||
                              (p.x > 10.0 && p.x < 16.0 && std::abs(p.y) <= 1.0 && std::abs(p.z) <= 1.0));
        const double hu = norm(p) <= 12.0 || neighbour ? 45.0 : (p.y < -26.0 ? -1000.0 : -100.0);
        v.at(i, j, k) = float(std::round(hu + noise(rng)));
      }
  const auto path = folder / "ct.nrrd";
  dicomio::writeVolumeFile(v, path, true);
  return path;
}

/// The executable under test (runProcess finds it in binaryDir()).
const std::string exe = "lesionkit";

TEST(SegmentCommand, SeedBoxRecistAndRasGiveTheMaskAndItsVolume) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const double trueMl = 4.0 / 3.0 * M_PI * 12 * 12 * 12 / 1000.0;
  const std::vector<std::vector<std::string>> inits = {{"--seed", "1,1,0"},
                                                       {"--box", "-14,-14,-14,14,14,14"},
                                                       {"--recist", "-12,0,1:12,0,1"},
                                                       {"--roi", "-1,1,0,14,14,14", "--ras"},
                                                       {"--recist-ends", "-12,0,1", "--recist-ends", "12,0,1"},
                                                       {"--seed", "-1,-1,0", "--ras"}};
  for (const auto& init : inits) {
    std::vector<std::string> argv{exe,
                                  "segment",
                                  ct,
                                  "--kind",
                                  "soft-tissue",
                                  "-o",
                                  (dir / "mask.nrrd").string(),
                                  "--returnparameterfile",
                                  (dir / "ret.txt").string(),
                                  "-q"};
    argv.insert(argv.end(), init.begin(), init.end());
    const auto run = lesion::test::runProcess(argv);
    ASSERT_EQ(run.exitCode, 0) << init.front() << ": " << run.err;
    const LabelMap mask = dicomio::readLabelMapFile(dir / "mask.nrrd");
    std::size_t n = 0;
    for (auto v : mask.voxels)
      n += v == 1;
    const double ml = double(n) * mask.geometry.voxelVolumeMm3() / 1000.0;
    // Goal 8 % (soft-tissue segmentation issue): every initialisation reaches +1.7 % (3680 voxels,
    // each voxel centre inside the sphere and none outside; the rest is the point-sampled sphere
    // against its analytic volume); the -8.4 % noted here before does not reproduce with the
    // current pipeline (measured with seed, box, RECIST line and --ras).
    EXPECT_NEAR(ml, trueMl, 0.08 * trueMl) << init.front();
    EXPECT_NE(run.out.find("wrote"), std::string::npos);
    std::ifstream ret(dir / "ret.txt");
    const std::string text((std::istreambuf_iterator<char>(ret)), {});
    EXPECT_NE(text.find("volumeMl = "), std::string::npos) << text;
    std::filesystem::remove(dir / "mask.nrrd");
  }
}

// A warning goes to stderr once (the segmentation logs it), not also among the results on stdout.
TEST(SegmentCommand, AWarningIsSaidOnceOnStderr) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path(), true).string();
  const auto r = lesion::test::runProcess(
      {exe, "segment", ct, "--kind", "soft-tissue", "--seed", "1,1,0", "-o", (dir / "mask.nrrd").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  lesion::test::expectWarnedOnceOnStderr(r, "cut off 1 neighbouring structure(s) of similar intensity");
  EXPECT_NE(r.out.find("wrote " + (dir / "mask.nrrd").string()), std::string::npos) << r.out;
}

// Several seeds are points of one lesion: seeds farther apart than the largest lesion are bad input
// (exit 2), said before any work (they failed with "nothing to grow at the seed", exit 3), and the
// help says what several seeds mean ("May be repeated" read as one seed per lesion).
TEST(SegmentCommand, SeedsFartherApartThanTheLargestLesionAreBadInput) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const auto out = (dir / "mask.nrrd").string();
  const auto run = lesion::test::runProcess(
      {exe, "segment", ct, "--seed", "0,0,-8", "--seed", "0,0,8", "--max-diameter-mm", "10", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 2) << run.err;
  EXPECT_NE(run.err.find("the seeds (0.0, 0.0, -8.0) and (0.0, 0.0, 8.0) lie 16 mm apart, more than the largest "
                         "lesion (--max-diameter-mm 10); several seeds are points of one lesion: segment each lesion "
                         "on its own"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  auto help = lesion::test::runProcess({exe, "segment", "--help"}).out;
  // The help wraps its lines: compare with the words only.
  std::replace(help.begin(), help.end(), '\n', ' ');
  help.erase(std::unique(help.begin(), help.end(), [](char a, char b) { return a == ' ' && b == ' '; }), help.end());
  EXPECT_NE(help.find("several seeds are points of ONE lesion"), std::string::npos) << help;
}

TEST(SegmentCommand, FailuresExitWithTheDocumentedCodesAndWriteNothing) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const auto out = (dir / "mask.nrrd").string();
  // Seed in fat: processing failure naming the file (a batch log holds many), no mask.
  auto run = lesion::test::runProcess({exe, "segment", ct, "--seed", "-25,0,0", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 3) << run.err;
  EXPECT_NE(run.err.find("fat"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("'" + ct + "': soft-tissue segmentation"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  // One of two seeds in fat: named (the common sample said only "nothing to grow at the seed").
  run = lesion::test::runProcess({exe, "segment", ct, "--seed", "1,1,0", "--seed", "-25,0,0", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 3) << run.err;
  EXPECT_NE(run.err.find("the seed (-25.0, 0.0, 0.0) is probably in fat"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  // Malformed RECIST line: usage error naming --recist.
  run = lesion::test::runProcess({exe, "segment", ct, "--recist", "1,2,3;4,5,6", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 1);
  EXPECT_NE(run.err.find("--recist"), std::string::npos) << run.err;
  // A RECIST line from one end point only: usage error naming --recist-ends.
  run = lesion::test::runProcess({exe, "segment", ct, "--recist-ends", "-12,0,1", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 1);
  EXPECT_NE(run.err.find("--recist-ends"), std::string::npos) << run.err;
  // Two initialisations at once, or none: usage errors.
  run = lesion::test::runProcess({exe, "segment", ct, "--seed", "0,0,0", "--box", "-9,-9,-9,9,9,9", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 1);
  // A flat box or a line of no length: wrong arguments, each naming its option (they were bad input).
  for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
           {"--box", "-14,-14,1,14,14,1"}, {"--roi", "0,0,0,9,9,0"}, {"--recist", "1,1,1:1,1,1"}}) {
    run = lesion::test::runProcess({exe, "segment", ct, option, value, "-o", out, "-q"});
    EXPECT_EQ(run.exitCode, 1) << option << ": " << run.err;
    EXPECT_NE(run.err.find(option + ": the "), std::string::npos) << run.err;
  }
  // Seed outside the scan: bad input; a box off the scan is named as the box (one reaching past
  // the scan is clipped to it: SoftTissueSynthetic.ABoxReachingPastTheScanIsClippedToIt).
  run = lesion::test::runProcess({exe, "segment", ct, "--seed", "0,0,400", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 2) << run.err;
  run = lesion::test::runProcess({exe, "segment", ct, "--box", "-14,-14,100,14,14,900", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 2) << run.err;
  EXPECT_NE(run.err.find("the box (-14.0, -14.0, 100.0) – (14.0, 14.0, 900.0) (LPS mm) lies outside the scan, which "
                         "spans (-32.0, -32.0, -32.0) – (32.0, 32.0, 32.0)"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"ct.nrrd"});
}

TEST(SegmentCommand, ARecistLineAcrossSlicesIsSegmentedWithAWarning) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const auto out = (dir / "mask.nrrd").string();
  // Ends 8 mm apart across 2 mm slices: RECIST measures on one axial slice.
  auto run = lesion::test::runProcess({exe, "segment", ct, "--recist", "-12,0,-4:12,0,4", "-o", out});
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.err.find("the RECIST line's ends lie 8.0 mm apart across the slices"), std::string::npos) << run.err;
  // On one slice: no such warning.
  run = lesion::test::runProcess({exe, "segment", ct, "--recist", "-12,0,1:12,0,1", "-o", out});
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_EQ(run.err.find("across the slices"), std::string::npos) << run.err;
}

// "-o a.txt", "-o newdir/", an existing folder: refused only after the whole segmentation had run,
// as bad input (2) not naming the option; "-o a.nhdr" was written with its voxels left under the
// temporary's hidden name. Every command's volume or label map output is now refused up front
// (exit 1, naming the option): the volume named here does not exist, so any later check says so
// (exit 2) instead.
TEST(SegmentCommand, AnOutputNotNamedForAVolumeFormatIsRefusedUpFrontNamingTheOption) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  std::filesystem::create_directory(dir / "existing");
  const std::string missing = (dir / "missing.nrrd").string();
  for (const std::string name : {"a.txt", "newdir/", "a.nhdr", "existing", "m.Nii"}) {
    const std::string out = (dir / name).string();
    const std::vector<std::vector<std::string>> runs = {
        {exe, "segment", missing, "--seed", "1,1,0", "-o", out},
        {exe, "segment", missing, "--kind", "lytic", "-o", out},
        {exe, "convert", missing, "-o", out},
        {exe, "spine", missing, "-o", out},
        {exe, "spine", missing, "-o", (dir / "v.nrrd").string(), "--lesions", out},
        {exe, "measure", missing, "--seed", "1,1,0", "-o", (dir / "r.json").string(), "--mask-output", out}};
    for (const auto& argv : runs) {
      const auto run = lesion::test::runProcess(argv);
      EXPECT_EQ(run.exitCode, 1) << argv[1] << " " << name << ": " << run.err;
      const std::string option = argv[argv.size() - 2] == "-o" ? "--output" : argv[argv.size() - 2];
      EXPECT_NE(run.err.find(option + " '" + out + "'"), std::string::npos) << argv[1] << ": " << run.err;
      EXPECT_NE(run.err.find("expected a file name ending in .nrrd, .nii.gz or .nii"), std::string::npos) << run.err;
    }
  }
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"existing"});
}

// "-o m.NII.GZ" / "-o m.NII" failed on the temporary name (".m.NII.part-1-0.GZ": "Bad Nifti file
// name"), and a valid 245-byte name on its temporary's length ("File name too long").
TEST(SegmentCommand, UppercaseExtensionsAndLongNamesAreWritten) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const std::string longName = std::string(240, 'a') + ".nrrd";
  for (const std::string& name : std::vector<std::string>{"m.NII.GZ", "m.NII", "M.NRRD", longName}) {
    const auto run = lesion::test::runProcess({exe, "segment", ct, "--seed", "1,1,0", "-o", (dir / name).string()});
    ASSERT_EQ(run.exitCode, 0) << name << ": " << run.err;
    const LabelMap mask = dicomio::readLabelMapFile(dir / name);
    EXPECT_EQ(mask.at(32, 32, 16), 1) << name;
    EXPECT_EQ(mask.at(2, 2, 2), 0) << name;
  }
  EXPECT_EQ(lesion::test::listFiles(dir.path()),
            (std::vector<std::string>{"M.NRRD", longName, "ct.nrrd", "m.NII", "m.NII.GZ"}));
}

TEST(SegmentCommand, AScanOfTooFewSlicesIsBadInputNamingTheFile) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  // One axial slice of the sphere: it used to end in ITK's "less than 4 pixels" (exit 3).
  ImageGeometry g;
  g.size = {64, 64, 1};
  g.origin = {-31.5, -31.5, 0.0};
  Volume v(g);
  for (std::size_t j = 0; j < g.size[1]; ++j)
    for (std::size_t i = 0; i < g.size[0]; ++i)
      v.at(i, j, 0) =
          norm(g.indexToPoint(i, j, 0)) <= 12.0 ? 45.0f : (j < 4 ? -1000.0f : -100.0f); // 3 values: an image
  const auto slice = (dir / "slice.nrrd").string();
  dicomio::writeVolumeFile(v, slice, true);
  const auto out = (dir / "mask.nrrd").string();
  for (const std::string command : {"segment", "measure"}) {
    auto run = lesion::test::runProcess({exe, command, slice, "--seed", "0,0,0", "-o", out, "-q"});
    EXPECT_EQ(run.exitCode, 2) << command << ": " << run.err;
    EXPECT_NE(run.err.find("'" + slice +
                           "': soft-tissue segmentation needs a 3D scan of at least 4 voxels along each "
                           "axis, found 64 x 64 x 1"),
              std::string::npos)
        << run.err;
  }
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"slice.nrrd"});
}

TEST(SegmentCommand, ALabelMapGivenAsTheImageIsRefusedForSegmentingAndWarnedAboutForMeasuring) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const auto mask = (dir / "mask.nrrd").string();
  auto run = lesion::test::runProcess({exe, "segment", ct, "--seed", "0,0,0", "-o", mask, "-q"});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  const auto out = (dir / "again.nrrd").string();
  for (const char* kind : {"soft-tissue", "lytic"}) {
    run = lesion::test::runProcess({exe, "segment", mask, "--kind", kind, "--seed", "0,0,0", "-o", out, "-q"});
    EXPECT_EQ(run.exitCode, 2) << kind << ": " << run.err;
    EXPECT_NE(run.err.find("'" + mask + "' looks like a label map (values 0 and 1 only), not an image"),
              std::string::npos)
        << run.err;
  }
  run = lesion::test::runProcess({exe, "measure", mask, "--seed", "0,0,0", "-o", (dir / "seed.json").string(), "-q"});
  EXPECT_EQ(run.exitCode, 2) << run.err; // --seed segments first: refused as segment is
  // Sizes measured on the mask itself are still right: measured, with a warning about the intensities.
  const auto report = (dir / "report.json").string();
  run = lesion::test::runProcess({exe, "measure", mask, "--mask", mask, "-o", report});
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.err.find("looks like a label map (values 0 and 1 only), not an image: intensity figures describe "
                         "the labels"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(lesion::test::listFiles(dir.path()), (std::vector<std::string>{"ct.nrrd", "mask.nrrd", "report.json"}));
}

TEST(SegmentCommand, LyticSeedOffTheScanAndAMaskOverTheInputAreRefusedBeforeAnyWork) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto ct = writeSmallCt(dir.path()).string();
  const auto out = (dir / "mask.nrrd").string();
  // The scan spans z -31..31 mm: a bad argument (2), found before the spine is labelled, not
  // "no lytic lesion found at the seed" (3) after it.
  auto run = lesion::test::runProcess({exe, "segment", ct, "--kind", "lytic", "--seed", "0,0,400", "-o", out, "-q"});
  EXPECT_EQ(run.exitCode, 2) << run.err;
  EXPECT_NE(run.err.find("--seed (0.0, 0.0, 400.0) (LPS mm) lies outside volume '" + ct + "'"), std::string::npos)
      << run.err;
  // The mask written over its own CT: refused, the CT untouched, for both kinds.
  std::ifstream in(ct, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(in)), {});
  for (const char* kind : {"soft-tissue", "lytic"}) {
    run = lesion::test::runProcess({exe, "segment", ct, "--kind", kind, "--seed", "1,1,0", "-o", ct, "-q"});
    EXPECT_EQ(run.exitCode, 1) << kind << ": " << run.err;
    EXPECT_NE(run.err.find("is the input"), std::string::npos) << run.err;
  }
  std::ifstream again(ct, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), {}), before);
  EXPECT_EQ(lesion::test::listFiles(dir.path()), std::vector<std::string>{"ct.nrrd"});
}

// `segment --kind lytic` names the level of each lesion it writes, but did not show the spine's
// warnings: on 6 mm slices of the phantom the spine finds L1-L3 as one body (102 mm) and L5 and S1
// as another (66 mm). That one passed for the sacrum, so the L4 lesion was printed "in L5"; now
// the ribs anchor the count (a warning says why), the merged bodies hold the levels their heights
// do, and the lesion is "in L4 (level doubtful)": L1, L4 and L5 are counted past a merged body.
TEST(SegmentCommand, LyticSegmentationShowsTheSpinesDoubtsAboutTheLevels) {
  LESIONKIT_REQUIRE_BINARY();
  lesion::test::ScratchFolder dir("lesionkit-segment");
  auto run = lesion::test::runProcess(
      {exe, "phantom", (dir / "study").string(), "--time-points", "1", "--slice-thickness", "6", "-q"});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  std::filesystem::path ct;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir / "study"))
    if (entry.is_directory() && entry.path().filename() == "CT_01")
      ct = entry.path();
  ASSERT_FALSE(ct.empty());
  run = lesion::test::runProcess({exe, "segment", ct.string(), "--kind", "lytic", "-o", (dir / "lytic.nrrd").string()});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.out.find("lytic lesion in L4 (level doubtful)"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("counted down from the lowest ribs"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("probably several bodies merged"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("the level count past it is doubtful"), std::string::npos) << run.err;
  run = lesion::test::runProcess(
      {exe, "spine", ct.string(), "-o", (dir / "vertebrae.nrrd").string(), "--json", (dir / "spine.json").string()});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  std::ifstream jsonFile(dir / "spine.json");
  const nlohmann::json spineJson = nlohmann::json::parse(jsonFile);
  std::string doubtfulInJson;
  for (const auto& v : spineJson.at("vertebrae"))
    if (v["levelDoubtful"].get<bool>())
      doubtfulInJson += v["level"].get<std::string>() + " ";
  EXPECT_EQ(doubtfulInJson, "L1 L4 L5 ");
  std::istringstream table(run.out);
  std::string doubtful;
  for (std::string line; std::getline(table, line);)
    if (line.find("(level doubtful)") != std::string::npos) {
      std::string level;
      std::istringstream(line) >> level;
      doubtful += level + " ";
    }
  EXPECT_EQ(doubtful, "L1 L4 L5 ") << run.out;
}

// A click in the IBSI lung tumour's necrotic core with a 150 mm limit: the region with the rim
// leaks and the core alone (111 mL of the expert's 359) is returned. That the rim was refused was
// recorded in the diagnostics but never said: the only warning printed was a structure cut off.
TEST(SegmentCommand, ACoreSegmentedWithoutItsRefusedRimSaysSo) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(ct, "theibsi+data_sets/ibsi_1_ct_radiomics_phantom/nifti/image/phantom.nii.gz");
  lesion::test::ScratchFolder dir("lesionkit-segment");
  const auto run = lesion::test::runProcess({exe, "segment", ct.string(), "--seed", "-74.7,16.1,-19.4",
                                             "--max-diameter-mm", "150", "-o", (dir / "core.nrrd").string()});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.err.find("the region with the rim was refused"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("only the core is segmented"), std::string::npos) << run.err;
}

TEST(SegmentCommand, ThinAttachmentsTrimmedAtNecksAreNotCalledStructuresCutOff) {
  LESIONKIT_REQUIRE_BINARY();
  LESIONKIT_REQUIRE_TEST_DATA(ct, "theibsi+data_sets/ibsi_validation/nifti/STS_002/CT_image.nii.gz");
  lesion::test::ScratchFolder dir("lesionkit-segment");
  // A RECIST line across the sarcoma: the opening trims 5.2 mL and cuts off no structure; the
  // line said "0 neighbouring structure(s) cut off (5.2 mL)".
  const auto run =
      lesion::test::runProcess({exe, "segment", ct.string(), "--recist", "60,128.9,-550.6:100,128.9,-550.6", "-o",
                                (dir / "mask.nrrd").string(), "--returnparameterfile", (dir / "ret.txt").string()});
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.out.find("no neighbouring structure cut off; 5.2 mL of thin attachments trimmed at necks"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("0 neighbouring structure(s)"), std::string::npos) << run.out;
  std::ifstream ret(dir / "ret.txt");
  const std::string text((std::istreambuf_iterator<char>(ret)), {});
  EXPECT_NE(text.find("structuresCutOff = 0"), std::string::npos) << text;
}

} // namespace
} // namespace lesion::segmentation
