#pragma once
// What the driver and the fork server agree on: the requests the driver sends on the fork
// server's socket, and the exit codes of worker and fork-server processes that the driver
// interprets. Both sides include this header; neither includes the other's.
#include <cstdint>

namespace shmray::wire {

/// Requests the driver sends on the fork server's SOCK_SEQPACKET socket: one datagram each,
/// so a request can never be split or shifted by another writer.
struct ForkRequest {
  std::uint32_t op;    // kSpawn or kShutdown
  std::uint32_t slot;  // worker slot to (re)start
};
inline constexpr std::uint32_t kSpawn = 1;
inline constexpr std::uint32_t kShutdown = 2;

inline constexpr int kExitShutdown = 0;     // asked to stop
inline constexpr int kExitBadLayout = 70;   // segment header check failed on attach
inline constexpr int kExitOrphan = 71;      // parent gone before PR_SET_PDEATHSIG took effect
inline constexpr int kExitInternal = 72;    // an internal error in the worker loop (logged)
inline constexpr int kExitStatusLost = 73;  // the worker ended but its status was reaped by someone else
/// Not a process exit: the fork server could not fork the slot's worker, after retrying with
/// backoff. The ExitReport's pid field then carries the fork's errno (there is no pid).
inline constexpr int kExitForkFailed = 74;
inline constexpr int kExitKillWait = 75;  // a force-kill stayed pending 2 s after its task ended (cancel.cpp)

}  // namespace shmray::wire
