// Two different functions registered under one name and one signature (static functions
// of the same name in two files): init() refuses with a message that says what to rename.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include "support/leak_check.hpp"

namespace {
int twin(int x) { return x + 1; }  // registry_conflict_other.cpp has another `twin`
SHMRAY_REMOTE(twin);
}  // namespace

TEST_CASE("Registry.TwoFunctionsUnderOneNameAreRefused" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  try {
    shmray::init({.num_workers = 1, .object_store_bytes = 4 << 20, .quiet = true});
    FAIL("init accepted two functions named twin");
  } catch (const shmray::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("'twin'") != std::string::npos);
    CHECK(what.find("rename") != std::string::npos);
  }
  CHECK_FALSE(shmray::is_initialized());
}
