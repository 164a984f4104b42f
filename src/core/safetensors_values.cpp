// Typed access to safetensors tensors (core/safetensors.h): building a tensor from values (exact
// dtypes, or floats stored as F64/BF16/F16), reading values back with their dtype and shape
// checked, and the bf16/f16 conversions. The file format itself is in safetensors.cpp.
#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/safetensors.h"

namespace dsa {

namespace {

// ---- element conversions --------------------------------------------------------------------

template <class T>
SafeTensor exact_tensor(const Shape& shape, std::span<const T> values, std::string_view dtype) {
  DSA_CHECK(static_cast<int64_t>(values.size()) == numel(shape), "to_safetensor: ", values.size(),
            " values for shape ", shape_str(shape), " (", numel(shape), " elements)");
  SafeTensor tensor{std::string(dtype), shape, std::string()};
  tensor.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size_bytes());
  return tensor;
}

template <class T>
struct ExactDtype;
template <> struct ExactDtype<float> { static constexpr std::string_view name = "F32"; };
template <> struct ExactDtype<double> { static constexpr std::string_view name = "F64"; };
template <> struct ExactDtype<int32_t> { static constexpr std::string_view name = "I32"; };
template <> struct ExactDtype<int64_t> { static constexpr std::string_view name = "I64"; };
template <> struct ExactDtype<uint8_t> { static constexpr std::string_view name = "U8"; };

const SafeTensor& checked_tensor(const SafeTensorsFile& file, const std::string& name, const Shape& expected_shape) {
  const SafeTensor& tensor = file.at(name);
  DSA_CHECK(tensor.shape == expected_shape, safetensors_tensor_where(file.where(), name), ": shape ",
            shape_str(tensor.shape), ", expected ", shape_str(expected_shape));
  return tensor;
}

template <class Storage, class Convert>
std::vector<float> convert_elements(const std::string& bytes, Convert convert) {
  std::vector<float> values(bytes.size() / sizeof(Storage));
  for (size_t i = 0; i < values.size(); ++i) {
    Storage stored;
    std::memcpy(&stored, bytes.data() + i * sizeof(Storage), sizeof(Storage));
    values[i] = convert(stored);
  }
  return values;
}

template <class Storage, class Convert>
std::string pack_elements(std::span<const float> values, Convert convert) {
  std::string bytes(values.size() * sizeof(Storage), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const Storage stored = convert(values[i]);
    std::memcpy(bytes.data() + i * sizeof(Storage), &stored, sizeof(Storage));
  }
  return bytes;
}

}  // namespace

// ---- typed helpers --------------------------------------------------------------------------

SafeTensor to_safetensor(const Shape& shape, std::span<const float> values) { return exact_tensor(shape, values, "F32"); }
SafeTensor to_safetensor(const Shape& shape, std::span<const double> values) { return exact_tensor(shape, values, "F64"); }
SafeTensor to_safetensor(const Shape& shape, std::span<const int32_t> values) { return exact_tensor(shape, values, "I32"); }
SafeTensor to_safetensor(const Shape& shape, std::span<const int64_t> values) { return exact_tensor(shape, values, "I64"); }
SafeTensor to_safetensor(const Shape& shape, std::span<const uint8_t> values) { return exact_tensor(shape, values, "U8"); }

SafeTensor to_safetensor(const Shape& shape, std::span<const float> values, std::string_view dtype) {
  if (dtype == "F32") return to_safetensor(shape, values);
  SafeTensor tensor = to_safetensor(shape, values);  // checks the element count
  if (dtype == "F64") {
    std::vector<double> widened(values.begin(), values.end());
    return to_safetensor(shape, std::span<const double>(widened));
  }
  if (dtype == "BF16") {
    tensor.bytes = pack_elements<uint16_t>(values, float_to_bf16);
  } else if (dtype == "F16") {
    tensor.bytes = pack_elements<uint16_t>(values, float_to_f16);
  } else {
    fail("to_safetensor: cannot store floats as '", dtype, "' (supported: F32 F64 BF16 F16)");
  }
  tensor.dtype = std::string(dtype);
  return tensor;
}

template <class T>
std::vector<T> tensor_values(const SafeTensorsFile& file, const std::string& name, const Shape& expected_shape) {
  const SafeTensor& tensor = checked_tensor(file, name, expected_shape);
  constexpr std::string_view expected_dtype = ExactDtype<T>::name;
  DSA_CHECK(tensor.dtype == expected_dtype, safetensors_tensor_where(file.where(), name), ": dtype ", tensor.dtype,
            ", expected ", expected_dtype);
  std::vector<T> values(tensor.bytes.size() / sizeof(T));
  std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
  return values;
}

template std::vector<float> tensor_values<float>(const SafeTensorsFile&, const std::string&, const Shape&);
template std::vector<double> tensor_values<double>(const SafeTensorsFile&, const std::string&, const Shape&);
template std::vector<int32_t> tensor_values<int32_t>(const SafeTensorsFile&, const std::string&, const Shape&);
template std::vector<int64_t> tensor_values<int64_t>(const SafeTensorsFile&, const std::string&, const Shape&);
template std::vector<uint8_t> tensor_values<uint8_t>(const SafeTensorsFile&, const std::string&, const Shape&);

std::vector<float> tensor_values_as_float(const SafeTensorsFile& file, const std::string& name,
                                          const Shape& expected_shape) {
  const SafeTensor& tensor = checked_tensor(file, name, expected_shape);
  if (tensor.dtype == "F32") return tensor_values<float>(file, name, expected_shape);
  if (tensor.dtype == "F64") return convert_elements<double>(tensor.bytes, [](double x) { return static_cast<float>(x); });
  if (tensor.dtype == "BF16") return convert_elements<uint16_t>(tensor.bytes, bf16_to_float);
  if (tensor.dtype == "F16") return convert_elements<uint16_t>(tensor.bytes, f16_to_float);
  fail(safetensors_tensor_where(file.where(), name), ": dtype ", tensor.dtype, ", expected a float dtype (F32 F64 BF16 F16)");
}

// ---- bf16 / f16 -----------------------------------------------------------------------------

uint16_t float_to_bf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);  // round half to even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float bf16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_f16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return sign | 0x7E00u | static_cast<uint16_t>((magnitude >> 13) & 0x3FFu);  // NaN
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to infinity
  if (magnitude >= 0x38800000u) {                        // normal in f16 (>= 2^-14)
    const uint32_t rebased = magnitude - 0x38000000u;   // exponent bias 127 -> 15
    uint32_t half = rebased >> 13;
    const uint32_t dropped = rebased & 0x1FFFu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;  // carries into the exponent
    return sign | static_cast<uint16_t>(half);
  }
  if (magnitude <= 0x33000000u) return sign;  // <= 2^-25 rounds (half to even) to zero
  // Subnormal: value = mantissa × 2^(exponent - 150); in units of 2^-24 that is mantissa >> shift.
  const uint32_t exponent = magnitude >> 23;
  const uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126 - exponent;
  uint32_t half = mantissa >> shift;
  const uint32_t dropped = mantissa & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float f16_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {  // zero or subnormal: mantissa × 2^-24
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-08f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace dsa
