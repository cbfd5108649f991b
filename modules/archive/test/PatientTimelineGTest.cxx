// A patient's timeline from the index: a study without a StudyDate is left out (never the
// baseline), one PatientID on two people or one study on two PatientIDs is a doubt the timeline
// refuses, and a patient without an ID is no patient.
#include <algorithm>

#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/archive/SeriesCatalog.h"
#include "lesion/core/Error.h"
#include "lesion/phantom/Phantom.h"
#include "lesion/testing/TestHarness.h"

namespace fs = std::filesystem;
using namespace lesion;
using namespace lesion::archive;

namespace {

/// Sets (or, with an empty value, removes) `tag` in every .dcm file under `folder`.
void retag(const fs::path& folder, const DcmTagKey& tag, const std::string& value) {
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    if (e.path().extension() != ".dcm")
      continue;
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(e.path().c_str()).good()) << e.path();
    file.loadAllDataIntoMemory(); // the pixels are read lazily: saving over the file would truncate them
    if (value.empty())
      file.getDataset()->findAndDeleteElement(tag);
    else
      file.getDataset()->putAndInsertString(tag, value.c_str());
    ASSERT_TRUE(file.saveFile(e.path().c_str()).good()) << e.path();
  }
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A two-study phantom patient P001 (a few slices), its study folders and UIDs.
class PatientTimelineTest : public ::testing::Test {
protected:
  void SetUp() override {
    phantom::PhantomOptions o;
    o.patientId = "P001";
    o.timePoints = 2;
    o.pixelSizeMm = 3.0;
    o.supersampling = 1;
    o.threads = 2;
    o.zFromMm = 180.0;
    o.zToMm = 196.0;
    const phantom::PhantomOutputFiles written =
        phantom::writePhantomStudy(phantom::generatePhantomStudy(o), m_Dir / "archive");
    ASSERT_EQ(written.seriesFolders.size(), 2u);
    m_Baseline = m_Dir / "archive" / written.seriesFolders[0];
    m_Followup = m_Dir / "archive" / written.seriesFolders[1];
  }

  ArchiveDatabase index() {
    ArchiveDatabase db(m_Dir / "index.sqlite", ArchiveDatabase::Access::ReadWrite);
    (void)indexArchive(db, m_Dir / "archive");
    return db;
  }

  /// StudyInstanceUID of the files in `folder`, as indexed.
  static std::string studyOf(const ArchiveDatabase& db, const fs::path& folder) {
    for (const StudyRecord& s : catalogDatabase(db)) {
      for (const auto& d : indexedInstancesOfSeries(db, s.series.front().seriesInstanceUid)) {
        if (d.path.parent_path() == folder)
          return s.studyInstanceUid;
      }
    }
    ADD_FAILURE() << "no indexed study in " << folder;
    return {};
  }

  test::ScratchFolder m_Dir{"lesionkit-timeline"};
  fs::path m_Baseline, m_Followup;
};

} // namespace

TEST_F(PatientTimelineTest, BothDatedStudiesMakeTheTimeline) {
  const ArchiveDatabase db = index();
  const PatientTimeline t = patientTimeline(db, "P001");
  ASSERT_EQ(t.studies.size(), 2u);
  EXPECT_EQ(t.studies[0].studyDate, "20240115");
  EXPECT_TRUE(t.skippedStudies.empty());
  EXPECT_TRUE(patientIdentityConflicts(db).empty());
}

// Sorted by its empty date, an undated follow-up became the baseline.
TEST_F(PatientTimelineTest, AStudyWithoutDateIsLeftOutNamingItsUidAndFolder) {
  retag(m_Followup, DCM_StudyDate, "");
  const ArchiveDatabase db = index();
  const std::string undated = studyOf(db, m_Followup);
  const PatientTimeline t = patientTimeline(db, "P001");
  ASSERT_EQ(t.studies.size(), 1u);
  EXPECT_EQ(t.studies[0].studyDate, "20240115");
  EXPECT_EQ(t.studies[0].studyInstanceUid, studyOf(db, m_Baseline));
  ASSERT_EQ(t.skippedStudies.size(), 1u);
  const std::string& why = t.skippedStudies.front();
  EXPECT_TRUE(mentions(why, "study " + undated + " in '" + m_Followup.string() + "'")) << why;
  EXPECT_TRUE(mentions(why, "no StudyDate (0008,0020)")) << why;
}

TEST_F(PatientTimelineTest, NoDatedStudyLeavesAnEmptyTimeline) {
  retag(m_Followup, DCM_StudyDate, "");
  retag(m_Baseline, DCM_StudyDate, "2024"); // no YYYYMMDD date either
  const ArchiveDatabase db = index();
  const PatientTimeline t = patientTimeline(db, "P001");
  EXPECT_TRUE(t.studies.empty());
  ASSERT_EQ(t.skippedStudies.size(), 2u);
  EXPECT_TRUE(std::any_of(t.skippedStudies.begin(), t.skippedStudies.end(), [](const std::string& s) {
    return mentions(s, "StudyDate (0008,0020) '2024' is no date (YYYYMMDD)");
  }));
}

TEST_F(PatientTimelineTest, TwoPeopleUnderOnePatientIdAreRefused) {
  retag(m_Followup, DCM_PatientName, "Other^Person");
  retag(m_Followup, DCM_PatientBirthDate, "19500101");
  const ArchiveDatabase db = index();
  const auto conflicts = patientIdentityConflicts(db);
  ASSERT_EQ(conflicts.size(), 1u);
  const std::string& c = conflicts.front();
  EXPECT_TRUE(mentions(c, "PatientID 'P001' is used by 2 people")) << c;
  EXPECT_TRUE(mentions(c, "'Phantom^Lesionkit' born 19560301 (study " + studyOf(db, m_Baseline) + " in '" +
                              m_Baseline.string() + "')"))
      << c;
  EXPECT_TRUE(mentions(c, "'Other^Person' born 19500101 (study " + studyOf(db, m_Followup) + " in '" +
                              m_Followup.string() + "')"))
      << c;
  EXPECT_EQ(patientIdentityConflicts(db, "P001"), conflicts);
  try {
    (void)patientTimeline(db, "P001");
    FAIL() << "a timeline over two people";
  } catch (const InputError& e) {
    EXPECT_TRUE(mentions(e.what(), "patient 'P001': whose scans these are is in doubt: " + c)) << e.what();
  }
}

TEST_F(PatientTimelineTest, ABirthDateAloneTellsTwoPeopleApart) {
  retag(m_Followup, DCM_PatientBirthDate, "19500101");
  const ArchiveDatabase db = index();
  ASSERT_EQ(patientIdentityConflicts(db).size(), 1u);
  EXPECT_THROW((void)patientTimeline(db, "P001"), InputError);
}

TEST_F(PatientTimelineTest, ANameSpelledInOtherCaseOrAMissingBirthDateIsNoSecondPerson) {
  retag(m_Followup, DCM_PatientName, "PHANTOM^LESIONKIT^^");
  retag(m_Followup, DCM_PatientBirthDate, "");
  const ArchiveDatabase db = index();
  EXPECT_TRUE(patientIdentityConflicts(db).empty());
  EXPECT_EQ(patientTimeline(db, "P001").studies.size(), 2u);
}

// One person written differently across sites and years (a middle initial, a family name changed
// by marriage, the same birth date) is no second person: a batch must not refuse such a patient.
TEST_F(PatientTimelineTest, ANameVariantWithTheSameBirthDateIsNoSecondPerson) {
  for (const char* variant : {"Phantom^Lesionkit^A", "Married^Lesionkit", "PHANTOM^LESIONKIT^^^JR"}) {
    SCOPED_TRACE(variant);
    retag(m_Followup, DCM_PatientName, variant);
    const ArchiveDatabase db = index();
    EXPECT_TRUE(patientIdentityConflicts(db).empty());
    EXPECT_EQ(patientTimeline(db, "P001").studies.size(), 2u);
  }
  retag(m_Followup, DCM_PatientName, "Other^Person"); // both family and given name differ
  EXPECT_EQ(patientIdentityConflicts(index()).size(), 1u);
}

// A re-export with a corrected ID beside the old files: one study, two PatientIDs.
TEST_F(PatientTimelineTest, OneStudyUnderTwoPatientIdsIsFlaggedForBoth) {
  const fs::path copy = m_Dir / "archive" / "re-export";
  fs::copy(m_Baseline, copy, fs::copy_options::recursive);
  retag(copy, DCM_PatientID, "P001X");
  const ArchiveDatabase db = index();
  const std::string study = studyOf(db, m_Baseline);
  const auto conflicts = patientIdentityConflicts(db);
  ASSERT_EQ(conflicts.size(), 1u);
  const std::string& c = conflicts.front();
  EXPECT_TRUE(mentions(c, "study " + study + ": its files carry 2 PatientIDs")) << c;
  EXPECT_TRUE(mentions(c, "'P001' (")) << c;
  EXPECT_TRUE(mentions(c, "files in '" + m_Baseline.string() + "')")) << c;
  EXPECT_TRUE(mentions(c, "'P001X' (")) << c;
  EXPECT_TRUE(mentions(c, "files in '" + copy.string() + "')")) << c;
  // The index files the study under one of them; asked for either, the doubt is told.
  EXPECT_EQ(patientIdentityConflicts(db, "P001"), conflicts);
  EXPECT_EQ(patientIdentityConflicts(db, "P001X"), conflicts);
  EXPECT_THROW((void)patientTimeline(db, indexedPatients(db).front()), InputError);
}

TEST_F(PatientTimelineTest, APatientWithoutIdIsNoPatient) {
  retag(m_Followup, DCM_PatientID, "");
  const ArchiveDatabase db = index();
  try {
    (void)patientTimeline(db, "");
    FAIL() << "an empty PatientID stood for a patient";
  } catch (const InputError& e) {
    EXPECT_TRUE(mentions(e.what(), "1 study without a PatientID (0010,0020) (e.g. study " + studyOf(db, m_Followup) +
                                       " in '" + m_Followup.string() + "')"))
        << e.what();
  }
}
