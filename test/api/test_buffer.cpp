// Buffer<T>: arrays written straight into the store, returned from tasks or put without a
// copy, read back as std::vector<T>; never leaked, whatever happens to them.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;

shmray::Buffer<double> arange(std::size_t n) {
  shmray::Buffer<double> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = double(i);
  return b;
}
SHMRAY_REMOTE(arange);

double sum_view(shmray::View<std::vector<double>> v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
SHMRAY_REMOTE(sum_view);

std::size_t length(const std::vector<double>& v) { return v.size(); }
SHMRAY_REMOTE(length);

shmray::Buffer<int> throws_after_allocating(std::size_t n) {
  shmray::Buffer<int> b(n);
  b[0] = 1;
  throw std::runtime_error("changed my mind");
}
SHMRAY_REMOTE(throws_after_allocating);

std::size_t wait_until_idle_usage(std::size_t objects) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  shmray::StoreStats st = shmray::store_stats();
  while ((st.objects != objects || st.used_bytes != 0) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
    st = shmray::store_stats();
  }
  return st.used_bytes;
}

}  // namespace

TEST_CASE("Buffer.ATaskReturnsItAsAVector" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  shmray::ObjectRef<std::vector<double>> ref = shmray::task(arange).remote(std::size_t{1} << 20);
  const std::vector<double> v = shmray::get(ref);
  REQUIRE(v.size() == (1u << 20));
  CHECK(v[12345] == 12345.0);
  CHECK(shmray::get_view(ref)[777] == 777.0);
  CHECK(shmray::get(shmray::task(sum_view).remote(ref)) == doctest::Approx(double(1 << 20) * ((1 << 20) - 1) / 2));
  CHECK(shmray::get(shmray::task(length).remote(ref)) == (1u << 20));
  CHECK(shmray::get(shmray::task(arange).remote(std::size_t{0})).empty());
  CHECK(shmray::get(shmray::task(arange).remote(std::size_t{3})) == std::vector<double>{0, 1, 2});  // inline-sized
}

TEST_CASE("Buffer.PutTakesTheBytesWhereTheyAre" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true});
  shmray::Buffer<float> b(1000);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i) / 2;
  const float* where = b.data();
  auto ref = shmray::put(std::move(b));
  CHECK(b.size() == 0);                          // moved into the store
  CHECK(shmray::get_view(ref).data() == where);  // no copy was made
  CHECK(shmray::get(ref)[999] == 499.5f);
  CHECK_THROWS_AS(shmray::put(std::move(b)), std::invalid_argument);  // empty now
}

TEST_CASE("Buffer.NeverLeaks" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 32 << 20, .quiet = true});
  for (int i = 0; i < 50; ++i) {
    shmray::Buffer<double> dropped(1 << 20);  // 8 MiB, never put: freed by its destructor
    dropped[0] = 1;
  }
  for (int i = 0; i < 20; ++i)
    CHECK_THROWS_AS(shmray::get(shmray::task(throws_after_allocating).remote(std::size_t{1} << 20)), shmray::TaskError);
  for (int i = 0; i < 20; ++i)
    CHECK(shmray::get(shmray::task(arange).remote(std::size_t{1} << 20)).size() == (1u << 20));  // 8 MiB each in 32
  CHECK(wait_until_idle_usage(0) == 0);
  CHECK_THROWS_AS(shmray::Buffer<double>(std::size_t{64} << 20), shmray::ObjectStoreFullError);  // 512 MiB > store
}

TEST_CASE("Buffer.OutlivingTheRuntimeIsHarmless" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  auto stale = std::make_unique<shmray::Buffer<int>>(100);
  shmray::shutdown();
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK_THROWS_AS(shmray::put(std::move(*stale)), std::invalid_argument);
  stale.reset();  // frees nothing in the new runtime
  CHECK(shmray::store_stats().used_bytes == 0);
}
