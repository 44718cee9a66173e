// The segment header check a worker runs on attach: any bytes are accepted only when magic,
// version and the whole geometry are consistent and inside the mapping.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shmray::shm;
  // The first 8 bytes say how big the pretended mapping is; the header follows.
  if (size < 8) return 0;
  std::uint64_t claimed;
  std::memcpy(&claimed, data, 8);
  std::span<const std::byte> mapping(reinterpret_cast<const std::byte*>(data + 8), size - 8);
  (void)validate_header(mapping);
  if (size - 8 >= sizeof(SegmentHeader)) {
    // With magic and version forced right, only the geometry decides.
    SegmentHeader h;
    std::memcpy(&h, data + 8, sizeof h);
    h.magic = kMagic;
    h.layout_version = kLayoutVersion;
    h.header_bytes = sizeof(SegmentHeader);
    std::byte buf[sizeof h];
    std::memcpy(buf, &h, sizeof h);
    (void)validate_header({buf, sizeof buf});
    (void)claimed;
  }
  return 0;
}
