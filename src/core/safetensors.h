// safetensors reader and writer (the Hugging Face format; docs/formats.md describes what we write).
//
//   [8 bytes]  N, unsigned little-endian: length of the JSON header
//   [N bytes]  JSON: {"__metadata__": {"format": "pt"}, "<name>": {"dtype": "F32", "shape": [2, 3],
//              "data_offsets": [begin, end]}, ...}, padded with spaces so that 8 + N is a multiple of 8
//   [rest]     data buffer; offsets are relative to its start
//
// The reader validates everything the reference implementation does: header length within the
// file, a JSON object header, known dtypes, non-negative shapes, each tensor's byte count equal to
// numel × element size, and the tensors' byte ranges contiguous, non-overlapping and covering the
// buffer exactly. Every error names the file, and the tensor where one is involved.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace dsa {

struct SafeTensor {
  std::string dtype;  // "F32", "F64", "BF16", "F16", "I64", "I32", "I16", "I8", "U8", "BOOL", ...
  Shape shape;        // row-major; empty = a scalar (one element)
  std::string bytes;  // little-endian element data: numel(shape) × element size bytes
};

// Bytes per element of a safetensors dtype; throws listing the supported dtypes when unknown.
// Supported: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U64 U32 U16 U8 BOOL.
size_t safetensors_dtype_size(std::string_view dtype);
// "<file>: tensor '<name>'", how every error about one tensor starts.
std::string safetensors_tensor_where(const std::string& file, const std::string& name);

class SafeTensorsFile {
 public:
  std::map<std::string, std::string> metadata;  // "__metadata__": string -> string
  std::string origin;  // the file it was read from, named in errors ("" when built in memory)

  // Adds a tensor; throws when the name is taken, "__metadata__", or the byte count does not
  // match shape and dtype.
  void add(std::string name, SafeTensor tensor);
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws "<origin>: no tensor 'name' (the file holds N tensors)".
  const SafeTensor& at(const std::string& name) const;
  // Insertion order; for a file that was read, the order of the tensors' data in the file.
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  // The origin for messages: the path, or "safetensors (in memory)".
  std::string where() const;

 private:
  std::map<std::string, SafeTensor> tensors_;
  std::vector<std::string> names_;
};

// The whole file's bytes. Data is laid out in insertion order, stably sorted by element size
// (largest first) so that every tensor starts aligned to its element size (the header is padded
// to 8): for a single-dtype file that is exactly insertion order.
std::string serialize_safetensors(const SafeTensorsFile& file);
// Atomic write (temporary file, fsync, rename); throws naming `path`.
void write_safetensors(const std::string& path, const SafeTensorsFile& file);

// Parses and validates a whole file held in memory; `origin` names it in errors.
SafeTensorsFile parse_safetensors(std::string_view bytes, const std::string& origin);
SafeTensorsFile read_safetensors(const std::string& path);

// ---- building tensors from arrays (exact dtype: float F32, double F64, int32 I32, int64 I64,
// uint8 U8); throws when values.size() != numel(shape).
SafeTensor to_safetensor(const Shape& shape, std::span<const float> values);
SafeTensor to_safetensor(const Shape& shape, std::span<const double> values);
SafeTensor to_safetensor(const Shape& shape, std::span<const int32_t> values);
SafeTensor to_safetensor(const Shape& shape, std::span<const int64_t> values);
SafeTensor to_safetensor(const Shape& shape, std::span<const uint8_t> values);
// Floats stored as `dtype`: F32, F64, BF16 or F16 (rounded to nearest even; F16 overflow -> inf).
SafeTensor to_safetensor(const Shape& shape, std::span<const float> values, std::string_view dtype);

// ---- reading tensors back, checking dtype and shape: errors read
// "<file>: tensor 'name': dtype F16, expected F32" / "... shape [2, 3], expected [3, 2]".
// T: float (F32), double (F64), int32_t (I32), int64_t (I64), uint8_t (U8).
template <class T>
std::vector<T> tensor_values(const SafeTensorsFile& file, const std::string& name, const Shape& expected_shape);
// Any floating dtype (F32, F64, BF16, F16) converted to float.
std::vector<float> tensor_values_as_float(const SafeTensorsFile& file, const std::string& name,
                                          const Shape& expected_shape);

// Conversions used above (exposed for tests and for the model's low-precision paths).
uint16_t float_to_bf16(float value);  // round to nearest even; NaN stays NaN
float bf16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);  // IEEE binary16, round to nearest even, subnormals kept
float f16_to_float(uint16_t bits);

}  // namespace dsa
