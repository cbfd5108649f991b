// lesionkit pull: studies from a PACS (C-FIND + C-GET, or QIDO-RS + WADO-RS) into a folder.
#include <map>
#include <ostream>

#include <fmt/format.h>

#include "Commands.h"
#include "PacsCommandOptions.h"
#include "lesion/archive/ArchiveDatabase.h"
#include "lesion/archive/ArchiveIndexer.h"
#include "lesion/core/Error.h"
#include "lesion/pacs/Retrieve.h"

namespace lesion::commands {

cli::Command pullCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "pull";
  c.title = "LesionKit PACS Pull";
  c.summary = "fetch studies from a PACS (DIMSE C-GET or DICOMweb WADO-RS) into a folder";
  c.description =
      "Finds the studies matching --study, --patient and/or --accession on a PACS and copies every instance to "
      "OUTPUT/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm (UIDs reduced to safe file names, each file "
      "written under a temporary name and renamed when complete). A DIMSE peer (dicom://AET@host:port) is queried "
      "with Study Root C-FIND and retrieved with C-GET on the same association, so no incoming port is needed; the "
      "PACS must know our AE title (--aet). A DICOMweb service (http://host:port/dicom-web) is queried with QIDO-RS "
      "and read with WADO-RS. Prints how many instances were fetched and lists every one that failed (exit code 3 "
      "then, and when nothing matches or the peer cannot be reached).";
  c.examples = {"lesionkit pull --from dicom://ORTHANC@pacs.example.org:4242 --aet LESIONKIT --study 1.2.840.1.2.3 -o studies/",
                "lesionkit pull --from http://pacs.example.org:8042/dicom-web --patient LKPHANTOM01 -o studies/ --db archive.sqlite"};
  c.add({"from", ParameterType::String, "PACS",
         "dicom://AET@host:port (DIMSE) or http(s)://host:port/path (DICOMweb service root).", Channel::Input})
      .asRequired();
  c.add({"study", ParameterType::String, "Study Instance UID", "the study to fetch.", Channel::Input}).inGroup("Query");
  c.add({"patient", ParameterType::String, "Patient ID", "fetch every study of this patient.", Channel::Input})
      .inGroup("Query");
  c.add({"accession", ParameterType::String, "Accession number", "fetch the studies with this accession number.",
         Channel::Input})
      .inGroup("Query");
  c.add({"output", ParameterType::Directory, "Output folder",
         "folder to write into (created); one subfolder per study.", Channel::Output, std::nullopt, 'o'})
      .asRequired();
  c.add({"db", ParameterType::File, "Archive index",
         "after the pull, index the output folder into this SQLite archive index (as lesionkit "
         "index OUTPUT --db FILE), so lesionkit series / patient / batch see the new studies.",
         Channel::Output})
      .withExtensions(".sqlite");
  addPacsConnectionParameters(c);
  c.add({"instances", ParameterType::Integer, "Instances", "number of instances fetched.", Channel::Output});
  c.add({"failures", ParameterType::Integer, "Failures", "number of instances not fetched.", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const pacs::PeerAddress peer = pacs::PeerAddress::parse(args.string("from"), "--from");
    const pacs::ConnectionOptions options = pacsConnectionOptions(args);
    pacs::StudyQuery query;
    if (args.has("study")) query.studyInstanceUid = args.string("study");
    if (args.has("patient")) query.patientId = args.string("patient");
    if (args.has("accession")) query.accessionNumber = args.string("accession");
    const std::filesystem::path output = args.path("output");
    const pacs::PullResult r = pacs::pullStudies(peer, query, output, options, ctx.progress);
    ctx.returnValues["instances"] = std::to_string(r.instances.size());
    ctx.returnValues["failures"] = std::to_string(r.failures.size());
    if (r.studyInstanceUids.empty()) {
      throw ProcessingError(fmt::format("no study on {} matches {}", peer.toString(), query.toString()));
    }
    std::map<std::string, std::size_t> perStudy;
    for (const pacs::RetrievedInstance& i : r.instances) ++perStudy[i.studyInstanceUid];
    for (const std::string& study : r.studyInstanceUids) {
      ctx.out << fmt::format("study {}: {} instances in {}\n", study, perStudy[study],
                             (output / pacs::safeFileName(study)).string());
    }
    for (const pacs::TransferFailure& f : r.failures) ctx.out << fmt::format("FAILED {}: {}\n", f.item, f.reason);
    ctx.out << fmt::format("fetched {} of {} instances ({} studies) from {} into {}\n", r.instances.size(),
                           r.expectedInstanceCount, r.studyInstanceUids.size(), peer.toString(), output.string());
    if (args.has("db")) { // what arrived is indexed even when some instances failed
      archive::ArchiveDatabase db(args.path("db"), archive::ArchiveDatabase::Access::ReadWrite);
      const archive::IndexSummary s = archive::indexArchive(db, output);
      ctx.out << fmt::format("indexed {} into {}: {} new or changed files, index holds {} studies\n", output.string(),
                             db.path().string(), s.filesNew + s.filesChanged, s.studiesTotal);
    }
    if (!r.failures.empty()) {
      throw ProcessingError(fmt::format("{} instance(s) could not be fetched from {} (listed above); first: {}: {}",
                                        r.failures.size(), peer.toString(), r.failures.front().item,
                                        r.failures.front().reason));
    }
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
