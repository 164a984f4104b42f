#include "data/corpus.h"

#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/timer.h"
#include "data/shard.h"
#include "data/tokenizer.h"

namespace dsa::data {

namespace {

constexpr const char* kBibleCommand = "bible -f Gen1:1-Rev22:21";
constexpr const char* kInstallHint = "install Debian's bible-kjv (tools/setup.sh does)";
constexpr int64_t kKjvChapters = 1189, kKjvVerses = 31102;
constexpr int64_t kLinesPerBlock = 100;

void check_val_every(int64_t val_every) {
  // 1 would leave nothing to train on; 0 or less has no meaning.
  DSA_CHECK(val_every >= 2, "data: val_every ", val_every, " must be >= 2");
}

// Output of a shell command; fails with `missing_hint` when the shell cannot find the program.
std::string run_command(const std::string& command, const char* missing_hint) {
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  DSA_CHECK(pipe != nullptr, "data: cannot run `", command, "`");
  std::string output;
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  const int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  DSA_CHECK(exit_code != 127, "data: `", command, "` not found: ", missing_hint);
  DSA_CHECK(exit_code == 0, "data: `", command, "` failed (exit status ", exit_code, "): ", missing_hint);
  return output;
}

// "<ref> <text>" with ref = book (may start with a digit) + chapter ":" verse, e.g. "1Sm3:4".
// Returns the text; `chapter_key` gets the ref without the verse ("1Sm3").
std::string_view split_verse_line(std::string_view line, int64_t line_number, std::string_view* chapter_key) {
  const size_t space = line.find(' ');
  const std::string_view ref = line.substr(0, space);
  const size_t colon = ref.find(':');
  size_t chapter_begin = colon == std::string_view::npos ? 0 : colon;
  while (chapter_begin > 0 && std::isdigit(static_cast<unsigned char>(ref[chapter_begin - 1])))
    --chapter_begin;
  const bool valid = space != std::string_view::npos && colon != std::string_view::npos &&
                     chapter_begin > 0 && chapter_begin < colon && colon + 1 < ref.size() &&
                     ref.find_first_not_of("0123456789", colon + 1) == std::string_view::npos;
  DSA_CHECK(valid, "data: line ", line_number, " of `", kBibleCommand,
            "` is not \"<book><chapter>:<verse> <text>\": \"", line.substr(0, 80), "\"");
  *chapter_key = ref.substr(0, colon);
  return line.substr(space + 1);
}

SplitText split_bible_output(std::string_view output, int64_t val_every) {
  SplitText split;
  std::string_view previous_chapter;
  int64_t chapters = 0, verses = 0;
  for (size_t pos = 0; pos < output.size();) {
    size_t end = output.find('\n', pos);
    if (end == std::string_view::npos) end = output.size();
    const std::string_view line = output.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    std::string_view chapter;
    const std::string_view text = split_verse_line(line, verses + 1, &chapter);
    if (chapter != previous_chapter) ++chapters;
    previous_chapter = chapter;
    ++verses;
    std::string& target = chapters % val_every == 0 ? split.val : split.train;
    target.append(text).push_back('\n');
  }
  DSA_CHECK(chapters == kKjvChapters && verses == kKjvVerses, "data: `", kBibleCommand, "` gave ", chapters,
            " chapters and ", verses, " verses, expected ", kKjvChapters, " and ", kKjvVerses, ": ",
            kInstallHint);
  return split;
}

}  // namespace

SplitText kjv_corpus(int64_t val_every) {
  check_val_every(val_every);
  return split_bible_output(run_command(kBibleCommand, kInstallHint), val_every);
}

SplitText text_files_corpus(const std::vector<std::string>& files, int64_t val_every) {
  check_val_every(val_every);
  DSA_CHECK(!files.empty(), "data: source \"files\" needs at least one text file");
  SplitText split;
  int64_t block = 0;
  for (const std::string& path : files) {
    const std::string text = read_file(path);
    int64_t line_in_file = 0;
    for (size_t pos = 0; pos < text.size(); ++line_in_file) {
      size_t end = text.find('\n', pos);
      end = end == std::string::npos ? text.size() : end + 1;
      if (line_in_file % kLinesPerBlock == 0) ++block;  // blocks restart with each file
      std::string& target = block % val_every == 0 ? split.val : split.train;
      target.append(text, pos, end - pos);
      if (target.back() != '\n') target.push_back('\n');  // the next file starts on a new line
      pos = end;
    }
  }
  return split;
}

// ---- prepare ------------------------------------------------------------------------------------

namespace {

// The options meta.json records; the directory is up to date when they all match.
json::Value options_json(const PrepareOptions& options) {
  json::Value files = json::Value::array();
  for (const std::string& file : options.files) files.push_back(file);
  json::Value meta = json::Value::object();
  meta.set("source", options.source);
  meta.set("files", std::move(files));
  meta.set("vocab_size", options.vocab_size);
  meta.set("val_every", options.val_every);
  meta.set("max_train_bytes", options.max_train_bytes);
  return meta;
}

std::string meta_json(const PrepareOptions& options, const PrepareResult& result, int64_t tokenizer_vocab) {
  json::Value meta = options_json(options);
  meta.set("tokenizer_vocab_size", tokenizer_vocab);  // below vocab_size when the text ran out of pairs
  meta.set("train_tokens", result.train_tokens);
  meta.set("val_tokens", result.val_tokens);
  meta.set("train_bytes", result.train_bytes);
  meta.set("val_bytes", result.val_bytes);
  return json::dump(meta, 2) + "\n";
}

struct PreparedPaths {
  std::string tokenizer, train, val, meta;
  explicit PreparedPaths(const std::string& dir)
      : tokenizer(dir + "/tokenizer.dsatok"),
        train(dir + "/train_000000.bin"),
        val(dir + "/val_000000.bin"),
        meta(dir + "/meta.json") {}
};

// The stored counts when meta.json matches the options and every output exists.
std::optional<PrepareResult> up_to_date(const PrepareOptions& options, const PreparedPaths& paths) {
  for (const std::string* path : {&paths.meta, &paths.tokenizer, &paths.train, &paths.val}) {
    if (!file_exists(*path)) return std::nullopt;
  }
  const json::Value meta = json::parse(read_file(paths.meta), paths.meta);
  const json::Value wanted = options_json(options);  // named: members() must not outlive it
  for (const auto& [key, value] : wanted.members()) {
    const json::Value* stored = meta.find(key);
    if (!stored || !(*stored == value)) return std::nullopt;
  }
  const auto count = [&](std::string_view key) {
    return meta.at(key, paths.meta).as_int(cat(paths.meta, ": ", key));
  };
  return PrepareResult{count("train_tokens"), count("val_tokens"), count("train_bytes"), count("val_bytes")};
}

SplitText load_split(const PrepareOptions& options) {
  if (options.source == "kjv") return kjv_corpus(options.val_every);
  if (options.source == "files") return text_files_corpus(options.files, options.val_every);
  fail("prepare: source \"", options.source, "\" is not one of \"kjv\", \"files\"");
}

// Cuts at the last line end within the limit, so the slice holds whole lines when it can.
void cut_text(std::string& text, int64_t max_bytes) {
  if (max_bytes <= 0 || static_cast<int64_t>(text.size()) <= max_bytes) return;
  const size_t line_end = text.rfind('\n', static_cast<size_t>(max_bytes) - 1);
  text.resize(line_end == std::string::npos ? static_cast<size_t>(max_bytes) : line_end + 1);
}

std::string split_summary(const char* name, int64_t tokens, int64_t bytes) {
  std::ostringstream out;
  out << name << " " << tokens << " tokens / " << bytes << " bytes (" << std::fixed << std::setprecision(3)
      << (tokens ? static_cast<double>(bytes) / static_cast<double>(tokens) : 0.0) << " bytes/token)";
  return out.str();
}

}  // namespace

PrepareResult prepare(const PrepareOptions& options) {
  DSA_CHECK(!options.out_dir.empty(), "prepare: out_dir is empty");
  DSA_CHECK(options.vocab_size >= 256 && options.vocab_size <= 65536, "prepare: vocab_size ",
            options.vocab_size, " must be in [256, 65536]");
  DSA_CHECK(options.max_train_bytes >= 0, "prepare: max_train_bytes ", options.max_train_bytes,
            " must be >= 0");
  const PreparedPaths paths(options.out_dir);
  if (const auto stored = up_to_date(options, paths)) {
    std::cout << "prepare: " << options.out_dir << " is up to date" << std::endl;
    return *stored;
  }
  const Timer timer;
  // Drop the old meta.json first: a run cut short must not leave it beside new files.
  std::error_code ignored;  // a missing file is fine; an unwritable directory fails below
  std::filesystem::remove(paths.meta, ignored);
  SplitText split = load_split(options);
  cut_text(split.train, options.max_train_bytes);
  DSA_CHECK(!split.train.empty() && !split.val.empty(), "prepare: the ",
            split.train.empty() ? "train" : "val", " split of source \"", options.source,
            "\" is empty (val_every ", options.val_every, ")");
  const double corpus_seconds = timer.seconds();
  const Tokenizer tokenizer = Tokenizer::train(split.train, options.vocab_size);
  const double tokenizer_seconds = timer.seconds() - corpus_seconds;
  const std::vector<int32_t> train_tokens = tokenizer.encode(split.train);
  const std::vector<int32_t> val_tokens = tokenizer.encode(split.val);

  make_dirs(options.out_dir);
  tokenizer.save(paths.tokenizer);
  write_shard(paths.train, train_tokens, tokenizer.vocab_size());
  write_shard(paths.val, val_tokens, tokenizer.vocab_size());
  const PrepareResult result{
      static_cast<int64_t>(train_tokens.size()), static_cast<int64_t>(val_tokens.size()),
      static_cast<int64_t>(split.train.size()), static_cast<int64_t>(split.val.size())};
  write_file_atomic(paths.meta, meta_json(options, result,
                                          tokenizer.vocab_size()));  // last: it marks the directory complete
  std::cout << "prepare: " << options.out_dir << ": "
            << split_summary("train", result.train_tokens, result.train_bytes) << ", "
            << split_summary("val", result.val_tokens, result.val_bytes) << "; vocab "
            << tokenizer.vocab_size() << "; corpus " << std::fixed << std::setprecision(2) << corpus_seconds
            << " s, tokenizer training " << tokenizer_seconds << " s, total " << timer.seconds() << " s"
            << std::endl;
  return result;
}

}  // namespace dsa::data
