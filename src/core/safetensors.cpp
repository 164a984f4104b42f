#include "core/safetensors.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/json.h"

namespace dsa {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this code copies it as host memory");

namespace {

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr size_t kLengthPrefixBytes = 8;
// The reference implementation refuses headers above 100 MB; a corrupt length is caught here
// before a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  std::string_view name;
  size_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
    {"U16", 2}, {"U8", 1},  {"BOOL", 1},
};

std::string supported_dtypes() {
  std::string names;
  for (const DtypeInfo& dtype : kDtypes) names += (names.empty() ? "" : " ") + std::string(dtype.name);
  return names;
}

const DtypeInfo* find_dtype(std::string_view name) {
  for (const DtypeInfo& dtype : kDtypes)
    if (dtype.name == name) return &dtype;
  return nullptr;
}

// numel(shape) × element bytes, or an error naming `where` for negative extents or overflow.
uint64_t byte_count(const Shape& shape, size_t element_bytes, const std::string& where) {
  uint64_t count = element_bytes;
  for (int64_t extent : shape) {
    DSA_CHECK(extent >= 0, where, ": negative extent in shape ", shape_str(shape));
    const uint64_t unsigned_extent = static_cast<uint64_t>(extent);
    DSA_CHECK(unsigned_extent == 0 || count <= std::numeric_limits<uint64_t>::max() / unsigned_extent,
              where, ": shape ", shape_str(shape), " is too large");
    count *= unsigned_extent;
  }
  return count;
}

void put_u64_le(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint64_t get_u64_le(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

// ---- writing --------------------------------------------------------------------------------

// Insertion order, stably sorted by element size (largest first) to keep every tensor aligned.
std::vector<const std::string*> layout_order(const SafeTensorsFile& file) {
  std::vector<const std::string*> order;
  for (const std::string& name : file.names()) order.push_back(&name);
  std::stable_sort(order.begin(), order.end(), [&](const std::string* a, const std::string* b) {
    return safetensors_dtype_size(file.at(*a).dtype) > safetensors_dtype_size(file.at(*b).dtype);
  });
  return order;
}

// The 8-byte length followed by the space-padded JSON header.
std::string header_bytes(const SafeTensorsFile& file, const std::vector<const std::string*>& order) {
  json::Value header = json::Value::object();
  if (!file.metadata.empty()) {
    json::Value& metadata = header[kMetadataKey];
    metadata = json::Value::object();
    for (const auto& [key, value] : file.metadata) metadata.set(key, value);
  }
  uint64_t offset = 0;
  for (const std::string* name : order) {
    const SafeTensor& tensor = file.at(*name);
    json::Value entry = json::Value::object();
    entry.set("dtype", tensor.dtype);
    json::Value shape = json::Value::array();
    for (int64_t extent : tensor.shape) shape.push_back(extent);
    entry.set("shape", std::move(shape));
    json::Value offsets = json::Value::array();
    offsets.push_back(offset);
    offsets.push_back(offset + tensor.bytes.size());
    entry.set("data_offsets", std::move(offsets));
    header.set(*name, std::move(entry));
    offset += tensor.bytes.size();
  }
  std::string text = json::dump(header);
  text.append((kLengthPrefixBytes - text.size() % kLengthPrefixBytes) % kLengthPrefixBytes, ' ');
  std::string bytes(kLengthPrefixBytes, '\0');
  put_u64_le(text.size(), bytes.data());
  return bytes + text;
}

// ---- reading --------------------------------------------------------------------------------

struct TensorEntry {
  std::string name;
  SafeTensor tensor;  // bytes filled after the layout check
  uint64_t begin = 0;
  uint64_t end = 0;
};

uint64_t read_header_length(std::string_view bytes, const std::string& origin) {
  DSA_CHECK(bytes.size() >= kLengthPrefixBytes, origin, ": too short for a safetensors file (",
            bytes.size(), " bytes; the header length alone takes 8)");
  const uint64_t length = get_u64_le(bytes.data());
  const uint64_t available = bytes.size() - kLengthPrefixBytes;
  DSA_CHECK(length <= kMaxHeaderBytes, origin, ": header length ", length,
            " exceeds the 100 MB limit (corrupt header length?)");
  DSA_CHECK(length <= available, origin, ": header length ", length, " exceeds the file (",
            available, " bytes after the 8-byte length; file truncated?)");
  DSA_CHECK(length >= 2, origin, ": header length ", length, " is too small for a JSON object");
  return length;
}

std::map<std::string, std::string> parse_metadata(const json::Value& value, const std::string& origin) {
  const std::string where = cat(origin, ": __metadata__");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, entry] : value.members(where))
    metadata[key] = entry.as_string(cat(where, " value for '", key, "'"));
  return metadata;
}

Shape parse_shape(const json::Value& value, const std::string& where) {
  Shape shape;
  for (const json::Value& extent : value.items(where + ": shape")) {
    shape.push_back(extent.as_int(where + ": shape extent"));
    DSA_CHECK(shape.back() >= 0, where, ": negative extent in shape ", shape_str(shape));
  }
  return shape;
}

TensorEntry parse_entry(const std::string& name, const json::Value& value, const std::string& origin) {
  const std::string where = safetensors_tensor_where(origin, name);
  for (const auto& [key, unused] : value.members(where))
    DSA_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", where, ": unknown key '", key,
              "' (expected dtype, shape, data_offsets)");
  TensorEntry entry;
  entry.name = name;
  entry.tensor.dtype = value.at("dtype", where).as_string(where + ": dtype");
  const DtypeInfo* dtype = find_dtype(entry.tensor.dtype);
  DSA_CHECK(dtype != nullptr, where, ": unknown dtype '", entry.tensor.dtype, "' (supported: ",
            supported_dtypes(), ")");
  entry.tensor.shape = parse_shape(value.at("shape", where), where);
  const auto& offsets = value.at("data_offsets", where).items(where + ": data_offsets");
  DSA_CHECK(offsets.size() == 2, where, ": data_offsets must be [begin, end], found ", offsets.size(),
            " numbers");
  const int64_t begin = offsets[0].as_int(where + ": data_offsets begin");
  const int64_t end = offsets[1].as_int(where + ": data_offsets end");
  DSA_CHECK(begin >= 0 && end >= begin, where, ": invalid data_offsets [", begin, ", ", end, "]");
  entry.begin = static_cast<uint64_t>(begin);
  entry.end = static_cast<uint64_t>(end);
  const uint64_t needed = byte_count(entry.tensor.shape, dtype->bytes, where);
  DSA_CHECK(entry.end - entry.begin == needed, where, ": data_offsets [", begin, ", ", end, "] hold ",
            entry.end - entry.begin, " bytes but ", entry.tensor.dtype, " ", shape_str(entry.tensor.shape),
            " needs ", needed);
  return entry;
}

// Sorts by offset and checks the byte ranges tile the buffer: no gap, no overlap, nothing past it.
void check_layout(std::vector<TensorEntry>& entries, uint64_t buffer_bytes, const std::string& origin) {
  std::stable_sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : entries) {
    const std::string where = safetensors_tensor_where(origin, entry.name);
    DSA_CHECK(entry.end <= buffer_bytes, where, ": data_offsets [", entry.begin, ", ", entry.end,
              "] out of range: the data buffer holds ", buffer_bytes, " bytes (file truncated?)");
    DSA_CHECK(entry.begin >= covered, where, ": data_offsets [", entry.begin, ", ", entry.end,
              "] overlap tensor '", previous ? previous->name : "", "' (which ends at ", covered, ")");
    DSA_CHECK(entry.begin == covered, where, ": data_offsets [", entry.begin, ", ", entry.end,
              "] leave a gap of ", entry.begin - covered, " bytes after ",
              previous ? cat("tensor '", previous->name, "'") : std::string("the start of the buffer"));
    covered = entry.end;
    previous = &entry;
  }
  DSA_CHECK(covered == buffer_bytes, origin, ": the tensors cover ", covered, " bytes but the data buffer holds ",
            buffer_bytes, " (trailing bytes after the last tensor)");
}

}  // namespace

std::string safetensors_tensor_where(const std::string& file, const std::string& name) {
  return cat(file, ": tensor '", name, "'");
}

size_t safetensors_dtype_size(std::string_view dtype) {
  const DtypeInfo* info = find_dtype(dtype);
  DSA_CHECK(info != nullptr, "safetensors: unknown dtype '", dtype, "' (supported: ", supported_dtypes(), ")");
  return info->bytes;
}

// ---- SafeTensorsFile ------------------------------------------------------------------------

std::string SafeTensorsFile::where() const { return origin.empty() ? "safetensors (in memory)" : origin; }

void SafeTensorsFile::add(std::string name, SafeTensor tensor) {
  const std::string where = safetensors_tensor_where(this->where(), name);
  DSA_CHECK(name != kMetadataKey, where, ": the name is reserved for metadata");
  DSA_CHECK(!contains(name), where, ": added twice");
  const DtypeInfo* dtype = find_dtype(tensor.dtype);
  DSA_CHECK(dtype != nullptr, where, ": unknown dtype '", tensor.dtype, "' (supported: ", supported_dtypes(), ")");
  const uint64_t needed = byte_count(tensor.shape, dtype->bytes, where);
  DSA_CHECK(tensor.bytes.size() == needed, where, ": ", tensor.bytes.size(), " bytes but ", tensor.dtype, " ",
            shape_str(tensor.shape), " needs ", needed);
  names_.push_back(name);
  tensors_.emplace(std::move(name), std::move(tensor));
}

const SafeTensor& SafeTensorsFile::at(const std::string& name) const {
  const auto found = tensors_.find(name);
  DSA_CHECK(found != tensors_.end(), where(), ": no tensor '", name, "' (the file holds ", names_.size(),
            " tensors)");
  return found->second;
}

// ---- files ----------------------------------------------------------------------------------

std::string serialize_safetensors(const SafeTensorsFile& file) {
  const auto order = layout_order(file);
  std::string bytes = header_bytes(file, order);
  for (const std::string* name : order) bytes += file.at(*name).bytes;
  return bytes;
}

void write_safetensors(const std::string& path, const SafeTensorsFile& file) {
  const auto order = layout_order(file);
  AtomicFileWriter writer(path);
  writer.write(header_bytes(file, order));
  for (const std::string* name : order) writer.write(file.at(*name).bytes);
  writer.commit();
}

SafeTensorsFile parse_safetensors(std::string_view bytes, const std::string& origin) {
  const uint64_t header_length = read_header_length(bytes, origin);
  const std::string_view header_text = bytes.substr(kLengthPrefixBytes, header_length);
  DSA_CHECK(header_text.front() == '{', origin, ": the header does not start with '{' (not a safetensors file?)");
  // JSON errors give the position within the header: add 8 for the position in the file.
  const json::Value header = json::parse(header_text, origin + " (JSON header)");
  const std::string_view buffer = bytes.substr(kLengthPrefixBytes + header_length);

  SafeTensorsFile file;
  file.origin = origin;
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.members(origin + ": header")) {
    if (key == kMetadataKey) {
      file.metadata = parse_metadata(value, origin);
    } else {
      entries.push_back(parse_entry(key, value, origin));
    }
  }
  check_layout(entries, buffer.size(), origin);
  for (TensorEntry& entry : entries) {
    entry.tensor.bytes.assign(buffer.substr(entry.begin, entry.end - entry.begin));
    file.add(std::move(entry.name), std::move(entry.tensor));
  }
  return file;
}

SafeTensorsFile read_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

}  // namespace dsa
