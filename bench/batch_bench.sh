#!/usr/bin/env bash
# Batch throughput: N phantom patients (the default study: 3 time points, 1 mm pixels, 2 mm
# slices; an axillary mass and a lytic L4 lesion each, seeds from truth.json) indexed and run by
# `lesionkit batch --jobs 2`; prints patients per hour and the batch's own overhead per patient
# (index look-up, job bookkeeping, process start, collection) against the pipeline time.
#   bench/batch_bench.sh [PATIENTS] [WORK_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lk=${LESIONKIT:-$here/build/bin/lesionkit}
n=${1:-4}
work=${2:-$here/build/batch-workload}
mkdir -p "$work"
if [ ! -f "$work/archive.done-$n" ]; then
  rm -rf "$work/archive"
  for i in $(seq 1 "$n"); do
    "$lk" phantom "$work/archive/p$i" --patient-id "BENCH$i" --seed "$i" --threads 2 -q > /dev/null
  done
  touch "$work/archive.done-$n"
fi
/usr/bin/python3 - "$work" "$n" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
rows = ["patient_id,lesion,kind,init,x1,y1,z1,level,target"]
for i in range(1, n + 1):
    truth = json.load(open(f"{work}/archive/p{i}/BENCH{i}/truth.json"))
    for lesion in truth["timePoints"][0]["lesions"]:
        x, y, z = lesion["seedMm"]
        lytic = lesion["id"] == "l4-lytic"
        rows.append(f"BENCH{i},{'L4' if lytic else 'axilla'},{'lytic-bone' if lytic else 'soft-tissue'},seed,"
                    f"{x},{y},{z},{'L4' if lytic else ''},{'no' if lytic else 'yes'}")
open(f"{work}/lesions.csv", "w").write("\n".join(rows) + "\n")
PY
rm -f "$work/archive.sqlite"; rm -rf "$work/results"
"$lk" index "$work/archive" --db "$work/archive.sqlite" -q | head -1
start=$(date +%s.%N)
"$lk" batch --db "$work/archive.sqlite" --manifest "$work/lesions.csv" -o "$work/results" --jobs 2 -q | tee "$work/batch.log"
end=$(date +%s.%N)
/usr/bin/python3 - "$start" "$end" "$n" "$work/batch.log" <<'PY'
import re, sys
start, end, n, log = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4]).read()
wall = end - start
per = float(re.search(r"pipeline ([\d.]+) s per patient", log).group(1))
overhead = float(re.search(r"bookkeeping ([\d.]+) s", log).group(1))
print(f"{n} patients in {wall:.1f} s on 2 jobs: {3600 * n / wall:.0f} patients/hour; "
      f"pipeline {per:.1f} s per patient; batch overhead {overhead / n:.2f} s per patient "
      f"= {100 * overhead / n / per:.2f} % of the pipeline time")
PY
# A second run reuses everything: its whole time is bookkeeping.
start=$(date +%s.%N)
"$lk" batch --db "$work/archive.sqlite" --manifest "$work/lesions.csv" -o "$work/results" --jobs 2 -q | head -1
end=$(date +%s.%N)
/usr/bin/python3 -c "import sys; print(f'rerun with nothing to do: {float(sys.argv[2]) - float(sys.argv[1]):.2f} s for {sys.argv[3]} patients')" "$start" "$end" "$n"
