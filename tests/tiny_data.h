// A small KJV slice shared by the training tests (prepared once per test process; atomic writes
// make concurrent preparation by parallel ctest processes safe), and readers of a run's outputs.
#pragma once
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/json.h"
#include "data/corpus.h"
#include "train/checkpoint.h"

namespace dsa::test {

inline const std::string& tiny_data_dir() {
  static const std::string dir = [] {
    const std::string path = std::filesystem::absolute("scratch/kjv_tiny").string();
    data::PrepareOptions options;
    options.out_dir = path;
    options.vocab_size = 512;
    options.max_train_bytes = 600000;
    data::prepare(options);
    return path;
  }();
  return dir;
}

// The lines of <run_dir>/metrics.jsonl, parsed.
inline std::vector<json::Value> metrics_lines(const std::string& run_dir) {
  std::vector<json::Value> entries;
  std::istringstream lines(read_file(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);)
    entries.push_back(json::parse(line, "metrics.jsonl"));
  return entries;
}

// Values of `key` over the lines that have it, in order.
inline std::vector<double> logged(const std::string& run_dir, const std::string& key) {
  std::vector<double> values;
  for (const json::Value& entry : metrics_lines(run_dir))
    if (entry.contains(key)) values.push_back(entry.at(key).as_number());
  return values;
}

// Every tensor of a checkpoint, concatenated (parameters and AdamW moments).
inline std::vector<float> checkpoint_values(const std::string& path) {
  std::vector<float> all;
  for (const CheckpointTensor& tensor : load_checkpoint(path).tensors)
    all.insert(all.end(), tensor.values.begin(), tensor.values.end());
  return all;
}

}  // namespace dsa::test
