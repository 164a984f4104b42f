// Corpora and `dsatrain prepare`: text -> train/val split -> BPE tokenizer -> token shards.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsa::data {

struct SplitText {
  std::string train, val;
};

// The King James Bible from Debian's bible-kjv (`bible -f Gen1:1-Rev22:21`): verse texts without
// their references, joined by '\n'. Chapters are numbered 1, 2, ... in canonical order; chapter i
// goes to validation when i % val_every == 0. Errors say how to install bible-kjv.
SplitText kjv_corpus(int64_t val_every);
// Any UTF-8 text files: each file's lines in blocks of 100 lines, numbered 1, 2, ... across
// files; block i goes to validation when i % val_every == 0.
SplitText text_files_corpus(const std::vector<std::string>& files, int64_t val_every);

struct PrepareOptions {
  std::string source = "kjv";          // "kjv" or "files"
  std::vector<std::string> files;      // when source == "files"
  std::string out_dir;                 // created if missing
  int64_t vocab_size = 4096;
  int64_t val_every = 20;
  int64_t max_train_bytes = 0;         // 0: all; else the train text is cut (tests use a slice)
};

struct PrepareResult {
  int64_t train_tokens = 0, val_tokens = 0;
  int64_t train_bytes = 0, val_bytes = 0;
};

// Writes <out_dir>/tokenizer.dsatok, train_000000.bin, val_000000.bin and meta.json
// ({"source", "vocab_size", "train_tokens", "val_tokens", "train_bytes", "val_bytes"}).
// Skips the work (and says so) when meta.json already matches the options.
PrepareResult prepare(const PrepareOptions& options);

}  // namespace dsa::data
