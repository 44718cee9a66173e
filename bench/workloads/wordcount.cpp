// A reduce whose steps decode and re-encode (issue 13, finding 5): map_merge_wordcount_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

using Counts = std::map<std::string, int>;

constexpr int kFiles = 200, kWordsPerFile = 5000, kVocabulary = 4000, kFilesPerChunk = 10;

void count_into(Counts& counts, const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    if (end > i) ++counts[text.substr(i, end - i)];
    i = end + 1;
  }
}

/// One chunk of files, read and counted in a task.
Counts count_files(std::vector<std::string> paths) {
  Counts counts;
  for (const std::string& p : paths) count_into(counts, read_text(p));
  return counts;
}
SHMRAY_REMOTE(count_files);

/// One step of the pairwise reduce: both inputs decoded from the store, the sum encoded back.
Counts merge_counts(Counts a, const Counts& b) {
  for (const auto& [word, n] : b) a[word] += n;
  return a;
}
SHMRAY_REMOTE(merge_counts);

// Words with a Zipf-like spread (a few common, many rare), deterministic.
std::vector<std::string> make_files(const TempDir& dir) {
  std::mt19937 rng(13);
  std::vector<std::string> vocabulary;
  for (int w = 0; w < kVocabulary; ++w) vocabulary.push_back("w" + std::to_string(w * 7919 % 100000));
  std::vector<std::string> paths;
  for (int f = 0; f < kFiles; ++f) {
    std::string text;
    for (int k = 0; k < kWordsPerFile; ++k) {
      const double u = std::uniform_real_distribution<double>(0, 1)(rng);
      text += vocabulary[std::size_t(u * u * u * kVocabulary) % vocabulary.size()];
      text += ' ';
    }
    paths.push_back(dir.file(("f" + std::to_string(f)).c_str()));
    write_text(paths.back(), text);
  }
  return paths;
}

Counts serial_count(const std::vector<std::string>& paths) {
  Counts counts;
  for (const std::string& p : paths) count_into(counts, read_text(p));
  return counts;
}

Counts pool_count(const std::vector<std::string>& paths) {
  std::vector<shmray::ObjectRef<Counts>> level;
  for (std::size_t i = 0; i < paths.size(); i += kFilesPerChunk) {
    const auto end = paths.begin() + std::ptrdiff_t(std::min(paths.size(), i + kFilesPerChunk));
    level.push_back(shmray::task(count_files).remote(std::vector<std::string>(paths.begin() + std::ptrdiff_t(i), end)));
  }
  while (level.size() > 1) {  // refs into refs: each merge starts once its two inputs are there
    std::vector<shmray::ObjectRef<Counts>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(shmray::task(merge_counts).remote(level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  return shmray::get(level.front());
}

}  // namespace

/// map_merge_wordcount_s: 200 files of 5,000 words (4,000 distinct, skewed), counted 10 files
/// per task into a std::map<std::string, int>, the 20 maps merged pairwise by tasks that take
/// refs (each merge decodes both maps from the store and encodes the sum). Timed: submit to
/// the final get. extra.serial_s: one thread counting the same files; extra.ratio: pool / serial.
Result map_merge_wordcount_s(const Context& c) {
  TempDir dir("wordcount");
  const std::vector<std::string> paths = make_files(dir);
  const Counts expect = serial_count(paths);
  std::vector<double> serial;
  auto once = [&] {
    Stopwatch s1;
    check(serial_count(paths) == expect, "the serial count is stable");
    serial.push_back(s1.seconds());
    Stopwatch sw;
    const Counts got = pool_count(paths);
    const double dt = sw.seconds();
    check(got == expect, "the pool's count equals the serial one");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.drain_reps, false), 1, once, seconds));
  std::sort(serial.begin(), serial.end());
  std::vector<double> pool = r.values;
  std::sort(pool.begin(), pool.end());
  const double serial_s = serial[serial.size() / 2], pool_s = pool[pool.size() / 2];
  r.extra.set("serial_s", serial_s);
  r.extra.set("ratio", pool_s / serial_s);
  r.extra.set("distinct_words", double(expect.size()));
  r.note = "200 files x 5,000 words, 10 files per task, maps merged pairwise by tasks; serial_s: one thread";
  return r;
}

}  // namespace bench
