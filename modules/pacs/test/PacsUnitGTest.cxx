// pacs without a network: peer addresses, safe file names, multipart bodies, input collection.
#include <fstream>

#include <gtest/gtest.h>

#include "lesion/core/Error.h"
#include "lesion/pacs/Multipart.h"
#include "lesion/pacs/PeerAddress.h"
#include "lesion/pacs/Retrieve.h"
#include "lesion/pacs/Store.h"
#include "lesion/testing/TestHarness.h"

using namespace lesion;
using namespace lesion::pacs;

TEST(PeerAddress, ParsesDimseAndDicomWeb) {
  const PeerAddress d = PeerAddress::parse("dicom://ORTHANC@127.0.0.1:4242", "--from");
  EXPECT_EQ(d.protocol, PeerProtocol::Dimse);
  EXPECT_EQ(d.aeTitle, "ORTHANC");
  EXPECT_EQ(d.host, "127.0.0.1");
  EXPECT_EQ(d.port, 4242);
  EXPECT_EQ(d.toString(), "dicom://ORTHANC@127.0.0.1:4242");
  const PeerAddress w = PeerAddress::parse("http://localhost:8042/dicom-web/", "--to");
  EXPECT_EQ(w.protocol, PeerProtocol::DicomWeb);
  EXPECT_EQ(w.baseUrl, "http://localhost:8042/dicom-web");
  EXPECT_EQ(w.host, "localhost");
}

TEST(PeerAddress, RejectsMalformedAddressesNamingTheOption) {
  for (const char* bad : {"ORTHANC@host:4242", "dicom://host:4242", "dicom://ORTHANC@host", "dicom://ORTHANC@host:0",
                          "dicom://ORTHANC@host:99999", "dicom://A_VERY_LONG_AE_TITLE@host:104",
                          "dicom://@host:104", "ftp://host/x", "http:///dicom-web"}) {
    try {
      (void)PeerAddress::parse(bad, "--from");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--from"), std::string::npos) << e.what();
    }
  }
  ConnectionOptions o;
  o.timeoutSeconds = 0;
  EXPECT_THROW(o.validate(), UsageError);
  o.timeoutSeconds = 5;
  o.callingAeTitle = "BAD\\AE";
  EXPECT_THROW(o.validate(), UsageError);
}

TEST(SafeFileName, KeepsUidsAndNeutralisesPaths) {
  EXPECT_EQ(safeFileName("1.2.840.10008.5.1.4.1.1.2"), "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(safeFileName("../../etc/passwd"), "_.._etc_passwd");
  EXPECT_EQ(safeFileName(".."), "unknown");
  EXPECT_EQ(safeFileName(""), "unknown");
  EXPECT_EQ(safeFileName("a/b\\c d"), "a_b_c_d");
  EXPECT_EQ(safeFileName(std::string(100, '7')).size(), 64u);
}

TEST(Multipart, RoundTripsBinaryPartsAndFindsQuotedBoundaries) {
  const std::string binary("DICM\r\n--not-the-boundary\0\r\n\r\nend", 34);
  const std::vector<MultipartPart> parts{{"application/dicom", binary}, {"application/dicom", ""}, {"", "x"}};
  const std::string body = buildMultipart(parts, "b0undary");
  const auto back = parseMultipart(body, "b0undary");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].body, binary);
  EXPECT_EQ(back[0].contentType, "application/dicom");
  EXPECT_EQ(back[1].body, "");
  EXPECT_EQ(back[2].contentType, "");
  EXPECT_EQ(back[2].body, "x");
  EXPECT_EQ(multipartBoundary("multipart/related; type=\"application/dicom\"; boundary=\"a b;c\""), "a b;c");
  EXPECT_EQ(multipartBoundary("multipart/related;boundary=xyz; type=application/dicom"), "xyz");
  EXPECT_EQ(multipartBoundary("application/dicom"), "");
  EXPECT_THROW((void)parseMultipart(body.substr(0, body.size() / 2), "b0undary"), ProcessingError);
  EXPECT_THROW((void)parseMultipart("no boundary here", "b0undary"), ProcessingError);
}

TEST(CollectPushInputs, NamesNonDicomFilesAndMissingPaths) {
  test::ScratchFolder dir;
  { std::ofstream(dir / "notes.txt") << "not DICOM"; }
  try {
    (void)collectPushInputs({dir / "notes.txt", dir / "missing.dcm"});
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("notes.txt"), std::string::npos) << m;
    EXPECT_NE(m.find("missing.dcm"), std::string::npos) << m;
  }
  EXPECT_THROW((void)collectPushInputs({dir.path()}), InputError); // a folder without DICOM
}
