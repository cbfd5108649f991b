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
# Only the sphere's bounding box of voxels (a whole 512 x 512 x 267 grid of coordinates is ~1 GB).
centre_ijk = np.linalg.solve(image.affine[:3, :3], centre - image.affine[:3, 3])
reach = radius / np.linalg.norm(image.affine[:3, :3], axis=0) + 1
lo = np.maximum(np.floor(centre_ijk - reach), 0).astype(int)
hi = np.minimum(np.ceil(centre_ijk + reach) + 1, image.shape[:3]).astype(int)
box = np.indices(hi - lo).reshape(3, -1) + lo[:, None]
world = image.affine[:3, :3] @ box + image.affine[:3, 3:4]
inside = np.linalg.norm(world - centre[:, None], axis=0) <= radius
mask = np.zeros(image.shape[:3], np.uint8)
mask[tuple(box[:, inside])] = 1
nib.save(nib.Nifti1Image(mask, image.affine), out)
print(f"lesion in {level}: {int(mask.sum())} voxels, radius {radius} mm")
