// The second `twin` of test_registry_conflict.cpp: same name, same signature, other body.
#include <shmray/shmray.hpp>

namespace {
int twin(int x) { return x - 1; }
SHMRAY_REMOTE(twin);
}  // namespace
