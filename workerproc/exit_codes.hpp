#pragma once
// Exit codes of worker and fork-server processes that the driver interprets.
namespace shmray::worker {
inline constexpr int kExitShutdown = 0;      // asked to stop
inline constexpr int kExitBadLayout = 70;    // segment header check failed on attach
inline constexpr int kExitOrphan = 71;       // parent gone before PR_SET_PDEATHSIG took effect
inline constexpr int kExitInternal = 72;     // an internal error in the worker loop (logged)
inline constexpr int kExitStatusLost = 73;   // the worker ended but its status was reaped by someone else
/// Not a process exit: the fork server could not fork the slot's worker, after retrying with
/// backoff. The ExitReport's pid field then carries the fork's errno (there is no pid).
inline constexpr int kExitForkFailed = 74;
inline constexpr int kExitKillWait = 75;     // a force-kill stayed pending 2 s after its task ended (cancel.cpp)
}  // namespace shmray::worker
