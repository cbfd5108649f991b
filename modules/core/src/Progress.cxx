#include "lesion/core/Progress.h"

#include <algorithm>

namespace lesion {

void Progress::report(double fraction, std::string_view stage) const {
  if (!m_Sink) return;
  const double f = std::clamp(fraction, 0.0, 1.0);
  m_Sink(m_Begin + f * (m_End - m_Begin), stage);
}

Progress Progress::sub(double begin, double end) const {
  Progress p{*this};
  const double b = std::clamp(begin, 0.0, 1.0);
  const double e = std::clamp(end, b, 1.0);
  p.m_Begin = m_Begin + b * (m_End - m_Begin);
  p.m_End = m_Begin + e * (m_End - m_Begin);
  return p;
}

} // namespace lesion
