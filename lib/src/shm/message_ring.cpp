#include "shm/message_ring.hpp"

#include <cstring>

#include "shm/atomics.hpp"

namespace shmray::shm {
namespace {
constexpr std::uint64_t padded(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
}  // namespace

std::span<std::byte> MessageWriter::reserve(std::uint16_t type, std::uint32_t size, std::uint16_t flags) noexcept {
  if (size > max_payload()) return {};
  std::uint64_t tail = load_relaxed(index_->tail);  // only we write it
  const std::uint64_t head = load_acquire(index_->head);
  const std::uint64_t need = sizeof(MessageHeader) + padded(size);
  const std::uint64_t at = tail % cap_;
  const std::uint64_t pad = at + need > cap_ ? cap_ - at : 0;
  if (tail + pad + need - head > cap_) return {};
  if (pad) {
    MessageHeader h{static_cast<std::uint32_t>(pad - sizeof(MessageHeader)), kPadMessage, 0};
    std::memcpy(buf_ + at, &h, sizeof h);
    tail += pad;
  }
  MessageHeader h{size, type, flags};
  std::memcpy(buf_ + tail % cap_, &h, sizeof h);
  pending_tail_ = tail + need;
  return {buf_ + tail % cap_ + sizeof h, size};
}

void MessageWriter::commit() noexcept { store_release(index_->tail, pending_tail_); }  // publishes header + payload

std::uint64_t MessageWriter::used() const noexcept { return load_relaxed(index_->tail) - load_acquire(index_->head); }

MessageReader::Status MessageReader::peek(Message& out) noexcept {
  std::uint64_t head = load_relaxed(index_->head);
  const std::uint64_t tail = load_acquire(index_->tail);  // the writer's release: records up to tail are whole
  for (;;) {
    if (head == tail) return Status::kEmpty;
    if (tail - head > cap_ || head % 8 != 0) return Status::kCorrupt;
    const std::uint64_t at = head % cap_;
    MessageHeader h;
    std::memcpy(&h, buf_ + at, sizeof h);
    const std::uint64_t len = sizeof(MessageHeader) + padded(h.size);
    if (h.size > cap_ || at + len > cap_ || len > tail - head) return Status::kCorrupt;
    if (h.type == kPadMessage) {
      if (at + len != cap_) return Status::kCorrupt;
      head += len;
      store_release(index_->head, head);
      continue;
    }
    out.type = h.type;
    out.flags = h.flags;
    out.payload = {buf_ + at + sizeof h, h.size};
    next_head_ = head + len;
    return Status::kMessage;
  }
}

void MessageReader::pop() noexcept { store_release(index_->head, next_head_); }  // gives the bytes back

}  // namespace shmray::shm
