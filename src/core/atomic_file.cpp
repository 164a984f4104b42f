#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace dsa {

namespace {

// Pieces at least this large skip the buffer (one write() straight from the caller's memory).
constexpr size_t kBufferBytes = 1 << 20;

void fsync_parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const int fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), temp_path_(path_ + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DSA_CHECK(fd_ >= 0, path_, ": cannot write (", std::strerror(errno), ")");
  buffer_.reserve(kBufferBytes);
}

AtomicFileWriter::~AtomicFileWriter() { discard_temp(); }

void AtomicFileWriter::discard_temp() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(temp_path_.c_str());
  fd_ = -1;
}

void AtomicFileWriter::write_fully(const char* data, size_t count) {
  while (count > 0) {
    const ssize_t n = ::write(fd_, data, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = n < 0 ? std::strerror(errno) : "no progress";
      discard_temp();
      fail(path_, ": write failed (", reason, ")");
    }
    data += n;
    count -= static_cast<size_t>(n);
  }
}

void AtomicFileWriter::flush_buffer() {
  write_fully(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFileWriter::write(std::string_view bytes) {
  DSA_CHECK(fd_ >= 0, path_, ": write after commit or failure");
  total_bytes_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.append(bytes);
    return;
  }
  flush_buffer();
  if (bytes.size() < kBufferBytes) {
    buffer_.append(bytes);
  } else {
    write_fully(bytes.data(), bytes.size());
  }
}

void AtomicFileWriter::commit() {
  DSA_CHECK(fd_ >= 0, path_, ": commit after commit or failure");
  flush_buffer();
  if (::fsync(fd_) != 0) {
    const std::string reason = std::strerror(errno);
    discard_temp();
    fail(path_, ": cannot finish write (fsync: ", reason, ")");
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp_path_.c_str());
    fail(path_, ": cannot finish write (rename: ", reason, ")");
  }
  fsync_parent_directory(path_);
}

}  // namespace dsa
