#include "data/tokenizer.h"

#include <algorithm>
#include <array>
#include <queue>

#include "core/error.h"
#include "core/file_io.h"
#include "data/little_endian.h"

namespace dsa::data {

// ---- pre-tokenizer ------------------------------------------------------------------------------

namespace {

enum class ByteClass : uint8_t { kLetter, kDigit, kSpace, kNewline, kOther };

constexpr ByteClass class_of(int c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return ByteClass::kLetter;
  if (c >= '0' && c <= '9') return ByteClass::kDigit;
  if (c == '\n') return ByteClass::kNewline;
  if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return ByteClass::kSpace;
  return ByteClass::kOther;
}

constexpr std::array<ByteClass, 256> make_byte_classes() {
  std::array<ByteClass, 256> classes{};
  for (int c = 0; c < 256; ++c) classes[c] = class_of(c);
  return classes;
}
constexpr std::array<ByteClass, 256> kByteClasses = make_byte_classes();

ByteClass classify(char c) { return kByteClasses[static_cast<unsigned char>(c)]; }
bool is_word_class(ByteClass cls) { return cls != ByteClass::kSpace && cls != ByteClass::kNewline; }

size_t run_end(std::string_view text, size_t i, ByteClass cls) {
  while (i < text.size() && classify(text[i]) == cls) ++i;
  return i;
}

}  // namespace

size_t pretoken_length(std::string_view text, size_t begin) {
  const ByteClass cls = classify(text[begin]);
  if (cls == ByteClass::kNewline) return 1;
  // " word", " 123", " ,.": one leading space joins the run after it.
  if (text[begin] == ' ' && begin + 1 < text.size() && is_word_class(classify(text[begin + 1]))) {
    return run_end(text, begin + 1, classify(text[begin + 1])) - begin;
  }
  if (cls != ByteClass::kSpace) return run_end(text, begin, cls) - begin;
  size_t end = run_end(text, begin, ByteClass::kSpace);
  // "   word" -> "  " + " word", so words look the same whatever the indentation before them.
  if (end < text.size() && end - begin > 1 && text[end - 1] == ' ' && is_word_class(classify(text[end]))) {
    --end;
  }
  return end - begin;
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = pretoken_length(text, pos);
    pieces.push_back(text.substr(pos, length));
    pos += length;
  }
  return pieces;
}

// ---- training -----------------------------------------------------------------------------------

namespace {

constexpr int32_t kByteTokens = 256;
constexpr int64_t kMaxVocab = 65536;

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t key_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t key_right(uint64_t key) { return static_cast<int32_t>(key & 0xffffffffu); }

// A distinct pre-token of the training text, as its current symbols, and how often it occurs.
struct Word {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

std::vector<Word> count_words(std::string_view text) {
  std::unordered_map<std::string_view, int64_t> counts;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = pretoken_length(text, pos);
    ++counts[text.substr(pos, length)];
    pos += length;
  }
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // hash order must not leak into anything
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [piece, count] : sorted) {
    Word word{{}, count};
    for (unsigned char byte : piece) word.symbols.push_back(byte);
    words.push_back(std::move(word));
  }
  return words;
}

// Heap entry: a pair and a count that is an upper bound of its current count (counts of an existing
// pair only fall after the step that created it, so stale entries are re-pushed when popped).
struct Candidate {
  int64_t count;
  uint64_t key;
  // Max-heap on count; among equal counts the smallest (left, right) wins.
  bool operator<(const Candidate& other) const {
    return count != other.count ? count < other.count : key > other.key;
  }
};

class MergeTrainer {
 public:
  explicit MergeTrainer(std::vector<Word> words) : words_(std::move(words)) {
    for (int32_t w = 0; w < static_cast<int32_t>(words_.size()); ++w) add_pairs(w, kAllIds, nullptr);
    for (const auto& [key, count] : pair_count_) heap_.push({count, key});
  }

  // The most frequent pair, or false when no pair is left.
  bool best_pair(uint64_t* key) {
    while (!heap_.empty()) {
      const Candidate top = heap_.top();
      heap_.pop();
      const auto found = pair_count_.find(top.key);
      const int64_t current = found == pair_count_.end() ? 0 : found->second;
      if (current <= 0) continue;
      if (current != top.count) {
        heap_.push({current, top.key});
        continue;
      }
      *key = top.key;
      return true;
    }
    return false;
  }

  // Replaces every occurrence of the pair by `new_id`, recounting only the words that held it.
  void merge(uint64_t key, int32_t new_id) {
    const std::vector<int32_t> holders = std::move(pair_words_[key]);
    pair_words_.erase(key);
    std::vector<uint64_t> new_pairs;
    for (int32_t w : holders) {
      if (!holds_pair(words_[w].symbols, key)) continue;  // listed earlier, changed since
      remove_pairs(w);
      merge_in_word(words_[w].symbols, key_left(key), key_right(key), new_id);
      add_pairs(w, new_id, &new_pairs);
    }
    pair_count_.erase(key);
    std::sort(new_pairs.begin(), new_pairs.end());
    new_pairs.erase(std::unique(new_pairs.begin(), new_pairs.end()), new_pairs.end());
    for (uint64_t pair : new_pairs) heap_.push({pair_count_[pair], pair});
  }

 private:
  static constexpr int32_t kAllIds = -1;

  static bool holds_pair(const std::vector<int32_t>& symbols, uint64_t key) {
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (pair_key(symbols[i], symbols[i + 1]) == key) return true;
    }
    return false;
  }

  static void merge_in_word(std::vector<int32_t>& symbols, int32_t left, int32_t right, int32_t new_id) {
    size_t out = 0;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
        symbols[out++] = new_id;
        ++i;
      } else {
        symbols[out++] = symbols[i];
      }
    }
    symbols.resize(out);
  }

  void remove_pairs(int32_t w) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      pair_count_[pair_key(word.symbols[i], word.symbols[i + 1])] -= word.count;
    }
  }

  // Counts the word's pairs and indexes the word under those holding `new_id` (all pairs for
  // kAllIds; pairs without the new id already list the word) and reports them in `new_pairs`.
  void add_pairs(int32_t w, int32_t new_id, std::vector<uint64_t>* new_pairs) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const int32_t left = word.symbols[i], right = word.symbols[i + 1];
      const uint64_t key = pair_key(left, right);
      pair_count_[key] += word.count;
      if (new_id != kAllIds && left != new_id && right != new_id) continue;
      if (new_pairs) new_pairs->push_back(key);
      std::vector<int32_t>& holders = pair_words_[key];
      if (holders.empty() || holders.back() != w) holders.push_back(w);
    }
  }

  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_count_;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words_;  // may list words no longer holding it
  std::priority_queue<Candidate> heap_;
};

}  // namespace

Tokenizer Tokenizer::train(std::string_view text, int64_t vocab_size) {
  DSA_CHECK(vocab_size >= kByteTokens && vocab_size <= kMaxVocab, "tokenizer: vocab_size ", vocab_size,
            " must be in [256, 65536]");
  MergeTrainer trainer(count_words(text));
  std::vector<std::pair<int32_t, int32_t>> merges;
  uint64_t key = 0;
  while (kByteTokens + static_cast<int64_t>(merges.size()) < vocab_size && trainer.best_pair(&key)) {
    const int32_t new_id = kByteTokens + static_cast<int32_t>(merges.size());
    trainer.merge(key, new_id);
    merges.emplace_back(key_left(key), key_right(key));
  }
  return Tokenizer(std::move(merges));
}

Tokenizer::Tokenizer(std::vector<std::pair<int32_t, int32_t>> merges) : merges_(std::move(merges)) {
  token_bytes_.reserve(kByteTokens + merges_.size());
  for (int byte = 0; byte < kByteTokens; ++byte) token_bytes_.emplace_back(1, static_cast<char>(byte));
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto [left, right] = merges_[r];
    token_bytes_.push_back(token_bytes_[left] + token_bytes_[right]);
    merge_rank_.emplace(pair_key(left, right), static_cast<int32_t>(r));
  }
}

// ---- encode / decode ----------------------------------------------------------------------------

void Tokenizer::encode_pretoken(std::string_view piece, std::vector<int32_t>& out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  // Symbols form a linked list (merged-away ones hold -1); a min-heap of (rank, position) applies
  // merges lowest rank first and, within a rank, left to right: the order training used.
  std::vector<int32_t> ids(n), next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    ids[i] = static_cast<unsigned char>(piece[i]);
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  using RankAt = std::pair<int32_t, int32_t>;
  std::priority_queue<RankAt, std::vector<RankAt>, std::greater<RankAt>> heap;
  auto push_pair_at = [&](int32_t i) {
    if (i < 0 || next[i] >= n) return;
    const auto found = merge_rank_.find(pair_key(ids[i], ids[next[i]]));
    if (found != merge_rank_.end()) heap.emplace(found->second, i);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair_at(i);
  while (!heap.empty()) {
    const auto [rank, i] = heap.top();
    heap.pop();
    if (ids[i] < 0 || next[i] >= n) continue;
    const int32_t j = next[i];
    if (merges_[rank] != std::pair<int32_t, int32_t>(ids[i], ids[j])) continue;  // stale entry
    ids[i] = kByteTokens + rank;
    ids[j] = -1;
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    push_pair_at(prev[i]);
    push_pair_at(i);
  }
  for (int32_t i = 0; i < n; i = next[i]) out.push_back(ids[i]);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 16);
  // Pre-tokens repeat a lot (a 4 MB corpus has ~30k distinct ones): encode each distinct one once.
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;  // -> (offset, count) in cached
  std::vector<int32_t> cached;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = pretoken_length(text, pos);
    const std::string_view piece = text.substr(pos, length);
    pos += length;
    if (length == 1) {
      out.push_back(static_cast<unsigned char>(piece[0]));
      continue;
    }
    auto [entry, inserted] = cache.try_emplace(piece);
    if (inserted) {
      const size_t offset = cached.size();
      encode_pretoken(piece, cached);
      entry->second = {offset, cached.size() - offset};
    }
    const auto [offset, count] = entry->second;
    out.insert(out.end(), cached.begin() + offset, cached.begin() + offset + count);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (int32_t id : ids) {
    DSA_CHECK(id >= 0 && id < vocab_size(), "tokenizer: cannot decode id ", id, " (vocab_size ", vocab_size(),
              ")");
    text += token_bytes_[id];
  }
  return text;
}

// ---- file format (data/README.md) ----------------------------------------------------------------

namespace {

constexpr std::string_view kMagic = "DSATOK";
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 6 + 2 + 4;  // magic, version, vocab_size
constexpr size_t kChecksumBytes = 8;

}  // namespace

std::string Tokenizer::serialize() const {
  std::string bytes(kMagic);
  append_le(bytes, kFormatVersion, 2);
  append_le(bytes, static_cast<uint64_t>(vocab_size()), 4);
  for (const auto& [left, right] : merges_) {
    append_le(bytes, static_cast<uint32_t>(left), 4);
    append_le(bytes, static_cast<uint32_t>(right), 4);
  }
  append_le(bytes, fnv1a64(bytes), 8);
  return bytes;
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, serialize()); }

Tokenizer Tokenizer::load(const std::string& path) {
  const std::string bytes = read_file(path);
  DSA_CHECK(bytes.size() >= kHeaderBytes + kChecksumBytes, path, ": truncated tokenizer file (", bytes.size(),
            " bytes; the header and checksum alone need ", kHeaderBytes + kChecksumBytes, ")");
  DSA_CHECK(std::string_view(bytes).substr(0, kMagic.size()) == kMagic, path,
            ": not a dsatrain tokenizer file (magic is not \"DSATOK\")");
  const uint64_t version = read_le(bytes.data() + 6, 2);
  DSA_CHECK(version == kFormatVersion, path, ": tokenizer file format version ", version,
            "; this build reads version ", kFormatVersion);
  const int64_t vocab_size = static_cast<int64_t>(read_le(bytes.data() + 8, 4));
  DSA_CHECK(vocab_size >= kByteTokens && vocab_size <= kMaxVocab, path, ": vocab_size ", vocab_size,
            " out of range [256, 65536] (corrupted file)");
  const size_t merge_count = static_cast<size_t>(vocab_size - kByteTokens);
  const size_t expected = kHeaderBytes + 8 * merge_count + kChecksumBytes;
  DSA_CHECK(bytes.size() == expected, path, ": ", bytes.size() < expected ? "truncated" : "trailing bytes",
            ": vocab_size ", vocab_size, " needs ", expected, " bytes, file holds ", bytes.size());
  const std::string_view body = std::string_view(bytes).substr(0, expected - kChecksumBytes);
  DSA_CHECK(read_le(bytes.data() + body.size(), 8) == fnv1a64(body), path,
            ": checksum mismatch (corrupted file)");
  std::vector<std::pair<int32_t, int32_t>> merges(merge_count);
  for (size_t r = 0; r < merge_count; ++r) {
    const uint64_t left = read_le(bytes.data() + kHeaderBytes + 8 * r, 4),
                   right = read_le(bytes.data() + kHeaderBytes + 8 * r + 4, 4);
    const uint64_t defined = kByteTokens + r;  // a merge may only use ids made before it
    DSA_CHECK(left < defined && right < defined, path, ": merge ", r, " uses ids (", left, ", ", right,
              ") not defined before id ", defined);
    merges[r] = {static_cast<int32_t>(left), static_cast<int32_t>(right)};
  }
  return Tokenizer(std::move(merges));
}

}  // namespace dsa::data
