// The three ways values enter a config, in the order they are applied: files (with their
// includes), or one YAML text; then --set overrides.
#pragma once
#include <string>

#include "config/raw_config.h"

namespace dsa::config {

// Reads `path`; the files its top-level `include:` names (a path or a list, relative to `path`)
// are merged first, in order, recursively, then `path`'s own keys on top. A file that includes
// itself, directly or not, fails with the chain: "a.yaml:1: include cycle: a.yaml -> b.yaml ->
// a.yaml".
RawConfig read_config_file(const std::string& path);

// Reads one YAML text named `origin` in messages; `include:` is an error (no base directory).
RawConfig read_config_text(const std::string& text, const std::string& origin);

// Applies one "a.b.c=value" (the text of a --set): the value is read as YAML ("6", "cpu",
// "1e-9", "[a.txt, b.txt]"); "schedule.stages.<i>.<key>=v" edits stage i, and i equal to the
// number of stages appends one. Errors start with "--set <text>".
void apply_override(const std::string& text, RawConfig& into);

}  // namespace dsa::config
