#pragma once
// The process's on_ready notifier (notifier.cpp), as runtime.cpp sees it.

namespace shmray::internal {
/// Drops the pending on_ready callbacks and joins the notifier thread, if one runs (shutdown()).
void stop_notifier() noexcept;
/// Is this the notifier's thread? It runs callbacks for no task (WorkerRuntime::own_task).
bool on_notifier_thread() noexcept;
}  // namespace shmray::internal
