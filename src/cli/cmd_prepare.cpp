#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "config/config.h"
#include "data/corpus.h"

namespace dsa::cli {

static const CommandSpec kPrepare{
    "prepare",
    "Splits a corpus into train/val, trains a byte-level BPE tokenizer on the train text and\n"
    "writes llm.c token shards: <data.dir>/{tokenizer.dsatok,train_000000.bin,val_000000.bin,meta.json}.\n"
    "With --config the data.* keys and model.vocab_size say what to prepare; options override them.",
    {{"config", "FILE", "", "YAML config whose data section to prepare"},
     {"set", "KEY=VALUE", "", "override a config key", false, true},
     {"source", "kjv|files", "kjv", "corpus: the King James Bible (Debian bible-kjv) or text files"},
     {"files", "A,B,...", "", "UTF-8 text files (with --source files)"},
     {"out", "DIR", "data/prepared/kjv", "output directory"},
     {"vocab-size", "N", "4096", "BPE vocabulary size (256..65536)"},
     {"val-every", "N", "20", "chapter/block i goes to validation when i % N == 0"},
     {"max-train-bytes", "N", "0", "cut the training text to N bytes (0 = all; for tests)"}}};

static std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

int run_prepare(const Args& args) {
  const ParsedOptions options = parse_options(kPrepare, args);
  if (options.help) return std::printf("%s", help_text(kPrepare).c_str()), 0;
  data::PrepareOptions prepare;
  if (options.given("config")) {
    const config::Config cfg = config::load(options.get("config"), options.all("set"));
    prepare.source = cfg.data.source;
    prepare.files = cfg.data.files;
    prepare.out_dir = cfg.data.dir;
    prepare.vocab_size = cfg.model.vocab_size;
    prepare.val_every = cfg.data.val_every;
  } else {
    prepare.source = options.get("source");
    prepare.out_dir = options.get("out");
    prepare.vocab_size = options.integer("vocab-size");
    prepare.val_every = options.integer("val-every");
  }
  if (options.given("source")) prepare.source = options.get("source");
  if (options.given("files")) prepare.files = split_commas(options.get("files"));
  if (options.given("out")) prepare.out_dir = options.get("out");
  if (options.given("vocab-size")) prepare.vocab_size = options.integer("vocab-size");
  if (options.given("val-every")) prepare.val_every = options.integer("val-every");
  prepare.max_train_bytes = options.integer("max-train-bytes");
  data::prepare(prepare);
  return 0;
}

}  // namespace dsa::cli
