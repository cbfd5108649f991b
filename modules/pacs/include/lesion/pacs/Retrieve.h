#pragma once
/// \file Retrieve.h
/// Pull: find studies on a PACS and copy every instance into a local folder.
/// DIMSE: C-FIND (Study Root, study / series / image levels) then C-GET (the peer sends the
/// instances back on our own association: no incoming port needed). DICOMweb: QIDO-RS for the
/// studies and their instances, WADO-RS (multipart/related; type="application/dicom") per instance.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/pacs/PeerAddress.h"

namespace lesion::pacs {

/// Which studies to fetch; at least one key. Several keys must all match.
struct StudyQuery {
  std::string studyInstanceUid{};
  std::string patientId{};
  std::string accessionNumber{};
  [[nodiscard]] bool empty() const { return studyInstanceUid.empty() && patientId.empty() && accessionNumber.empty(); }
  [[nodiscard]] std::string toString() const; ///< "StudyInstanceUID=1.2.3, PatientID=X" for messages
};

/// One instance written by a pull.
struct RetrievedInstance {
  std::string studyInstanceUid{};
  std::string seriesInstanceUid{};
  std::string sopInstanceUid{};
  std::string sopClassUid{};
  std::filesystem::path path{}; ///< OUT/<study>/<series>/<instance>.dcm (sanitised UIDs)
};

/// Something that could not be fetched, and why (the peer's status when there is one).
struct TransferFailure {
  std::string item{};   ///< a SOP Instance UID, a study UID or a file
  std::string reason{};
};

struct PullResult {
  std::vector<std::string> studyInstanceUids{};  ///< studies that matched the query
  std::size_t expectedInstanceCount{0};          ///< instances the peer listed for them
  std::vector<RetrievedInstance> instances{};    ///< instances written
  std::vector<TransferFailure> failures{};       ///< instances (or studies) not fetched
};

/// Finds the studies matching `query` on `peer` and writes every instance of each under
/// `outputFolder` as <study UID>/<series UID>/<SOP instance UID>.dcm, every name reduced to
/// [0-9A-Za-z._-] (see safeFileName), each file under a temporary name renamed when complete.
/// Instances that fail are listed in PullResult::failures; no match gives an empty result.
/// Throws lesion::UsageError for an empty query, lesion::InputError when `outputFolder` cannot
/// be written and lesion::ProcessingError (naming the peer, with its status) when the peer
/// cannot be reached, refuses the association or fails the query.
[[nodiscard]] PullResult pullStudies(const PeerAddress& peer, const StudyQuery& query,
                                     const std::filesystem::path& outputFolder, const ConnectionOptions& options = {},
                                     Progress progress = {});

/// A DICOM identifier made safe as one path component: characters outside [0-9A-Za-z._-]
/// become '_', leading dots are dropped ("." and ".." cannot come out), at most 64 characters;
/// "unknown" when nothing is left.
[[nodiscard]] std::string safeFileName(const std::string& identifier);

} // namespace lesion::pacs
