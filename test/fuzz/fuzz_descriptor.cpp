// Task descriptors and argument decoding: a worker reads a descriptor another process
// wrote, splits it, and decodes arguments (values inline, or resolved objects) for a
// function's signature. Corrupt or truncated input ends in SerializationError (or a clean
// refusal), never a crash, an out-of-bounds read or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "shmray/detail/invoke.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"

namespace {

struct Point {
  double x = 0, y = 0;
  std::string label;
  template <class A>
  void serialize(A& ar) {
    ar(x, y, label);
  }
};

// Resolved arguments read from the same fuzz bytes (their tail).
class FuzzCall final : public shmray::detail::TaskCall {
 public:
  FuzzCall(std::span<const std::byte> args, std::span<const std::byte> objects) : ar_(args), objects_(objects) {}
  shmray::detail::InArchive& args() override { return ar_; }
  std::span<const std::byte> resolve(shmray::detail::ObjectId id) override {
    const std::size_t from = id.value % (objects_.size() + 1);
    return objects_.subspan(from);
  }
  void set_result(const shmray::detail::ValueSource&) override {}
  void set_result_block(const shmray::detail::ValueBlock&) override {}

 private:
  shmray::detail::InArchive ar_;
  std::span<const std::byte> objects_;
};

template <class... D>
void decode_all(std::span<const std::byte> args, std::span<const std::byte> objects) {
  FuzzCall call(args, objects);
  try {
    std::tuple<D...> t{shmray::detail::decode_argument<D>(call.args(), call)...};
    (void)t;
  } catch (const shmray::SerializationError&) {
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto d = shmray::wire::parse_descriptor(bytes);
  if (!d) return 0;
  for (std::uint32_t i = 0; i < d->resolve; ++i) (void)d->resolve_id(i);
  const auto objects = d->args.subspan(d->args.size() / 2);
  decode_all<int, std::string, std::vector<double>>(d->args, objects);
  decode_all<std::map<std::string, int>, Point>(d->args, objects);
  decode_all<std::vector<std::string>, std::uint64_t, double>(d->args, objects);
  try {
    (void)shmray::detail::decode_value<std::vector<Point>>(d->args);
  } catch (const shmray::SerializationError&) {
  }
  return 0;
}
