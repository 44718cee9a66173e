#pragma once
/// @file registry.hpp
/// The table of remote functions. SHMRAY_REMOTE fills it before main; forked workers inherit
/// it, so a function is named across processes by its index.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include "shmray/detail/config.hpp"

namespace shmray::detail {

class TaskCall;
using AnyFn = void (*)();
using Invoker = void (*)(AnyFn fn, TaskCall& call);
/// Calls the method whose member-pointer bytes are `method` on `self` (an actor's object).
using MethodInvoker = void (*)(const std::byte* method, void* self, TaskCall& call);

/// What a registration is: a remote function, an actor factory (`T* make(...)`: its
/// result is an actor's object) or an actor method (`&T::f`).
enum class FunctionKind : std::uint8_t { kFunction = 0, kFactory = 1, kMethod = 2 };
/// Bytes of a member function pointer (two words in the Itanium C++ ABI).
using MethodKey = std::array<std::byte, 16>;

struct FunctionInfo {
  std::string name;       ///< registered name ("slow_square", "Counter::add")
  AnyFn address;          ///< the function itself (nullptr for a method)
  Invoker invoke;         ///< decodes arguments, calls, stores the result (functions, factories)
  std::string signature;  ///< typeid name of the function type, to tell overloads apart
  FunctionKind kind = FunctionKind::kFunction;
  std::string class_type{};               ///< factory: typeid name of what it makes; method: of its class
  MethodKey method{};                     ///< method: the member pointer
  MethodInvoker invoke_method = nullptr;  ///< method: calls it on the actor's object
  void (*destroy)(void*) = nullptr;       ///< factory: deletes what it made
  /// Registered by shmray itself, not by a SHMRAY_REMOTE (remote_n's projections): it may
  /// share its name and signature with another such entry without being a conflict.
  bool internal = false;
};

/// Adds `info` (once per address); returns true. Two different functions with one name and
/// one signature are recorded as a conflict that init() reports.
SHMRAY_API bool register_function(FunctionInfo info);
/// Index of a registered function, or nullopt.
SHMRAY_API std::optional<std::uint32_t> function_index(AnyFn address) noexcept;
/// Throws UnregisteredFunctionError naming `SHMRAY_REMOTE(...)` when `address` is unknown.
SHMRAY_API std::uint32_t function_index_or_throw(AnyFn address);
/// As above, naming the function in the error: its symbol (demangled) when the dynamic symbol
/// table has it, else its type (`type_name`, a typeid name). Also throws for a function
/// registered after init() (the workers, forked at init(), do not have it).
SHMRAY_API std::uint32_t function_index_or_throw(AnyFn address, const char* type_name);
/// Index of a registered actor method (its member pointer's bytes and signature), or nullopt.
SHMRAY_API std::optional<std::uint32_t> method_index(const MethodKey& key, std::string_view signature) noexcept;
/// Throws UnregisteredFunctionError naming `SHMRAY_REMOTE(&Class::method)` when unknown.
SHMRAY_API std::uint32_t method_index_or_throw(const MethodKey& key, std::string_view signature);
/// nullptr for an index out of range.
SHMRAY_API const FunctionInfo* function_at(std::uint32_t index) noexcept;
/// init(): what is registered now is what the workers will have (internal).
void seal_registry() noexcept;
/// shutdown(): the next init() seals again (internal).
void unseal_registry() noexcept;
/// Empty when names are unambiguous; otherwise a message that says what to rename.
SHMRAY_API std::string registry_conflicts();
/// "static_cast<int (*)(int)>(ns::f)" -> "ns::f"; "&f" -> "f".
SHMRAY_API std::string spelled_function_name(std::string_view spelled);

}  // namespace shmray::detail
