// task(f).remote(...) and get, end to end, through the public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <string>
#include <vector>

#include "support/leak_check.hpp"

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

std::string greet(const std::string& who, int times) {
  std::string s;
  for (int i = 0; i < times; ++i) s += "hello " + who + ";";
  return s;
}
SHMRAY_REMOTE(greet);

struct Point {
  double x = 0, y = 0;
  std::string label;
  template <class A>
  void serialize(A& ar) {
    ar(x, y, label);
  }
};

Point mirror(Point p) {
  p.x = -p.x;
  p.label += "'";
  return p;
}
SHMRAY_REMOTE(mirror);

std::vector<double> ramp(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(i);
  return v;
}
SHMRAY_REMOTE(ramp);

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
SHMRAY_REMOTE(sum);

void nothing(int) {}
SHMRAY_REMOTE(nothing);

int not_registered(int x) { return x; }

}  // namespace

TEST_CASE("Task.RemoteReturnsTheResult" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  shmray::ObjectRef<int> r = shmray::task(square).remote(7);
  CHECK(shmray::get(r) == 49);
  CHECK(r.get() == 49);
}

TEST_CASE("Task.ManyTasksInOrder" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 2000; ++i) refs.push_back(shmray::task(square).remote(i));
  auto values = shmray::get(refs);
  REQUIRE(values.size() == 2000);
  for (int i = 0; i < 2000; ++i) CHECK(values[std::size_t(i)] == i * i);
}

TEST_CASE("Task.StringsStructsAndLargeValues" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(greet).remote("bob", 2)) == "hello bob;hello bob;");
  Point p = shmray::get(shmray::task(mirror).remote(Point{1.5, 2, "p"}));
  CHECK(p.x == -1.5);
  CHECK(p.y == 2);
  CHECK(p.label == "p'");
  auto big = shmray::get(shmray::task(ramp).remote(std::size_t{1} << 20));  // 8 MiB result
  REQUIRE(big.size() == (1u << 20));
  CHECK(big[12345] == 12345.0);
  std::vector<double> arg(100000, 0.5);  // 800 KB argument: spilled to the arena
  CHECK(shmray::get(shmray::task(sum).remote(arg)) == doctest::Approx(50000.0));
  shmray::ObjectRef<void> v = shmray::task(nothing).remote(1);
  shmray::get(v);
}

TEST_CASE("Task.UnregisteredFunctionNamesTheFix" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK_THROWS_WITH_AS(shmray::task(not_registered), doctest::Contains("SHMRAY_REMOTE("),
                       shmray::UnregisteredFunctionError);
}
