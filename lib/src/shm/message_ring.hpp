#pragma once
// Variable-length messages over a byte ring (single producer, single consumer). Each record
// is an 8-byte MessageHeader and its payload, padded to 8 bytes; a record that would cross
// the end of the buffer is preceded by a pad record that fills the rest. The reader trusts
// nothing the writer put there: a header that does not fit what was published is reported
// as corrupt, never followed. A message larger than one record (max_payload) goes as
// consecutive records of its type, every one but the last flagged kMessageMore; MessageReader
// only reports the flag, the driver joins the pieces (driver/events.cpp). The writer holds
// its lock for the whole message, so nothing comes between them.
#include <cstddef>
#include <cstdint>
#include <span>

#include "shm/layout.hpp"

namespace shmray::shm {

struct MessageHeader {
  std::uint32_t size;  // payload bytes
  std::uint16_t type;  // 0 is the pad record
  std::uint16_t flags;
};
static_assert(sizeof(MessageHeader) == 8);
inline constexpr std::uint16_t kPadMessage = 0;
/// MessageHeader::flags: more pieces of this message follow in the next record.
inline constexpr std::uint16_t kMessageMore = 1;

class MessageWriter {
 public:
  MessageWriter() = default;
  MessageWriter(RingIndex* index, std::byte* buffer, std::uint32_t capacity) noexcept
      : index_(index), buf_(buffer), cap_(capacity) {}

  /// Largest payload one record may carry.
  std::uint32_t max_payload() const noexcept { return cap_ / 4; }
  /// Space for a payload of `size` bytes; its data() is null when the ring has no room now
  /// (a reserved empty payload has a non-null data()).
  std::span<std::byte> reserve(std::uint16_t type, std::uint32_t size, std::uint16_t flags = 0) noexcept;
  /// Publishes the reserved record.
  void commit() noexcept;
  /// Bytes the consumer has not read yet.
  std::uint64_t used() const noexcept;
  std::uint32_t capacity() const noexcept { return cap_; }
  bool valid() const noexcept { return index_ != nullptr; }

 private:
  RingIndex* index_ = nullptr;
  std::byte* buf_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint64_t pending_tail_ = 0;
};

class MessageReader {
 public:
  struct Message {
    std::uint16_t type;
    std::uint16_t flags;  // kMessageMore: a piece of a larger message
    std::span<const std::byte> payload;
  };
  enum class Status { kEmpty, kMessage, kCorrupt };

  MessageReader() = default;
  MessageReader(RingIndex* index, std::byte* buffer, std::uint32_t capacity) noexcept
      : index_(index), buf_(buffer), cap_(capacity) {}

  /// Looks at the next record without consuming it (pad records are skipped).
  Status peek(Message& out) noexcept;
  /// Consumes the record peek() returned.
  void pop() noexcept;
  bool valid() const noexcept { return index_ != nullptr; }

 private:
  RingIndex* index_ = nullptr;
  std::byte* buf_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint64_t next_head_ = 0;
};

}  // namespace shmray::shm
