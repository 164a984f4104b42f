// Byte-level BPE tokenizer (GPT-2 style): ids 0..255 are the raw bytes, every later id is a merge
// of two earlier ids. Text is first split into pre-tokens (letters with an optional leading space,
// digit runs, punctuation runs, whitespace), merges never cross a pre-token boundary, and encode
// applies merges in rank order, so decode(encode(s)) == s for any byte string.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsa::data {

class Tokenizer {
 public:
  // Learns vocab_size - 256 merges from `text` (vocab_size in [256, 65536]).
  static Tokenizer train(std::string_view text, int64_t vocab_size);
  // Reads a file written by save(); throws dsa::Error naming the file and what is wrong.
  static Tokenizer load(const std::string& path);
  // Writes atomically (temporary file, fsync, rename).
  void save(const std::string& path) const;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(std::span<const int32_t> ids) const;
  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }
  // The bytes token `id` decodes to (for bits-per-byte).
  const std::string& token_bytes(int32_t id) const { return token_bytes_.at(id); }

 private:
  std::vector<std::pair<int32_t, int32_t>> merges_;  // merge r makes id 256 + r
  std::vector<std::string> token_bytes_;
  // (implementation may add lookup tables here)
};

}  // namespace dsa::data
