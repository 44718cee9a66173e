// Pipelining: an ObjectRef<T> given for a T parameter is resolved in the worker, so chains
// and fan-ins run without the driver reading intermediate values. Public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int add1(int x) { return x + 1; }
SHMRAY_REMOTE(add1);

int sum3(int a, int b, int c) { return a + b + c; }
SHMRAY_REMOTE(sum3);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

std::string append(const std::string& s, std::string suffix) { return s + suffix; }
SHMRAY_REMOTE(append);

std::vector<double> ramp(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(i);
  return v;
}
SHMRAY_REMOTE(ramp);

std::vector<double> scale(const std::vector<double>& v, double k) {
  std::vector<double> out(v);
  for (double& x : out) x *= k;
  return out;
}
SHMRAY_REMOTE(scale);

double partial_sum(const std::vector<double>& v, int part, int parts) {
  const std::size_t lo = v.size() * std::size_t(part) / std::size_t(parts);
  const std::size_t hi = v.size() * std::size_t(part + 1) / std::size_t(parts);
  double s = 0;
  for (std::size_t i = lo; i < hi; ++i) s += v[i];
  return s;
}
SHMRAY_REMOTE(partial_sum);

double add_doubles(std::vector<shmray::ObjectRef<double>> parts) {
  double s = 0;
  for (double x : shmray::get(parts)) s += x;
  return s;
}
SHMRAY_REMOTE(add_doubles);

const shmray::Options kSmall{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

}  // namespace

TEST_CASE("Pipeline.ChainResolvesInTheWorker" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  const std::size_t base = shmray::store_stats().objects;
  // a -> b -> c -> ...: each task takes the previous result; the driver keeps only the last ref.
  shmray::ObjectRef<int> r = shmray::task(add1).remote(0);
  for (int i = 0; i < 50; ++i) r = shmray::task(add1).remote(r);
  CHECK(shmray::get(r) == 51);
  // Intermediates are gone once the chain has run (only `r` is left).
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base + 1; }));
}

TEST_CASE("Pipeline.ChainWaitsForItsFirstLink" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  shmray::ObjectRef<int> a = shmray::task(gated).remote(gate.path(), 10);
  shmray::ObjectRef<int> b = shmray::task(add1).remote(a);
  shmray::ObjectRef<int> c = shmray::task(add1).remote(b);
  // c cannot be ready while a is pending.
  auto [ready, rest] = shmray::wait(std::vector<shmray::ObjectRef<int>>{a, b, c}, {.num_returns = 1, .timeout = 100ms});
  CHECK(ready.empty());
  CHECK(rest.size() == 3);
  CHECK_THROWS_AS(shmray::get(c, 50ms), shmray::GetTimeoutError);
  gate.open();
  CHECK(shmray::get(c, 30s) == 12);
}

TEST_CASE("Pipeline.DroppedIntermediateRefsStillFlow" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  // The driver drops every intermediate ref while the chain is still blocked: the queued
  // tasks' arguments must keep those objects.
  auto first = std::make_unique<shmray::ObjectRef<int>>(shmray::task(gated).remote(gate.path(), 100));
  auto second = std::make_unique<shmray::ObjectRef<int>>(shmray::task(add1).remote(*first));
  shmray::ObjectRef<int> last = shmray::task(add1).remote(*second);
  first.reset();
  second.reset();
  gate.open();
  CHECK(shmray::get(last, 30s) == 102);
}

TEST_CASE("Pipeline.FanInOfThreeRefs" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> a = shmray::task(add1).remote(0);  // 1
  shmray::ObjectRef<int> b = shmray::put(20);               // 20
  shmray::ObjectRef<int> c = shmray::task(add1).remote(a);  // 2
  CHECK(shmray::get(shmray::task(sum3).remote(a, b, c)) == 23);
  CHECK(shmray::get(shmray::task(sum3).remote(a, 5, c)) == 8);  // refs and values mixed
  CHECK(shmray::get(shmray::task(sum3).remote(a, a, a)) == 3);  // the same ref three times

  // A fan-in waits for all three: one is held back by a gate.
  shmray_test::Gate gate;
  shmray::ObjectRef<int> late = shmray::task(gated).remote(gate.path(), 300);
  shmray::ObjectRef<int> total = shmray::task(sum3).remote(a, late, b);
  CHECK_THROWS_AS(shmray::get(total, 50ms), shmray::GetTimeoutError);
  gate.open();
  CHECK(shmray::get(total, 30s) == 321);
}

TEST_CASE("Pipeline.StringsAndLargeVectorsResolveInPlace" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<std::string> s = shmray::task(append).remote(std::string("a"), std::string("b"));
  for (int i = 0; i < 5; ++i) s = shmray::task(append).remote(s, std::string("c"));
  CHECK(shmray::get(s) == "abccccc");

  // A 4 MiB vector flows through three tasks and a 4-way split, then a fan-in.
  const std::size_t n = std::size_t{1} << 19;
  shmray::ObjectRef<std::vector<double>> v = shmray::task(ramp).remote(n);
  shmray::ObjectRef<std::vector<double>> doubled = shmray::task(scale).remote(v, 2.0);
  std::vector<shmray::ObjectRef<double>> parts;
  for (int p = 0; p < 4; ++p) parts.push_back(shmray::task(partial_sum).remote(doubled, p, 4));
  shmray::ObjectRef<double> total = shmray::task(add_doubles).remote(parts);
  CHECK(shmray::get(total) == double(n) * double(n - 1));  // 2 * n(n-1)/2, exact
}

TEST_CASE("Pipeline.LongChain" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  // The whole chain is submitted while its first link is held back, then runs link by link.
  shmray::ObjectRef<int> r = shmray::task(gated).remote(gate.path(), 0);
  for (int i = 0; i < 5000; ++i) r = shmray::task(add1).remote(r);
  gate.open();
  CHECK(shmray::get(r, 100s) == 5000);
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == 1; }));
}

TEST_CASE("Pipeline.DroppedPutObjectStillResolves" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  shmray::ObjectRef<int> busy1 = shmray::task(gated).remote(gate.path(), 1);
  shmray::ObjectRef<int> busy2 = shmray::task(gated).remote(gate.path(), 2);
  // Queued behind the busy workers, with the driver's refs dropped before they run.
  auto big = std::make_unique<shmray::ObjectRef<std::vector<double>>>(shmray::put(ramp(std::size_t{1} << 20)));
  auto small = std::make_unique<shmray::ObjectRef<int>>(shmray::put(7));
  shmray::ObjectRef<double> part = shmray::task(partial_sum).remote(*big, 0, 1);
  shmray::ObjectRef<int> total = shmray::task(sum3).remote(*small, *small, busy1);
  big.reset();
  small.reset();
  gate.open();
  const double n = double(std::size_t{1} << 20);
  CHECK(shmray::get(part, 30s) == n * (n - 1) / 2);
  CHECK(shmray::get(total, 30s) == 15);
  CHECK(shmray::get(busy2) == 2);
}

namespace {
double sum_view(shmray::View<std::vector<double>> v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
SHMRAY_REMOTE(sum_view);

std::uintptr_t address_of(shmray::View<std::vector<double>> v) { return reinterpret_cast<std::uintptr_t>(v.data()); }
SHMRAY_REMOTE(address_of);

std::vector<double> ones(std::size_t n) { return std::vector<double>(n, 1.0); }
SHMRAY_REMOTE(ones);
}  // namespace

TEST_CASE("Pipeline.ViewParameterReadsTheObjectInPlace" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  auto data = shmray::task(ones).remote(std::size_t{1} << 20);
  CHECK(shmray::get(shmray::task(sum_view).remote(data)) == doctest::Approx(double(1 << 20)));
  // Zero-copy: the task sees the very bytes the driver's view sees (same address: the
  // segment is mapped at one address in every process of the pool).
  const auto view = shmray::get_view(data);
  CHECK(shmray::get(shmray::task(address_of).remote(data)) == reinterpret_cast<std::uintptr_t>(view.data()));
  const auto put_ref = shmray::put(std::vector<double>(1000, 2.0));
  CHECK(shmray::get(shmray::task(sum_view).remote(put_ref)) == doctest::Approx(2000.0));
}
