// Token shards in the llm.c layouts (docs/design.md §6): a header of 256 int32 (magic, version, token
// count, rest zero), then the tokens. GPT-2 style: magic 20240520, version 1, uint16 tokens;
// Llama-3 style: magic 20240801, version 7, uint32 tokens.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dsa::data {

constexpr int32_t kShardMagicU16 = 20240520;
constexpr int32_t kShardVersionU16 = 1;
constexpr int32_t kShardMagicU32 = 20240801;
constexpr int32_t kShardVersionU32 = 7;
constexpr int kShardHeaderInts = 256;

// Writes uint16 tokens when vocab_size <= 65536, uint32 otherwise. Atomic (tmp, fsync, rename).
void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size);
// Reads one shard; checks magic, version and that the file holds exactly the announced tokens.
// Errors name the file and say what was expected.
std::vector<int32_t> read_shard(const std::string& path);
// All files matching a glob pattern, sorted by name, concatenated. Error if none match.
std::vector<int32_t> read_shards(const std::string& pattern);

}  // namespace dsa::data
