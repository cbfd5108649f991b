#pragma once
/// \file FollowupSegmenter.h
/// The re-segmentation step of lesion tracking: how a soft-tissue lesion's follow-up mask is made
/// from its baseline mask mapped through the registration.

#include "lesion/longitudinal/LesionTracking.h"
#include "lesion/segmentation/SoftTissueSegmentation.h"

namespace lesion::pipeline {

/// Soft-tissue re-segmentation on the follow-up: a seed at the centre of the mapped mask (a
/// lesion shrinks or grows about its centre), size limit from the mapped mask's box.
[[nodiscard]] longitudinal::ResegmentFunction softTissueResegmenter(segmentation::Modality modality);

} // namespace lesion::pipeline
