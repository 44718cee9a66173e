// Ring framing: whatever bytes a worker left in its event ring and whatever indexes it
// published, the driver's reader reports records that lie inside what was published, or
// "corrupt", and never reads outside the buffer. Each record is then parsed the way the
// driver parses it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "shm/message_ring.hpp"
#include "shmray/detail/object_id.hpp"
#include "wire/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shmray;
  if (size < 16) return 0;
  std::uint64_t head, tail;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  constexpr std::uint32_t kCap = 4096;
  std::vector<std::byte> buf(kCap);  // exactly the capacity: ASan flags any read past it
  std::memcpy(buf.data(), data + 16, std::min<std::size_t>(size - 16, kCap));
  shm::RingIndex index{};
  index.head = head % (1u << 20) * 8;
  index.tail = index.head + tail % (2 * kCap);
  shm::MessageReader reader(&index, buf.data(), kCap);
  for (int i = 0; i < 10000; ++i) {
    shm::MessageReader::Message m;
    if (reader.peek(m) != shm::MessageReader::Status::kMessage) break;
    if (m.payload.data() < buf.data() || m.payload.data() + m.payload.size() > buf.data() + kCap) __builtin_trap();
    std::span<const std::byte> p = m.payload;
    std::vector<detail::ObjectId> ids, more;
    if (auto d = wire::read_front<wire::TaskDone>(p)) wire::read_ids(p, d->contained, ids);
    p = m.payload;
    if (auto h = wire::read_front<wire::SubmitHeader>(p))
      if (wire::read_ids(p, h->resolve, ids) && wire::read_ids(p, h->contained, more) && p.size() >= h->name_size) {
        volatile std::size_t sink = p.size();
        (void)sink;
      }
    p = m.payload;
    wire::read_ids(p, p.size() / 8, ids);
    reader.pop();
  }
  return 0;
}
