#include "lesion/pipeline/FollowupSegmenter.h"

#include "lesion/core/Error.h"
#include "lesion/longitudinal/Registration.h"

namespace lesion::pipeline {

longitudinal::ResegmentFunction softTissueResegmenter(segmentation::Modality modality) {
  return [modality](const Volume& followup, const LabelMap& mapped, const measurement::LesionSpec& spec) {
    const longitudinal::RegionOfInterest box = longitudinal::regionAroundLabels(mapped, {spec.label}, 0.0);
    Vec3 centre{};
    std::size_t n = 0;
    const ImageGeometry& g = mapped.geometry;
    for (std::size_t k = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i)
          if (mapped.at(i, j, k) == spec.label) {
            centre += g.indexToPoint(i, j, k);
            ++n;
          }
    if (n == 0) throw ProcessingError("re-segmentation: the mapped lesion mask is empty");
    segmentation::SoftTissueOptions o;
    o.labelValue = spec.label;
    o.modality = modality;
    o.maxDiameterMm = 1.5 * norm(box.maximum - box.minimum);
    return segmentation::segmentSoftTissueMass(followup, segmentation::SoftTissueInit::fromSeeds({centre / double(n)}), o)
        .labels;
  };
}

} // namespace lesion::pipeline
