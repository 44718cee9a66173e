// The global table of remote functions. Filled by static initialisers (SHMRAY_REMOTE), so it
// is a function-local static: it exists before the first registration whatever the order of
// translation units. Entries live in fixed chunks that never move, and the count is
// published after the entry: a lookup takes no lock, even while a library loaded later
// registers more. init() seals the table: the workers are forks taken then, so a function
// registered after it is unknown to them and is refused at submit with a named error.
#include "shmray/detail/registry.hpp"

#include <dlfcn.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "shmray/errors.hpp"
#include "wire/error_record.hpp"

namespace shmray::detail {

namespace {
constexpr std::size_t kChunk = 1024, kChunks = 64;  // up to 65,536 registrations

struct Registry {
  std::mutex mu;  // registrations (and conflicts); lookups read `count` and the chunks without it
  std::array<std::atomic<FunctionInfo*>, kChunks> chunks{};
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> sealed{SIZE_MAX};  // entries below it existed when the pool forked
  std::vector<std::string> conflicts;

  FunctionInfo& at(std::size_t i) const { return chunks[i / kChunk].load(std::memory_order_acquire)[i % kChunk]; }
};
Registry& registry() {
  static Registry r;
  return r;
}

// "int slow_square(int)" from the dynamic symbol table, else "a function of type int (int)".
std::string describe_function(AnyFn address, const char* type_name) {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(address), &info) != 0 && info.dli_sname && info.dli_saddr == (void*)address)
    return wire::demangle(info.dli_sname);
  if (type_name) return "a function of type " + wire::demangle(type_name);
  return "this function";
}

bool same(const FunctionInfo& a, const FunctionInfo& b) {
  if (a.kind == FunctionKind::kMethod || b.kind == FunctionKind::kMethod)
    return a.kind == b.kind && a.method == b.method && a.signature == b.signature;
  return a.address == b.address;
}
}  // namespace

bool register_function(FunctionInfo info) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  const std::size_t n = r.count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    const FunctionInfo& f = r.at(i);
    if (same(f, info)) return true;  // the same function (or method) from two translation units
    // FunctionInfo::internal: remote_n's projections (detail::TupleElementTask in task.hpp)
    // are named by shmray, not by the user, so a shared name confuses no one; and two of them
    // legitimately share name and signature when the tuples hold types of one name from
    // anonymous namespaces of two files (one typeid name, two types): that must not make
    // init() refuse the program.
    if (f.name == info.name && f.signature == info.signature && !info.internal)
      r.conflicts.push_back("SHMRAY_REMOTE: two different functions are registered as '" + info.name +
                            "' with the same signature (static functions of one name in two files?); "
                            "rename one of them");
  }
  if (n == kChunk * kChunks) {
    r.conflicts.push_back("SHMRAY_REMOTE: more than " + std::to_string(kChunk * kChunks) + " registrations");
    return true;
  }
  if (!r.chunks[n / kChunk].load(std::memory_order_relaxed))
    r.chunks[n / kChunk].store(new FunctionInfo[kChunk], std::memory_order_release);  // lives until exit
  r.at(n) = std::move(info);
  r.count.store(n + 1, std::memory_order_release);  // the entry before the count
  return true;
}

std::optional<std::uint32_t> function_index(AnyFn address) noexcept {
  const Registry& r = registry();
  const std::size_t n = r.count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i)
    if (r.at(i).kind != FunctionKind::kMethod && r.at(i).address == address) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

std::uint32_t function_index_or_throw(AnyFn address) { return function_index_or_throw(address, nullptr); }

std::uint32_t function_index_or_throw(AnyFn address, const char* type_name) {
  const auto i = function_index(address);
  if (!i)
    throw UnregisteredFunctionError("shmray::task: " + describe_function(address, type_name) +
                                    " is not registered as a remote function; add SHMRAY_REMOTE(f) (with f its name) "
                                    "at namespace scope next to its definition");
  if (*i >= registry().sealed.load(std::memory_order_acquire))
    throw UnregisteredFunctionError(
        "shmray::task: " + registry().at(*i).name +
        " was registered after shmray::init() (a library loaded with dlopen after it?): the worker processes were "
        "forked before and cannot run it; load it before init(), or shutdown() and init() again");
  return *i;
}

std::optional<std::uint32_t> method_index(const MethodKey& key, std::string_view signature) noexcept {
  const Registry& r = registry();
  const std::size_t n = r.count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const FunctionInfo& f = r.at(i);
    if (f.kind == FunctionKind::kMethod && f.method == key && f.signature == signature)
      return static_cast<std::uint32_t>(i);
  }
  return std::nullopt;
}

std::uint32_t method_index_or_throw(const MethodKey& key, std::string_view signature) {
  const auto i = method_index(key, signature);
  if (!i)
    throw UnregisteredFunctionError("shmray: the actor method " + wire::demangle(std::string(signature).c_str()) +
                                    " is not registered; add SHMRAY_REMOTE(&Class::method) at namespace scope next "
                                    "to the class");
  if (*i >= registry().sealed.load(std::memory_order_acquire))
    throw UnregisteredFunctionError("shmray: the actor method " + registry().at(*i).name +
                                    " was registered after shmray::init(): the actors' processes cannot run it");
  return *i;
}

const FunctionInfo* function_at(std::uint32_t index) noexcept {
  const Registry& r = registry();
  return index < r.count.load(std::memory_order_acquire) ? &r.at(index) : nullptr;
}

void seal_registry() noexcept {
  Registry& r = registry();
  r.sealed.store(r.count.load(std::memory_order_acquire), std::memory_order_release);
}

void unseal_registry() noexcept { registry().sealed.store(SIZE_MAX, std::memory_order_release); }

std::string registry_conflicts() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::string out;
  for (const auto& c : r.conflicts) out += (out.empty() ? "" : "\n") + c;
  return out;
}

std::string spelled_function_name(std::string_view s) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '&')) v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return v;
  };
  s = trim(s);
  // A cast picks an overload: the name is the operand of the last top-level parentheses.
  if (!s.empty() && s.back() == ')') {
    int depth = 0;
    for (std::size_t i = s.size(); i-- > 0;) {
      if (s[i] == ')') ++depth;
      if (s[i] == '(' && --depth == 0) return std::string(trim(s.substr(i + 1, s.size() - i - 2)));
    }
  }
  return std::string(s);
}

}  // namespace shmray::detail
