#include "lesion/core/Image.h"

#include <algorithm>

namespace lesion {

bool looksLikeHounsfieldUnits(const Volume& volume) {
  return std::any_of(volume.voxels.begin(), volume.voxels.end(), [](float v) { return v < -300.0f; });
}

} // namespace lesion
