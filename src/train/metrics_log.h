// metrics.jsonl (docs/design.md §6): one JSON object per line, keys in the order they were added.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace dsa::train {

class MetricsLine {
 public:
  MetricsLine& add(const std::string& key, double value);
  MetricsLine& add(const std::string& key, int64_t value);
  MetricsLine& add(const std::string& key, const std::string& value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& name);
  std::string body_;
};

// Appends lines to <run>/metrics.jsonl, flushed per line so a crash loses nothing logged.
class MetricsLog {
 public:
  // Keeps the lines whose "step" is <= keep_through_step (resume drops what the interrupted run
  // logged after its checkpoint); keep_through_step < 0 starts a new file.
  MetricsLog(const std::string& path, int64_t keep_through_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const MetricsLine& line);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace dsa::train
