#pragma once
/// \file Store.h
/// Push: send DICOM files to a PACS. DIMSE: C-STORE with one presentation context per SOP class
/// of the files (their own transfer syntax, plus explicit and implicit little endian to fall back
/// on). DICOMweb: STOW-RS (multipart/related; type="application/dicom" POSTs to /studies).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lesion/core/Progress.h"
#include "lesion/pacs/PeerAddress.h"

namespace lesion::pacs {

/// A DICOM file to send, with what its meta header and dataset say.
struct PushItem {
  std::filesystem::path path{};
  std::string sopClassUid{};
  std::string sopInstanceUid{};
  std::string transferSyntaxUid{};
};

/// A file under a folder that was not sent because it is not a readable DICOM file.
struct SkippedInput {
  std::filesystem::path path{};
  std::string reason{};
};

struct PushInputs {
  std::vector<PushItem> items{};
  std::vector<SkippedInput> skipped{}; ///< non-DICOM files found inside folders
};

/// Files named directly must be DICOM (Part 10, or a raw dataset DCMTK recognises); folders are
/// searched recursively and non-DICOM files in them are listed in `skipped`. Hidden files
/// (temporaries) are ignored. Throws lesion::InputError naming every file given directly that is
/// missing or not DICOM, and each folder without any DICOM file.
[[nodiscard]] PushInputs collectPushInputs(const std::vector<std::filesystem::path>& inputs);

struct PushFileResult {
  PushItem item{};
  bool stored{false};
  std::optional<std::uint16_t> status{}; ///< DIMSE status, or STOW-RS Failure Reason / HTTP status
  std::string message{};                 ///< the peer's answer in words ("Success", "warning ...", why it failed)
};

struct PushResult {
  std::vector<PushFileResult> files{}; ///< in the order of the items
  [[nodiscard]] std::size_t storedCount() const;
  [[nodiscard]] std::size_t failedCount() const;
};

/// Sends every item to `peer`. Per-file failures (refused SOP class, peer status) are reported in
/// the result, not thrown. Throws lesion::ProcessingError naming the peer when it cannot be
/// reached, refuses the association or the connection breaks (with the peer's status when known).
[[nodiscard]] PushResult pushFiles(const std::vector<PushItem>& items, const PeerAddress& peer,
                                   const ConnectionOptions& options = {}, Progress progress = {});

} // namespace lesion::pacs
