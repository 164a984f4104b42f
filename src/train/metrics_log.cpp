#include "train/metrics_log.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"

namespace dsa::train {

void MetricsLine::key(const std::string& name) {
  if (!body_.empty()) body_ += ", ";
  body_ += "\"" + name + "\": ";
}

MetricsLine& MetricsLine::add(const std::string& name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    body_ += "null";  // JSON has no NaN/inf
  } else {
    char text[32];
    std::snprintf(text, sizeof text, "%.7g", value);
    body_ += text;
  }
  return *this;
}

MetricsLine& MetricsLine::add(const std::string& name, int64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

MetricsLine& MetricsLine::add(const std::string& name, const std::string& value) {
  key(name);
  body_ += "\"" + value + "\"";  // our values are identifiers (stage names): no escaping needed
  return *this;
}

static int64_t step_of(const std::string& line) {
  const size_t at = line.find("\"step\": ");
  return at == std::string::npos ? -1 : std::stoll(line.substr(at + 8));
}

MetricsLog::MetricsLog(const std::string& path, int64_t keep_through_step) : path_(path) {
  std::string kept;
  if (keep_through_step >= 0 && file_exists(path)) {
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && step_of(line) <= keep_through_step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  DSA_CHECK(file_ != nullptr, path, ": cannot open for appending");
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write(const MetricsLine& line) {
  std::fputs((line.str() + "\n").c_str(), file_);
  std::fflush(file_);
}

}  // namespace dsa::train
