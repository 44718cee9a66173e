#pragma once
/// @file registry.hpp
/// The table of remote functions. SHMRAY_REMOTE fills it before main; forked workers inherit
/// it, so a function is named across processes by its index.
#include "shmray/detail/config.hpp"
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmray::detail {

class TaskCall;
using AnyFn = void (*)();
using Invoker = void (*)(AnyFn fn, TaskCall& call);

struct FunctionInfo {
  std::string name;       ///< registered name ("slow_square")
  AnyFn address;          ///< the function itself
  Invoker invoke;         ///< decodes arguments, calls, stores the result
  std::string signature;  ///< typeid name of the function type, to tell overloads apart
};

/// Adds `info` (once per address); returns true. Two different functions with one name and
/// one signature are recorded as a conflict that init() reports.
SHMRAY_API bool register_function(FunctionInfo info);
/// Index of a registered function, or nullopt.
SHMRAY_API std::optional<std::uint32_t> function_index(AnyFn address) noexcept;
/// Throws UnregisteredFunctionError naming `SHMRAY_REMOTE(...)` when `address` is unknown.
SHMRAY_API std::uint32_t function_index_or_throw(AnyFn address);
/// nullptr for an index out of range.
SHMRAY_API const FunctionInfo* function_at(std::uint32_t index) noexcept;
/// Empty when names are unambiguous; otherwise a message that says what to rename.
SHMRAY_API std::string registry_conflicts();
/// "static_cast<int (*)(int)>(ns::f)" -> "ns::f"; "&f" -> "f".
SHMRAY_API std::string spelled_function_name(std::string_view spelled);

}  // namespace shmray::detail
