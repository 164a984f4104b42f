// Data layer: BPE tokenizer, llm.c token shards, corpora and `prepare`, deterministic loader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "core/philox.h"
#include "core/timer.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "test_util.h"

namespace dsa::data {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

using test::error_of;

#define EXPECT_ERROR_HAS(body, ...)                                         \
  do {                                                                      \
    const std::string message = error_of([&] { body; });                    \
    for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) { \
      EXPECT_NE(message.find(part), std::string::npos)                      \
          << "message \"" << message << "\" lacks \"" << part << "\"";      \
    }                                                                       \
  } while (0)

std::string random_bytes(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(count, '\0');
  for (char& byte : bytes) byte = static_cast<char>(rng() & 0xff);
  return bytes;
}

// English prose from this repository (documentation and header comments).
std::string english_sample() {
  std::string text;
  for (const char* name : {"data/README.md", "src/data/tokenizer.h", "src/data/loader.h", "src/data/corpus.h",
                           "src/core/file_io.h", "src/core/philox.h", "src/core/error.h"}) {
    text += read_file(std::string(DSA_SOURCE_DIR) + "/" + name);
  }
  return text;
}

bool have_bible() { return std::system("command -v bible > /dev/null 2>&1") == 0; }
#define SKIP_WITHOUT_BIBLE() \
  if (!have_bible())         \
  GTEST_SKIP() << "the `bible` program is missing: install Debian's bible-kjv (tools/setup.sh)"

// ---- tokenizer ----------------------------------------------------------------------------------

TEST(Tokenizer, PretokenizerSplitsWordsNumbersPunctuationAndSpaces) {
  const std::vector<std::string_view> expected = {"Hello", ",",  " world", "  ",           " again",
                                                  "\n",    "\n", "\t",     " 42",          "x",
                                                  " ...",  "  ", "\n",     " caf\xc3\xa9", "!"};
  EXPECT_EQ(pretokenize("Hello, world   again\n\n\t 42x ...  \n caf\xc3\xa9!"), expected);
  EXPECT_TRUE(pretokenize("").empty());
}

TEST(Tokenizer, RoundTripsArbitraryBytes) {
  const std::string training = random_bytes(50000, 1) + english_sample();
  const Tokenizer tokenizer = Tokenizer::train(training, 600);
  EXPECT_EQ(tokenizer.vocab_size(), 600);
  const std::string nul_and_bad_utf8("a\0b \xff\xfe\xc3 \x80\x80 \n\r\n  \t", 18);
  for (const std::string& text :
       {std::string(), std::string(1, '\0'), nul_and_bad_utf8, random_bytes(20000, 2), std::string(5000, 'a'),
        std::string(3000, ' ') + "x", training}) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
}

TEST(Tokenizer, MergesCompressEnglish) {
  const std::string text = english_sample();
  const Tokenizer tokenizer = Tokenizer::train(text, 1024);
  const std::vector<int32_t> ids = tokenizer.encode(text);
  EXPECT_EQ(tokenizer.decode(ids), text);
  const double bytes_per_token = static_cast<double>(text.size()) / static_cast<double>(ids.size());
  EXPECT_GT(bytes_per_token, 2.0);
  // Every learned token decodes to the bytes of its two parts.
  for (int32_t id = 256; id < tokenizer.vocab_size(); ++id) EXPECT_GE(tokenizer.token_bytes(id).size(), 2u);
}

// The textbook algorithm: recount every pair of every distinct pre-token before each merge.
std::vector<std::string> naive_bpe_tokens(std::string_view text, int64_t vocab_size,
                                          std::vector<std::vector<int32_t>>* final_words,
                                          std::vector<std::string_view>* word_texts) {
  std::map<std::string_view, int64_t> counts;
  for (std::string_view piece : pretokenize(text)) ++counts[piece];
  std::vector<std::vector<int32_t>> words;
  std::vector<std::string> tokens;
  for (int byte = 0; byte < 256; ++byte) tokens.emplace_back(1, static_cast<char>(byte));
  for (const auto& [piece, count] : counts) {
    words.emplace_back(piece.begin(), piece.end());
    for (int32_t& id : words.back()) id &= 0xff;
    word_texts->push_back(piece);
  }
  while (static_cast<int64_t>(tokens.size()) < vocab_size) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    size_t w = 0;
    for (const auto& [piece, count] : counts) {
      for (size_t i = 0; i + 1 < words[w].size(); ++i) pairs[{words[w][i], words[w][i + 1]}] += count;
      ++w;
    }
    if (pairs.empty()) break;
    auto best = pairs.begin();  // the first of the largest counts: the smallest pair among ties
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [left, right] = best->first;
    const int32_t new_id = static_cast<int32_t>(tokens.size());
    tokens.push_back(tokens[left] + tokens[right]);
    for (auto& word : words) {
      std::vector<int32_t> merged;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          merged.push_back(new_id);
          ++i;
        } else {
          merged.push_back(word[i]);
        }
      }
      word = merged;
    }
  }
  *final_words = words;
  return tokens;
}

TEST(Tokenizer, MatchesTheTextbookAlgorithm) {
  const std::string text = english_sample().substr(0, 6000) + random_bytes(300, 3);
  std::vector<std::vector<int32_t>> words;
  std::vector<std::string_view> word_texts;
  const std::vector<std::string> expected = naive_bpe_tokens(text, 500, &words, &word_texts);
  const Tokenizer tokenizer = Tokenizer::train(text, 500);
  ASSERT_EQ(tokenizer.vocab_size(), static_cast<int64_t>(expected.size()));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id)
    EXPECT_EQ(tokenizer.token_bytes(id), expected[id]) << id;
  // Encoding a training pre-token gives the segmentation training ended with.
  for (size_t w = 0; w < words.size(); ++w)
    EXPECT_EQ(tokenizer.encode(word_texts[w]), words[w]) << word_texts[w];
}

TEST(Tokenizer, StopsWhenTheTextRunsOutOfPairs) {
  const Tokenizer tokenizer = Tokenizer::train("abab", 4096);
  EXPECT_EQ(tokenizer.vocab_size(), 258);  // "ab", then "abab"
  EXPECT_EQ(tokenizer.encode("abab"), std::vector<int32_t>{257});
  EXPECT_ERROR_HAS(Tokenizer::train("x", 100), "vocab_size 100");
  EXPECT_ERROR_HAS(tokenizer.decode(std::vector<int32_t>{300}), "id 300");
}

TEST(Tokenizer, TrainingIsDeterministicAndSaveLoadRoundTrips) {
  TempDir dir;
  const std::string text = english_sample();
  Tokenizer::train(text, 700).save(dir.file("a.dsatok"));
  Tokenizer::train(text, 700).save(dir.file("b.dsatok"));
  EXPECT_EQ(read_file(dir.file("a.dsatok")), read_file(dir.file("b.dsatok")));
  const Tokenizer trained = Tokenizer::train(text, 700);
  const Tokenizer loaded = Tokenizer::load(dir.file("a.dsatok"));
  ASSERT_EQ(loaded.vocab_size(), trained.vocab_size());
  for (int32_t id = 0; id < loaded.vocab_size(); ++id)
    EXPECT_EQ(loaded.token_bytes(id), trained.token_bytes(id));
  EXPECT_EQ(loaded.encode(text), trained.encode(text));
}

TEST(Tokenizer, BadFilesSayWhatIsWrong) {
  TempDir dir;
  const std::string good_path = dir.file("good.dsatok");
  Tokenizer::train(english_sample(), 300).save(good_path);
  const std::string good = read_file(good_path);
  const std::string path = dir.file("bad.dsatok");
  auto with = [&](std::string bytes) {
    write_file_atomic(path, bytes);
    return path;
  };
  EXPECT_ERROR_HAS(Tokenizer::load(dir.file("missing.dsatok")), "missing.dsatok", "cannot open");
  EXPECT_ERROR_HAS(Tokenizer::load(with("")), path, "truncated");
  EXPECT_ERROR_HAS(Tokenizer::load(with(good.substr(0, good.size() - 5))), path, "truncated");
  EXPECT_ERROR_HAS(Tokenizer::load(with(good + "x")), path, "trailing");
  std::string wrong_magic = good;
  wrong_magic[0] = 'X';
  EXPECT_ERROR_HAS(Tokenizer::load(with(wrong_magic)), path, "not a dsatrain tokenizer");
  std::string wrong_version = good;
  wrong_version[6] = 9;
  EXPECT_ERROR_HAS(Tokenizer::load(with(wrong_version)), path, "version 9");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x10;
  EXPECT_ERROR_HAS(Tokenizer::load(with(flipped)), path, "checksum mismatch");
}

// ---- shards -------------------------------------------------------------------------------------

std::vector<int32_t> iota_tokens(size_t count, int32_t modulo) {
  std::vector<int32_t> tokens(count);
  for (size_t i = 0; i < count; ++i) tokens[i] = static_cast<int32_t>((i * 7919) % modulo);
  return tokens;
}

int32_t header_int(const std::string& bytes, int index) {
  int32_t value;
  std::memcpy(&value, bytes.data() + 4 * index, 4);
  return value;
}

TEST(Shard, RoundTripsUint16AndUint32) {
  TempDir dir;
  const std::vector<int32_t> small = iota_tokens(1001, 65536);
  write_shard(dir.file("u16.bin"), small, 65536);
  const std::string u16 = read_file(dir.file("u16.bin"));
  EXPECT_EQ(u16.size(), 1024u + 2 * small.size());
  EXPECT_EQ(header_int(u16, 0), kShardMagicU16);
  EXPECT_EQ(header_int(u16, 1), kShardVersionU16);
  EXPECT_EQ(header_int(u16, 2), 1001);
  EXPECT_EQ(header_int(u16, 3), 0);
  EXPECT_EQ(read_shard(dir.file("u16.bin")), small);

  const std::vector<int32_t> large = iota_tokens(777, 100000);
  write_shard(dir.file("u32.bin"), large, 100000);
  const std::string u32 = read_file(dir.file("u32.bin"));
  EXPECT_EQ(u32.size(), 1024u + 4 * large.size());
  EXPECT_EQ(header_int(u32, 0), kShardMagicU32);
  EXPECT_EQ(header_int(u32, 1), kShardVersionU32);
  EXPECT_EQ(read_shard(dir.file("u32.bin")), large);

  write_shard(dir.file("empty.bin"), {}, 10);
  EXPECT_TRUE(read_shard(dir.file("empty.bin")).empty());
  EXPECT_ERROR_HAS(write_shard(dir.file("x.bin"), std::vector<int32_t>{5, 10}, 10), "x.bin", "token 1 is 10");
}

TEST(Shard, BadFilesSayWhichAndWhat) {
  TempDir dir;
  write_shard(dir.file("good.bin"), iota_tokens(100, 50), 50);
  const std::string good = read_file(dir.file("good.bin"));
  const std::string path = dir.file("bad.bin");
  auto with = [&](std::string bytes) {
    write_file_atomic(path, bytes);
    return path;
  };
  auto with_header_int = [&](int index, int32_t value) {
    std::string bytes = good;
    std::memcpy(bytes.data() + 4 * index, &value, 4);
    return with(bytes);
  };
  EXPECT_ERROR_HAS(read_shard(with(good.substr(0, 100))), path, "truncated header");
  EXPECT_ERROR_HAS(read_shard(with_header_int(0, 12345)), path, "unknown magic 12345", "20240520",
                   "20240801");
  EXPECT_ERROR_HAS(read_shard(with_header_int(1, 7)), path, "version 7", "20240520");
  EXPECT_ERROR_HAS(read_shard(with(good.substr(0, good.size() - 20))), path,
                   "truncated: header announces 100 tokens, file holds 90");
  EXPECT_ERROR_HAS(read_shard(with(good + "abcd")), path, "header announces 100 tokens, file holds 102");
}

TEST(Shard, ReadShardsConcatenatesInNameOrder) {
  TempDir dir;
  write_shard(dir.file("train_000002.bin"), std::vector<int32_t>{5, 6}, 10);
  write_shard(dir.file("train_000000.bin"), std::vector<int32_t>{1, 2}, 10);
  write_shard(dir.file("train_000001.bin"), std::vector<int32_t>{3, 4}, 100000);  // layouts may mix
  write_shard(dir.file("val_000000.bin"), std::vector<int32_t>{9}, 10);
  EXPECT_EQ(read_shards(dir.file("train_*.bin")), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_ERROR_HAS(read_shards(dir.file("test_*.bin")), dir.file("test_*.bin"));
}

// ---- corpora ------------------------------------------------------------------------------------

// An independent reading of the bible output: lines of "<ref> <text>", chapter = ref up to ':'.
struct KjvReference {
  int64_t chapters = 0, verses = 0;
  std::string expected_val;
};

KjvReference read_kjv_reference(int64_t val_every) {
  FILE* pipe = ::popen("bible -f Gen1:1-Rev22:21", "r");
  KjvReference reference;
  std::string previous, line;
  for (int c; (c = std::fgetc(pipe)) != EOF;) {
    if (c != '\n') {
      line.push_back(static_cast<char>(c));
      continue;
    }
    const std::string ref = line.substr(0, line.find(' '));
    const std::string chapter = ref.substr(0, ref.find(':'));
    if (chapter != previous) ++reference.chapters;
    previous = chapter;
    ++reference.verses;
    if (reference.chapters % val_every == 0) reference.expected_val += line.substr(ref.size() + 1) + "\n";
    line.clear();
  }
  ::pclose(pipe);
  return reference;
}

TEST(Corpus, KjvSplitsChaptersAndStripsReferences) {
  SKIP_WITHOUT_BIBLE();
  const SplitText split = kjv_corpus(20);
  const KjvReference reference = read_kjv_reference(20);
  EXPECT_EQ(reference.chapters, 1189);
  EXPECT_EQ(reference.verses, 31102);
  EXPECT_EQ(split.val, reference.expected_val);
  const auto lines = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  EXPECT_EQ(lines(split.train) + lines(split.val), 31102);
  EXPECT_TRUE(split.train.starts_with("In the beginning God created the heaven and the earth.\n"));
  // Genesis 20 is chapter 20: validation. Genesis 19 and 21 are training.
  const std::string gen20 =
      "And Abraham journeyed from thence toward the south country, and dwelled between "
      "Kadesh and Shur, and sojourned in Gerar.\n";
  EXPECT_TRUE(split.val.starts_with(gen20));
  EXPECT_EQ(split.train.find(gen20), std::string::npos);
  EXPECT_NE(split.train.find("And there came two angels to Sodom at even;"), std::string::npos);  // Gen 19:1
  EXPECT_NE(split.train.find("And the LORD visited Sarah as he had said,"), std::string::npos);   // Gen 21:1
  // The text has no digits, so any digit would be a leftover reference such as "Ge1:1".
  EXPECT_EQ(split.train.find_first_of("0123456789"), std::string::npos);
  EXPECT_EQ(split.val.find_first_of("0123456789"), std::string::npos);
  EXPECT_ERROR_HAS(kjv_corpus(1), "val_every 1");
}

TEST(Corpus, KjvWithoutBibleSaysHowToInstallIt) {
  const std::string path = std::getenv("PATH");
  ::setenv("PATH", "/nonexistent", 1);
  const std::string message = error_of([] { kjv_corpus(20); });
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_NE(message.find("install Debian's bible-kjv (tools/setup.sh does)"), std::string::npos) << message;
}

TEST(Corpus, TextFilesGoInBlocksOfHundredLines) {
  TempDir dir;
  std::string first, second;
  for (int i = 1; i <= 250; ++i) first += cat("a", i, "\n");
  for (int i = 1; i <= 50; ++i) second += cat("b", i, i == 50 ? "" : "\n");  // no final newline
  write_file_atomic(dir.file("first.txt"), first);
  write_file_atomic(dir.file("second.txt"), second);
  const SplitText split = text_files_corpus({dir.file("first.txt"), dir.file("second.txt")}, 2);
  // Blocks: 1 = a1..a100 (train), 2 = a101..a200 (val), 3 = a201..a250 (train), 4 = b1..b50 (val).
  std::string train, val;
  for (int i = 1; i <= 250; ++i) (i > 100 && i <= 200 ? val : train) += cat("a", i, "\n");
  for (int i = 1; i <= 50; ++i) val += cat("b", i, "\n");
  EXPECT_EQ(split.train, train);
  EXPECT_EQ(split.val, val);
  EXPECT_ERROR_HAS(text_files_corpus({dir.file("none.txt")}, 2), "none.txt");
}

// ---- prepare ------------------------------------------------------------------------------------

TEST(Prepare, WritesEverythingAndSkipsWhenUpToDate) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += cat("Line ", i, " of the sample: the quick brown fox jumps over the lazy dog.\n");
  write_file_atomic(dir.file("corpus.txt"), text);
  PrepareOptions options;
  options.source = "files";
  options.files = {dir.file("corpus.txt")};
  options.out_dir = dir.file("prepared");
  options.vocab_size = 400;
  options.val_every = 4;
  const PrepareResult result = prepare(options);
  const SplitText split = text_files_corpus(options.files, 4);
  EXPECT_EQ(result.train_bytes, static_cast<int64_t>(split.train.size()));
  EXPECT_EQ(result.val_bytes, static_cast<int64_t>(split.val.size()));
  const Tokenizer tokenizer = Tokenizer::load(options.out_dir + "/tokenizer.dsatok");
  const std::vector<int32_t> train = read_shard(options.out_dir + "/train_000000.bin");
  const std::vector<int32_t> val = read_shard(options.out_dir + "/val_000000.bin");
  EXPECT_EQ(static_cast<int64_t>(train.size()), result.train_tokens);
  EXPECT_EQ(static_cast<int64_t>(val.size()), result.val_tokens);
  EXPECT_EQ(tokenizer.decode(train), split.train);
  EXPECT_EQ(tokenizer.decode(val), split.val);
  const std::string meta = read_file(options.out_dir + "/meta.json");
  for (const char* key : {"\"source\"", "\"vocab_size\"", "\"train_tokens\"", "\"val_tokens\"",
                          "\"train_bytes\"", "\"val_bytes\"", "\"val_every\"", "\"max_train_bytes\""}) {
    EXPECT_NE(meta.find(key), std::string::npos) << key;
  }

  ::testing::internal::CaptureStdout();
  const PrepareResult again = prepare(options);
  const std::string captured = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(captured.find("is up to date"), std::string::npos) << captured;
  EXPECT_EQ(again.train_tokens, result.train_tokens);
  EXPECT_EQ(again.val_bytes, result.val_bytes);

  options.vocab_size = 300;  // changed options: redone
  ::testing::internal::CaptureStdout();
  prepare(options);
  EXPECT_EQ(::testing::internal::GetCapturedStdout().find("is up to date"), std::string::npos);
  EXPECT_EQ(Tokenizer::load(options.out_dir + "/tokenizer.dsatok").vocab_size(), 300);
}

TEST(Prepare, KjvAtVocab4096) {
  SKIP_WITHOUT_BIBLE();
  TempDir dir;
  PrepareOptions options;
  options.out_dir = dir.path();
  const Timer timer;
  const PrepareResult result = prepare(options);
  EXPECT_LT(timer.seconds(), 30.0);
  const SplitText split = kjv_corpus(20);
  EXPECT_EQ(result.train_bytes, static_cast<int64_t>(split.train.size()));
  EXPECT_EQ(result.val_bytes, static_cast<int64_t>(split.val.size()));
  const auto bytes_per_token = [](int64_t bytes, int64_t tokens) {
    return static_cast<double>(bytes) / static_cast<double>(tokens);
  };
  EXPECT_NEAR(bytes_per_token(result.train_bytes, result.train_tokens), 3.95, 0.15);
  EXPECT_GT(bytes_per_token(result.val_bytes, result.val_tokens), 3.7);  // held-out chapters
  const Tokenizer tokenizer = Tokenizer::load(dir.file("tokenizer.dsatok"));
  EXPECT_EQ(tokenizer.vocab_size(), 4096);
  EXPECT_EQ(tokenizer.decode(read_shard(dir.file("val_000000.bin"))), split.val);

  options.max_train_bytes = 1000000;  // a slice, cut at a verse end
  const PrepareResult slice = prepare(options);
  EXPECT_LE(slice.train_bytes, 1000000);
  EXPECT_GT(slice.train_bytes, 1000000 - 1000);
  EXPECT_EQ(read_file(dir.file("val_000000.bin")).size(), 1024 + 2 * static_cast<size_t>(slice.val_tokens));
}

// ---- loader -------------------------------------------------------------------------------------

std::vector<int32_t> positions(int32_t count) {
  std::vector<int32_t> tokens(count);
  std::iota(tokens.begin(), tokens.end(), 0);
  return tokens;
}

struct Batch {
  std::vector<int32_t> inputs, targets;
};

Batch train_batch(const TokenLoader& loader, uint64_t seed, int64_t step, int64_t rank, int64_t batch,
                  int64_t seq) {
  Batch out{std::vector<int32_t>(batch * seq), std::vector<int32_t>(batch * seq)};
  loader.train_batch(seed, step, rank, batch, seq, out.inputs.data(), out.targets.data());
  return out;
}

TEST(Loader, TrainBatchesAreDeterministicWindows) {
  const TokenLoader loader(positions(1000));  // token value = its position
  const int64_t batch = 4, seq = 16;
  const Batch a = train_batch(loader, 7, 3, 1, batch, seq);
  const Batch b = train_batch(loader, 7, 3, 1, batch, seq);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_NE(a.inputs, train_batch(loader, 7, 4, 1, batch, seq).inputs);
  EXPECT_NE(a.inputs, train_batch(loader, 8, 3, 1, batch, seq).inputs);
  for (int64_t r = 0; r < batch; ++r) {
    const int32_t start = a.inputs[r * seq];
    EXPECT_EQ(start, static_cast<int32_t>(philox_below(7, 3, 1 * batch + r, 1000 - seq)));
    for (int64_t t = 0; t < seq; ++t) {
      EXPECT_EQ(a.inputs[r * seq + t], start + t);
      EXPECT_EQ(a.targets[r * seq + t], start + t + 1);
    }
  }
  EXPECT_ERROR_HAS(TokenLoader(positions(16)).train_batch(1, 0, 0, 1, 16, nullptr, nullptr), "16 tokens",
                   "17");
}

TEST(Loader, RanksDrawDisjointRowsOfOneGlobalBatch) {
  const TokenLoader loader(positions(100000));
  const int64_t batch = 3, seq = 8, world = 4;
  const Batch global = train_batch(loader, 11, 5, 0, world * batch, seq);
  std::set<int32_t> starts;
  for (int64_t rank = 0; rank < world; ++rank) {
    const Batch local = train_batch(loader, 11, 5, rank, batch, seq);
    const auto rows = global.inputs.begin() + rank * batch * seq;
    EXPECT_TRUE(std::equal(local.inputs.begin(), local.inputs.end(), rows));
    for (int64_t r = 0; r < batch; ++r) starts.insert(local.inputs[r * seq]);
  }
  EXPECT_EQ(starts.size(), static_cast<size_t>(world * batch));  // no two rows share a window here
}

TEST(Loader, EvalWindowsPredictEveryTokenOnce) {
  const int32_t n = 103;
  const TokenLoader loader(positions(n));
  const int64_t seq = 10;
  ASSERT_EQ(loader.eval_windows(seq), 11);  // 102 targets
  std::vector<int32_t> all_targets;
  std::vector<int32_t> inputs(seq), targets(seq);
  for (int64_t w = 0; w < loader.eval_windows(seq); ++w) {
    const int64_t length = loader.eval_window(w, seq, inputs.data(), targets.data());
    EXPECT_EQ(length, w < 10 ? seq : 2);
    for (int64_t t = 0; t < length; ++t) {
      EXPECT_EQ(inputs[t], w * seq + t);
      EXPECT_EQ(targets[t], inputs[t] + 1);
    }
    all_targets.insert(all_targets.end(), targets.begin(), targets.begin() + length);
  }
  std::vector<int32_t> expected(n - 1);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(all_targets, expected);
  EXPECT_EQ(TokenLoader(positions(101)).eval_windows(10), 10);  // exactly full windows
  EXPECT_EQ(TokenLoader(positions(1)).eval_windows(10), 0);
  EXPECT_ERROR_HAS(loader.eval_window(11, seq, inputs.data(), targets.data()), "window 11");
}

}  // namespace
}  // namespace dsa::data
