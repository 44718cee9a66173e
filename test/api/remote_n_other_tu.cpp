// A second translation unit for test_remote_n: a type of the same name as one in
// test_remote_n.cpp, each in its own anonymous namespace, returned in a tuple split by
// remote_n. The two projections are different functions with one type name: they must not
// be taken for a registration conflict (which init() refuses).
#include <shmray/shmray.hpp>

#include <tuple>

namespace {
struct Row {
  int x = 0;
  template <class Archive>
  void serialize(Archive& a) {
    a(x);
  }
};

std::tuple<Row, int> row_and_int(int v) { return {Row{v}, -v}; }
SHMRAY_REMOTE(row_and_int);
}  // namespace

int remote_n_other_tu(int v) {
  auto [row, n] = shmray::task(row_and_int).remote_n<2>(v);
  return row.get().x * 100 + n.get();
}
