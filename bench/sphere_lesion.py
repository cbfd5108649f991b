#!/usr/bin/python3
"""Writes a spherical lesion mask (label 1) on a NIfTI volume's grid, centred on one vertebral
body of a `lesionkit spine --json` file: the lesion that bench/followup_vs_elastix.sh follows.
   sphere_lesion.py VOLUME.nii SPINE.json LEVEL RADIUS_MM OUT.nii.gz"""
import json
import sys

import nibabel as nib
import numpy as np

volume_path, spine_path, level, radius, out = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
image = nib.load(volume_path)
body = next(v for v in json.load(open(spine_path))["vertebrae"] if v["level"] == level)
centre = np.array(body["bodyCentroidMm"]) * [-1, -1, 1]  # LPS (lesionkit) to RAS (NIfTI)
ijk = np.indices(image.shape[:3], dtype=np.float32).reshape(3, -1)
world = image.affine[:3, :3] @ ijk + image.affine[:3, 3:4]
inside = np.linalg.norm(world - centre[:, None], axis=0) <= radius
mask = inside.reshape(image.shape[:3]).astype(np.uint8)
nib.save(nib.Nifti1Image(mask, image.affine), out)
print(f"lesion in {level}: {int(mask.sum())} voxels, radius {radius} mm")
