// Byte-level BPE tokenizer (GPT-2 style): ids 0..255 are the raw bytes, every later id is a merge
// of two earlier ids. Text is first split into pre-tokens (letters with an optional leading space,
// digit runs, punctuation runs, whitespace), merges never cross a pre-token boundary, and encode
// applies merges in rank order, so decode(encode(s)) == s for any byte string.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsa::data {

// Length of the pre-token starting at text[begin] (begin < text.size()). Pre-tokens: an optional
// single space + a run of letters (ASCII letters and every byte >= 0x80, so UTF-8 sequences stay
// whole); an optional space + a run of digits; an optional space + a run of other non-space bytes;
// each '\n' alone; any other whitespace run, which leaves its last space to a following word.
size_t pretoken_length(std::string_view text, size_t begin);
// The whole text cut into pre-tokens (they concatenate back to `text`).
std::vector<std::string_view> pretokenize(std::string_view text);

class Tokenizer {
 public:
  // The 256 byte tokens and no merges.
  Tokenizer() : Tokenizer(std::vector<std::pair<int32_t, int32_t>>{}) {}
  // Learns vocab_size - 256 merges from `text` (vocab_size in [256, 65536]); fewer when the text
  // runs out of adjacent pairs. Same text and size -> the same merges (ties: smallest pair).
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
  explicit Tokenizer(std::vector<std::pair<int32_t, int32_t>> merges);
  // Token ids of one pre-token: its bytes with merges applied lowest rank first.
  void encode_pretoken(std::string_view piece, std::vector<int32_t>& out) const;
  std::string serialize() const;

  std::vector<std::pair<int32_t, int32_t>> merges_;  // merge r makes id 256 + r
  std::vector<std::string> token_bytes_;
  std::unordered_map<uint64_t, int32_t> merge_rank_;  // pair_key(left, right) -> r
};

}  // namespace dsa::data
