#!/usr/bin/env bash
# Spine benchmark (issue 6): `lesionkit spine --auto` (vertebrae by level, heights, lytic lesion
# candidates) and `lesionkit segment --kind lytic` (the same, one label map) on a 512 x 512 x 300
# CT from ../shared/tools/make_ct_series.py (real CT anatomy at 0.8 x 0.8 x 1.12 mm: 298 slices, not
# committed), loading included. Goal: under 20 s each on 2 cores. Prints median wall time and
# peak memory (GNU time) per command.
#
# Usage: bench/spine_vs_goal.sh [REPETITIONS]
#   LESIONKIT_BUILD_DIR       build folder holding bin/lesionkit (default: build)
#   LESIONKIT_SPINE_BENCH_DIR workload folder (default: build/bench-workload-spine; generated when missing)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3}
bin="${LESIONKIT_BUILD_DIR:-$here/build}/bin/lesionkit"
work=${LESIONKIT_SPINE_BENCH_DIR:-$here/build/bench-workload-spine}
maker="$here/../shared/tools/make_ct_series.py"

[ -x "$bin" ] || { echo "$bin not found: build first (make build) or set LESIONKIT_BUILD_DIR" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) not installed: scripts/install-deps.sh --bench" >&2; exit 1; }
if [ ! -f "$work/baseline.nii" ]; then
  [ -f "$maker" ] || { echo "workload maker $maker not found: set LESIONKIT_SPINE_BENCH_DIR to a prepared workload" >&2; exit 1; }
  echo "generating the 512 x 512 x 298 workload into $work (about a minute)..."
  # The source CT spans 336 mm: 1.12 mm slices give 298 of them.
  /usr/bin/python3 "$maker" --out "$work" --slice-spacing 1.12 --no-followup >/dev/null
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat "$work/baseline.nii" >/dev/null # warm the page cache

run() { # name, command...: prints "wall_seconds peak_kB cpu_seconds exit"
  local name=$1; shift
  local rc=0
  /usr/bin/time -f "%e %M %U %S" -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1 || rc=$?
  read -r e m u s < <(tail -1 "$out/$name.time")
  echo "$e $m $(echo "$u + $s" | bc) $rc"
  return
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a spine_t spine_m spine_c seg_t seg_m seg_c
for i in $(seq "$reps"); do
  read -r t m c rc < <(run spine "$bin" spine "$work/baseline.nii" -o "$out/v.nrrd" --json "$out/s.json" --auto \
    --lesions "$out/l.nrrd")
  [ "$rc" = 0 ] || { cat "$out/spine.log" >&2; exit 1; }
  spine_t+=("$t"); spine_m+=("$m"); spine_c+=("$c")
  # No seed: every labelled lesion in one label map.
  read -r t m c rc < <(run segment "$bin" segment "$work/baseline.nii" --kind lytic -o "$out/m.nrrd")
  seg_t+=("$t"); seg_m+=("$m"); seg_c+=("$c"); seg_rc=$rc
done
size=$(grep -m1 -A3 '"size_xyz"' "$work/manifest.json" | tr -d ' \n' | sed 's/.*\[\(.*\)\].*/\1/')
echo "workload: $work/baseline.nii ($size voxels), $reps repetitions, $(nproc) cores"
echo "machine load before the last run: $(cut -d' ' -f1-3 /proc/loadavg) (wall time is inflated when it exceeds the cores)"
echo "lesionkit spine --auto:         median wall $(median "${spine_t[@]}") s, CPU (user+sys) $(median "${spine_c[@]}") s, peak $(( $(median "${spine_m[@]}") / 1024 )) MB (goal < 20 s)"
echo "lesionkit segment --kind lytic: median wall $(median "${seg_t[@]}") s, CPU (user+sys) $(median "${seg_c[@]}") s, peak $(( $(median "${seg_m[@]}") / 1024 )) MB, exit $seg_rc (goal < 20 s)"
grep -E "vertebrae|lesion|level" "$out/spine.log" | head -12 || true
