// The table on stdout and the per-workload JSON entries, formatted as peers.py formats them
// (same number format, same cells, same JSON keys) so the two outputs compare line by line.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench.hpp"

namespace bench {

double median(std::vector<double> v) {  // statistics.median: mean of the middle two when even
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string format_number(double x) {
  char buf[64];
  if (x >= 1000)
    std::snprintf(buf, sizeof buf, "%.0f", x);
  else if (x >= 100)
    std::snprintf(buf, sizeof buf, "%.1f", x);
  else if (x >= 10)
    std::snprintf(buf, sizeof buf, "%.2f", x);
  else if (x >= 0.01 || x <= 0)
    std::snprintf(buf, sizeof buf, "%.3f", x);
  else  // peers.py prints "%.3f" here too, which shows our sub-millisecond figures as 0.000
    std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

std::string short_cell(const Result& r) {
  if (r.status == "ok") {
    if (r.values.empty()) return "ok (no values)";
    const auto [lo, hi] = std::minmax_element(r.values.begin(), r.values.end());
    return format_number(median(r.values)) + " [" + format_number(*lo) + "-" + format_number(*hi) +
           "] n=" + std::to_string(r.values.size());
  }
  if (r.status == "hang") return "hang (no error)";
  return r.status;
}

Json result_json(const Result& r) {
  Json o = Json::object();
  o.set("status", r.status);
  if (r.status == "ok" && !r.values.empty()) {
    o.set("unit", r.unit);
    o.set("values", Json::array_of(r.values));
    o.set("reps", r.values.size());
    o.set("median", median(r.values));
    o.set("min", *std::min_element(r.values.begin(), r.values.end()));
    o.set("max", *std::max_element(r.values.begin(), r.values.end()));
  }
  for (const auto& [k, v] : r.extra.members()) o.set(k, v);
  if (!r.note.empty()) o.set("note", r.note);
  if (!r.reason.empty()) o.set("reason", r.reason);
  o.set("wall_s", r.wall_s);
  return o;
}

namespace {

std::string cell_text(const Row& row) {
  if (!row.result) return "-";
  return short_cell(*row.result) + row.result->cell_suffix;
}

const Result* find(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& r : rows)
    if (r.name == name) return r.result;
  return nullptr;
}

std::string text_of(const Json& meta, const std::string& key) {
  for (const auto& [k, v] : meta.members())
    if (k == key) {
      std::string s = v.dump(0);
      s.pop_back();  // newline
      if (s.size() >= 2 && s.front() == '"') s = s.substr(1, s.size() - 2);
      return s;
    }
  return "?";
}

}  // namespace

void print_table(const std::vector<Row>& rows, const Json& meta) {
  std::vector<std::vector<std::string>> cells;
  for (const Row& row : rows) {
    cells.push_back({row.name, cell_text(row)});
    if (row.result)
      for (const auto& [label, text] : row.result->sub_rows) cells.push_back({label, text});
    if (row.name == "as_available_s") {
      const Result* a = row.result;
      const Result* b = find(rows, "in_order_s");
      std::string ratio = "-";
      if (a && b && a->status == "ok" && b->status == "ok" && !a->values.empty() && !b->values.empty()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", median(a->values) / median(b->values));
        ratio = buf;
      }
      if (b) cells.push_back({"as_available/in_order", ratio});
    }
  }
  const std::vector<std::string> header = {"workload: median [min-max] n=reps", "shmray"};
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
    for (const auto& c : cells) width[i] = std::max(width[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c) {
    std::string s = "|";
    for (std::size_t i = 0; i < c.size(); ++i) s += " " + c[i] + std::string(width[i] - c[i].size(), ' ') + " |";
    std::printf("%s\n", s.c_str());
  };
  std::printf("\nResults (%s mode, %s, %s CPUs, shmray %s, %s workers):\n", text_of(meta, "mode").c_str(),
              text_of(meta, "cpu_model").c_str(), text_of(meta, "cpus").c_str(),
              text_of(meta, "shmray_version").c_str(), text_of(meta, "workers_per_peer").c_str());
  line(header);
  std::string sep = "|";
  for (std::size_t w : width) sep += std::string(w + 2, '-') + "|";
  std::printf("%s\n", sep.c_str());
  for (const auto& c : cells) line(c);

  std::string units;
  for (const Row& row : rows) {
    if (!row.result || row.result->status != "ok" || row.result->unit.empty()) continue;
    units += (units.empty() ? "" : "; ") + row.name + " = " + row.result->unit;
  }
  std::printf("\nunits: %s\n\nnotes:\n", units.c_str());
  for (const Row& row : rows) {
    if (!row.result) continue;
    const std::string& msg = row.result->reason.empty() ? row.result->note : row.result->reason;
    if (!msg.empty()) std::printf("  - %s / shmray: %s\n", row.name.c_str(), msg.c_str());
  }
  std::fflush(stdout);
}

}  // namespace bench
