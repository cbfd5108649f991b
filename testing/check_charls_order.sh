#!/bin/sh
# Every executable given that loads both DCMTK's CharLS (libdcmtkcharls) and the system CharLS 2
# (through GDCM) must load DCMTK's first: the two export functions of the same names with
# different signatures, and DCMTK's JPEG-LS decoder binds to whichever comes first
# (cmake/LesionKitDependencies.cmake).
status=0
for exe in "$@"; do
  order=$(ldd "$exe" | awk '/libdcmtkcharls\.so/ {print "dcmtk"} /libcharls\.so/ {print "system"}' | tr '\n' ' ')
  case "$order" in
  "system dcmtk "*) echo "$exe: the system CharLS loads before DCMTK's ($order)"; status=1 ;;
  *) echo "$exe: ${order:-no CharLS} ok" ;;
  esac
done
exit $status
