#!/usr/bin/env bash
# Side-by-side load benchmark: `lesionkit convert` against `dcm2niix` on the same 512x512x~267 CT
# series, in the same run, alternating, several repetitions. Reports medians and ratios (the
# machines are shared and noisy: ratios, not absolute seconds) and peak memory (GNU time).
#
# The workload comes from ../shared/tools/make_ct_series.py (real CT anatomy, not committed);
# it is generated once into $LESIONKIT_BENCH_DIR (default: build/bench-workload).
#
# Usage: bench/load_vs_dcm2niix.sh [REPETITIONS]
#   LESIONKIT_BUILD_DIR  build folder holding bin/lesionkit (default: build)
#   LESIONKIT_BENCH_DIR  workload folder (default: build/bench-workload)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-5}
bin="${LESIONKIT_BUILD_DIR:-$here/build}/bin/lesionkit"
work=${LESIONKIT_BENCH_DIR:-$here/build/bench-workload}
maker="$here/../shared/tools/make_ct_series.py"

[ -x "$bin" ] || { echo "$bin not found: build first (make build) or set LESIONKIT_BUILD_DIR" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) not installed: scripts/install-deps.sh --bench" >&2; exit 1; }
command -v dcm2niix >/dev/null || { echo "dcm2niix not installed (scripts/install-deps.sh)" >&2; exit 1; }
if [ ! -d "$work/baseline_dcm" ]; then
  [ -f "$maker" ] || { echo "workload maker $maker not found: set LESIONKIT_BENCH_DIR to a prepared workload" >&2; exit 1; }
  echo "generating the workload into $work (about a minute)..."
  /usr/bin/python3 "$maker" --out "$work" >/dev/null
fi
series="$work/baseline_dcm"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
files=$(ls "$series" | wc -l)
cat "$series"/* >/dev/null # warm the page cache for both tools

run() { # name, command...: prints "seconds peak_kB"
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/$name.time" "$@" >/dev/null 2>&1
  cat "$out/$name.time"
}

declare -a ours theirs ours_mem theirs_mem time_ratios
for i in $(seq "$reps"); do
  read -r t m < <(run ours "$bin" convert "$series" -o "$out/ours.nii" -q)
  ours+=("$t"); ours_mem+=("$m")
  rm -f "$out"/ours*
  read -r t2 m2 < <(run theirs dcm2niix -z n -o "$out" -f theirs "$series")
  theirs+=("$t2"); theirs_mem+=("$m2")
  time_ratios+=("$(awk -v a="$t" -v b="$t2" 'BEGIN {print (b > 0) ? a / b : 0}')")
  rm -f "$out"/theirs*
  echo "  run $i: lesionkit ${t} s ${m} kB, dcm2niix ${t2} s ${m2} kB" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
po=$(median "${ours_mem[@]}"); pt=$(median "${theirs_mem[@]}")
mr=$(median "${time_ratios[@]}")
# GNU time's %M is the peak resident set in KiB; the int16 volume is columns x rows x slices x 2 bytes.
volume_bytes=$(awk -v f="$files" 'BEGIN {print 512 * 512 * f * 2}')
echo "series: $series ($files slices, 512x512, int16 volume $(awk -v b="$volume_bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB)"
echo "repetitions: $reps (alternating, warm cache), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "lesionkit convert: median %.2f s, peak %.0f MB\n" "$mo" "$(awk -v k="$po" 'BEGIN {print k * 1024 / 1e6}')"
printf "dcm2niix -z n:     median %.2f s, peak %.0f MB\n" "$mt" "$(awk -v k="$pt" 'BEGIN {print k * 1024 / 1e6}')"
printf "time ratio lesionkit/dcm2niix: %.2f of the medians, %.2f median of the per-run ratios (goal <= 1.0, aim 0.5)\n" \
  "$(awk -v a="$mo" -v b="$mt" 'BEGIN {print a / b}')" "$mr"
printf "peak memory / int16 volume size: lesionkit %.2f, dcm2niix %.2f (goal <= 1.5)\n" \
  "$(awk -v k="$po" -v v="$volume_bytes" 'BEGIN {print k * 1024 / v}')" "$(awk -v k="$pt" -v v="$volume_bytes" 'BEGIN {print k * 1024 / v}')"
