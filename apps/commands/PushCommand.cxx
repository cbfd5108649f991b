// lesionkit push: DICOM files to a PACS (C-STORE or STOW-RS), with a per-file report.
#include <ostream>

#include <fmt/format.h>

#include "Commands.h"
#include "PacsCommandOptions.h"
#include "lesion/core/Error.h"
#include "lesion/pacs/Store.h"

namespace lesion::commands {

cli::Command pushCommand() {
  using cli::Channel;
  using cli::ParameterType;
  cli::Command c;
  c.name = "push";
  c.title = "LesionKit PACS Push";
  c.summary = "send DICOM files (images, SEG, SR) to a PACS (DIMSE C-STORE or DICOMweb STOW-RS)";
  c.description =
      "Sends DICOM files, or every DICOM file under folders (non-DICOM files there are skipped and listed), to a "
      "PACS: a DIMSE peer (dicom://AET@host:port) through C-STORE, proposing each SOP class of the files (CT/MR "
      "images, Segmentation Storage, Comprehensive/Enhanced SR...) in its own transfer syntax and in uncompressed "
      "little endian; or a DICOMweb service (http://host:port/dicom-web) through STOW-RS. Prints one line per file "
      "with the peer's answer. Exit code 2 when an input is missing or not DICOM (nothing is sent then), 3 when the "
      "peer cannot be reached or refuses any file (its status is in the message).";
  c.examples = {"lesionkit push report-out/seg.dcm report-out/sr.dcm --to dicom://ORTHANC@pacs.example.org:4242",
                "lesionkit push study/CT --to http://pacs.example.org:8042/dicom-web"};
  c.add({"inputs", ParameterType::File, "DICOM files or folders",
         "DICOM files, or folders searched recursively for DICOM files.", Channel::Input, 0})
      .asRequired()
      .asMultiple();
  c.add({"to", ParameterType::String, "PACS",
         "dicom://AET@host:port (DIMSE) or http(s)://host:port/path (DICOMweb service root).", Channel::Input})
      .asRequired();
  addPacsConnectionParameters(c);
  c.add({"stored", ParameterType::Integer, "Stored", "number of files the peer stored.", Channel::Output});
  c.add({"failed", ParameterType::Integer, "Failed", "number of files the peer did not store.", Channel::Output});
  c.run = [](const cli::Arguments& args, cli::CommandContext& ctx) {
    const pacs::PeerAddress peer = pacs::PeerAddress::parse(args.string("to"), "--to");
    const pacs::ConnectionOptions options = pacsConnectionOptions(args);
    std::vector<std::filesystem::path> inputs;
    for (const std::string& s : args.strings("inputs")) inputs.emplace_back(s);
    const pacs::PushInputs in = pacs::collectPushInputs(inputs);
    for (const pacs::SkippedInput& s : in.skipped) ctx.out << fmt::format("skipped {}: {}\n", s.path.string(), s.reason);
    const pacs::PushResult r = pacs::pushFiles(in.items, peer, options, ctx.progress);
    for (const pacs::PushFileResult& f : r.files) {
      ctx.out << fmt::format("{} {} [{}]: {}\n", f.stored ? "stored" : "FAILED", f.item.path.string(),
                             f.item.sopClassUid, f.message);
    }
    ctx.out << fmt::format("stored {} of {} files on {}\n", r.storedCount(), r.files.size(), peer.toString());
    ctx.returnValues["stored"] = std::to_string(r.storedCount());
    ctx.returnValues["failed"] = std::to_string(r.failedCount());
    if (r.failedCount() > 0) {
      const auto first = std::find_if(r.files.begin(), r.files.end(), [](const auto& f) { return !f.stored; });
      throw ProcessingError(fmt::format("{} of {} files were not stored by {} (listed above); first: {}: {}",
                                        r.failedCount(), r.files.size(), peer.toString(), first->item.path.string(),
                                        first->message));
    }
    ctx.progress.report(1.0, "done");
  };
  return c;
}

} // namespace lesion::commands
