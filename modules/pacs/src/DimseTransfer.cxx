// DIMSE side of pacs: C-FIND + C-GET (pull) and C-STORE (push) with DCMTK's DcmSCU.
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include "PacsInternal.h"
#include "lesion/core/Error.h"

namespace lesion::pacs::detail {

void initDcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

namespace {

const OFList<OFString>& uncompressedSyntaxes() {
  static const OFList<OFString> list = [] {
    OFList<OFString> l;
    l.push_back(UID_LittleEndianExplicitTransferSyntax);
    l.push_back(UID_LittleEndianImplicitTransferSyntax);
    return l;
  }();
  return list;
}

bool isUncompressedLittleEndian(const std::string& ts) {
  return ts == UID_LittleEndianExplicitTransferSyntax || ts == UID_LittleEndianImplicitTransferSyntax;
}

std::string text(DcmItem* item, const DcmTagKey& tag) {
  OFString s;
  if (item != nullptr && item->findAndGetOFString(tag, s).good()) return s.c_str();
  return {};
}

std::string sopClassName(const std::string& uid) {
  const char* name = dcmFindNameOfUID(uid.c_str());
  return name != nullptr ? fmt::format("{} ({})", uid, name) : uid;
}

void configure(DcmSCU& scu, const PeerAddress& peer, const ConnectionOptions& options) {
  initDcmtk();
  scu.setAETitle(options.callingAeTitle.c_str());
  scu.setPeerAETitle(peer.aeTitle.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(peer.port));
  scu.setConnectionTimeout(options.timeoutSeconds);
  scu.setACSETimeout(static_cast<Uint32>(options.timeoutSeconds));
  scu.setDIMSETimeout(static_cast<Uint32>(options.timeoutSeconds));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setVerbosePCMode(OFFalse);
}

/// Opens the association; throws ProcessingError naming the peer when it fails.
void connect(DcmSCU& scu, const PeerAddress& peer, const ConnectionOptions& options, const std::string& purpose) {
  OFCondition cond = scu.initNetwork();
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) {
    throw ProcessingError(fmt::format("cannot open a DICOM association with {} for {} (our AE title {}, timeout {} s): "
                                      "{}",
                                      peer.toString(), purpose, options.callingAeTitle, options.timeoutSeconds,
                                      cond.text()));
  }
}

/// Releases the association if it is still open (never throws).
struct AssociationGuard {
  DcmSCU& scu;
  ~AssociationGuard() {
    if (scu.isConnected()) scu.releaseAssociation();
  }
};

/// Owns the responses DcmSCU hands back.
template <class T>
struct ResponseList {
  OFList<T*> list;
  ~ResponseList() {
    for (T* r : list) delete r;
  }
};

/// Runs one C-FIND; returns the identifiers of the pending responses. Throws ProcessingError on a
/// network error or a failure status.
std::vector<std::unique_ptr<DcmDataset>> find(DcmSCU& scu, T_ASC_PresentationContextID pc, DcmDataset& keys,
                                              const PeerAddress& peer) {
  ResponseList<QRResponse> responses;
  const OFCondition cond = scu.sendFINDRequest(pc, &keys, &responses.list);
  if (cond.bad()) throw ProcessingError(fmt::format("C-FIND to {} failed: {}", peer.toString(), cond.text()));
  std::vector<std::unique_ptr<DcmDataset>> found;
  for (QRResponse* r : responses.list) {
    if (DICOM_PENDING_STATUS(r->m_status) && r->m_dataset != nullptr) {
      found.push_back(std::make_unique<DcmDataset>(*r->m_dataset));
    } else if (r->m_status != STATUS_Success && !DICOM_PENDING_STATUS(r->m_status)) {
      throw ProcessingError(fmt::format("C-FIND to {} failed: status 0x{:04X} ({})", peer.toString(), r->m_status,
                                        DU_cfindStatusString(r->m_status)));
    }
  }
  return found;
}

struct ExpectedInstance {
  std::string series, sop, sopClass;
};

/// DcmSCU that writes each instance received during a C-GET atomically under the output folder.
class GetScu : public DcmSCU {
public:
  GetScu(std::filesystem::path outputFolder, PullResult& result, std::size_t expected, const Progress& progress)
      : m_Folder(std::move(outputFolder)), m_Result(result), m_Expected(expected), m_Progress(progress) {}

  OFCondition handleSTORERequest(const T_ASC_PresentationContextID /*presID*/, DcmDataset* incoming,
                                 OFBool& continueCGETSession, Uint16& status) override {
    continueCGETSession = OFTrue;
    std::unique_ptr<DcmDataset> dataset(incoming);
    if (!dataset) {
      status = STATUS_STORE_Error_CannotUnderstand;
      return EC_IllegalParameter;
    }
    RetrievedInstance r;
    r.studyInstanceUid = text(dataset.get(), DCM_StudyInstanceUID);
    r.seriesInstanceUid = text(dataset.get(), DCM_SeriesInstanceUID);
    r.sopInstanceUid = text(dataset.get(), DCM_SOPInstanceUID);
    r.sopClassUid = text(dataset.get(), DCM_SOPClassUID);
    r.path = instancePath(m_Folder, r.studyInstanceUid, r.seriesInstanceUid, r.sopInstanceUid);
    const E_TransferSyntax xfer = dataset->getOriginalXfer();
    DcmFileFormat file(dataset.release(), OFFalse);
    try {
      writeInstanceFile(r.path, [&](const std::filesystem::path& tmp) {
        const OFCondition c = file.saveFile(tmp.c_str(), xfer);
        if (c.bad()) throw InputError(fmt::format("cannot write '{}': {}", tmp.string(), c.text()));
      });
    } catch (const Error& e) {
      m_Result.failures.push_back({r.sopInstanceUid, e.what()});
      status = STATUS_STORE_Refused_OutOfResources;
      return EC_Normal;
    }
    m_Result.instances.push_back(r);
    if (m_Expected > 0) m_Progress.report(double(m_Result.instances.size()) / double(m_Expected), "retrieving");
    status = STATUS_Success;
    return EC_Normal;
  }

private:
  std::filesystem::path m_Folder;
  PullResult& m_Result;
  std::size_t m_Expected;
  Progress m_Progress;
};

DcmDataset studyKeys(const StudyQuery& q) {
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, q.studyInstanceUid.c_str());
  keys.putAndInsertString(DCM_PatientID, q.patientId.c_str());
  keys.putAndInsertString(DCM_AccessionNumber, q.accessionNumber.c_str());
  return keys;
}

} // namespace

PullResult pullDimse(const PeerAddress& peer, const StudyQuery& query, const std::filesystem::path& outputFolder,
                     const ConnectionOptions& options, const Progress& progress) {
  PullResult result;
  std::map<std::string, std::vector<ExpectedInstance>> expected; // by study
  {
    DcmSCU scu;
    configure(scu, peer, options);
    scu.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, uncompressedSyntaxes());
    connect(scu, peer, options, "C-FIND");
    AssociationGuard guard{scu};
    const T_ASC_PresentationContextID pc =
        scu.findAnyPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
    if (pc == 0) {
      throw ProcessingError(fmt::format("{} does not accept Study Root C-FIND from {}", peer.toString(),
                                        options.callingAeTitle));
    }
    DcmDataset keys = studyKeys(query);
    for (const auto& study : find(scu, pc, keys, peer)) {
      const std::string uid = text(study.get(), DCM_StudyInstanceUID);
      if (uid.empty() || expected.count(uid) != 0) continue;
      result.studyInstanceUids.push_back(uid);
      auto& instances = expected[uid];
      // Study Root is hierarchical: series of the study, then instances of each series.
      DcmDataset seriesKeys;
      seriesKeys.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
      seriesKeys.putAndInsertString(DCM_StudyInstanceUID, uid.c_str());
      seriesKeys.putAndInsertString(DCM_SeriesInstanceUID, "");
      for (const auto& series : find(scu, pc, seriesKeys, peer)) {
        const std::string seriesUid = text(series.get(), DCM_SeriesInstanceUID);
        DcmDataset imageKeys;
        imageKeys.putAndInsertString(DCM_QueryRetrieveLevel, "IMAGE");
        imageKeys.putAndInsertString(DCM_StudyInstanceUID, uid.c_str());
        imageKeys.putAndInsertString(DCM_SeriesInstanceUID, seriesUid.c_str());
        imageKeys.putAndInsertString(DCM_SOPInstanceUID, "");
        imageKeys.putAndInsertString(DCM_SOPClassUID, "");
        for (const auto& image : find(scu, pc, imageKeys, peer)) {
          instances.push_back({seriesUid, text(image.get(), DCM_SOPInstanceUID), text(image.get(), DCM_SOPClassUID)});
        }
      }
      result.expectedInstanceCount += instances.size();
    }
  }
  progress.report(0.05, "retrieving");
  if (result.studyInstanceUids.empty()) return result;

  // C-GET: the peer sends the instances back on this association (we take the storage SCP role
  // for each SOP class the query listed).
  std::set<std::string> sopClasses;
  for (const auto& [study, instances] : expected) {
    for (const ExpectedInstance& i : instances) {
      if (!i.sopClass.empty()) sopClasses.insert(i.sopClass);
    }
  }
  if (sopClasses.empty()) { // the peer did not return SOP Class UID: offer the common storage classes
    for (int i = 0; i < numberOfDcmShortSCUStorageSOPClassUIDs; ++i) sopClasses.insert(dcmShortSCUStorageSOPClassUIDs[i]);
  }
  GetScu scu(outputFolder, result, result.expectedInstanceCount, progress.sub(0.05, 1.0));
  configure(scu, peer, options);
  scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressedSyntaxes());
  int contexts = 1;
  for (const std::string& c : sopClasses) {
    if (contexts >= 127) break; // at most 128 presentation contexts per association
    scu.addPresentationContext(c.c_str(), uncompressedSyntaxes(), ASC_SC_ROLE_SCP);
    ++contexts;
  }
  connect(scu, peer, options, "C-GET");
  AssociationGuard guard{scu};
  const T_ASC_PresentationContextID pc = scu.findAnyPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  if (pc == 0) {
    throw ProcessingError(fmt::format("{} does not accept Study Root C-GET from {}", peer.toString(),
                                      options.callingAeTitle));
  }
  for (const std::string& study : result.studyInstanceUids) {
    std::vector<std::string> sops;
    for (const ExpectedInstance& i : expected[study]) sops.push_back(i.sop);
    if (!scu.isConnected()) {
      listMissingInstances(sops, result, "the association was closed before this study was retrieved");
      continue;
    }
    DcmDataset keys;
    keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
    keys.putAndInsertString(DCM_StudyInstanceUID, study.c_str());
    ResponseList<RetrieveResponse> responses;
    const OFCondition cond = scu.sendCGETRequest(pc, &keys, &responses.list);
    std::string reason = "not sent by the peer";
    if (cond.bad()) {
      reason = fmt::format("C-GET of study {} failed: {}", study, cond.text());
    } else if (!responses.list.empty()) {
      const RetrieveResponse* last = responses.list.back();
      if (last->m_status != STATUS_Success) {
        reason = fmt::format("not sent by the peer: C-GET status 0x{:04X} ({}), {} sub-operations failed", last->m_status,
                             DU_cgetStatusString(last->m_status), last->m_numberOfFailedSubops);
      }
    }
    listMissingInstances(sops, result, reason);
  }
  return result;
}

PushResult pushDimse(const std::vector<PushItem>& items, const PeerAddress& peer, const ConnectionOptions& options,
                     const Progress& progress) {
  DcmSCU scu;
  configure(scu, peer, options);
  scu.setDatasetConversionMode(OFTrue);
  // Per SOP class: the files' own (compressed) transfer syntaxes, then uncompressed little endian.
  std::map<std::string, std::set<std::string>> syntaxes;
  for (const PushItem& i : items) syntaxes[i.sopClassUid].insert(i.transferSyntaxUid);
  int contexts = 0;
  for (const auto& [sopClass, ts] : syntaxes) {
    for (const std::string& t : ts) {
      if (isUncompressedLittleEndian(t) || contexts >= 127) continue;
      OFList<OFString> one;
      one.push_back(t.c_str());
      scu.addPresentationContext(sopClass.c_str(), one);
      ++contexts;
    }
    if (contexts >= 128) break;
    scu.addPresentationContext(sopClass.c_str(), uncompressedSyntaxes());
    ++contexts;
  }
  connect(scu, peer, options, "C-STORE");
  AssociationGuard guard{scu};
  PushResult result;
  std::size_t done = 0;
  for (const PushItem& item : items) {
    PushFileResult r{item};
    if (!scu.isConnected()) {
      r.message = fmt::format("not sent: the association with {} was closed", peer.toString());
    } else if (scu.findAnyPresentationContextID(item.sopClassUid.c_str(), item.transferSyntaxUid.c_str()) == 0) {
      r.message = fmt::format("{} accepted no presentation context for SOP class {}", peer.toString(),
                              sopClassName(item.sopClassUid));
    } else {
      Uint16 status = 0;
      const OFCondition cond = scu.sendSTORERequest(0, item.path.c_str(), nullptr, status);
      if (cond.bad()) {
        r.message = fmt::format("C-STORE failed: {}", cond.text());
      } else {
        r.status = status;
        r.stored = status == STATUS_Success || DICOM_WARNING_STATUS(status);
        r.message = status == STATUS_Success ? std::string("Success")
                                             : fmt::format("status 0x{:04X} ({})", status, DU_cstoreStatusString(status));
      }
    }
    result.files.push_back(r);
    progress.report(double(++done) / double(items.size()), "sending");
  }
  return result;
}

} // namespace lesion::pacs::detail
