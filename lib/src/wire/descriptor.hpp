#pragma once
// The bytes of a task's arguments as they sit in its task slot (or spilled to the arena):
//   DescriptorHeader { u32 resolve; u32 name_size }  u64 resolve ids[resolve]  name  argument bytes
// The resolve ids are the refs the task waits for; keeping them next to the arguments lets a
// blocked worker walk a waiting task's dependencies without asking the driver. The name is
// TaskOptions::name (usually empty): the worker that runs the task puts it in its errors.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmray/detail/object_id.hpp"

namespace shmray::wire {

struct DescriptorHeader {
  std::uint32_t resolve;
  std::uint32_t name_size;
};
static_assert(sizeof(DescriptorHeader) == 8);

/// Longest name a descriptor carries; a longer TaskOptions::name is cut there.
inline constexpr std::size_t kMaxDescriptorName = 4096;

inline std::size_t descriptor_name_size(std::string_view name) { return std::min(name.size(), kMaxDescriptorName); }

inline std::size_t descriptor_size(std::size_t resolve, std::size_t args, std::string_view name = {}) {
  return sizeof(DescriptorHeader) + 8 * resolve + descriptor_name_size(name) + args;
}

/// Writes header, ids, name and args to `out` (descriptor_size bytes).
inline void write_descriptor(std::byte* out, std::span<const detail::ObjectId> resolve, std::span<const std::byte> args,
                             std::string_view name = {}) {
  const std::size_t name_size = descriptor_name_size(name);
  const DescriptorHeader h{static_cast<std::uint32_t>(resolve.size()), static_cast<std::uint32_t>(name_size)};
  std::memcpy(out, &h, sizeof h);
  out += sizeof h;
  for (detail::ObjectId id : resolve) {
    std::memcpy(out, &id.value, 8);
    out += 8;
  }
  if (name_size) std::memcpy(out, name.data(), name_size);
  out += name_size;
  if (!args.empty()) std::memcpy(out, args.data(), args.size());
}

inline std::string make_descriptor(std::span<const detail::ObjectId> resolve, std::span<const std::byte> args,
                                   std::string_view name = {}) {
  std::string s(descriptor_size(resolve.size(), args.size(), name), '\0');
  write_descriptor(reinterpret_cast<std::byte*>(s.data()), resolve, args, name);
  return s;
}

struct DescriptorView {
  std::uint32_t resolve = 0;
  const std::byte* ids = nullptr;
  std::string_view name;
  std::span<const std::byte> args;
  detail::ObjectId resolve_id(std::uint32_t i) const {
    detail::ObjectId id;
    std::memcpy(&id.value, ids + 8 * std::size_t(i), 8);
    return id;
  }
};

/// Splits descriptor bytes; nullopt when the header promises more ids (or name) than there are bytes.
inline std::optional<DescriptorView> parse_descriptor(std::span<const std::byte> bytes) {
  if (bytes.size() < sizeof(DescriptorHeader)) return std::nullopt;
  DescriptorHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  const std::uint64_t ids = 8ull * h.resolve;
  if (ids > bytes.size() - sizeof h || h.name_size > bytes.size() - sizeof h - ids) return std::nullopt;
  DescriptorView v;
  v.resolve = h.resolve;
  v.ids = bytes.data() + sizeof h;
  v.name = std::string_view(reinterpret_cast<const char*>(v.ids + ids), h.name_size);
  v.args = bytes.subspan(sizeof h + ids + h.name_size);
  return v;
}

}  // namespace shmray::wire
