// Whole-file I/O. Writes are atomic: a temporary file beside the target, fsync, rename, fsync of
// the directory — a crash or an error leaves either the old file or the new one, never half.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace dsa {

// Reads the whole file; throws dsa::Error "<path>: cannot open (...)" when missing or unreadable.
std::string read_file(const std::string& path);
// Atomic write of `bytes` to `path` (parent directory must exist).
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
// Creates the directory and its parents (like mkdir -p); throws naming the path on failure.
void make_dirs(const std::string& path);
// 64-bit FNV-1a over bytes, continuing from `seed` (checksums of checkpoints and exports).
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ull);

}  // namespace dsa
