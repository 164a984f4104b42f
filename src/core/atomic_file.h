// Streaming atomic file writer: the bytes go to a temporary file beside the target, and commit()
// fsyncs it, renames it over the target and fsyncs the directory — the same protocol as
// dsa::write_file_atomic (core/file_io.h), for files too large to assemble in memory first
// (checkpoints stream the model and optimizer state straight from the arena). Until commit()
// returns, the target keeps its old content; a writer destroyed without commit() (an error, an
// exception) removes its temporary file.
#pragma once
#include <string>
#include <string_view>

namespace dsa {

class AtomicFileWriter {
 public:
  // Creates "<path>.tmp.<pid>"; throws "<path>: cannot write (<reason>)", e.g. when the parent
  // directory does not exist.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends bytes. Small pieces are buffered; large ones go to the file without a copy.
  void write(std::string_view bytes);
  // Flushes, fsyncs, renames over the target, fsyncs the directory. Throws naming the target.
  void commit();
  size_t bytes_written() const { return total_bytes_; }
  const std::string& path() const { return path_; }

 private:
  void flush_buffer();
  void write_fully(const char* data, size_t count);
  void discard_temp();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  std::string buffer_;
  size_t total_bytes_ = 0;
};

}  // namespace dsa
