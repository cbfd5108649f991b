#pragma once
/// \file PacsCommandOptions.h
/// Parameters shared by `lesionkit pull` and `lesionkit push`: our AE title and the timeout.

#include <string>

#include "lesion/cli/Command.h"
#include "lesion/pacs/PeerAddress.h"

namespace lesion::commands {

inline void addPacsConnectionParameters(cli::Command& c) {
  using cli::Channel;
  using cli::ParameterType;
  c.add({"aet", ParameterType::String, "Our AE title",
         "calling AE title for DIMSE peers (the PACS may need it declared, e.g. Orthanc "
         "DicomModalities); ignored for DICOMweb.",
         Channel::Input})
      .withDefault("LESIONKIT")
      .inGroup("Connection");
  c.add({"timeout", ParameterType::Integer, "Timeout (s)",
         "seconds allowed for connecting and for each exchange with the peer; nothing waits longer.", Channel::Input})
      .withDefault("30")
      .inGroup("Connection");
}

[[nodiscard]] inline pacs::ConnectionOptions pacsConnectionOptions(const cli::Arguments& args) {
  pacs::ConnectionOptions o;
  o.callingAeTitle = args.string("aet");
  o.timeoutSeconds = static_cast<int>(args.integer("timeout"));
  o.validate();
  return o;
}

} // namespace lesion::commands
