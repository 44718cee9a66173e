#pragma once
/// @file object_id.hpp
/// ObjectId: the 64-bit name of an object in the shared object table.
#include <cstdint>
#include <functional>
#include <string>
#include "shmray/detail/config.hpp"

namespace shmray::detail {

/// Bits: [63:56] session (which init() made it), [55:32] slot generation, [31:0] slot index.
/// Zero is "no object" (a default-constructed ObjectRef).
struct ObjectId {
  std::uint64_t value = 0;

  static constexpr ObjectId make(std::uint32_t session, std::uint32_t gen, std::uint32_t index) {
    return {(std::uint64_t(session & 0xff) << 56) | (std::uint64_t(gen & 0xffffff) << 32) | index};
  }
  constexpr std::uint32_t index() const { return std::uint32_t(value); }
  constexpr std::uint32_t gen() const { return std::uint32_t(value >> 32) & 0xffffff; }
  constexpr std::uint32_t session() const { return std::uint32_t(value >> 56); }
  constexpr bool valid() const { return value != 0; }
  constexpr bool operator==(const ObjectId&) const = default;
  /// 16 lower-case hex digits.
  std::string hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i) s[15 - i] = kDigits[(value >> (i * 4)) & 0xf];
    return s;
  }
};

}  // namespace shmray::detail

template <>
struct std::hash<shmray::detail::ObjectId> {
  std::size_t operator()(const shmray::detail::ObjectId& id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value);
  }
};
