// Checkpoint container: everything a run needs to continue exactly — the resolved config (YAML
// text), named integer counters (step, stage, optimizer steps, data positions, RNG seeds and
// offsets), named strings (free-form; binary-safe), and named float32 tensors (parameters and
// optimizer moments). The container does not know what the names mean; the trainer does.
//
// Binary layout, format version 1 (all integers little-endian; docs/formats.md has the same):
//
//   offset  size  field
//   0       8     magic "DSACKPT\0"
//   8       4     u32 format version (1)
//   12      4     u32 flags (0; a reader refuses flags it does not know)
//   16      8     u64 body_bytes B
//   24      B     body:
//                   string  config_yaml                       string := u64 byte length, bytes
//                   u64     counter count,  then per counter: string name, i64 value
//                   u64     string count,   then per string:  string name, string value
//                   u64     tensor count,   then per tensor:  string name, u32 dtype (1 = float32),
//                                           u32 rank, i64 extent × rank, numel × 4 bytes of data
//   24+B    8     u64 checksum of bytes [0, 24+B) (checkpoint_checksum below)
//
// Counters and strings are written sorted by name; tensors in the order they were added. Names are
// unique within each section. The file is written to "<path>.tmp.<pid>", fsynced and renamed over
// <path> (then the directory is fsynced), so a crash leaves the previous checkpoint intact.
//
// Loading checks, in order: size >= 32, magic, version (errors list the supported versions), flags,
// file size == 32 + B, checksum, then the body's structure. Any truncation or flipped byte is
// reported naming the file: "runs/x/step_10.ckpt: checksum mismatch (file corrupted or truncated)".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace dsa {

inline constexpr uint32_t kCheckpointVersion = 1;

struct CheckpointTensor {
  std::string name;
  Shape shape;
  std::vector<float> values;  // numel(shape) values, row-major
};

struct CheckpointData {
  std::string config_yaml;
  std::map<std::string, int64_t> counters;
  std::map<std::string, std::string> strings;
  std::vector<CheckpointTensor> tensors;  // file order
  std::string origin;                     // the file it was loaded from (named in errors)

  // Lookups that throw "<origin>: checkpoint has no counter 'step'" (string, tensor alike).
  int64_t counter(const std::string& name) const;
  const std::string& string(const std::string& name) const;
  const CheckpointTensor& tensor(const std::string& name) const;
  bool has_tensor(const std::string& name) const;
  // Copies a tensor into `dest` (numel(expected_shape) floats) after checking its shape:
  // "<origin>: tensor 'layers.0.wq': shape [64, 32], expected [64, 64]".
  void copy_tensor(const std::string& name, const Shape& expected_shape, float* dest) const;
};

// Streams a checkpoint without copying tensor data: add_tensor records a pointer, and save()
// writes each tensor straight from it. Pointers must stay valid and unchanged until save() returns.
class CheckpointWriter {
 public:
  void set_config(std::string config_yaml) { config_yaml_ = std::move(config_yaml); }
  // Each name once per section; a repeated name throws.
  void add_counter(const std::string& name, int64_t value);
  void add_string(const std::string& name, std::string value);
  void add_tensor(const std::string& name, const Shape& shape, const float* data);
  // Atomic write; throws naming `path` (e.g. "runs/x/step_10.ckpt: cannot write (No such file or
  // directory)") and leaves an existing file at `path` untouched.
  void save(const std::string& path) const;

 private:
  struct TensorRef {
    std::string name;
    Shape shape;
    const float* data;
  };
  uint64_t body_bytes() const;

  std::string config_yaml_;
  std::map<std::string, int64_t> counters_;
  std::map<std::string, std::string> strings_;
  std::vector<TensorRef> tensors_;
};

// Convenience wrappers: save copies nothing either (it writes from data.tensors' vectors).
void save_checkpoint(const std::string& path, const CheckpointData& data);
CheckpointData load_checkpoint(const std::string& path);
// Same checks on bytes held in memory; `origin` names them in errors.
CheckpointData parse_checkpoint(std::string_view bytes, const std::string& origin);

// The checkpoint checksum: a 64-bit FNV-1a variant that reads 8-byte little-endian words into 4
// interleaved lanes (lane = (lane ^ word) × FNV prime, one lane per word of each 32-byte block),
// so it runs at memory speed; trailing bytes go byte-by-byte into lane 0; the lanes, each passed
// through the splitmix64 finalizer, and the total length are folded FNV-style and finalized once
// more. Every step is a bijection of the lane it touches, so a change confined to one 8-byte word
// (any single flipped byte or bit) always changes the result.
uint64_t checkpoint_checksum(std::string_view bytes);

}  // namespace dsa
