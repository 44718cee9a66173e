#pragma once
// Writing an object's payload: the protocol every writer follows, the driver and the workers
// alike. An object is written once: claim it (begin_object_write: pending -> writing, so one
// writer only), place the payload (inline up to kInlineBytes, else at an arena offset),
// publish it (finish_object_write) and wake whoever sleeps on it (object_epoch).
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "common/views.hpp"
#include "shm/layout.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::common {

/// Claims pending `id` for writing: its slot, or nullptr when it is not pending any more (a
/// finished task or a cancel wrote it first) or names no slot.
shm::ObjectSlot* begin_payload(const Views& v, ObjectId id) noexcept;
/// Places the payload inline (at most kInlineBytes of `bytes`: a longer one is cut).
void place_inline(shm::ObjectSlot& s, std::span<const std::byte> bytes) noexcept;
/// Places the payload in the arena block at `offset`, already written.
void place_block(shm::ObjectSlot& s, std::uint64_t offset, std::size_t size) noexcept;
/// Publishes the placed payload as `state` and wakes the sleepers on it; returns the flags
/// the object had (kObjDriverWatch: the driver watches it).
std::uint32_t finish_payload(const Views& v, shm::ObjectSlot& s, shm::ObjectState state) noexcept;

/// Where write_payload gets a block: `allocate(bytes, last)` returns an arena offset, or 0
/// for no room; `last` is true for the second, shrunk attempt of an error record.
struct BlockSource {
  std::uint64_t (*allocate)(void* ctx, std::size_t bytes, bool last);
  void* ctx;
};

/// The whole protocol for a payload given as bytes (copied): inline when it fits, else in a
/// block from `blocks`. An error record (kFailed) that finds no room has its message cut
/// (wire::shrink_error_payload) so it still decodes as the error it is, and failing that is
/// kept truncated inline: a cut record beats none. Returns false when `id` is not pending;
/// `flags` gets finish_payload's result. Never throws: an allocation that throws counts as
/// no room (a claimed object left unpublished would hang its waiters).
bool write_payload(const Views& v, ObjectId id, shm::ObjectState state, std::span<const std::byte> bytes,
                   BlockSource blocks, std::uint32_t* flags = nullptr) noexcept;

/// write_payload with a callable `allocate(std::size_t bytes, bool last) -> std::uint64_t`.
template <class Allocate>
bool write_payload(const Views& v, ObjectId id, shm::ObjectState state, std::span<const std::byte> bytes,
                   Allocate&& allocate, std::uint32_t* flags = nullptr) noexcept {
  using F = std::remove_reference_t<Allocate>;
  const BlockSource blocks{
      [](void* ctx, std::size_t n, bool last) -> std::uint64_t { return (*static_cast<F*>(ctx))(n, last); },
      const_cast<void*>(static_cast<const void*>(&allocate))};
  return write_payload(v, id, state, bytes, blocks, flags);
}

/// The first step of a put (the driver's and a task's alike): a value larger than
/// kInlineBytes is written into a block from `allocate(bytes) -> offset`, which
/// `free(offset)` gives back when the value's write throws. Returns the block's offset, or 0
/// for a value that goes inline (written into its slot once the caller has one). Both
/// callables are the caller's own (the driver's heap or a worker's), inlined: no indirection.
template <class Allocate, class Free>
std::uint64_t write_value_block(const Views& v, const detail::ValueSource& value, Allocate&& allocate, Free&& free) {
  if (value.size <= shm::kInlineBytes) return 0;
  const std::uint64_t off = allocate(value.size);
  try {
    value.write(value.ctx, {v.base + off, value.size});
  } catch (...) {
    free(off);
    throw;
  }
  return off;
}

}  // namespace shmray::common
