#pragma once
/// \file ReferenceVertebrae.h
/// The automatic reference region of the follow-up: the patient's unaffected vertebral bodies on
/// the baseline CT, found with the spine module (lesion::longitudinal does not depend on it; it
/// takes this as its FollowupOptions::referenceFinder).

#include "lesion/longitudinal/LesionTracking.h"

namespace lesion::pipeline {

struct UnaffectedVertebraeOptions {
  /// Also leave out the bodies directly above and below an affected one (used only when no other
  /// body is left): metastases reach the next level's marrow across the endplate, and the
  /// lesion's soft-tissue part and reactive sclerosis reach the neighbour's endplate zone first.
  bool excludeNeighbours{true};
  /// A body is affected when a followed lesion's voxel lies within this distance of it.
  double touchMarginMm{2.0};
  /// Screen the spine for lytic lesions nobody follows (lesionkit spine --auto) and leave their
  /// bodies out too: unaffected means no lesion, followed or not.
  bool screenLytic{true};
};

/// The vertebral bodies of the baseline that no followed lesion touches (the spine segmented with
/// spine::segmentSpine; when it finds no anchor for the levels, it is anchored at a bone lesion
/// named by its level, e.g. "1:lytic-bone:L4"). Left out, each with its reason: bodies a followed
/// lesion touches, bodies holding an unfollowed lytic candidate, their direct neighbours (see
/// excludeNeighbours), the first sacral segment (fattier marrow than the lumbar bodies), bodies cut
/// by the scan edge, bodies with a height loss of Genant grade 1 or more (a fracture is not
/// unaffected bone) and bodies of implausible size for one vertebral body (spine::implausibleBodySize:
/// several merged where a disc was not found). Throws lesion::ProcessingError when the spine cannot
/// be segmented or no body is left (better no reference than a wrong one).
[[nodiscard]] longitudinal::FoundReference findUnaffectedVertebrae(const Volume& ct, const LabelMap& lesions,
                                                                   const std::vector<measurement::LesionSpec>& followed,
                                                                   const UnaffectedVertebraeOptions& options = {});

/// findUnaffectedVertebrae as the follow-up's reference finder.
[[nodiscard]] longitudinal::ReferenceFinder unaffectedVertebraeFinder(const UnaffectedVertebraeOptions& options = {});

} // namespace lesion::pipeline
