#include "core/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace dsa::profile {

namespace {
struct Entry {
  double seconds = 0;
  int64_t calls = 0;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> entries;
  return entries;
}
}  // namespace

void add(const char* name, double seconds) {
  Entry& entry = registry()[name];
  entry.seconds += seconds;
  entry.calls += 1;
}

void reset() { registry().clear(); }

namespace {
Hooks& installed_hooks() {
  static Hooks installed;
  return installed;
}
}  // namespace

void set_hooks(const Hooks& hooks) { installed_hooks() = hooks; }
const Hooks& hooks() { return installed_hooks(); }

void capture(bool on) {
  const Hooks& h = installed_hooks();
  if (on && h.capture_start != nullptr) h.capture_start();
  if (!on && h.capture_stop != nullptr) h.capture_stop();
}

Range::Range(const char* what, int64_t index) : active_(installed_hooks().range_push != nullptr) {
  if (!active_) return;
  if (index < 0) {
    installed_hooks().range_push(what);
  } else {
    const std::string name = std::string(what) + " " + std::to_string(index);
    installed_hooks().range_push(name.c_str());
  }
}

Range::~Range() {
  if (active_ && installed_hooks().range_pop != nullptr) installed_hooks().range_pop();
}

std::string report() {
  std::vector<std::pair<std::string, Entry>> rows(registry().begin(), registry().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& row : rows) total += row.second.seconds;
  std::string text;
  char line[160];
  std::snprintf(line, sizeof line, "%-22s %8s %10s %10s %7s\n", "op", "calls", "total ms", "ms/call", "share");
  text += line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "%-22s %8ld %10.1f %10.3f %6.1f%%\n", name.c_str(), long(e.calls),
                  1e3 * e.seconds, 1e3 * e.seconds / e.calls, 100.0 * e.seconds / std::max(total, 1e-12));
    text += line;
  }
  return text;
}

}  // namespace dsa::profile
