#include <fstream>

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
