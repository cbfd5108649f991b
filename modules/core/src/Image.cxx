#include "lesion/core/Image.h"

#include <algorithm>

namespace lesion {

bool looksLikeHounsfieldUnits(const Volume& volume) {
  const auto negative = std::count_if(volume.voxels.begin(), volume.voxels.end(), [](float v) { return v < -50.0f; });
  return !volume.voxels.empty() && double(negative) >= 0.01 * double(volume.voxels.size());
}

} // namespace lesion
