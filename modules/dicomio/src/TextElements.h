#pragma once
// Private: the text elements of a dataset, for the character set conversions (DicomHeader.cxx,
// JapaneseText.cxx).

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcstack.h>

namespace lesion::dicomio::detail {

/// Calls `fn(DcmElement&)` for every element of `dataset` whose value the Specific Character Set
/// governs (DCMTK's list: PN, SH, LO, ST, LT, UT, UC), in nested sequences too, except in items
/// that declare a character set of their own (what `dataset` declares is not theirs).
template <class Fn> void forEachTextElement(DcmItem& dataset, Fn&& fn) {
  DcmStack stack;
  while (dataset.nextObject(stack, OFTrue).good()) {
    auto* element = dynamic_cast<DcmElement*>(stack.top());
    if (!element || element->ident() == EVR_SQ || !element->isAffectedBySpecificCharacterSet())
      continue;
    auto* parent = stack.card() > 1 ? dynamic_cast<DcmItem*>(stack.elem(1)) : nullptr;
    if (parent && parent != &dataset && parent->tagExists(DCM_SpecificCharacterSet))
      continue;
    fn(*element);
  }
}

} // namespace lesion::dicomio::detail
