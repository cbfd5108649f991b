#!/bin/sh
# Each executable given (lesionkit and the Slicer modules: they all decode DICOM with DCMTK) must
# load DCMTK's CharLS (libdcmtkcharls), and before the system CharLS 2 that GDCM brings when both
# are loaded: the two export functions of the same names with different signatures, and DCMTK's
# JPEG-LS decoder binds to whichever comes first (cmake/LesionKitDependencies.cmake).
status=0
for exe in "$@"; do
  if ! listing=$(ldd "$exe" 2>&1); then
    echo "$exe: ldd failed: $listing"; status=1; continue
  fi
  order=$(printf '%s\n' "$listing" | awk '/libdcmtkcharls\.so/ {print "dcmtk"} /libcharls\.so/ {print "system"}' | tr '\n' ' ')
  case "$order" in
  "dcmtk"*) echo "$exe: $order ok" ;;
  "") echo "$exe: DCMTK's CharLS is not loaded (JPEG-LS cannot be decoded)"; status=1 ;;
  *) echo "$exe: the system CharLS loads before DCMTK's ($order)"; status=1 ;;
  esac
done
exit $status
