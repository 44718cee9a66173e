// The global table of remote functions. Filled by static initialisers (SHMRAY_REMOTE), so it
// is a function-local static: it exists before the first registration whatever the order of
// translation units. Read-only once main() runs, so lookups take no lock.
#include "shmray/detail/registry.hpp"

#include <mutex>
#include <vector>

#include "shmray/errors.hpp"

namespace shmray::detail {

namespace {
struct Registry {
  std::mutex mu;
  std::vector<FunctionInfo> functions;
  std::vector<std::string> conflicts;
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

bool register_function(FunctionInfo info) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (const FunctionInfo& f : r.functions) {
    if (f.address == info.address) return true;  // the same function from two translation units
    if (f.name == info.name && f.signature == info.signature)
      r.conflicts.push_back("SHMRAY_REMOTE: two different functions are registered as '" + info.name +
                            "' with the same signature (static functions of one name in two files?); "
                            "rename one of them");
  }
  r.functions.push_back(std::move(info));
  return true;
}

std::optional<std::uint32_t> function_index(AnyFn address) noexcept {
  const Registry& r = registry();
  for (std::size_t i = 0; i < r.functions.size(); ++i)
    if (r.functions[i].address == address) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

std::uint32_t function_index_or_throw(AnyFn address) {
  if (auto i = function_index(address)) return *i;
  throw UnregisteredFunctionError(
      "shmray::task: this function is not registered as a remote function; add SHMRAY_REMOTE(f) "
      "(with f your function's name) at namespace scope next to its definition");
}

const FunctionInfo* function_at(std::uint32_t index) noexcept {
  const Registry& r = registry();
  return index < r.functions.size() ? &r.functions[index] : nullptr;
}

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
