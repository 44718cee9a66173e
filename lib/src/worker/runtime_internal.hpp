#pragma once
// What the parts of WorkerRuntime (worker_runtime.cpp and the files beside it) share and no
// one else sees: per-process and per-thread state, and the refusal a forked child gets.
namespace shmray::worker::internal {

extern bool g_forked_child;              // set in a child a task forked (pthread_atfork); read without a syscall
extern thread_local bool t_task_thread;  // this thread runs tasks (run()); others were started by a task

/// ForkedProcessError: the runtime is used from a process a task forked.
[[noreturn]] void refuse_forked();

}  // namespace shmray::worker::internal
