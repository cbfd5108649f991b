#pragma once
/// \file Progress.h
/// Progress reporting from libraries: a cheap value that forwards a fraction in [0, 1] to a
/// sink installed by the application (terminal bar, Slicer <filter-progress> lines, nothing).

#include <functional>
#include <string>
#include <string_view>

namespace lesion {

class Progress {
public:
  using Sink = std::function<void(double fraction, std::string_view stage)>;

  Progress() = default;
  explicit Progress(Sink sink) : m_Sink(std::move(sink)) {}

  /// Reports `fraction` (clamped to [0, 1]) of this scope's range as done.
  void report(double fraction, std::string_view stage = {}) const;
  /// A scope covering [begin, end] of this one, for one step of a longer pipeline.
  [[nodiscard]] Progress sub(double begin, double end) const;
  [[nodiscard]] bool active() const { return static_cast<bool>(m_Sink); }

private:
  Sink m_Sink{};
  double m_Begin{0.0};
  double m_End{1.0};
};

} // namespace lesion
