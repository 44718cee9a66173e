#pragma once
// The bytes of a task's arguments as they sit in its task slot (or spilled to the arena):
//   DescriptorHeader { u32 resolve; u32 reserved }  u64 resolve ids[resolve]  argument bytes
// The resolve ids are the refs the task waits for; keeping them next to the arguments lets a
// blocked worker walk a waiting task's dependencies without asking the driver.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "shmray/detail/object_id.hpp"

namespace shmray::wire {

struct DescriptorHeader {
  std::uint32_t resolve;
  std::uint32_t reserved;
};
static_assert(sizeof(DescriptorHeader) == 8);

inline std::size_t descriptor_size(std::size_t resolve, std::size_t args) { return sizeof(DescriptorHeader) + 8 * resolve + args; }

/// Writes header, ids and args to `out` (descriptor_size bytes).
inline void write_descriptor(std::byte* out, std::span<const detail::ObjectId> resolve, std::span<const std::byte> args) {
  const DescriptorHeader h{static_cast<std::uint32_t>(resolve.size()), 0};
  std::memcpy(out, &h, sizeof h);
  out += sizeof h;
  for (detail::ObjectId id : resolve) {
    std::memcpy(out, &id.value, 8);
    out += 8;
  }
  if (!args.empty()) std::memcpy(out, args.data(), args.size());
}

inline std::string make_descriptor(std::span<const detail::ObjectId> resolve, std::span<const std::byte> args) {
  std::string s(descriptor_size(resolve.size(), args.size()), '\0');
  write_descriptor(reinterpret_cast<std::byte*>(s.data()), resolve, args);
  return s;
}

struct DescriptorView {
  std::uint32_t resolve = 0;
  const std::byte* ids = nullptr;
  std::span<const std::byte> args;
  detail::ObjectId resolve_id(std::uint32_t i) const {
    detail::ObjectId id;
    std::memcpy(&id.value, ids + 8 * std::size_t(i), 8);
    return id;
  }
};

/// Splits descriptor bytes; nullopt when the header promises more ids than there are bytes.
inline std::optional<DescriptorView> parse_descriptor(std::span<const std::byte> bytes) {
  if (bytes.size() < sizeof(DescriptorHeader)) return std::nullopt;
  DescriptorHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  const std::uint64_t ids = 8ull * h.resolve;
  if (ids > bytes.size() - sizeof h) return std::nullopt;
  DescriptorView v;
  v.resolve = h.resolve;
  v.ids = bytes.data() + sizeof h;
  v.args = bytes.subspan(sizeof h + ids);
  return v;
}

}  // namespace shmray::wire
