#!/usr/bin/env bash
# Installs LesionKit's build and test dependencies from Debian 12 packages, by name.
# Idempotent: prints nothing and does nothing when every package is already installed.
# Uses sudo when not root. Nothing is downloaded from anywhere but Debian's archive.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config
  # imaging libraries
  libinsighttoolkit5-dev libvtk9-dev libdcmtk-dev libopencv-dev
  # small libraries
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libsqlite3-dev libtbb-dev zlib1g-dev libpng-dev
  libqhull-dev libcurl4-openssl-dev
  # test peers and validators
  dicom3tools dcmtk dcm2niix
  # a real PACS on loopback for the pull/push tests, and the workflow engine of workflow/
  orthanc orthanc-dicomweb snakemake
  # renders the HTML report headless in the reporting tests
  chromium
  # silences the GDCM CMake config that ITK pulls in (it names these tools)
  libgdcm-tools
  # python helpers used by test/bench scripts (only under /usr/bin/python3)
  python3 python3-numpy python3-jsonschema
)

# `--bench` adds the peers and workload tools of bench/ (make bench), not needed by make test.
if [ "${1:-}" = "--bench" ]; then
  packages+=(elastix hyperfine time python3-pydicom python3-nibabel python3-scipy)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
