// RawConfig -> Config: the last step of load() and parse().
#pragma once
#include "config/config.h"
#include "config/raw_config.h"

namespace dsa::config {

// Parses every value against its schema row; builds the stages (the default schedule, one dense
// stage of 1000 steps, when the config has none).
Config typed_config(const RawConfig& raw);

// Resolves derived defaults (model.n_kv_heads 0 -> n_heads, indexer.rope_dims -1 -> dim / 2) and
// checks the rules that span keys; an error names the line of the first involved key that was set.
void resolve_and_check(Config& config, const RawConfig& raw);

}  // namespace dsa::config
