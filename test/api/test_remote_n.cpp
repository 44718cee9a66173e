// task(f).remote_n<N>(args): one ref per element of the tuple f returns; downstream tasks
// take only their part; f's error reaches every part (issue 14, everyday helpers).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <array>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "support/leak_check.hpp"

namespace {

std::tuple<int, std::string> split(std::string s) {
  const auto at = s.find(':');
  return {std::stoi(s.substr(0, at)), s.substr(at + 1)};
}
SHMRAY_REMOTE(split);

std::pair<double, std::vector<int>> halves(std::vector<int> v) {
  double sum = 0;
  for (int x : v) sum += x;
  return {sum, std::vector<int>(v.begin() + long(v.size() / 2), v.end())};
}
SHMRAY_REMOTE(halves);

std::array<int, 3> three(int x) { return {x, x + 1, x + 2}; }
SHMRAY_REMOTE(three);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

std::size_t length(std::string s) { return s.size(); }
SHMRAY_REMOTE(length);

std::tuple<int, int> fails(int x) {
  if (x > 0) throw std::runtime_error("no parts today");
  return {x, x};
}
SHMRAY_REMOTE(fails);

/// Inside a task: split into parts, then one more task on each part.
int nested_parts(std::string s) {
  auto [n, text] = shmray::task(split).remote_n<2>(s);
  return shmray::task(plus_one).remote(n).get() + int(shmray::task(length).remote(text).get());
}
SHMRAY_REMOTE(nested_parts);

/// The same name as remote_n_other_tu.cpp's, another type (see there).
struct Row {
  std::string s;
  template <class Archive>
  void serialize(Archive& a) {
    a(s);
  }
};

std::tuple<Row, int> row_and_size(std::string s) { return {Row{s}, int(s.size())}; }
SHMRAY_REMOTE(row_and_size);

const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

}  // namespace

int remote_n_other_tu(int v);

TEST_CASE("RemoteN.OneRefPerElement" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  auto [n, text] = shmray::task(split).remote_n<2>(std::string("41:hello"));
  static_assert(std::is_same_v<decltype(n), shmray::ObjectRef<int>>);
  static_assert(std::is_same_v<decltype(text), shmray::ObjectRef<std::string>>);
  CHECK(n.get() == 41);
  CHECK(text.get() == "hello");
  // Each part feeds a task that takes only that part.
  CHECK(shmray::task(plus_one).remote(n).get() == 42);
  CHECK(shmray::task(length).remote(text).get() == 5);

  auto [sum, tail] = shmray::task(halves).remote_n<2>(std::vector<int>{1, 2, 3, 4});
  CHECK(sum.get() == 10.0);
  CHECK(tail.get() == std::vector<int>{3, 4});
  auto [a, b, c] = shmray::task(three).remote_n<3>(7);
  CHECK(shmray::get(std::vector{a, b, c}) == std::vector<int>{7, 8, 9});
}

TEST_CASE("RemoteN.AnErrorReachesEveryPart" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  auto [x, y] = shmray::task(fails).options({.name = "parts"}).remote_n<2>(1);
  for (const auto& r : {x, y}) {
    try {
      r.get();
      FAIL("no error");
    } catch (const shmray::TaskError& e) {
      CHECK(e.message() == "no parts today");
      CHECK(e.function() == "fails");
    }
  }
  auto [p, q] = shmray::task(fails).remote_n<2>(0);
  CHECK(p.get() + q.get() == 0);
}

TEST_CASE("RemoteN.InsideATask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  CHECK(shmray::task(nested_parts).remote(std::string("9:four")).get() == 14);
  CHECK(nested_parts("1:x") == 3);
}

TEST_CASE("RemoteN.TypesOfOneNameInTwoFiles" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);  // threw: 'two different functions are registered as shmray::remote_n element 0'
  auto [row, size] = shmray::task(row_and_size).remote_n<2>(std::string("abc"));
  CHECK(row.get().s == "abc");
  CHECK(size.get() == 3);
  CHECK(remote_n_other_tu(7) == 693);
}
