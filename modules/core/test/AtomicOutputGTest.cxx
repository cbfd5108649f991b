#include <fstream>
#include <iterator>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "lesion/core/AtomicOutput.h"
#include "lesion/core/Error.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;

namespace {
std::string readText(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}
} // namespace

TEST(AtomicOutput, TemporaryKeepsDoubleExtensionAndIsHidden) {
  const fs::path t = temporarySiblingPath("/out/mask.nii.gz");
  EXPECT_EQ(t.parent_path(), fs::path("/out"));
  EXPECT_EQ(t.filename().string().front(), '.');
  EXPECT_EQ(t.filename().string().substr(t.filename().string().size() - 7), ".nii.gz");
  EXPECT_EQ(temporarySiblingPath("/out/r.json").extension(), ".json");
}

// "-o m.NII.GZ": the temporary ".m.NII.part-1-0.GZ" lost the extension ITK's NIfTI writer needs,
// and it takes that extension in lower case only.
TEST(AtomicOutput, TemporaryKeepsAnUppercaseDoubleExtensionInLowerCase) {
  const std::string t = temporarySiblingPath("/out/m.NII.GZ").filename().string();
  EXPECT_EQ(t.substr(0, 8), ".m.part-") << t;
  EXPECT_EQ(t.substr(t.size() - 7), ".nii.gz") << t;
  EXPECT_EQ(temporarySiblingPath("/out/m.NII").extension(), ".nii");
  const std::string vtk = temporarySiblingPath("/out/m.Vtk.Gz").filename().string();
  EXPECT_EQ(vtk.substr(0, 8), ".m.part-");
  EXPECT_EQ(vtk.substr(vtk.size() - 7), ".vtk.gz");
}

// A valid 245-byte output name failed with "File name too long" on its 262-byte temporary.
TEST(AtomicOutput, TheTemporaryOfALongNameFitsAndKeepsItsExtension) {
  test::ScratchFolder dir;
  const std::string name = std::string(240, 'a') + ".nrrd";
  const fs::path t = temporarySiblingPath(dir / name);
  EXPECT_EQ(t.parent_path(), dir.path());
  EXPECT_LE(t.filename().string().size(), 255u);
  EXPECT_EQ(t.extension(), ".nrrd");
  EXPECT_EQ(t.filename().string().substr(0, 4), ".aaa");
  EXPECT_TRUE(isTemporaryOutputName(t));
  writeTextFileAtomically(dir / name, "x");
  EXPECT_EQ(readText(dir / name), "x");

  // Shortened between UTF-8 characters, not inside one: 'é' is two bytes.
  const std::string accented = [] {
    std::string s;
    for (int i = 0; i < 120; ++i)
      s += "\xc3\xa9";
    return s + ".nii.gz";
  }();
  const std::string tn = temporarySiblingPath(dir / accented).filename().string();
  EXPECT_LE(tn.size(), 255u);
  const std::size_t stemBytes = tn.find(".part-") - 1;
  EXPECT_EQ(stemBytes % 2, 0u) << tn;
  EXPECT_EQ(tn.substr(tn.size() - 7), ".nii.gz");

  // A staged folder of a long name too.
  const fs::path folder = dir / std::string(250, 'f');
  {
    StagedOutputFolder staged(folder);
    std::ofstream(staged.path("a.txt")) << "1";
    staged.commit();
  }
  {
    StagedOutputFolder staged(folder); // replacing it renames the old one aside first
    std::ofstream(staged.path("b.txt")) << "2";
    staged.commit();
  }
  EXPECT_EQ(test::listFiles(dir.path()),
            (std::vector<std::string>{name, std::string(250, 'f'), std::string(250, 'f') + "/b.txt"}));
}

TEST(AtomicOutput, TemporaryNamesAreRecognised) {
  EXPECT_TRUE(isTemporaryOutputName(temporarySiblingPath("/out/mask.nii.gz")));
  EXPECT_TRUE(isTemporaryOutputName("/out/.P001.part-123-4")); // a staged folder
  EXPECT_FALSE(isTemporaryOutputName("/out/mask.nii.gz"));
  EXPECT_FALSE(isTemporaryOutputName("/out/.part-1-2"));
  EXPECT_FALSE(isTemporaryOutputName("/out/.IM1.part-x.dcm"));
  EXPECT_FALSE(isTemporaryOutputName("/out/IM1.part-1-2.dcm"));
  // Inside a staged folder of a killed write: below the scanned root only.
  EXPECT_TRUE(isInTemporaryOutput("/out/.P001.part-123-4/IM1.dcm"));
  EXPECT_TRUE(isInTemporaryOutput("/out/.P001.part-123-4/a/IM1.dcm", "/out"));
  EXPECT_TRUE(isInTemporaryOutput("/out/.IM1.part-1-2.dcm", "/out"));
  EXPECT_FALSE(isInTemporaryOutput("/out/.P001.part-123-4/IM1.dcm", "/out/.P001.part-123-4"));
  EXPECT_FALSE(isInTemporaryOutput("/out/P001/IM1.dcm", "/out"));
  EXPECT_FALSE(isInTemporaryOutput("/out/.part-1-2/IM1.dcm"));
}

TEST(AtomicOutput, WritesCompleteFileOrNothing) {
  test::ScratchFolder dir;
  const fs::path target = dir / "report.json";
  writeTextFileAtomically(target, "{\"a\": 1}");
  EXPECT_EQ(readText(target), "{\"a\": 1}");

  // A failing writer leaves the previous file untouched and no temporary behind.
  EXPECT_THROW(writeFileAtomically(target,
                                   [](const fs::path& tmp) {
                                     std::ofstream(tmp) << "half";
                                     throw ProcessingError("writer failed");
                                   }),
               ProcessingError);
  EXPECT_EQ(readText(target), "{\"a\": 1}");
  EXPECT_EQ(test::listFiles(dir.path()), std::vector<std::string>{"report.json"});
}

TEST(AtomicOutput, UnwritableFolderIsAnInputErrorNamingIt) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores folder permissions; covered by the e2e test with a file in the way";
  test::ScratchFolder dir;
  const fs::path locked = dir / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  try {
    writeTextFileAtomically(locked / "x.json", "{}");
    FAIL() << "wrote into a read-only folder";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("locked"), std::string::npos);
  }
}

TEST(AtomicOutput, OutputUnderAFileIsAnInputError) {
  test::ScratchFolder dir;
  std::ofstream(dir / "plainfile") << "x";
  EXPECT_THROW(writeTextFileAtomically(dir / "plainfile" / "x.json", "{}"), InputError);
  EXPECT_THROW(StagedOutputFolder(dir / "plainfile"), InputError);
}

TEST(AtomicOutput, StagedFolderAppearsOnlyOnCommitAndReplacesOldOutputs) {
  test::ScratchFolder dir;
  const fs::path out = dir / "results";
  {
    StagedOutputFolder staged(out);
    std::ofstream(staged.path("a.txt")) << "1";
    EXPECT_FALSE(fs::exists(out));
  } // no commit: discarded
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
  {
    StagedOutputFolder staged(out);
    std::ofstream(staged.path("a.txt")) << "1";
    staged.commit();
  }
  {
    StagedOutputFolder staged(out);
    std::ofstream(staged.path("b.txt")) << "2";
    staged.commit();
  }
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"results", "results/b.txt"}));
}

TEST(AtomicOutput, AnOutputThatWouldOverwriteOrDeleteAnInputIsAUsageError) {
  test::ScratchFolder dir;
  fs::create_directories(dir / "study");
  std::ofstream(dir / "study" / "ct.nrrd") << "ct";
  fs::create_symlink(dir / "study" / "ct.nrrd", dir / "link.nrrd");
  const fs::path ct = dir / "study" / "ct.nrrd";
  auto message = [&](const fs::path& output) {
    try {
      ensureOutputSparesInputs(output, {ct}, "--output");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // The same file under another spelling or through a link; a folder (replaced as a whole) holding it.
  EXPECT_NE(message(dir / "study" / "." / "ct.nrrd").find("is the input"), std::string::npos);
  EXPECT_NE(message(dir / "link.nrrd").find("is the input"), std::string::npos);
  EXPECT_NE(message(dir / "study").find("holds the input"), std::string::npos);
  EXPECT_NE(message(dir.path()).find("ct.nrrd"), std::string::npos);
  // Next to the input, or a new folder beside it: fine.
  EXPECT_EQ(message(dir / "study" / "mask.nrrd"), "");
  EXPECT_EQ(message(dir / "stud"), "");
  EXPECT_EQ(readText(ct), "ct");
}

namespace {
/// The message of the InputError that staging `target` for `owner` throws; empty when it is accepted.
std::string refusal(const fs::path& target, const std::string& owner) {
  try {
    StagedOutputFolder staged(target, owner);
  } catch (const InputError& e) {
    return e.what();
  }
  return {};
}

void writeOutput(const fs::path& target, const std::string& owner, const std::string& text) {
  StagedOutputFolder staged(target, owner);
  fs::create_directories(staged.path("qc"));
  std::ofstream(staged.path("report.json")) << text;
  std::ofstream(staged.path("qc") / "lesion-1.png") << text;
  staged.commit();
}
} // namespace

TEST(AtomicOutput, AUsersFileNextToAnOutputsFileIsRefusedAndKept) {
  // The reviewer's case: a folder of the user's that happens to hold a report.json.
  test::ScratchFolder dir;
  fs::create_directories(dir / "mine" / "sub");
  std::ofstream(dir / "mine" / "report.json") << "{}";
  std::ofstream(dir / "mine" / "notes.txt") << "keep";
  std::ofstream(dir / "mine" / "sub" / "thesis.docx") << "keep";
  const std::string message = refusal(dir / "mine", "report");
  EXPECT_NE(message.find("'" + (dir / "mine").string() + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("('notes.txt')"), std::string::npos) << message;
  EXPECT_NE(message.find("delete it yourself"), std::string::npos) << "no record: the hint for older outputs";
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"mine", "mine/notes.txt", "mine/report.json",
                                                                   "mine/sub", "mine/sub/thesis.docx"}));
}

TEST(AtomicOutput, AnEarlierOutputOfTheSameCommandIsReplaced) {
  test::ScratchFolder dir;
  fs::create_directories(dir / "empty");
  writeOutput(dir / "empty", "report", "first");
  writeOutput(dir / "empty", "report", "second");
  EXPECT_EQ(readText(dir / "empty" / "report.json"), "second");
  EXPECT_EQ(readText(dir / "empty" / kOutputRecordName),
            "lesionkit output of: report\nqc/\nqc/lesion-1.png\nreport.json\n");
  EXPECT_EQ(test::listFiles(dir.path()),
            (std::vector<std::string>{"empty", "empty/" + std::string(kOutputRecordName), "empty/qc",
                                      "empty/qc/lesion-1.png", "empty/report.json"}));
}

TEST(AtomicOutput, AnEarlierOutputHoldingAUsersFileIsRefused) {
  // Anything the command did not write is the user's, also deep inside its own folders.
  test::ScratchFolder dir;
  writeOutput(dir / "out", "report", "first");
  std::ofstream(dir / "out" / "qc" / "my-annotation.png") << "keep";
  const std::string message = refusal(dir / "out", "report");
  EXPECT_NE(message.find("('qc/my-annotation.png')"), std::string::npos) << message;
  fs::remove(dir / "out" / "qc" / "my-annotation.png");
  fs::create_directories(dir / "out" / "report.json.d"); // a folder beside the output's files
  EXPECT_NE(refusal(dir / "out", "report").find("('report.json.d/')"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(dir / "out" / "report.json.d"));
}

TEST(AtomicOutput, AnotherCommandsOutputIsRefused) {
  test::ScratchFolder dir;
  writeOutput(dir / "demo-output", "demo", "demo's");
  const std::string message = refusal(dir / "demo-output", "report");
  EXPECT_NE(message.find("is an output of lesionkit demo, not of lesionkit report"), std::string::npos) << message;
  EXPECT_EQ(readText(dir / "demo-output" / "report.json"), "demo's");
}

TEST(AtomicOutput, FilesAddedWhileTheCommandRanAreKept) {
  // The check is repeated at commit: a slow command's destination may have changed meanwhile.
  test::ScratchFolder dir;
  StagedOutputFolder staged(dir / "out", "report");
  std::ofstream(staged.path("report.json")) << "{}";
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out" / "notes.txt") << "keep";
  EXPECT_THROW(staged.commit(), InputError);
  EXPECT_EQ(readText(dir / "out" / "notes.txt"), "keep");
}

TEST(AtomicOutput, OutputPathsAreNormalisedSoNoDetourFolderIsMade) {
  test::ScratchFolder dir;
  StagedOutputFolder staged(dir / "a" / "detour" / ".." / "x", "demo");
  EXPECT_EQ(staged.target(), (dir / "a" / "x").lexically_normal());
  staged.commit();
  writeTextFileAtomically(dir / "b" / "detour" / ".." / "y.json", "{}");
  EXPECT_EQ(test::listFiles(dir.path()),
            (std::vector<std::string>{"a", "a/x", "a/x/" + std::string(kOutputRecordName), "b", "b/y.json"}));
}

TEST(AtomicOutput, EarlyChecksAndAbandonedStagingLeaveNoEmptyFolders) {
  // A command checks its output folder before reading its inputs; a bad input then must not leave
  // the folders it named behind ("outputs appear complete or not at all").
  test::ScratchFolder dir;
  checkWritableFolder(dir / "new" / "deeper");
  { StagedOutputFolder abandoned(dir / "made" / "for" / "results"); }
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
  std::ofstream(dir / "plainfile") << "x";
  EXPECT_THROW(checkWritableFolder(dir / "plainfile" / "sub"), InputError);
  // An ancestor that held something before stays.
  fs::create_directories(dir / "kept");
  { StagedOutputFolder abandoned(dir / "kept" / "new" / "results"); }
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"kept", "plainfile"}));
}

TEST(AtomicOutput, AFolderCreatedForAFailedOutputGoesAgain) {
  // convert makes the output's folder before decoding (the voxels are decoded into the mapped
  // output file); a decoding error must not leave it behind.
  test::ScratchFolder dir;
  { CreatedOutputFolder failed(dir / "a" / "b"); }
  EXPECT_TRUE(test::listFiles(dir.path()).empty());
  {
    CreatedOutputFolder written(dir / "a" / "b");
    EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
    written.keep();
  }
  EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  // What existed, or holds a file by now, stays.
  { CreatedOutputFolder failed(dir / "a" / "b"); }
  {
    CreatedOutputFolder failed(dir / "c" / "d");
    std::ofstream(dir / "c" / "note") << "x";
  }
  EXPECT_EQ(test::listFiles(dir.path()), (std::vector<std::string>{"a", "a/b", "c", "c/note"}));
  EXPECT_THROW(CreatedOutputFolder(dir / "c" / "note" / "sub"), InputError);
}

TEST(AtomicOutput, TwoOutputsOfOneRunNamingTheSameFileAreAUsageError) {
  test::ScratchFolder dir;
  EXPECT_NO_THROW(ensureDistinctOutputs({{"--output", dir / "r.json"}, {"--csv", dir / "r.csv"}}));
  try {
    ensureDistinctOutputs({{"--output", dir / "r.json"}, {"--csv", dir / "sub" / ".." / "r.json"}});
    FAIL() << "the CSV would replace the JSON report";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--output and --csv both name"), std::string::npos) << e.what();
  }
}

TEST(AtomicOutput, ClaimingAFolderAnotherRunIsClaimingAtTheSameMomentSucceeds) {
  test::ScratchFolder dir;
  const auto out = dir / "batch";
  std::filesystem::create_directories(out);
  // Shards started together: the other run's record is still under its temporary name.
  std::ofstream(out / ".lesionkit-output.part-4242-0") << "{}";
  EXPECT_NO_THROW(claimOutputFolder(out, "batch", "patients"));
  EXPECT_TRUE(std::filesystem::exists(out / kOutputRecordName));
  EXPECT_NO_THROW(claimOutputFolder(out, "batch", "patients")); // its own record now

  const auto users = dir / "mine";
  std::filesystem::create_directories(users);
  std::ofstream(users / "results.csv") << "my own table\n";
  EXPECT_THROW(claimOutputFolder(users, "batch", "patients"), InputError);
}

TEST(AtomicOutput, ADeviceFifoOrSocketAsTheOutputIsRefusedAndKept) {
  // The finished file was renamed over the node: -o /dev/full (as root) left a regular file in
  // /dev, and a FIFO (or a link to one) was replaced by a file.
  test::ScratchFolder dir;
  const fs::path fifo = dir / "pipe.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_symlink(fifo, dir / "link.json");
  for (const fs::path& output : {fifo, dir / "link.json"}) {
    try {
      writeTextFileAtomically(output, "{}");
      FAIL() << "wrote over " << output;
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), "'" + output.string() +
                                           "' is a FIFO (named pipe), not a file: the output is written under a "
                                           "temporary name and renamed into place, which would replace it; choose a "
                                           "file name");
    }
    EXPECT_THROW(ensureOutputSparesInputs(output, {}, "--output"), UsageError);
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_symlink(dir / "link.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 2); // no temporary left
  EXPECT_THROW(ensureOutputSparesInputs("/dev/null", {}, "--output"), UsageError);
}

TEST(AtomicOutput, AnOutputInDevOrProcIsRefusedWhateverItLinksTo) {
  // -o /dev/stdout with standard output redirected to a file: the link is no special file, and
  // renaming the finished file onto it replaced /dev/stdout by a regular file (as root).
  for (const char* output : {"/dev/stdout", "/proc/self/fd/1", "/dev/../dev/stderr"}) {
    EXPECT_THROW(ensureOutputSparesInputs(output, {}, "--output"), UsageError) << output;
    try {
      ensureNotASpecialFile(output);
      FAIL() << output << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("' is in /"), std::string::npos) << e.what();
    }
  }
}

TEST(AtomicOutput, AnOutputGivenAsALinkIsReplacedAndItsTargetKept) {
  // A link into a read-only, content-addressed store (git-annex, DataLad, DVC) must not be
  // written through: the store's object would change for every link to it.
  test::ScratchFolder dir;
  std::ofstream(dir / "object.json") << "stored";
  fs::create_symlink(dir / "object.json", dir / "link.json");
  writeTextFileAtomically(dir / "link.json", "{}");
  EXPECT_FALSE(fs::is_symlink(dir / "link.json"));
  EXPECT_EQ(readText(dir / "link.json"), "{}");
  EXPECT_EQ(readText(dir / "object.json"), "stored");
}
