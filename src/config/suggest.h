// Unknown keys: the error suggests the nearest valid key (typos), or lists the valid keys there.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dsa::config {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbouring characters each cost 1 ("d_modle" is 1 from "d_model").
size_t edit_distance(std::string_view a, std::string_view b);

// "<origin>: unknown key 'model.d_modle' (did you mean 'model.d_model'?)"; when nothing is close:
// "... (valid keys: model.vocab_size, ...)" listing the candidates under the same parent.
[[noreturn]] void fail_unknown_key(const std::string& origin, const std::string& key,
                                   const std::vector<std::string>& candidates);

// Everything a config may name at or above the leaves: include, sections, dotted keys.
std::vector<std::string> root_key_candidates();
// "schedule.stages.<index>.<name>" for every stage key.
std::vector<std::string> stage_key_candidates(size_t index);

}  // namespace dsa::config
