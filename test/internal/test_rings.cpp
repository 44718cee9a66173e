// Both ring kinds over plain memory: the fixed-entry SPSC ring and the byte ring of
// variable-length messages (wrap, pad records, full, kMessageMore, corrupt records).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "shm/layout.hpp"
#include "shm/message_ring.hpp"
#include "shm/ring.hpp"

using namespace shmray::shm;

TEST_CASE("SpscRing.FullEmptyAndWrap" * doctest::timeout(10)) {
  constexpr std::uint32_t kCap = 8;
  RingIndex index{};
  std::uint64_t entries[kCap] = {};
  SpscProducer<std::uint64_t> p(&index, entries, kCap);
  SpscConsumer<std::uint64_t> c(&index, entries, kCap);
  CHECK(c.empty());
  CHECK(c.try_pop() == std::nullopt);
  std::uint64_t next_in = 1, next_out = 1;
  for (std::uint32_t i = 0; i < kCap; ++i) CHECK(p.try_push(next_in++));
  CHECK_FALSE(p.try_push(999));  // full
  CHECK(c.try_pop() == next_out++);
  CHECK(p.try_push(next_in++));  // one slot given back
  CHECK_FALSE(p.try_push(999));
  // Many laps around the buffer keep FIFO order.
  for (int round = 0; round < 100; ++round) {
    for (int k = 0; k < 3; ++k) REQUIRE(c.try_pop() == next_out++);
    for (int k = 0; k < 3; ++k) REQUIRE(p.try_push(next_in++));
  }
  while (auto v = c.try_pop()) CHECK(*v == next_out++);
  CHECK(next_out == next_in);
  CHECK(c.empty());
  CHECK(index.tail == next_in - 1);  // the indexes count every entry; the slots wrap
  CHECK(index.tail > 10 * kCap);
}

TEST_CASE("SpscRing.DefaultHandlesAreInvalid" * doctest::timeout(10)) {
  CHECK_FALSE(SpscProducer<int>().valid());
  CHECK_FALSE(SpscConsumer<int>().valid());
  CHECK_FALSE(MessageWriter().valid());
  CHECK_FALSE(MessageReader().valid());
}

namespace {
constexpr std::uint32_t kRingBytes = 4096;

struct MsgRing {
  RingIndex index{};
  std::vector<std::byte> buf = std::vector<std::byte>(kRingBytes);  // exactly the capacity: ASan sees overruns
  MessageWriter w{&index, buf.data(), kRingBytes};
  MessageReader r{&index, buf.data(), kRingBytes};

  bool send(std::uint16_t type, std::uint32_t size, std::uint8_t fill, std::uint16_t flags = 0) {
    auto s = w.reserve(type, size, flags);
    if (!s.data()) return false;
    std::memset(s.data(), fill, s.size());
    w.commit();
    return true;
  }
  void put_header(std::uint64_t at, MessageHeader h) { std::memcpy(buf.data() + at, &h, sizeof h); }
};

bool all_are(std::span<const std::byte> s, std::uint8_t v) {
  for (std::byte b : s)
    if (b != std::byte{v}) return false;
  return true;
}
}  // namespace

TEST_CASE("MessageRing.RoundTrip" * doctest::timeout(10)) {
  MsgRing m;
  MessageReader::Message msg{};
  CHECK(m.r.peek(msg) == MessageReader::Status::kEmpty);
  REQUIRE(m.send(7, 5, 0xab));
  CHECK(m.w.used() == 16);  // header + payload padded to 8
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
  CHECK(msg.type == 7);
  CHECK(msg.flags == 0);
  CHECK(msg.payload.size() == 5);
  CHECK(all_are(msg.payload, 0xab));
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);  // peek does not consume
  m.r.pop();
  CHECK(m.r.peek(msg) == MessageReader::Status::kEmpty);
  CHECK(m.w.used() == 0);
}

TEST_CASE("MessageRing.UncommittedIsInvisible" * doctest::timeout(10)) {
  MsgRing m;
  auto s = m.w.reserve(3, 8);
  REQUIRE(s.data());
  MessageReader::Message msg{};
  CHECK(m.r.peek(msg) == MessageReader::Status::kEmpty);
  m.w.commit();
  CHECK(m.r.peek(msg) == MessageReader::Status::kMessage);
}

TEST_CASE("MessageRing.EmptyPayloadAndSizeLimit" * doctest::timeout(10)) {
  MsgRing m;
  CHECK(m.w.max_payload() == kRingBytes / 4);
  auto e = m.w.reserve(2, 0);
  CHECK(e.data() != nullptr);  // room, even with nothing to carry
  CHECK(e.size() == 0);
  m.w.commit();
  CHECK(m.w.reserve(2, m.w.max_payload() + 1).data() == nullptr);
  CHECK(m.w.reserve(2, 0xffffffffu).data() == nullptr);
  CHECK(m.w.reserve(2, m.w.max_payload()).data() != nullptr);
  MessageReader::Message msg{};
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
  CHECK(msg.type == 2);
  CHECK(msg.payload.empty());
}

TEST_CASE("MessageRing.FullUntilRead" * doctest::timeout(10)) {
  MsgRing m;
  int sent = 0;
  while (m.send(1, 1000, std::uint8_t(sent))) ++sent;
  CHECK(sent == 4);  // 4 * 1008 = 4032; a 5th needs a 64-byte pad and 1008 more
  CHECK(m.w.used() <= kRingBytes);
  MessageReader::Message msg{};
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
  CHECK(all_are(msg.payload, 0));
  m.r.pop();
  CHECK(m.send(1, 1000, 4));  // room again, behind a pad record
  for (int k = 1; k <= 4; ++k) {
    REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
    CHECK(msg.payload.size() == 1000);
    CHECK(all_are(msg.payload, std::uint8_t(k)));
    m.r.pop();
  }
  CHECK(m.r.peek(msg) == MessageReader::Status::kEmpty);
}

TEST_CASE("MessageRing.WrapGoesThroughPadRecord" * doctest::timeout(10)) {
  MsgRing m;
  MessageReader::Message msg{};
  // Move both ends near the end of the buffer: 4000 bytes written and read.
  for (int i = 0; i < 4; ++i) {
    REQUIRE(m.send(1, 992, 1));
    REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
    m.r.pop();
  }
  REQUIRE(m.index.head == 4000);
  REQUIRE(m.send(9, 100, 0x5a));  // 4000 + 112 > 4096: a pad fills 4000..4095
  MessageHeader pad;
  std::memcpy(&pad, m.buf.data() + 4000, sizeof pad);
  CHECK(pad.type == kPadMessage);
  CHECK(pad.size == kRingBytes - 4000 - sizeof(MessageHeader));
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
  CHECK(msg.type == 9);
  CHECK(msg.payload.data() == m.buf.data() + sizeof(MessageHeader));  // the record starts the buffer again
  CHECK(all_are(msg.payload, 0x5a));
  m.r.pop();
  CHECK(m.index.head == 4096 + 112);
  CHECK(m.r.peek(msg) == MessageReader::Status::kEmpty);
}

TEST_CASE("MessageRing.ExactFitNeedsNoPad" * doctest::timeout(10)) {
  MsgRing m;
  MessageReader::Message msg{};
  for (int i = 0; i < 4; ++i) {  // 4 * 1016 = 4064: 32 bytes left at the end
    REQUIRE(m.send(1, 1008, 1));
    REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
    m.r.pop();
  }
  REQUIRE(m.send(4, 24, 0x11));  // 8 + 24 = 32: ends exactly at the buffer's end
  REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
  CHECK(msg.type == 4);
  CHECK(msg.payload.data() == m.buf.data() + 4064 + sizeof(MessageHeader));
  m.r.pop();
  CHECK(m.index.head == kRingBytes);
}

TEST_CASE("MessageRing.MoreFlagMarksPieces" * doctest::timeout(10)) {
  MsgRing m;
  REQUIRE(m.send(5, 1024, 1, kMessageMore));
  REQUIRE(m.send(5, 1024, 2, kMessageMore));
  REQUIRE(m.send(5, 10, 3));
  MessageReader::Message msg{};
  for (std::uint8_t piece = 1; piece <= 3; ++piece) {
    REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
    CHECK(msg.type == 5);
    CHECK(msg.flags == (piece < 3 ? kMessageMore : 0));
    CHECK(all_are(msg.payload, piece));
    m.r.pop();
  }
}

TEST_CASE("MessageRing.CorruptRecordsAreReported" * doctest::timeout(10)) {
  MsgRing m;
  MessageReader::Message msg{};
  SUBCASE("header promises more than was published") {
    m.put_header(0, {64, 3, 0});
    m.index.tail = 16;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("record runs past the buffer's end") {
    m.index.head = m.index.tail = 4088;
    m.put_header(4088, {16, 3, 0});
    m.index.tail = 4088 + 24;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("size beyond the capacity") {
    m.put_header(0, {0xffffffffu, 3, 0});
    m.index.tail = kRingBytes;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("pad record that does not end at the buffer's end") {
    m.put_header(0, {8, kPadMessage, 0});
    m.put_header(16, {0, 3, 0});
    m.index.tail = 24;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("more published than the buffer holds") {
    m.index.tail = kRingBytes + 8;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("head not on a record boundary") {
    m.index.head = 4;
    m.index.tail = 20;
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
  SUBCASE("a good record first, then garbage") {
    REQUIRE(m.send(3, 8, 7));
    m.put_header(16, {4000, 3, 0});
    m.index.tail = 32;
    REQUIRE(m.r.peek(msg) == MessageReader::Status::kMessage);
    m.r.pop();
    CHECK(m.r.peek(msg) == MessageReader::Status::kCorrupt);
  }
}
