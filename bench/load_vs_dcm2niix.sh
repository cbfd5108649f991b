#!/usr/bin/env bash
# Side-by-side load benchmark: `lesionkit convert` against `dcm2niix` on the same 512x512x~267 CT
# series, in the same run, alternating, several repetitions. Reports medians and ratios (the
# machines are shared and noisy: ratios, not absolute seconds) and peak memory (GNU time).
#
# The workload comes from ../shared/tools/make_ct_series.py (real CT anatomy, not committed);
# it is generated once into $LESIONKIT_BENCH_DIR (default: build/bench-workload).
#
# Usage: bench/load_vs_dcm2niix.sh [REPETITIONS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-5}
bin="$here/build/bin/lesionkit"
work=${LESIONKIT_BENCH_DIR:-$here/build/bench-workload}
maker="$here/../shared/tools/make_ct_series.py"

[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
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

declare -a ours theirs ours_mem theirs_mem
for i in $(seq "$reps"); do
  read -r t m < <(run ours "$bin" convert "$series" -o "$out/ours.nii" -q)
  ours+=("$t"); ours_mem+=("$m")
  rm -f "$out"/ours*
  read -r t m < <(run theirs dcm2niix -z n -o "$out" -f theirs "$series")
  theirs+=("$t"); theirs_mem+=("$m")
  rm -f "$out"/theirs*
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
po=$(median "${ours_mem[@]}"); pt=$(median "${theirs_mem[@]}")
volume_mb=$(awk -v f="$files" 'BEGIN {print 512 * 512 * f * 2 / 1e6}')
echo "series: $series ($files slices, 512x512, int16 volume ${volume_mb} MB)"
echo "repetitions: $reps (alternating, warm cache), $(nproc) cores"
printf "lesionkit convert: median %.2f s, peak %.0f MB\n" "$mo" "$(awk -v k="$po" 'BEGIN {print k / 1024}')"
printf "dcm2niix -z n:     median %.2f s, peak %.0f MB\n" "$mt" "$(awk -v k="$pt" 'BEGIN {print k / 1024}')"
printf "time ratio lesionkit/dcm2niix: %.2f (goal <= 1.0, aim 0.5)\n" "$(awk -v a="$mo" -v b="$mt" 'BEGIN {print a / b}')"
printf "peak memory / int16 volume size: %.2f (goal <= 1.5)\n" "$(awk -v k="$po" -v v="$volume_mb" 'BEGIN {print k / 1024 / v}')"
