#pragma once
/// \file Hash.h
/// FNV-1a, 64 bit: a hash that is the same across runs, machines and compilers (std::hash is not),
/// for names and records derived from content.

#include <cstddef>
#include <cstdint>
#include <string>

namespace lesion {

class Fnv1a64 {
public:
  static constexpr std::uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  explicit Fnv1a64(std::uint64_t offsetBasis = kOffsetBasis) : m_Hash(offsetBasis) {}

  /// Adds `size` bytes in memory order.
  Fnv1a64& add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i)
      m_Hash = (m_Hash ^ bytes[i]) * 0x100000001b3ULL;
    return *this;
  }
  Fnv1a64& add(const std::string& text) { return add(text.data(), text.size()); }
  /// Adds a whole number as 8 bytes, least significant first (the same on every machine).
  Fnv1a64& addInteger(std::int64_t value) {
    for (int b = 0; b < 8; ++b) {
      const auto byte = static_cast<unsigned char>(static_cast<std::uint64_t>(value) >> (8 * b));
      add(&byte, 1);
    }
    return *this;
  }
  [[nodiscard]] std::uint64_t value() const { return m_Hash; }

private:
  std::uint64_t m_Hash;
};

} // namespace lesion
