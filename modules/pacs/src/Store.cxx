#include "lesion/pacs/Store.h"

#include <algorithm>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "PacsInternal.h"
#include "lesion/core/Error.h"

namespace lesion::pacs {

namespace fs = std::filesystem;

namespace {

std::string text(DcmItem* item, const DcmTagKey& tag) {
  OFString s;
  if (item != nullptr && item->findAndGetOFString(tag, s).good()) return s.c_str();
  return {};
}

/// The SOP class, instance and transfer syntax of a DICOM file (read up to the pixel data), or the
/// reason it is not one.
bool readPushItem(const fs::path& path, PushItem& item, std::string& reason) {
  detail::initDcmtk();
  DcmFileFormat file;
  const OFCondition cond =
      file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect, DCM_PixelData);
  if (cond.bad()) {
    reason = fmt::format("not a DICOM file ({})", cond.text());
    return false;
  }
  item.path = path;
  item.sopClassUid = text(file.getMetaInfo(), DCM_MediaStorageSOPClassUID);
  if (item.sopClassUid.empty()) item.sopClassUid = text(file.getDataset(), DCM_SOPClassUID);
  item.sopInstanceUid = text(file.getMetaInfo(), DCM_MediaStorageSOPInstanceUID);
  if (item.sopInstanceUid.empty()) item.sopInstanceUid = text(file.getDataset(), DCM_SOPInstanceUID);
  item.transferSyntaxUid = text(file.getMetaInfo(), DCM_TransferSyntaxUID);
  if (item.transferSyntaxUid.empty()) item.transferSyntaxUid = DcmXfer(file.getDataset()->getOriginalXfer()).getXferID();
  if (item.sopClassUid.empty() || item.sopInstanceUid.empty()) {
    reason = "not a DICOM object: no SOP Class UID or SOP Instance UID";
    return false;
  }
  return true;
}

bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string().front() == '.'; }

} // namespace

PushInputs collectPushInputs(const std::vector<fs::path>& inputs) {
  PushInputs result;
  std::vector<std::string> errors;
  for (const fs::path& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (hidden(it->path())) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) files.push_back(it->path());
      }
      if (ec) errors.push_back(fmt::format("cannot read folder '{}': {}", input.string(), ec.message()));
      std::sort(files.begin(), files.end());
      std::size_t found = 0;
      for (const fs::path& f : files) {
        PushItem item;
        std::string reason;
        if (readPushItem(f, item, reason)) {
          result.items.push_back(item);
          ++found;
        } else {
          result.skipped.push_back({f, reason});
        }
      }
      if (found == 0 && !ec) errors.push_back(fmt::format("'{}': no DICOM file in this folder", input.string()));
    } else if (!fs::exists(input, ec)) {
      errors.push_back(fmt::format("'{}': no such file or folder", input.string()));
    } else {
      PushItem item;
      std::string reason;
      if (readPushItem(input, item, reason)) {
        result.items.push_back(item);
      } else {
        errors.push_back(fmt::format("'{}': {}", input.string(), reason));
      }
    }
  }
  if (!errors.empty()) {
    throw InputError(fmt::format("nothing was sent: {}", fmt::join(errors, "; ")));
  }
  return result;
}

std::size_t PushResult::storedCount() const {
  return static_cast<std::size_t>(std::count_if(files.begin(), files.end(), [](const PushFileResult& f) { return f.stored; }));
}

std::size_t PushResult::failedCount() const { return files.size() - storedCount(); }

PushResult pushFiles(const std::vector<PushItem>& items, const PeerAddress& peer, const ConnectionOptions& options,
                     Progress progress) {
  options.validate();
  if (items.empty()) return {};
  return peer.protocol == PeerProtocol::Dimse ? detail::pushDimse(items, peer, options, progress)
                                              : detail::pushDicomWeb(items, peer, options, progress);
}

} // namespace lesion::pacs
