// libshmray_ray: Ray's C++ API (ray/include/ray/api/backend.h) on shmray::detail::RuntimeApi.
// The stored payload of a value is its msgpack bytes; nothing here re-encodes them.
#include <ray/api/backend.h>
#include <ray/api/ray_exception.h>

#include "bridge.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shmray/api.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/ref_handle.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/errors.hpp"

namespace ray::internal::backend {
namespace {

namespace sd = shmray::detail;

/// RAY_REMOTE's functions: their registry index, or kShmrayOwned when the address was
/// registered first by SHMRAY_REMOTE. A function-local static: RAY_REMOTE runs before main.
constexpr std::uint32_t kShmrayOwned = std::numeric_limits<std::uint32_t>::max();
struct RayRegistry {
  std::mutex mu;
  std::unordered_map<AnyFn, std::uint32_t> index;
};
RayRegistry& RayFunctions() {
  static RayRegistry r;
  return r;
}

}  // namespace

namespace bridge {

std::string RayTaskMessage(const shmray::TaskError& e) {
  // Ray's shape (its task executor): the function's name, the C++ type, what() of it.
  return "An exception was thrown while executing function(" + e.function() + "): " + e.type_name() + ": " +
         e.message();
}

void RethrowAsRay() {
  try {
    throw;
  } catch (const shmray::TaskError& e) {
    throw RayTaskException(RayTaskMessage(e));
  } catch (const shmray::WorkerCrashedError& e) {
    throw RayWorkerException(e.what());
  } catch (const shmray::GetTimeoutError& e) {
    throw RayTimeoutException(e.what());
  } catch (const shmray::ActorDiedError& e) {
    throw RayActorException(e.what());
  } catch (const shmray::UnregisteredFunctionError& e) {
    throw RayFunctionNotFound(e.what());
  } catch (const shmray::ForkedProcessError& e) {
    throw RayException(e.what());
  } catch (const shmray::NotInitializedError& e) {
    // shmray's message names shmray::init(); a user of this API calls ray::Init().
    throw RayException(std::string("ray: no worker pool runs; call ray::Init() first (") + e.what() + ")");
  } catch (const shmray::Error& e) {
    throw RayException(e.what());
  } catch (const std::invalid_argument& e) {
    // shmray's misuse errors (a stale or repeated ref, an option out of range): a Ray
    // program catches RayException for them, as Ray throws it for these.
    throw RayException(e.what());
  }
}

sd::Deadline DeadlineOf(int timeout_ms) {
  if (timeout_ms < 0) return sd::Deadline::never();
  return sd::Deadline::after(std::chrono::milliseconds(timeout_ms));
}

std::vector<sd::ObjectId> Ids(const std::vector<std::uint64_t>& raw) {
  std::vector<sd::ObjectId> ids;
  ids.reserve(raw.size());
  for (std::uint64_t v : raw) ids.push_back(sd::ObjectId{v});
  return ids;
}

sd::ValueSource SourceOf(const Payload& p, std::vector<sd::ObjectId>& contained) {
  if (p.contained) contained = Ids(*p.contained);
  return sd::ValueSource{p.size,
                         [](const void* ctx, std::span<std::byte> into) {
                           const Payload& p = *static_cast<const Payload*>(ctx);
                           p.write(p.ctx, reinterpret_cast<char*>(into.data()), into.size());
                         },
                         &p, contained};
}

double CpusOf(const std::unordered_map<std::string, double>& resources, double cpus, bool& lacking) {
  lacking = false;
  for (const auto& [name, amount] : resources) {
    if (name == "CPU")
      cpus = amount;
    else if (amount > 0 && name != "memory" && name != "object_store_memory")
      lacking = true;
  }
  return cpus;
}

}  // namespace bridge

namespace {

using bridge::CpusOf;
using bridge::DeadlineOf;
using bridge::Ids;
using bridge::Request;
using bridge::RethrowAsRay;
using bridge::SourceOf;

/// "--num-cpus=4" or "--num-cpus 4" in Ray's head arguments; the last one counts (as with
/// `ray start`), so --ray_head_args on the command line, appended after config.head_args,
/// overrides the config.
bool HeadArg(const std::vector<std::string>& args, std::string_view flag, std::string& value) {
  bool found = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a.substr(0, flag.size()) != flag) continue;
    if (a.size() == flag.size() && i + 1 < args.size()) {
      value = args[++i];
      found = true;
    } else if (a.size() > flag.size() && a[flag.size()] == '=') {
      value = std::string(a.substr(flag.size() + 1));
      found = true;
    }
  }
  return found;
}

unsigned long long ParseCount(const std::string& v, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || v[0] == '-')
    throw RayException(std::string("ray::Init: ") + what + " must be a whole number, not \"" + v + "\"");
  return n;
}

/// Splits "a b=c d" on spaces (Ray's --ray_head_args takes one string).
void SplitInto(std::string_view s, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
}

}  // namespace

void Init(const RayConfig& config, int argc, char** argv) {
  if (shmray::is_initialized()) return;  // Ray's Init is once per process: a second call is a no-op here
  std::string address = config.address;
  std::vector<std::string> head = config.head_args;
  for (int i = 1; argv && i < argc; ++i) {
    std::string_view a = argv[i] ? argv[i] : "";
    if (a.rfind("--ray_address=", 0) == 0) address = std::string(a.substr(14));
    if (a.rfind("--ray_head_args=", 0) == 0) SplitInto(a.substr(16), head);
  }
  if (!address.empty() && address != "local")
    throw RayException("ray::Init: address \"" + address +
                       "\" names a Ray cluster; shmray runs on this machine only. Build the program against "
                       "Ray's own library to join a cluster (docs/ray-cluster.md), or leave the address empty");
  shmray::Options options;
  std::string v;
  if (HeadArg(head, "--num-cpus", v)) {
    const auto n = ParseCount(v, "--num-cpus");
    if (n < 1 || n > 1024) throw RayException("ray::Init: --num-cpus must be between 1 and 1024");
    options.num_workers = static_cast<unsigned>(n);
  }
  if (HeadArg(head, "--object-store-memory", v)) options.object_store_bytes = ParseCount(v, "--object-store-memory");
  try {
    shmray::init(options);
  } catch (const shmray::AlreadyInitializedError&) {
    if (!shmray::is_initialized()) RethrowAsRay();  // a worker process: keep shmray's message
    // Another thread's Init won the race: a no-op, as the check above makes a second call.
  } catch (...) {
    RethrowAsRay();
  }
}

void Shutdown() noexcept { shmray::shutdown(); }
bool IsInitialized() noexcept { return shmray::is_initialized(); }

bool Register(const char* name, AnyFn fn, Invoker invoke, const char* signature) {
  sd::register_function(sd::FunctionInfo{name, fn, invoke, signature});
  // shmray keeps the first registration of an address: one made by SHMRAY_REMOTE has an
  // invoker that reads shmray's argument format, and is not ours to call.
  const std::optional<std::uint32_t> i = sd::function_index(fn);
  const sd::FunctionInfo* info = i ? sd::function_at(*i) : nullptr;
  std::lock_guard lock(RayFunctions().mu);
  if (info && info->invoke == invoke)
    RayFunctions().index.emplace(fn, *i);
  else
    RayFunctions().index.emplace(fn, kShmrayOwned);
  return true;
}

std::uint32_t FunctionIndex(AnyFn fn) {
  // Read without the lock: filled before main, read-only after (as shmray's registry).
  const auto& index = RayFunctions().index;
  const auto it = index.find(fn);
  if (it == index.end()) {
    if (sd::function_index(fn))
      throw RayFunctionNotFound(
          "ray::Task: this function is registered with SHMRAY_REMOTE, not RAY_REMOTE; "
          "add RAY_REMOTE(f) for ray::Task (or call it with shmray::task)");
    throw RayFunctionNotFound("Function not found. Please use RAY_REMOTE to register this function.");
  }
  if (it->second == kShmrayOwned)
    throw RayFunctionNotFound(
        "ray::Task: this function is registered with both SHMRAY_REMOTE and RAY_REMOTE, "
        "and shmray keeps the first (SHMRAY_REMOTE's); register it with one of them only");
  return it->second;
}

std::uint64_t Submit(std::uint32_t function, const CallArgs& args, const TaskSpec& spec) {
  shmray::TaskOptions options;
  options.name = spec.name;
  bool lacking = false;
  options.num_cpus = CpusOf(spec.resources, options.num_cpus, lacking);
  // A resource this machine does not offer (GPU, custom): pending for good, as on a Ray
  // node without it (shmray warns once on stderr).
  if (lacking) options.num_cpus = std::numeric_limits<unsigned>::max();
  try {
    const Request r(function, args, options);
    sd::RuntimeCall rt;
    return rt->submit(r.req).value;
  } catch (...) {
    RethrowAsRay();
  }
}

std::uint64_t Put(const Payload& value) {
  try {
    std::vector<sd::ObjectId> contained;
    const sd::ValueSource source = SourceOf(value, contained);
    sd::RuntimeCall rt;
    return rt->put(source).value;
  } catch (...) {
    RethrowAsRay();
  }
}

Bytes Fetch(std::uint64_t id, int timeout_ms) {
  try {
    sd::RuntimeCall rt;
    const auto b = rt->fetch(sd::ObjectId{id}, DeadlineOf(timeout_ms));
    return Bytes{reinterpret_cast<const char*>(b.data()), b.size()};
  } catch (...) {
    RethrowAsRay();
  }
}

void WaitAll(const std::vector<std::uint64_t>& raw, int timeout_ms) {
  try {
    const std::vector<sd::ObjectId> ids = Ids(raw);
    const sd::Deadline until = DeadlineOf(timeout_ms);
    sd::RuntimeCall rt;
    const std::size_t failed = rt->wait_all_or_failure(ids, until);
    if (failed < ids.size()) rt->fetch(ids[failed], sd::Deadline::never());  // throws its error
    // Without a limit every id is final now; with one, any not final throws GetTimeoutError.
    if (!until.is_never())
      for (sd::ObjectId id : ids) rt->fetch(id, until);
  } catch (...) {
    RethrowAsRay();
  }
}

std::vector<bool> Wait(const std::vector<std::uint64_t>& raw, int num_objects, int timeout_ms) {
  try {
    const std::vector<sd::ObjectId> ids = Ids(raw);
    std::vector<char> ready(ids.size(), 0);
    sd::RuntimeCall rt;
    if (num_objects > 0) rt->wait(ids, static_cast<std::size_t>(num_objects), DeadlineOf(timeout_ms), ready);
    return std::vector<bool>(ready.begin(), ready.end());
  } catch (...) {
    RethrowAsRay();
  }
}

// As shmray's RefHandle does, without its allocation: the shared_ptr of ObjectRef is the
// process-local count already.
std::uint64_t AdoptRef(std::uint64_t) noexcept { return sd::runtime_generation(); }
void DropRef(std::uint64_t id, std::uint64_t generation) noexcept {
  sd::RuntimeCall rt(std::nothrow);  // no runtime (after Shutdown, in a forked child): nothing to tell
  if (rt.ok() && generation == sd::runtime_generation()) rt->release(sd::ObjectId{id});
}
std::uint64_t CheckedId(std::uint64_t id, std::uint64_t generation) {
  // shmray's own check (forked child, ref of an earlier init()) on a stack handle.
  const sd::RefHandle h{{1}, sd::ObjectId{id}, generation};
  try {
    return sd::checked_id(&h, "ray: ObjectRef").value;
  } catch (...) {
    RethrowAsRay();
  }
}
std::string Hex(std::uint64_t id) { return sd::ObjectId{id}.hex(); }

Bytes TaskArgs(shmray::detail::TaskCall& call) {
  sd::InArchive& ar = call.args();
  const Bytes b{reinterpret_cast<const char*>(ar.position()), ar.remaining()};
  ar.skip(ar.remaining());  // consumed: our own format, read by the invoker
  return b;
}

Bytes Resolve(shmray::detail::TaskCall& call, std::uint64_t id) {
  const auto b = call.resolve(sd::ObjectId{id});
  return Bytes{reinterpret_cast<const char*>(b.data()), b.size()};
}

void BeforeBody(shmray::detail::TaskCall& call) { call.before_body(); }

void SetResult(shmray::detail::TaskCall& call, const Payload& value) {
  if (value.size == 0 && value.write == nullptr) {
    call.set_result(sd::ValueSource{});
    return;
  }
  std::vector<sd::ObjectId> contained;
  call.set_result(SourceOf(value, contained));
}

}  // namespace ray::internal::backend

namespace ray::internal {

std::vector<std::string> SplitRemoteNames(const char* spelled) {
  std::vector<std::string> out;
  std::string_view s = spelled ? spelled : "";
  int depth = 0;
  std::size_t start = 0;
  auto push = [&](std::string_view item) {
    // RAY_FUNC(f, int) -> "f"
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.rfind("RAY_FUNC", 0) == 0) {
      const auto open = item.find('(');
      const auto end = item.find_first_of(",)", open == std::string_view::npos ? 0 : open + 1);
      if (open != std::string_view::npos && end != std::string_view::npos) item = item.substr(open + 1, end - open - 1);
    }
    out.push_back(shmray::detail::spelled_function_name(item));
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '(' || c == '<' || c == '[') ++depth;
    if (c == ')' || c == '>' || c == ']') --depth;
    if (c == ',' && depth == 0) {
      push(s.substr(start, i - start));
      start = i + 1;
    }
  }
  push(s.substr(start));
  return out;
}

}  // namespace ray::internal
