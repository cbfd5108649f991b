#pragma once
/// \file PacsInternal.h
/// What the DIMSE and DICOMweb halves of pacs share: the output layout and the protocol entry points.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lesion/pacs/Retrieve.h"
#include "lesion/pacs/Store.h"

namespace lesion::pacs::detail {

/// Silences DCMTK's logger (libraries never print) and registers the decoders C-STORE may need to
/// convert a compressed file to uncompressed little endian. Idempotent, thread-safe.
void initDcmtk();

/// OUT/<study>/<series>/<instance>.dcm with every component passed through safeFileName.
[[nodiscard]] std::filesystem::path instancePath(const std::filesystem::path& outputFolder, const std::string& study,
                                                 const std::string& series, const std::string& instance);

/// Writes `write(temporary)` to `target` atomically, creating the parent folders first.
void writeInstanceFile(const std::filesystem::path& target,
                       const std::function<void(const std::filesystem::path&)>& write);

/// Adds a failure for every expected instance (SOP Instance UID) that is not among the retrieved.
void listMissingInstances(const std::vector<std::string>& expectedSopInstanceUids, PullResult& result,
                          const std::string& reason);

PullResult pullDimse(const PeerAddress& peer, const StudyQuery& query, const std::filesystem::path& outputFolder,
                     const ConnectionOptions& options, const Progress& progress);
PullResult pullDicomWeb(const PeerAddress& peer, const StudyQuery& query, const std::filesystem::path& outputFolder,
                        const ConnectionOptions& options, const Progress& progress);
PushResult pushDimse(const std::vector<PushItem>& items, const PeerAddress& peer, const ConnectionOptions& options,
                     const Progress& progress);
PushResult pushDicomWeb(const std::vector<PushItem>& items, const PeerAddress& peer, const ConnectionOptions& options,
                        const Progress& progress);

} // namespace lesion::pacs::detail
