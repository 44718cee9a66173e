// Things a task or a caller can get wrong that neither crash nor hang the driver, nor touch
// other tasks: a task that forks, one that closes stdout, an argument larger than the store,
// a result whose serialization throws.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <cstdio>
#include <stdexcept>

#include "support/leak_check.hpp"

namespace {

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

// The child a task forks comes back from fork() into the task and returns: it must leave
// without acting as a second copy of the worker.
int forks_and_returns(int x) {
  const pid_t child = ::fork();
  if (child == 0) return -1;  // the child returns into the worker's code
  int status = 0;
  ::waitpid(child, &status, 0);
  return x * 10;
}
SHMRAY_REMOTE(forks_and_returns);

int forks_and_execs(int x) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::execlp("true", "true", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? x + WEXITSTATUS(status) : -1;
}
SHMRAY_REMOTE(forks_and_execs);

int closes_stdout(int x) {
  std::fflush(stdout);
  ::close(STDOUT_FILENO);
  std::printf("nobody sees this\n");
  std::fflush(stdout);
  return x;
}
SHMRAY_REMOTE(closes_stdout);

int prints(int x) {
  std::printf("task %d prints\n", x);
  return x;
}
SHMRAY_REMOTE(prints);

std::size_t length(const std::vector<char>& v) { return v.size(); }
SHMRAY_REMOTE(length);

struct Unwritable {
  int x = 0;
  template <class A>
  void save(A&) const {
    throw std::runtime_error("cannot write this");
  }
  template <class A>
  void load(A&) {}
};
Unwritable make_unwritable(int x) { return Unwritable{x}; }
SHMRAY_REMOTE(make_unwritable);

}  // namespace

TEST_CASE("BadInput.ATaskThatForks" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  for (int i = 0; i < 5; ++i) CHECK(shmray::get(shmray::task(forks_and_returns).remote(i)) == 10 * i);
  CHECK(shmray::get(shmray::task(forks_and_execs).remote(3)) == 3);
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 200; ++i) refs.push_back(shmray::task(plus_one).remote(i));
  for (int i = 0; i < 200; ++i) CHECK(shmray::get(refs[std::size_t(i)]) == i + 1);
}

TEST_CASE("BadInput.ATaskThatClosesStdout" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(closes_stdout).remote(4)) == 4);
  for (int i = 0; i < 20; ++i) CHECK(shmray::get(shmray::task(prints).remote(i)) == i);  // the same worker goes on
}

TEST_CASE("BadInput.AnArgumentLargerThanTheStore" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 4 << 20, .quiet = true});
  const std::vector<char> big(8 << 20, 'x');
  CHECK_THROWS_AS(shmray::task(length).remote(big), shmray::ObjectStoreFullError);
  CHECK_THROWS_AS(shmray::put(big), shmray::ObjectStoreFullError);
  CHECK(shmray::get(shmray::task(length).remote(std::vector<char>(1 << 20, 'y'))) == (1u << 20));
}

TEST_CASE("BadInput.AResultThatFailsToSerialize" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  try {
    shmray::get(shmray::task(make_unwritable).remote(1));
    FAIL("no error");
  } catch (const shmray::SerializationError& e) {
    const std::string what = e.what();
    CHECK(what.find("make_unwritable") != std::string::npos);
    CHECK(what.find("cannot write this") != std::string::npos);
  }
  CHECK(shmray::get(shmray::task(plus_one).remote(1)) == 2);
}
