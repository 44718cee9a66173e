// Bytes one process writes and another parses: task descriptors and error records. Round
// trips hold, and truncated or forged input is refused (nullopt / SerializationError).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "shmray/detail/object_id.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"

using namespace shmray;
using shmray::detail::ObjectId;

namespace {
std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::vector<std::byte> args_of(const std::string& s) {
  const auto b = bytes_of(s);
  return {b.begin(), b.end()};
}
}  // namespace

TEST_CASE("Descriptor.RoundTrip" * doctest::timeout(10)) {
  const std::vector<ObjectId> ids = {ObjectId{1}, ObjectId{0xffffffffffffffffull}, ObjectId{42}};
  const auto args = args_of("argument bytes");
  const std::string d = wire::make_descriptor(ids, args, "my task");
  CHECK(d.size() == wire::descriptor_size(ids.size(), args.size(), "my task"));
  const auto v = wire::parse_descriptor(bytes_of(d));
  REQUIRE(v);
  REQUIRE(v->resolve == 3);
  for (std::uint32_t i = 0; i < 3; ++i) CHECK(v->resolve_id(i).value == ids[i].value);
  CHECK(v->name == "my task");
  REQUIRE(v->args.size() == args.size());
  CHECK(std::memcmp(v->args.data(), args.data(), args.size()) == 0);
}

TEST_CASE("Descriptor.EmptyParts" * doctest::timeout(10)) {
  const std::string d = wire::make_descriptor({}, {});
  CHECK(d.size() == sizeof(wire::DescriptorHeader));
  const auto v = wire::parse_descriptor(bytes_of(d));
  REQUIRE(v);
  CHECK(v->resolve == 0);
  CHECK(v->name.empty());
  CHECK(v->args.empty());
}

TEST_CASE("Descriptor.LongNameIsCut" * doctest::timeout(10)) {
  const std::string name(wire::kMaxDescriptorName + 100, 'n');
  const std::string d = wire::make_descriptor({}, {}, name);
  const auto v = wire::parse_descriptor(bytes_of(d));
  REQUIRE(v);
  CHECK(v->name.size() == wire::kMaxDescriptorName);
}

TEST_CASE("Descriptor.TruncatedIsRefused" * doctest::timeout(10)) {
  const std::vector<ObjectId> ids = {ObjectId{7}, ObjectId{8}};
  const auto args = args_of("0123456789");
  const std::string d = wire::make_descriptor(ids, args, "name");
  const std::size_t fixed = sizeof(wire::DescriptorHeader) + 8 * ids.size() + 4;  // before the args
  for (std::size_t n = 0; n < d.size(); ++n) {
    CAPTURE(n);
    // Copied so ASan sees a read past the prefix.
    const std::vector<std::byte> prefix(bytes_of(d).begin(), bytes_of(d).begin() + static_cast<std::ptrdiff_t>(n));
    const auto v = wire::parse_descriptor(prefix);
    if (n < fixed) {
      CHECK_FALSE(v);  // the header promises ids or a name that are not there
    } else {
      REQUIRE(v);  // the args have no length of their own: they are what is left
      CHECK(v->args.size() == n - fixed);
    }
  }
}

TEST_CASE("Descriptor.ForgedCountsAreRefused" * doctest::timeout(10)) {
  std::vector<std::byte> buf(64);
  auto put = [&](std::uint32_t resolve, std::uint32_t name) {
    const wire::DescriptorHeader h{resolve, name};
    std::memcpy(buf.data(), &h, sizeof h);
    return wire::parse_descriptor(buf);
  };
  CHECK_FALSE(put(0xffffffffu, 0));  // 8 * resolve must not wrap
  CHECK_FALSE(put(0, 0xffffffffu));
  CHECK_FALSE(put(7, 1));  // 8 + 56 + 1 > 64
  CHECK(put(7, 0));        // exactly fits
  CHECK_FALSE(put(0x20000000u, 0));
}

namespace {
wire::ErrorRecord full_record() {
  wire::ErrorRecord r;
  r.kind = wire::ErrorKind::kTaskError;
  r.type_name = "std::runtime_error";
  r.message = "it broke";
  r.function = "compute";
  r.pid = 4321;
  r.task_name = "step 3";
  r.via = {"outer", "middle"};
  return r;
}
}  // namespace

TEST_CASE("ErrorRecord.RoundTrip" * doctest::timeout(10)) {
  const wire::ErrorRecord r = full_record();
  const std::string e = wire::encode(r);
  REQUIRE(!e.empty());
  CHECK(std::uint8_t(e[0]) == wire::kErrorRecordVersion);
  const wire::ErrorRecord d = wire::decode_error(bytes_of(e));
  CHECK(d.kind == r.kind);
  CHECK(d.type_name == r.type_name);
  CHECK(d.message == r.message);
  CHECK(d.function == r.function);
  CHECK(d.pid == r.pid);
  CHECK(d.task_name == r.task_name);
  CHECK(d.via == r.via);
  CHECK(wire::decode_error(bytes_of(wire::encode(wire::ErrorRecord{}))).message.empty());
}

TEST_CASE("ErrorRecord.TruncatedIsRefused" * doctest::timeout(10)) {
  const std::string e = wire::encode(full_record());
  for (std::size_t n = 0; n < e.size(); ++n) {
    CAPTURE(n);
    const std::vector<std::byte> prefix(bytes_of(e).begin(), bytes_of(e).begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_THROWS_AS(wire::decode_error(prefix), SerializationError);
  }
}

TEST_CASE("ErrorRecord.TrailingVersionAndKindChecked" * doctest::timeout(10)) {
  std::string e = wire::encode(full_record());
  SUBCASE("trailing bytes") {
    e += '\0';
    CHECK_THROWS_AS(wire::decode_error(bytes_of(e)), SerializationError);
  }
  SUBCASE("other version") {
    e[0] = char(wire::kErrorRecordVersion + 1);
    CHECK_THROWS_AS(wire::decode_error(bytes_of(e)), SerializationError);
  }
  SUBCASE("unknown kind") {
    e[1] = char(0x77);
    CHECK_THROWS_AS(wire::decode_error(bytes_of(e)), SerializationError);
  }
  SUBCASE("kind zero") {
    e[1] = char(0);
    CHECK_THROWS_AS(wire::decode_error(bytes_of(e)), SerializationError);
  }
}

TEST_CASE("ErrorRecord.ThrowsTheMatchingError" * doctest::timeout(10)) {
  wire::ErrorRecord r = full_record();
  CHECK_THROWS_AS(wire::throw_error(r), TaskError);
  r.kind = wire::ErrorKind::kCancelled;
  CHECK_THROWS_AS(wire::throw_error(r), TaskCancelledError);
  r.kind = wire::ErrorKind::kWorkerCrashed;
  CHECK_THROWS_AS(wire::throw_error(r), WorkerCrashedError);
  r.kind = wire::ErrorKind::kStoreFull;
  CHECK_THROWS_AS(wire::throw_error(r), ObjectStoreFullError);
  r.kind = wire::ErrorKind::kSerialization;
  CHECK_THROWS_AS(wire::throw_error(r), SerializationError);
  r.kind = wire::ErrorKind::kTaskTableFull;
  CHECK_THROWS_AS(wire::throw_error(r), TaskTableFullError);
  try {
    wire::throw_error(r);
  } catch (const wire::RecordCarrier& c) {
    CHECK(c.record().message == r.message);  // a task that lets it escape fails with the same record
    CHECK(c.record().via == r.via);
  }
}

TEST_CASE("ErrorRecord.TruncateToBudget" * doctest::timeout(10)) {
  wire::ErrorRecord r = full_record();
  r.message = std::string(100000, 'm');
  wire::truncate_to(r, 1000);
  const std::string e = wire::encode(r);
  CHECK(e.size() <= 1000);
  CHECK(r.message.find("[truncated, 100000 bytes]") != std::string::npos);
  CHECK(wire::decode_error(bytes_of(e)).message == r.message);
  wire::ErrorRecord small = full_record();
  wire::truncate_to(small, 1000);
  CHECK(small.message == "it broke");  // fits: unchanged
}

TEST_CASE("ErrorRecord.ShrinkOfJunkSaysSo" * doctest::timeout(10)) {
  const std::string junk = "\x02\x01garbage";
  const std::string s = wire::shrink_error_payload(bytes_of(junk), wire::kShrunkErrorBytes);
  const wire::ErrorRecord r = wire::decode_error(bytes_of(s));
  CHECK(r.kind == wire::ErrorKind::kSerialization);
  CHECK(!r.message.empty());
}
