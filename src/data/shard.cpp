#include "data/shard.h"

#include <glob.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/file_io.h"
#include "data/little_endian.h"

namespace dsa::data {

namespace {

constexpr size_t kHeaderBytes = kShardHeaderInts * sizeof(int32_t);

struct ShardLayout {
  int32_t magic, version;
  int token_bytes;
};
constexpr ShardLayout kLayoutU16{kShardMagicU16, kShardVersionU16, 2};
constexpr ShardLayout kLayoutU32{kShardMagicU32, kShardVersionU32, 4};

}  // namespace

void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size) {
  DSA_CHECK(vocab_size > 0 && vocab_size <= (int64_t{1} << 32), path, ": vocab_size ", vocab_size,
            " must be in [1, 2^32]");
  DSA_CHECK(tokens.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()), path, ": ",
            tokens.size(), " tokens do not fit the int32 token count of the header");
  const ShardLayout& layout = vocab_size <= 65536 ? kLayoutU16 : kLayoutU32;
  std::string bytes;
  bytes.reserve(kHeaderBytes + tokens.size() * layout.token_bytes);
  append_le(bytes, static_cast<uint32_t>(layout.magic), 4);
  append_le(bytes, static_cast<uint32_t>(layout.version), 4);
  append_le(bytes, tokens.size(), 4);
  bytes.resize(kHeaderBytes, '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    DSA_CHECK(tokens[i] >= 0 && tokens[i] < vocab_size, path, ": token ", i, " is ", tokens[i],
              ", outside the vocabulary [0, ", vocab_size, ")");
    append_le(bytes, static_cast<uint32_t>(tokens[i]), layout.token_bytes);
  }
  write_file_atomic(path, bytes);
}

std::vector<int32_t> read_shard(const std::string& path) {
  const std::string bytes = read_file(path);
  DSA_CHECK(bytes.size() >= kHeaderBytes, path, ": truncated header (", bytes.size(),
            " bytes, a shard header is ", kHeaderBytes, ")");
  const int32_t magic = static_cast<int32_t>(read_le(bytes.data(), 4));
  const int32_t version = static_cast<int32_t>(read_le(bytes.data() + 4, 4));
  const int64_t count = static_cast<int32_t>(read_le(bytes.data() + 8, 4));
  DSA_CHECK(magic == kShardMagicU16 || magic == kShardMagicU32, path, ": unknown magic ", magic,
            " (expected ", kShardMagicU16, " for uint16 tokens or ", kShardMagicU32, " for uint32 tokens)");
  const ShardLayout& layout = magic == kShardMagicU16 ? kLayoutU16 : kLayoutU32;
  DSA_CHECK(version == layout.version, path, ": version ", version, " does not match magic ", magic,
            " (expected version ", layout.version, ")");
  DSA_CHECK(count >= 0, path, ": negative token count ", count, " in the header");
  const size_t payload = bytes.size() - kHeaderBytes,
               expected = static_cast<size_t>(count) * layout.token_bytes;
  DSA_CHECK(payload == expected, path, payload < expected ? ": truncated" : ": trailing data",
            ": header announces ", count, " tokens, file holds ", payload / layout.token_bytes,
            payload % layout.token_bytes ? " and a partial token" : "");
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  const char* in = bytes.data() + kHeaderBytes;
  for (auto& token : tokens) {
    token = static_cast<int32_t>(read_le(in, layout.token_bytes));
    in += layout.token_bytes;
  }
  return tokens;
}

std::vector<int32_t> read_shards(const std::string& pattern) {
  glob_t matches{};
  const int status = ::glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + (status == 0 ? matches.gl_pathc : 0));
  ::globfree(&matches);
  DSA_CHECK(!paths.empty(), "shards: no file matches ", pattern);
  std::sort(paths.begin(), paths.end());  // byte order, whatever the locale's collation
  std::vector<int32_t> tokens;
  for (const std::string& path : paths) {
    const std::vector<int32_t> shard = read_shard(path);
    tokens.insert(tokens.end(), shard.begin(), shard.end());
  }
  return tokens;
}

}  // namespace dsa::data
