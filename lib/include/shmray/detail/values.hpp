#pragma once
/// @file values.hpp
/// Values in the store, either side: a value serialized in place (two passes, no copy), and
/// a stored value read back.
#include "shmray/detail/config.hpp"

#include <span>
#include <type_traits>
#include <vector>

#include "shmray/detail/codec.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::detail {

/// Serializes `v` in two passes (size, then write) so it lands in the store without a copy.
template <class T>
ValueSource value_source(const T& v, std::vector<ObjectId>& contained) {
  OutArchive sizing;
  sizing.collect_refs(&contained);
  sizing(v);
  return ValueSource{sizing.size(),
                     [](const void* ctx, std::span<std::byte> into) {
                       OutArchive ar(into);
                       ar(*static_cast<const T*>(ctx));
                     },
                     &v, contained};
}

/// Throws SerializationError saying the value given to put() could not be serialized, with
/// the message of the exception in flight (a SerializationError or bad_alloc goes on as is).
[[noreturn]] SHMRAY_API void rethrow_value_not_serializable();

/// value_source for put(): an exception of the value's save() (sizing or writing) becomes
/// SerializationError, as a result's does.
template <class T>
ValueSource put_value_source(const T& v, std::vector<ObjectId>& contained) {
  OutArchive sizing;
  sizing.collect_refs(&contained);
  try {
    sizing(v);
  } catch (...) {
    rethrow_value_not_serializable();
  }
  return ValueSource{sizing.size(),
                     [](const void* ctx, std::span<std::byte> into) {
                       try {
                         OutArchive ar(into);
                         ar(*static_cast<const T*>(ctx));
                       } catch (...) {
                         rethrow_value_not_serializable();
                       }
                     },
                     &v, contained};
}

/// Reads a T stored by value_source; the whole record must be consumed.
template <class T>
T decode_value(std::span<const std::byte> bytes) {
  static_assert(std::is_default_constructible_v<T>, "shmray: values read from the store must be default-constructible");
  InArchive ar(bytes);
  T v{};
  ar(v);
  if (ar.remaining() != 0)
    throw_serialization_error("the stored value is longer than its type (an ObjectRef<T> of the wrong T?)");
  return v;
}

}  // namespace shmray::detail
