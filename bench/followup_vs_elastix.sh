#!/bin/sh
# Side by side: LesionKit's rigid follow-up registration and elastix on the same CT pair.
#   bench/followup_vs_elastix.sh WORKLOAD_DIR BUILD_DIR   (make bench runs it on build/bench-workload)
# WORKLOAD_DIR is the output of ../shared/tools/make_ct_series.py (baseline.nii,
# followup.nii, truth.json); never commit it. Needs elastix (Debian package) and python3 (the
# end-to-end part: Debian's python3-nibabel under /usr/bin/python3, as make_ct_series.py).
set -eu
W=$1
B=$2
HERE=$(cd "$(dirname "$0")" && pwd)
set -- $(python3 -c "
import json; m=json.load(open('$W/truth.json'))['matrix4x4']
print(','.join(repr(m[r][c]) for r in range(3) for c in range(3)), ','.join(repr(m[r][3]) for r in range(3)))")
echo "== lesionkit (lesion::longitudinal::registerRigid + one local refinement + one B-spline level)"
"$B/bin/followup_bench" "$W/baseline.nii" "$W/followup.nii" "$1" "$2"
OUT=$(mktemp -d)
echo "== elastix (bench/elastix_rigid.txt), 2 threads"
/usr/bin/time -f "elastix wall %e s" elastix -f "$W/baseline.nii" -m "$W/followup.nii" -p "$HERE/elastix_rigid.txt" \
  -out "$OUT" -threads 2 > /dev/null
grep -E "^\(TransformParameters|^\(CenterOfRotationPoint" "$OUT/TransformParameters.0.txt"
python3 - "$OUT/TransformParameters.0.txt" "$W/truth.json" <<'PY'
import json, math, re, sys
text = open(sys.argv[1]).read()
p = [float(v) for v in re.search(r"\(TransformParameters ([^)]*)\)", text).group(1).split()]
c = [float(v) for v in re.search(r"\(CenterOfRotationPoint ([^)]*)\)", text).group(1).split()]
ax, ay, az, tx, ty, tz = p
# elastix Euler (ComputeZYX false): R = Rz * Rx * Ry
cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
Rz = [[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]
Rx = [[1, 0, 0], [0, cx, -sx], [0, sx, cx]]
Ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]
mul = lambda A, B: [[sum(A[i][k] * B[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
R = mul(mul(Rz, Rx), Ry)
truth = json.load(open(sys.argv[2]))["matrix4x4"]
x = [truth_c for truth_c in json.load(open(sys.argv[2]))["c"]]  # the rotation centre: inside the patient
est = [sum(R[i][k] * (x[k] - c[k]) for k in range(3)) + c[i] + [tx, ty, tz][i] for i in range(3)]
tru = [sum(truth[i][k] * x[k] for k in range(3)) + truth[i][3] for i in range(3)]
print("elastix error at the truth's rotation centre: %.3f mm" % math.dist(est, tru))
PY
rm -rf "$OUT"
echo "== lesionkit followup end to end (default options: automatic reference vertebrae), one 8 mm lesion in L3"
OUT=$(mktemp -d)
"$B/bin/lesionkit" spine "$W/baseline.nii" -o "$OUT/vertebrae.nrrd" --json "$OUT/spine.json" > /dev/null
/usr/bin/python3 "$HERE/sphere_lesion.py" "$W/baseline.nii" "$OUT/spine.json" L3 8 "$OUT/lesion.nii.gz"
/usr/bin/time -f "lesionkit followup wall %e s, CPU %U + %S s, peak %M kB" "$B/bin/lesionkit" followup \
  --baseline "$W/baseline.nii" --followup "$W/followup.nii" --lesions "$OUT/lesion.nii.gz" --lesion 1:lytic-bone:L3 \
  -o "$OUT/followup" > /dev/null
python3 -c "
import json; t = json.load(open('$OUT/followup/timeline.json'))
print('reference:', t['referenceRegion']['structures'], '%.1f s;' % t['referenceRegion']['seconds'],
      'thresholds (HU):', [round(p['calcificationThreshold']['hu']) for p in t['timepoints']])"
rm -rf "$OUT"
