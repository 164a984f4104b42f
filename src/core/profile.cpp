#include "core/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
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
