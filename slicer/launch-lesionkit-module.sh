#!/bin/sh
# Runs a LesionKit Slicer CLI module outside Slicer's library environment.
#
# Slicer starts CLI modules with its own LD_LIBRARY_PATH (its bundled ITK, VTK, Qt, ...). Our
# executables are linked against the system (Debian) ITK/VTK/DCMTK, and Slicer's copies would
# shadow them and break loading. This wrapper resets LD_LIBRARY_PATH (to LESIONKIT_LD_LIBRARY_PATH
# when set, else empty) and execs the real executable with every argument unchanged.
#
# Usage:
#   launch-lesionkit-module.sh /path/to/bin/LesionKitMeasure [arguments...]
# or, installed as a symbolic link or copy named after the module (e.g. LesionKitMeasure) next to a
# folder holding the real executables (LESIONKIT_BIN, else ../bin relative to the link):
#   LesionKitMeasure --xml
set -eu

name=$(basename "$0")
case "$name" in
  launch-lesionkit-module*|launch-lesionkit-module.sh)
    if [ $# -lt 1 ]; then
      echo "usage: $0 /path/to/LesionKitModule [arguments...]" >&2
      exit 1
    fi
    exe=$1
    shift
    ;;
  *)
    here=$(cd "$(dirname "$0")" && pwd)
    exe="${LESIONKIT_BIN:-$here/../bin}/$name"
    ;;
esac

if [ ! -x "$exe" ]; then
  echo "launch-lesionkit-module: '$exe' is not an executable (set LESIONKIT_BIN to the folder of the LesionKit executables)" >&2
  exit 1
fi

if [ -n "${LESIONKIT_LD_LIBRARY_PATH:-}" ]; then
  LD_LIBRARY_PATH=$LESIONKIT_LD_LIBRARY_PATH
  export LD_LIBRARY_PATH
else
  unset LD_LIBRARY_PATH
fi
# Slicer's Python and Qt settings mean nothing to us either.
unset PYTHONHOME PYTHONPATH QT_PLUGIN_PATH 2>/dev/null || true

exec "$exe" "$@"
