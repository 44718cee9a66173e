// Result records of failed objects: decoding any bytes gives an ErrorRecord or a
// SerializationError.
#include <cstddef>
#include <cstdint>
#include <span>

#include "shmray/errors.hpp"
#include "wire/error_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto r = shmray::wire::decode_error({reinterpret_cast<const std::byte*>(data), size});
    try {
      shmray::wire::throw_error(r);
    } catch (const shmray::Error&) {
    }
  } catch (const shmray::SerializationError&) {
  }
  return 0;
}
