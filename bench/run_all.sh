#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its own figures (ratios against peer tools where
# a peer exists). Not part of `make test`: timing never decides pass/fail.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
for b in measure_bench segment_bench; do
  [ -x "$here/build/bin/$b" ] && "$here/build/bin/$b" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
done
[ -x "$here/build/bin/archive_bench" ] && "$here/build/bin/archive_bench" --dir "$here/build/archive-workload"
bash "$here/bench/load_vs_dcm2niix.sh" 5
work=${LESIONKIT_BENCH_DIR:-$here/build/bench-workload}
sh "$here/bench/followup_vs_elastix.sh" "$work" "$here/build"
bash "$here/bench/spine_vs_goal.sh" 3
