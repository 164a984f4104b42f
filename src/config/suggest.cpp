#include "config/suggest.h"

#include <algorithm>

#include "config/schema.h"
#include "core/error.h"

namespace dsa::config {

size_t edit_distance(std::string_view a, std::string_view b) {
  // distance[i][j]: distance between the first i characters of a and the first j of b.
  std::vector<std::vector<size_t>> distance(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) distance[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) distance[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = distance[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      distance[i][j] = std::min({distance[i - 1][j] + 1, distance[i][j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        distance[i][j] = std::min(distance[i][j], distance[i - 2][j - 2] + 1);
      }
    }
  }
  return distance[a.size()][b.size()];
}

namespace {

std::string parent_of(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

// The closest candidate, when it is close enough to be a typo of `key`.
const std::string* nearest(const std::string& key, const std::vector<std::string>& candidates) {
  const size_t tolerance = std::max<size_t>(2, key.size() / 4);
  const std::string* best = nullptr;
  size_t best_distance = tolerance + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string siblings_of(const std::string& key, const std::vector<std::string>& candidates) {
  std::string list;
  for (const std::string& candidate : candidates) {
    if (parent_of(candidate) == parent_of(key)) list += (list.empty() ? "" : ", ") + candidate;
  }
  return list;
}

}  // namespace

void fail_unknown_key(const std::string& origin, const std::string& key,
                      const std::vector<std::string>& candidates) {
  if (const std::string* suggestion = nearest(key, candidates)) {
    fail(origin, ": unknown key '", key, "' (did you mean '", *suggestion, "'?)");
  }
  const std::string siblings = siblings_of(key, candidates);
  if (!siblings.empty()) fail(origin, ": unknown key '", key, "' (valid keys: ", siblings, ")");
  fail(origin, ": unknown key '", key, "' (docs/configs.md lists every key)");
}

std::vector<std::string> root_key_candidates() {
  std::vector<std::string> candidates = schema::section_names();
  for (const auto& spec : schema::config_keys()) candidates.push_back(spec.path);
  return candidates;
}

std::vector<std::string> stage_key_candidates(size_t index) {
  std::vector<std::string> candidates;
  for (const auto& spec : schema::stage_keys()) {
    candidates.push_back(schema::stage_key_path(index, spec.path));
  }
  return candidates;
}

}  // namespace dsa::config
