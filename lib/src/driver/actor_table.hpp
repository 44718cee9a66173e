#pragma once
// The driver's facts about actors: one ActorInfo per actor, found by its id (the id of its
// creation result, which its handles reference), by its name, or by the worker slot its
// process runs in. Each actor keeps its calls per caller in submission order; a call is
// sent to the actor's process (its control ring) once its arguments are final and every
// earlier call of its caller was sent, so each caller's calls run in order.
//
// Every method is called with Driver::mu_ held.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shmray/detail/runtime_api.hpp"
#include "wire/refs.hpp"

namespace shmray::driver {

using detail::ObjectId;

enum class ActorState : std::uint8_t {
  kStarting,    // its process starts; the creation task is queued first on its ring
  kAlive,       // its factory ran
  kRestarting,  // its process died; a new one starts and runs the factory again
  kDead,        // for good: calls fail with ActorDiedError
};

/// One caller's calls, oldest first; those before `unsent` are on the actor's ring.
struct ActorQueue {
  std::deque<wire::TaskRef> calls;
  std::size_t unsent = 0;
};

struct ActorInfo {
  ObjectId id;             // its creation result: the handles' object
  std::uint32_t slot = 0;  // worker slot of its process
  std::uint32_t factory = 0;
  std::string class_type;  // typeid name of what the factory makes
  std::string name;        // empty: not named
  std::int32_t max_restarts = 0, max_task_retries = 0;
  bool detached = false;       // it holds a reference to its own id (released when it is dead)
  std::string desc;            // the creation descriptor, for restarts
  std::uint32_t resolve = 0;   // the first `resolve` pins are resolved arguments (watched)
  std::uint32_t cpus = 0;      // CPU slots of the pool it holds (holds that wait for `lifetime`)
  ObjectId lifetime;           // cpus > 0: final once the actor is dead; its holds end then
  std::vector<ObjectId> pins;  // the creation's argument refs: held while it may restart
  std::uint32_t restarts = 0;
  std::uint32_t fork_failures = 0;  // in a row: its process could not be forked
  ActorState state = ActorState::kStarting;
  std::string death;       // why it is dead: the ActorDiedError message
  wire::TaskRef creation;  // the creation task (first run or a restart) until it is done
  bool creation_sent = false;
  ObjectId restart_result;    // a restart's creation result (the driver's own object)
  bool unreferenced = false;  // its last handle is gone: stop once every call ran
  bool stop_sent = false;
  bool kill_requested = false;                 // kill(): no destructor, no restart
  bool buried = false;                         // dead, and its process gone: only its handles may still ask
  std::map<std::uint64_t, ActorQueue> queues;  // caller key -> its calls, oldest first
};

class ActorTable {
 public:
  ActorTable(std::uint32_t first_slot, std::uint32_t slots);

  ActorInfo* find(ObjectId id);
  ActorInfo* by_slot(std::uint32_t slot);
  /// The live actor of that name (not dead, a handle still held).
  ActorInfo* by_name(const std::string& name);
  /// A free slot for a new actor; nullopt when max_actors are alive.
  std::optional<std::uint32_t> free_slot() const;
  /// Some actor's process is about to leave (stopped, killed, failed): its slot frees soon.
  bool any_ending() const;
  std::uint32_t capacity() const { return static_cast<std::uint32_t>(slots_.size()); }

  ActorInfo& add(ActorInfo info);
  /// Forgets the actor (its slot and name become free).
  void erase(ObjectId id);
  /// Its process is gone for good: the slot is free for another actor.
  void release_slot(ActorInfo& a);
  /// The name stops naming it (a dead actor's name is free for a new one).
  void drop_name(const ActorInfo& a);

  /// An actor created inside a task could not be started: calls to `id` fail saying `why`.
  void refuse(ObjectId id, std::string why);
  /// Why `id` was refused; empty when it was not.
  std::string refusal(ObjectId id) const;

  /// Object slot `index` was freed: true when it was an actor's id (marked unreferenced).
  bool note_freed(std::uint32_t index);
  bool any_unreferenced() const { return !unreferenced_.empty(); }
  /// Actors marked by note_freed since the last call.
  std::vector<ObjectId> take_unreferenced();

  template <class F>
  void for_each(F&& f) {
    for (auto& [key, a] : actors_) f(a);
  }

 private:
  const std::uint32_t first_slot_;
  std::unordered_map<std::uint64_t, ActorInfo> actors_;        // id value -> actor
  std::unordered_map<std::uint32_t, std::uint64_t> by_index_;  // object index of its id -> id value
  std::unordered_map<std::string, std::uint64_t> names_;
  std::vector<std::uint64_t> slots_;  // slot - first_slot -> id value, 0 when free
  std::vector<ObjectId> unreferenced_;
  std::unordered_map<std::uint32_t, std::pair<std::uint64_t, std::string>> refused_;  // object index -> id, why
};

}  // namespace shmray::driver
