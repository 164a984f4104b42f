#include "train/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_io.h"

namespace dsa {

static_assert(std::endian::native == std::endian::little,
              "checkpoints are little-endian; this code writes host memory directly");

namespace {

constexpr char kMagic[8] = {'D', 'S', 'A', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kSupportedVersions[] = {1};
constexpr size_t kHeaderBytes = 24;   // magic, version, flags, body_bytes
constexpr size_t kTrailerBytes = 8;   // checksum
constexpr uint32_t kDtypeFloat32 = 1;

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

uint64_t splitmix64_finalize(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Incremental form of checkpoint_checksum (see checkpoint.h): feeding the same bytes in any split
// gives the same result, so the writer hashes pieces as it streams them.
class Checksum64 {
 public:
  void update(std::string_view bytes) {
    total_bytes_ += bytes.size();
    if (pending_bytes_ > 0) {
      const size_t take = std::min(bytes.size(), kBlockBytes - pending_bytes_);
      std::memcpy(pending_ + pending_bytes_, bytes.data(), take);
      pending_bytes_ += take;
      bytes.remove_prefix(take);
      if (pending_bytes_ < kBlockBytes) return;
      consume_block(pending_);
      pending_bytes_ = 0;
    }
    while (bytes.size() >= kBlockBytes) {
      consume_block(bytes.data());
      bytes.remove_prefix(kBlockBytes);
    }
    std::memcpy(pending_, bytes.data(), bytes.size());
    pending_bytes_ = bytes.size();
  }

  uint64_t finish() const {
    uint64_t lanes[kLanes];
    std::memcpy(lanes, lanes_, sizeof(lanes));
    for (size_t i = 0; i < pending_bytes_; ++i)
      lanes[0] = (lanes[0] ^ static_cast<unsigned char>(pending_[i])) * kFnvPrime;
    uint64_t hash = kFnvBasis ^ total_bytes_;
    for (uint64_t lane : lanes) hash = (hash ^ splitmix64_finalize(lane)) * kFnvPrime;
    return splitmix64_finalize(hash);
  }

 private:
  static constexpr size_t kLanes = 4;
  static constexpr size_t kBlockBytes = kLanes * 8;

  void consume_block(const char* block) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      uint64_t word;
      std::memcpy(&word, block + lane * 8, 8);
      lanes_[lane] = (lanes_[lane] ^ word) * kFnvPrime;
    }
  }

  // Distinct starting points so that equal words in different lanes do not mirror each other.
  uint64_t lanes_[kLanes] = {kFnvBasis, kFnvBasis ^ 1, kFnvBasis ^ 2, kFnvBasis ^ 3};
  char pending_[kBlockBytes] = {};
  size_t pending_bytes_ = 0;
  uint64_t total_bytes_ = 0;
};

// ---- writing --------------------------------------------------------------------------------

// Sends every piece both to the file and to the checksum.
class ChecksummedOutput {
 public:
  explicit ChecksummedOutput(const std::string& path) : file_(path) {}

  void raw(std::string_view bytes) {
    file_.write(bytes);
    checksum_.update(bytes);
  }
  template <class T>
  void scalar(T value) {
    raw(std::string_view(reinterpret_cast<const char*>(&value), sizeof(T)));
  }
  void string(std::string_view text) {
    scalar<uint64_t>(text.size());
    raw(text);
  }
  // Appends the checksum trailer (not itself hashed) and commits the file.
  void finish() {
    const uint64_t checksum = checksum_.finish();
    file_.write(std::string_view(reinterpret_cast<const char*>(&checksum), sizeof(checksum)));
    file_.commit();
  }
  size_t bytes_written() const { return file_.bytes_written(); }

 private:
  AtomicFileWriter file_;
  Checksum64 checksum_;
};

uint64_t string_bytes(const std::string& text) { return sizeof(uint64_t) + text.size(); }

// ---- reading --------------------------------------------------------------------------------

// Reads the body sequentially; every read is bounds-checked, naming the file and byte offset.
class BodyReader {
 public:
  BodyReader(std::string_view body, const std::string& origin) : body_(body), origin_(origin) {}

  template <class T>
  T scalar(std::string_view what) {
    T value;
    std::memcpy(&value, take(sizeof(T), what).data(), sizeof(T));
    return value;
  }
  std::string string(std::string_view what) {
    const uint64_t length = scalar<uint64_t>(what);
    return std::string(take(length, what));
  }
  std::string_view take(uint64_t count, std::string_view what) {
    DSA_CHECK(count <= body_.size() - pos_, origin_, ": corrupt checkpoint body: ", what, " at byte ",
              kHeaderBytes + pos_, " needs ", count, " bytes, only ", body_.size() - pos_, " remain");
    const std::string_view bytes = body_.substr(pos_, count);
    pos_ += count;
    return bytes;
  }
  bool at_end() const { return pos_ == body_.size(); }
  size_t file_offset() const { return kHeaderBytes + pos_; }

 private:
  std::string_view body_;
  const std::string& origin_;
  size_t pos_ = 0;
};

uint64_t load_u64(std::string_view bytes, size_t offset) {
  uint64_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

uint32_t load_u32(std::string_view bytes, size_t offset) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

std::string supported_versions() {
  std::string text;
  for (uint32_t version : kSupportedVersions) text += (text.empty() ? "" : ", ") + std::to_string(version);
  return text;
}

std::string hex64(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

// Checks everything outside the body's structure; returns the body.
std::string_view check_envelope(std::string_view bytes, const std::string& origin) {
  DSA_CHECK(bytes.size() >= kHeaderBytes + kTrailerBytes, origin, ": too short to be a dsatrain checkpoint: ",
            bytes.size(), " bytes (file corrupted or truncated)");
  DSA_CHECK(std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0, origin,
            ": not a dsatrain checkpoint (bad magic; expected \"DSACKPT\")");
  const uint32_t version = load_u32(bytes, 8);
  bool supported = false;
  for (uint32_t known : kSupportedVersions) supported = supported || version == known;
  DSA_CHECK(supported, origin, ": checkpoint format version ", version,
            " is not supported (this build reads version ", supported_versions(), ")");
  const uint32_t flags = load_u32(bytes, 12);
  DSA_CHECK(flags == 0, origin, ": checkpoint uses flags ", flags, " that this build does not know");
  const uint64_t body_bytes = load_u64(bytes, 16);
  const uint64_t expected_size = kHeaderBytes + kTrailerBytes + body_bytes;
  DSA_CHECK(body_bytes <= bytes.size() && expected_size == bytes.size(), origin, ": size mismatch: the file has ",
            bytes.size(), " bytes, its header records ", kHeaderBytes + kTrailerBytes + body_bytes,
            " (file corrupted or truncated)");
  const uint64_t stored = load_u64(bytes, kHeaderBytes + body_bytes);
  const uint64_t computed = checkpoint_checksum(bytes.substr(0, kHeaderBytes + body_bytes));
  DSA_CHECK(stored == computed, origin, ": checksum mismatch (file corrupted or truncated): stored ",
            hex64(stored), ", computed ", hex64(computed));
  return bytes.substr(kHeaderBytes, body_bytes);
}

CheckpointTensor read_tensor(BodyReader& reader, const std::string& origin) {
  CheckpointTensor tensor;
  tensor.name = reader.string("tensor name");
  const std::string where = cat(origin, ": tensor '", tensor.name, "'");
  const uint32_t dtype = reader.scalar<uint32_t>("tensor dtype");
  DSA_CHECK(dtype == kDtypeFloat32, where, ": unknown dtype code ", dtype, " (this build reads 1 = float32)");
  const uint32_t rank = reader.scalar<uint32_t>("tensor rank");
  DSA_CHECK(rank <= 16, where, ": rank ", rank, " is not plausible (corrupt checkpoint body)");
  uint64_t count = 1;
  for (uint32_t dim = 0; dim < rank; ++dim) {
    const int64_t extent = reader.scalar<int64_t>("tensor extent");
    DSA_CHECK(extent >= 0, where, ": negative extent ", extent, " (corrupt checkpoint body)");
    tensor.shape.push_back(extent);
    // Bounded by the file size below; this only guards the multiplication.
    DSA_CHECK(extent == 0 || count <= (uint64_t{1} << 62) / static_cast<uint64_t>(extent), where,
              ": shape ", shape_str(tensor.shape), " is too large (corrupt checkpoint body)");
    count *= static_cast<uint64_t>(extent);
  }
  DSA_CHECK(count <= (uint64_t{1} << 61), where, ": shape ", shape_str(tensor.shape), " is too large");
  const std::string_view data = reader.take(count * sizeof(float), "tensor data");
  tensor.values.resize(count);
  std::memcpy(tensor.values.data(), data.data(), data.size());
  return tensor;
}

}  // namespace

uint64_t checkpoint_checksum(std::string_view bytes) {
  Checksum64 checksum;
  checksum.update(bytes);
  return checksum.finish();
}

// ---- CheckpointData -------------------------------------------------------------------------

int64_t CheckpointData::counter(const std::string& name) const {
  const auto found = counters.find(name);
  DSA_CHECK(found != counters.end(), origin, ": checkpoint has no counter '", name, "'");
  return found->second;
}

const std::string& CheckpointData::string(const std::string& name) const {
  const auto found = strings.find(name);
  DSA_CHECK(found != strings.end(), origin, ": checkpoint has no string '", name, "'");
  return found->second;
}

bool CheckpointData::has_tensor(const std::string& name) const {
  for (const CheckpointTensor& tensor : tensors)
    if (tensor.name == name) return true;
  return false;
}

const CheckpointTensor& CheckpointData::tensor(const std::string& name) const {
  for (const CheckpointTensor& tensor : tensors)
    if (tensor.name == name) return tensor;
  fail(origin, ": checkpoint has no tensor '", name, "' (it holds ", tensors.size(), " tensors)");
}

void CheckpointData::copy_tensor(const std::string& name, const Shape& expected_shape, float* dest) const {
  const CheckpointTensor& found = tensor(name);
  DSA_CHECK(found.shape == expected_shape, origin, ": tensor '", name, "': shape ", shape_str(found.shape),
            ", expected ", shape_str(expected_shape));
  std::memcpy(dest, found.values.data(), found.values.size() * sizeof(float));
}

// ---- CheckpointWriter -----------------------------------------------------------------------

void CheckpointWriter::add_counter(const std::string& name, int64_t value) {
  DSA_CHECK(counters_.emplace(name, value).second, "checkpoint: counter '", name, "' added twice");
}

void CheckpointWriter::add_string(const std::string& name, std::string value) {
  DSA_CHECK(strings_.emplace(name, std::move(value)).second, "checkpoint: string '", name, "' added twice");
}

void CheckpointWriter::add_tensor(const std::string& name, const Shape& shape, const float* data) {
  for (const TensorRef& tensor : tensors_)
    DSA_CHECK(tensor.name != name, "checkpoint: tensor '", name, "' added twice");
  for (int64_t extent : shape)
    DSA_CHECK(extent >= 0, "checkpoint: tensor '", name, "': negative extent in shape ", shape_str(shape));
  DSA_CHECK(data != nullptr || numel(shape) == 0, "checkpoint: tensor '", name, "': null data");
  tensors_.push_back({name, shape, data});
}

uint64_t CheckpointWriter::body_bytes() const {
  uint64_t bytes = string_bytes(config_yaml_);
  bytes += sizeof(uint64_t);
  for (const auto& [name, value] : counters_) bytes += string_bytes(name) + sizeof(value);
  bytes += sizeof(uint64_t);
  for (const auto& [name, value] : strings_) bytes += string_bytes(name) + string_bytes(value);
  bytes += sizeof(uint64_t);
  for (const TensorRef& tensor : tensors_)
    bytes += string_bytes(tensor.name) + 2 * sizeof(uint32_t) + tensor.shape.size() * sizeof(int64_t) +
             static_cast<uint64_t>(numel(tensor.shape)) * sizeof(float);
  return bytes;
}

void CheckpointWriter::save(const std::string& path) const {
  const uint64_t body = body_bytes();
  ChecksummedOutput out(path);
  out.raw(std::string_view(kMagic, sizeof(kMagic)));
  out.scalar<uint32_t>(kCheckpointVersion);
  out.scalar<uint32_t>(0);  // flags
  out.scalar<uint64_t>(body);
  out.string(config_yaml_);
  out.scalar<uint64_t>(counters_.size());
  for (const auto& [name, value] : counters_) {
    out.string(name);
    out.scalar<int64_t>(value);
  }
  out.scalar<uint64_t>(strings_.size());
  for (const auto& [name, value] : strings_) {
    out.string(name);
    out.string(value);
  }
  out.scalar<uint64_t>(tensors_.size());
  for (const TensorRef& tensor : tensors_) {
    out.string(tensor.name);
    out.scalar<uint32_t>(kDtypeFloat32);
    out.scalar<uint32_t>(static_cast<uint32_t>(tensor.shape.size()));
    for (int64_t extent : tensor.shape) out.scalar<int64_t>(extent);
    const size_t data_bytes = static_cast<size_t>(numel(tensor.shape)) * sizeof(float);
    out.raw(std::string_view(reinterpret_cast<const char*>(tensor.data), data_bytes));
  }
  DSA_CHECK(out.bytes_written() == kHeaderBytes + body, path, ": internal error: wrote ", out.bytes_written(),
            " bytes, planned ", kHeaderBytes + body);
  out.finish();
}

// ---- whole files ----------------------------------------------------------------------------

void save_checkpoint(const std::string& path, const CheckpointData& data) {
  CheckpointWriter writer;
  writer.set_config(data.config_yaml);
  for (const auto& [name, value] : data.counters) writer.add_counter(name, value);
  for (const auto& [name, value] : data.strings) writer.add_string(name, value);
  for (const CheckpointTensor& tensor : data.tensors) {
    DSA_CHECK(static_cast<int64_t>(tensor.values.size()) == numel(tensor.shape), path, ": tensor '", tensor.name,
              "': ", tensor.values.size(), " values for shape ", shape_str(tensor.shape));
    writer.add_tensor(tensor.name, tensor.shape, tensor.values.data());
  }
  writer.save(path);
}

CheckpointData parse_checkpoint(std::string_view bytes, const std::string& origin) {
  BodyReader reader(check_envelope(bytes, origin), origin);
  CheckpointData data;
  data.origin = origin;
  data.config_yaml = reader.string("config");
  const uint64_t counter_count = reader.scalar<uint64_t>("counter count");
  for (uint64_t i = 0; i < counter_count; ++i) {
    std::string name = reader.string("counter name");
    const int64_t value = reader.scalar<int64_t>("counter value");
    DSA_CHECK(data.counters.emplace(name, value).second, origin, ": counter '", name, "' appears twice");
  }
  const uint64_t string_count = reader.scalar<uint64_t>("string count");
  for (uint64_t i = 0; i < string_count; ++i) {
    std::string name = reader.string("string name");
    std::string value = reader.string("string value");
    DSA_CHECK(data.strings.emplace(name, std::move(value)).second, origin, ": string '", name, "' appears twice");
  }
  const uint64_t tensor_count = reader.scalar<uint64_t>("tensor count");
  std::set<std::string> tensor_names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    CheckpointTensor tensor = read_tensor(reader, origin);
    DSA_CHECK(tensor_names.insert(tensor.name).second, origin, ": tensor '", tensor.name, "' appears twice");
    data.tensors.push_back(std::move(tensor));
  }
  DSA_CHECK(reader.at_end(), origin, ": corrupt checkpoint body: unexpected bytes after the last tensor at byte ",
            reader.file_offset());
  return data;
}

CheckpointData load_checkpoint(const std::string& path) { return parse_checkpoint(read_file(path), path); }

}  // namespace dsa
