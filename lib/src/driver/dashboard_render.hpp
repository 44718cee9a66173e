#pragma once
// The dashboard's documents, built from lock-free observations (observe.hpp): /api/state
// and /api/tasks as JSON, /metrics as Prometheus text (exposition format 0.0.4).
#include <cstdint>
#include <string>
#include <vector>

#include "driver/counters.hpp"
#include "driver/dashboard_history.hpp"
#include "driver/observe.hpp"

namespace shmray::driver {

struct StatePage {
  const Observation& obs;
  const StoreView& store;
  const Counters& counters;
  const History& history;
  double now = 0;     // seconds, the history's clock
  double uptime = 0;  // seconds since the dashboard started
  std::int32_t driver_pid = 0;
};

std::string json_string(const std::string& s);
std::string render_state(const StatePage& p);
std::string render_tasks(const std::vector<TaskView>& tasks, const Counters& counters, const char* state);
std::string render_metrics(const Observation& obs, const StoreView& store, const Counters& counters);
/// The page itself (dashboard_page.cpp): HTML with its script and style inline.
extern const char* const kDashboardPage;

}  // namespace shmray::driver
