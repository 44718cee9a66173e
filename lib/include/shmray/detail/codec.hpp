#pragma once
/// @file codec.hpp
/// shmray's cereal archives: cereal's binary format, written straight into memory (no
/// iostream), and read back with every length checked against the bytes that are there.
/// Bytes written by another process are untrusted: a truncated record or a size prefix
/// larger than what follows throws SerializationError instead of reading out of bounds or
/// allocating without limit.
#include <cereal/cereal.hpp>
#include "shmray/detail/config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "shmray/detail/object_id.hpp"

namespace shmray::detail {

[[noreturn]] SHMRAY_API void throw_serialization_error(const char* what);

/// Writes into a growable buffer, into a fixed span, or only counts (sizing pass).
class OutArchive : public cereal::OutputArchive<OutArchive, cereal::AllowEmptyClassElision> {
 public:
  /// Counting mode: size() tells how many bytes a real pass will write.
  OutArchive() : OutputArchive(this) {}
  /// Appends to `grow`.
  explicit OutArchive(std::string& grow) : OutputArchive(this), grow_(&grow) {}
  /// Appends to `grow` while the whole stays within `limit` bytes, then only counts: a record
  /// that overflowed() is written again, where it goes, once size() tells how large it is.
  OutArchive(std::string& grow, std::size_t limit) : OutputArchive(this), grow_(&grow), limit_(limit) {}
  /// Writes into `into`; writing past its end throws SerializationError.
  explicit OutArchive(std::span<std::byte> into)
      : OutputArchive(this), pos_(into.data()), end_(into.data() + into.size()) {}

  void write(const void* p, std::size_t n) {
    if (n == 0) return;  // an empty container passes a null pointer: memcpy must not see it
    if (grow_) {
      if (n <= limit_ - size_) {
        grow_->append(static_cast<const char*>(p), n);
      } else {
        grow_ = nullptr;  // counting from here on
        overflowed_ = true;
      }
    } else if (pos_) {
      if (n > std::size_t(end_ - pos_)) throw_serialization_error("value grew between sizing and writing");
      std::memcpy(pos_, p, n);
      pos_ += n;
    }
    size_ += n;
  }
  std::size_t size() const { return size_; }
  /// A bounded grow stopped appending: the buffer holds only a prefix of the record.
  bool overflowed() const { return overflowed_; }

  /// ObjectRefs saved through this archive are recorded here (the container holds them).
  void collect_refs(std::vector<ObjectId>* refs) { refs_ = refs; }
  void note_ref(ObjectId id) {
    if (refs_) refs_->push_back(id);
  }

 private:
  std::string* grow_ = nullptr;
  std::byte* pos_ = nullptr;
  std::byte* end_ = nullptr;
  std::size_t size_ = 0;
  std::size_t limit_ = SIZE_MAX;
  bool overflowed_ = false;
  std::vector<ObjectId>* refs_ = nullptr;
};

/// Reads from a byte span; never past its end.
class InArchive : public cereal::InputArchive<InArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit InArchive(std::span<const std::byte> from)
      : InputArchive(this), pos_(from.data()), end_(from.data() + from.size()) {}

  void read(void* p, std::size_t n) {
    if (n == 0) return;
    if (n > remaining()) throw_serialization_error("record is truncated");
    std::memcpy(p, pos_, n);
    pos_ += n;
  }
  std::size_t remaining() const { return std::size_t(end_ - pos_); }
  const std::byte* position() const { return pos_; }
  void skip(std::size_t n) {
    if (n > remaining()) throw_serialization_error("record is truncated");
    pos_ += n;
  }

 private:
  const std::byte* pos_;
  const std::byte* end_;
};

// ---- cereal's binary format for our archives (same bytes as cereal::BinaryOutputArchive) ----

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(OutArchive& ar, const T& t) {
  ar.write(std::addressof(t), sizeof(t));
}
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(InArchive& ar, T& t) {
  ar.read(std::addressof(t), sizeof(t));
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(OutArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(InArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(OutArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
}
/// A size prefix may not promise more elements than bytes remain: every element takes at
/// least one byte, so a larger value is corrupt (and would make the container allocate it).
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(InArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  if (static_cast<std::uint64_t>(t.size) > ar.remaining()) throw_serialization_error("size prefix exceeds the record");
}
template <class T>
void CEREAL_SAVE_FUNCTION_NAME(OutArchive& ar, const cereal::BinaryData<T>& bd) {
  ar.write(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(InArchive& ar, cereal::BinaryData<T>& bd) {
  ar.read(bd.data, static_cast<std::size_t>(bd.size));
}

}  // namespace shmray::detail

CEREAL_REGISTER_ARCHIVE(shmray::detail::OutArchive)
CEREAL_REGISTER_ARCHIVE(shmray::detail::InArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(shmray::detail::InArchive, shmray::detail::OutArchive)
