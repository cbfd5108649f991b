#pragma once
// Test helpers of the spine module: overlap figures and the simulated lytic lesion inserted into
// a real CT.
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "lesion/core/Image.h"

namespace lesion::spine::test {

/// Dice of (a in setA) vs (b in setB); 1 when both are empty.
double dice(const LabelMap& a, const std::function<bool(std::uint16_t)>& inA, const LabelMap& b,
            const std::function<bool(std::uint16_t)>& inB);
std::size_t countVoxels(const LabelMap& m, const std::function<bool(std::uint16_t)>& in);

/// Replaces voxels of an ellipsoid (centre, semi-axes in LPS mm, axis-aligned) by soft tissue:
/// `meanHu` plus Gaussian noise of `noiseSd`, smoothed like the scan is not (voxel noise). Only
/// voxels where `replace(index)` is true change. Returns the truth mask of changed voxels.
LabelMap insertSimulatedLesion(Volume& ct, const Vec3& centre, const Vec3& semiAxes, double meanHu, double noiseSd,
                               const std::function<bool(std::size_t)>& replace, std::uint32_t seed);

/// Noise SD of the scan estimated in a homogeneous region: the robust SD (1.4826 MAD) of the
/// difference between neighbouring voxels over soft-tissue voxels (0..100 HU), divided by sqrt 2.
double estimateNoiseSd(const Volume& ct);

} // namespace lesion::spine::test
