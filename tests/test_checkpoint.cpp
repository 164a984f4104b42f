// Checkpoint container: round trip, streaming writer, and every way a file can be wrong — wrong
// magic, unsupported version, truncation, one flipped byte anywhere — each error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_io.h"
#include "test_util.h"
#include "train/checkpoint.h"

namespace dsa {
namespace {

namespace fs = std::filesystem;



using test::error_of;
using test::TempDir;

CheckpointData sample_checkpoint() {
  CheckpointData data;
  data.config_yaml = "model:\n  d_model: 64\n  name: \"tiny\"\n";
  data.counters = {{"step", 10}, {"stage", 2}, {"adam.step", 9}, {"data.position", int64_t{1} << 40},
                   {"negative", -5}};
  data.strings = {{"run", "quickstart"}, {"binary", std::string("a\0b\xff", 4)}, {"empty", ""}};
  data.tensors.push_back({"wte", {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12.5f}});
  data.tensors.push_back({"norm", {4}, {1, 1, 1, 0.5f}});
  data.tensors.push_back({"scalar", {}, {42}});
  data.tensors.push_back({"empty", {0, 8}, {}});
  return data;
}

void expect_same(const CheckpointData& a, const CheckpointData& b) {
  EXPECT_EQ(a.config_yaml, b.config_yaml);
  EXPECT_EQ(a.counters, b.counters);
  EXPECT_EQ(a.strings, b.strings);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
    EXPECT_EQ(a.tensors[i].values, b.tensors[i].values);
  }
}

TEST(Checkpoint, RoundTripKeepsEverythingInOrder) {
  TempDir dir;
  const std::string path = dir.file("step_10.ckpt");
  const CheckpointData written = sample_checkpoint();
  save_checkpoint(path, written);
  const CheckpointData read = load_checkpoint(path);
  expect_same(read, written);
  EXPECT_EQ(read.origin, path);
  EXPECT_EQ(read.counter("data.position"), int64_t{1} << 40);
  EXPECT_EQ(read.string("binary"), std::string("a\0b\xff", 4));
  float norm[4] = {};
  read.copy_tensor("norm", {4}, norm);
  EXPECT_EQ(norm[3], 0.5f);
  EXPECT_TRUE(read.has_tensor("empty"));
  EXPECT_FALSE(read.has_tensor("absent"));
}

TEST(Checkpoint, EmptyCheckpointRoundTrips) {
  TempDir dir;
  save_checkpoint(dir.file("empty.ckpt"), CheckpointData{});
  const CheckpointData read = load_checkpoint(dir.file("empty.ckpt"));
  EXPECT_TRUE(read.config_yaml.empty());
  EXPECT_TRUE(read.counters.empty() && read.strings.empty() && read.tensors.empty());
}

TEST(Checkpoint, StreamingWriterWritesFromPointersWithoutCopies) {
  TempDir dir;
  // Large enough to exercise the writer's unbuffered path and multi-block checksumming.
  std::vector<float> weights(3 * 1000 * 1000 + 7);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i) * 0.25f - 1.0f;
  const float moment[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  CheckpointWriter writer;
  writer.set_config("seed: 1\n");
  writer.add_counter("step", 3);
  writer.add_string("note", "streamed");
  writer.add_tensor("weights", {static_cast<int64_t>(weights.size())}, weights.data());
  writer.add_tensor("adam.m.weights", {5}, moment);
  const std::string path = dir.file("big.ckpt");
  writer.save(path);
  EXPECT_EQ(fs::file_size(path), 32 + (8 + 8) + (8 + (8 + 4 + 8)) + (8 + (8 + 4 + 8 + 8)) +
                                     (8 + (8 + 7 + 4 + 4 + 8 + weights.size() * 4) +
                                      (8 + 14 + 4 + 4 + 8 + 5 * 4)));
  const CheckpointData read = load_checkpoint(path);
  EXPECT_EQ(read.tensor("weights").values, weights);
  EXPECT_EQ(read.tensor("adam.m.weights").values[4], 0.5f);
  EXPECT_EQ(read.counter("step"), 3);
}

TEST(Checkpoint, LookupErrorsNameFileAndItem) {
  TempDir dir;
  const std::string path = dir.file("step_10.ckpt");
  save_checkpoint(path, sample_checkpoint());
  const CheckpointData read = load_checkpoint(path);
  EXPECT_EQ(error_of([&] { read.counter("epoch"); }), path + ": checkpoint has no counter 'epoch'");
  EXPECT_EQ(error_of([&] { read.string("x"); }), path + ": checkpoint has no string 'x'");
  EXPECT_HAS(error_of([&] { read.tensor("lm_head"); }), path + ": checkpoint has no tensor 'lm_head'");
  float sink[12];
  EXPECT_EQ(error_of([&] { read.copy_tensor("wte", {4, 3}, sink); }),
            path + ": tensor 'wte': shape [3, 4], expected [4, 3]");
}

TEST(Checkpoint, WriterRejectsDuplicatesAndMismatchedTensors) {
  CheckpointWriter writer;
  const float value = 1;
  writer.add_tensor("a", {1}, &value);
  EXPECT_HAS(error_of([&] { writer.add_tensor("a", {1}, &value); }), "tensor 'a' added twice");
  writer.add_counter("step", 1);
  EXPECT_HAS(error_of([&] { writer.add_counter("step", 2); }), "counter 'step' added twice");
  EXPECT_HAS(error_of([&] { writer.add_tensor("n", {-1}, &value); }), "negative extent");
  CheckpointData data;
  data.tensors.push_back({"short", {3}, {1, 2}});
  EXPECT_EQ(error_of([&] { save_checkpoint("x.ckpt", data); }), "x.ckpt: tensor 'short': 2 values for shape [3]");
  EXPECT_FALSE(file_exists("x.ckpt"));
}

// ---- damaged files ----------------------------------------------------------------------------

std::string saved_bytes(const TempDir& dir) {
  const std::string path = dir.file("good.ckpt");
  save_checkpoint(path, sample_checkpoint());
  return read_file(path);
}

std::string load_error(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, bytes);
  return error_of([&] { load_checkpoint(path); });
}

TEST(Checkpoint, WrongMagicNamesFile) {
  TempDir dir;
  std::string bytes = saved_bytes(dir);
  bytes[0] = 'X';
  const std::string path = dir.file("step_10.ckpt");
  EXPECT_EQ(load_error(path, bytes), path + ": not a dsatrain checkpoint (bad magic; expected \"DSACKPT\")");
  EXPECT_HAS(load_error(path, "hello"), path + ": too short to be a dsatrain checkpoint: 5 bytes");
  EXPECT_HAS(error_of([&] { load_checkpoint(dir.file("absent.ckpt")); }), dir.file("absent.ckpt") + ": cannot open");
}

TEST(Checkpoint, UnsupportedVersionNamesFoundAndSupported) {
  TempDir dir;
  std::string bytes = saved_bytes(dir);
  const uint32_t future = 7;
  std::memcpy(bytes.data() + 8, &future, sizeof(future));
  const std::string path = dir.file("step_10.ckpt");
  EXPECT_EQ(load_error(path, bytes),
            path + ": checkpoint format version 7 is not supported (this build reads version 1)");
}

TEST(Checkpoint, TruncatedFileIsReported) {
  TempDir dir;
  const std::string bytes = saved_bytes(dir);
  const std::string path = dir.file("step_10.ckpt");
  for (size_t keep : {bytes.size() - 1, bytes.size() - 8, bytes.size() / 2, size_t{40}, size_t{24}, size_t{0}}) {
    const std::string message = load_error(path, std::string_view(bytes).substr(0, keep));
    EXPECT_HAS(message, path + ": ");
    EXPECT_HAS(message, "(file corrupted or truncated)");
  }
  std::string longer = bytes + "x";
  EXPECT_HAS(load_error(path, longer), "size mismatch: the file has " + std::to_string(longer.size()) + " bytes");
}

// A flipped byte in the body or checksum is a checksum mismatch; in the fixed header it is caught by
// the field it lands in (magic, version, flags, size) — never silently accepted, never a crash.
TEST(Checkpoint, EveryFlippedByteIsDetected) {
  TempDir dir;
  const std::string bytes = saved_bytes(dir);
  const std::string path = dir.file("step_10.ckpt");
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    std::string damaged = bytes;
    damaged[offset] = static_cast<char>(damaged[offset] ^ (1 << (offset % 8)));
    const std::string message = error_of([&] { parse_checkpoint(damaged, path); });
    ASSERT_EQ(message.rfind(path + ": ", 0), 0u) << "offset " << offset << ": " << message;
    if (offset >= 24) {
      ASSERT_NE(message.find("checksum mismatch (file corrupted or truncated)"), std::string::npos)
          << "offset " << offset << ": " << message;
    }
  }
}

TEST(Checkpoint, ChecksumSeesEveryWordAndIgnoresHowBytesAreSplit) {
  std::string bytes(1000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  const uint64_t base = checkpoint_checksum(bytes);
  EXPECT_NE(base, checkpoint_checksum(bytes.substr(0, 999)));
  EXPECT_NE(checkpoint_checksum(""), checkpoint_checksum(std::string(1, '\0')));
  for (size_t offset = 0; offset < bytes.size(); ++offset) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[offset] = static_cast<char>(flipped[offset] ^ (1 << bit));
      ASSERT_NE(checkpoint_checksum(flipped), base) << offset << ":" << bit;
    }
  }
  // Swapping two 8-byte words in different lanes changes the result too.
  std::string swapped = bytes;
  std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 8);
  EXPECT_NE(checkpoint_checksum(swapped), base);
}

// ---- atomicity ------------------------------------------------------------------------------

TEST(Checkpoint, FailedSaveLeavesExistingCheckpointIntact) {
  TempDir dir;
  const std::string good = dir.file("step_10.ckpt");
  save_checkpoint(good, sample_checkpoint());
  const std::string nowhere = dir.file("missing_dir/step_20.ckpt");
  EXPECT_EQ(error_of([&] { save_checkpoint(nowhere, sample_checkpoint()); }),
            nowhere + ": cannot write (No such file or directory)");
  // The rename over a non-empty directory fails after all bytes were written.
  const std::string blocked = dir.file("step_30.ckpt");
  fs::create_directories(fs::path(blocked) / "child");
  EXPECT_HAS(error_of([&] { save_checkpoint(blocked, sample_checkpoint()); }), blocked + ": cannot finish write");
  expect_same(load_checkpoint(good), sample_checkpoint());
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left over: " << entry.path();
}

TEST(Checkpoint, AbandonedAtomicWriterKeepsOldContent) {
  TempDir dir;
  const std::string path = dir.file("file.bin");
  write_file_atomic(path, "old");
  {
    AtomicFileWriter writer(path);
    writer.write("new content that is never committed");
  }
  EXPECT_EQ(read_file(path), "old");
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "file.bin");
  {
    AtomicFileWriter writer(path);
    writer.write(std::string(3 << 20, 'z'));  // larger than the writer's buffer
    writer.write("!");
    writer.commit();
  }
  EXPECT_EQ(fs::file_size(path), (3u << 20) + 1);
}

}  // namespace
}  // namespace dsa
