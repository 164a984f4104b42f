// JSON parser/writer and safetensors reader/writer: round trips, every validation error (each must
// name the file and what is wrong), atomic writes, and an independent check with the numpy reader
// in tools/read_safetensors.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "test_util.h"

namespace dsa {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.


using test::error_of;
using test::TempDir;

// ---- JSON -----------------------------------------------------------------------------------

TEST(Json, ParseDumpRoundTripKeepsOrderAndNumbers) {
  const std::string compact =
      R"({"z":1,"a":[true,false,null,-0.5,1e-05,9007199254740993,"t\"\\\n\u0001"],"m":{"k":{}},"e":[]})";
  const json::Value value = json::parse(compact, "doc");
  EXPECT_EQ(json::dump(value), compact);  // same key order, same number spellings
  EXPECT_EQ(value.members()[0].first, "z");
  EXPECT_EQ(value.at("a").items()[5].as_int(), 9007199254740993LL);  // beyond 2^53: exact via text
  EXPECT_EQ(value.at("a").items()[6].as_string(), "t\"\\\n\x01");
  const std::string pretty = json::dump(value, 2);
  EXPECT_HAS(pretty, "\n  \"a\": [\n    true,");
  EXPECT_EQ(json::parse(pretty, "pretty"), value);
}

TEST(Json, BuildsValuesAndFormatsNumbers) {
  json::Value config;
  config["hidden_size"] = 64;
  config["rms_norm_eps"] = 1e-5;
  config["lr"] = 0.1f;  // shortest text for a float, not 0.10000000149011612
  config["name"] = "tiny";
  config["tie"] = true;
  config["dims"].push_back(int64_t{3});
  config["dims"].push_back(2.5);
  config["hidden_size"] = 128;  // replaces in place
  EXPECT_EQ(json::dump(config),
            R"({"hidden_size":128,"rms_norm_eps":1e-05,"lr":0.1,"name":"tiny","tie":true,"dims":[3,2.5]})");
  EXPECT_EQ(config.at("lr").as_number(), 0.1);
  EXPECT_EQ(json::dump(json::Value(uint64_t{18446744073709551615ull})), "18446744073709551615");
  EXPECT_EQ(json::dump(json::Value(-3)), "-3");
  EXPECT_EQ(json::dump(json::Value(size_t{7})), "7");
  EXPECT_EQ(json::format_number(3.0), "3");
  EXPECT_EQ(json::format_number(0.1), "0.1");
  EXPECT_EQ(json::format_number(std::nan("")), "NaN");
  EXPECT_EQ(json::format_number(-INFINITY), "-Infinity");
  const json::Value special = json::parse("[NaN, Infinity, -Infinity, 1e999]", "special");
  EXPECT_TRUE(std::isnan(special.items()[0].as_number()));
  EXPECT_EQ(special.items()[2].as_number(), -INFINITY);
  EXPECT_EQ(special.items()[3].as_number(), INFINITY);
  EXPECT_EQ(json::parse("1e3", "x").as_int(), 1000);
  EXPECT_EQ(json::parse("-7", "x").as_int(), -7);
}

TEST(Json, DecodesUnicodeEscapes) {
  const json::Value text = json::parse(R"("caf\u00e9 \ud83d\ude00 \u20ac")", "utf");
  EXPECT_EQ(text.as_string(), "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
  EXPECT_EQ(json::parse(json::dump(text), "again"), text);  // UTF-8 passes through the writer
}

TEST(Json, ParseErrorsNameOriginLineColumnAndProblem) {
  EXPECT_EQ(error_of([] { json::parse("{\n  \"a\": 1,\n  \"b\" 2\n}", "config.json"); }),
            "config.json:3:7 (byte 18): expected ':' after an object key, found '2'");
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected a JSON value, found end of input"},
      {R"({"a":1,})", "expected a string key"},
      {"[1 2]", "expected ',' or ']' after an array item"},
      {R"({"a":1 "b":2})", "expected ',' or '}' after an object member"},
      {R"("abc)", "unterminated string"},
      {R"({"a":1} x)", "unexpected text after the JSON value"},
      {R"({"a":1,"a":2})", "duplicate key 'a'"},
      {"tru", "expected a JSON value"},
      {"1.", "expected a digit after '.'"},
      {"-", "expected a digit in a number"},
      {"1e+", "expected a digit in the exponent"},
      {R"("\x")", "invalid escape"},
      {R"("\u12")", "expected 4 hex digits"},
      {R"("\udc00")", "unpaired low surrogate"},
      {"\"a\nb\"", "control character in a string"},
      {"007", "unexpected text after the JSON value"},
  };
  for (const auto& [text, problem] : cases) {
    const std::string message = error_of([&] { json::parse(text, "doc.json"); });
    EXPECT_HAS(message, "doc.json:1:");
    EXPECT_HAS(message, problem);
  }
  EXPECT_HAS(error_of([] { json::parse(std::string(300, '[') + std::string(300, ']'), "deep"); }),
             "nesting deeper than");
}

TEST(Json, TypedAccessErrorsNameWhere) {
  const json::Value config = json::parse(R"({"n": "x", "f": 2.5})", "config.json");
  EXPECT_EQ(error_of([&] { config.at("missing", "config.json"); }), "config.json: missing key 'missing'");
  EXPECT_EQ(error_of([&] { config.at("n").as_int("config.json: n"); }),
            "config.json: n: expected an integer, found a string");
  EXPECT_EQ(error_of([&] { config.at("f").as_int("config.json: f"); }),
            "config.json: f: expected an integer, found 2.5");
  EXPECT_EQ(error_of([&] { config.items("config.json"); }), "config.json: expected an array, found an object");
  EXPECT_EQ(config.find("absent"), nullptr);
}

// ---- safetensors: round trips ---------------------------------------------------------------

SafeTensorsFile sample_file() {
  SafeTensorsFile file;
  file.metadata = {{"format", "pt"}, {"note", "round trip"}};
  const std::vector<float> floats = {1.5f, -2.25f, 3.0f, 0.0f, 1e-8f, -7.0f};
  const std::vector<double> doubles = {1.0 / 3.0, -1e30, 0.0, 2.5};
  const std::vector<int32_t> ints = {-1, 0, 2147483647};
  const std::vector<int64_t> longs = {-(int64_t{1} << 62), 42};
  const std::vector<uint8_t> bytes = {0, 1, 255, 7, 9};
  const std::vector<float> scalar = {42.0f};
  file.add("u8", to_safetensor({5}, std::span<const uint8_t>(bytes)));  // odd size first: layout reorders
  file.add("f32", to_safetensor({2, 3}, std::span<const float>(floats)));
  file.add("f64", to_safetensor({2, 2}, std::span<const double>(doubles)));
  file.add("i32", to_safetensor({3}, std::span<const int32_t>(ints)));
  file.add("i64", to_safetensor({2, 1}, std::span<const int64_t>(longs)));
  file.add("bf16", to_safetensor({3, 2}, floats, "BF16"));
  file.add("f16", to_safetensor({6}, floats, "F16"));
  file.add("scalar", to_safetensor({}, std::span<const float>(scalar)));
  file.add("empty", to_safetensor({0, 4}, std::span<const float>()));
  file.add("flags", SafeTensor{"BOOL", {2}, std::string("\x01\x00", 2)});
  file.add("i16", SafeTensor{"I16", {1}, std::string("\xff\x7f", 2)});
  return file;
}

TEST(SafeTensors, RoundTripsEveryDtypeScalarsEmptyTensorsAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  const SafeTensorsFile written = sample_file();
  write_safetensors(path, written);
  const SafeTensorsFile read = read_safetensors(path);
  EXPECT_EQ(read.origin, path);
  EXPECT_EQ(read.metadata, written.metadata);
  ASSERT_EQ(read.size(), written.size());
  for (const std::string& name : written.names()) {
    const SafeTensor& original = written.at(name);
    const SafeTensor& back = read.at(name);
    EXPECT_EQ(back.dtype, original.dtype) << name;
    EXPECT_EQ(back.shape, original.shape) << name;
    EXPECT_EQ(back.bytes, original.bytes) << name;
  }
  EXPECT_EQ(tensor_values<float>(read, "f32", {2, 3}), (std::vector<float>{1.5f, -2.25f, 3.0f, 0.0f, 1e-8f, -7.0f}));
  EXPECT_EQ(tensor_values<double>(read, "f64", {2, 2})[0], 1.0 / 3.0);
  EXPECT_EQ(tensor_values<int32_t>(read, "i32", {3})[2], 2147483647);
  EXPECT_EQ(tensor_values<int64_t>(read, "i64", {2, 1})[0], -(int64_t{1} << 62));
  EXPECT_EQ(tensor_values<uint8_t>(read, "u8", {5})[2], 255);
  EXPECT_EQ(tensor_values<float>(read, "scalar", {}), std::vector<float>{42.0f});
  EXPECT_TRUE(tensor_values<float>(read, "empty", {0, 4}).empty());
  // Low-precision floats widen back to what rounding kept.
  const std::vector<float> bf16 = tensor_values_as_float(read, "bf16", {3, 2});
  EXPECT_EQ(bf16[0], 1.5f);
  EXPECT_NEAR(bf16[4], 1e-8f, 1e-10f);
  EXPECT_EQ(tensor_values_as_float(read, "f16", {6})[1], -2.25f);
  EXPECT_EQ(tensor_values_as_float(read, "f64", {2, 2})[3], 2.5f);
}

TEST(SafeTensors, HeaderIsPaddedAndEveryTensorAligned) {
  const std::string bytes = serialize_safetensors(sample_file());
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  const std::string header_text = bytes.substr(8, header_length);
  EXPECT_LT(header_length - (header_text.find_last_not_of(' ') + 1), 8u);  // at most 7 pad spaces
  const json::Value header = json::parse(header_text, "header");
  EXPECT_EQ(header.members()[0].first, "__metadata__");  // metadata first, as the reference writes
  for (const auto& [name, entry] : header.members()) {
    if (name == "__metadata__") continue;
    const int64_t begin = entry.at("data_offsets").items()[0].as_int();
    EXPECT_EQ(begin % static_cast<int64_t>(safetensors_dtype_size(entry.at("dtype").as_string())), 0) << name;
  }
}

TEST(SafeTensors, SingleDtypeFileKeepsInsertionOrder) {
  SafeTensorsFile file;
  const std::vector<float> values = {1, 2};
  for (const char* name : {"model.layers.1.w", "model.embed_tokens.weight", "lm_head.weight"})
    file.add(name, to_safetensor({2}, std::span<const float>(values)));
  const SafeTensorsFile back = parse_safetensors(serialize_safetensors(file), "order.safetensors");
  EXPECT_EQ(back.names(), file.names());
  EXPECT_TRUE(back.metadata.empty());
}

TEST(SafeTensors, LowPrecisionConversionsRoundToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);  // rounds to infinity
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -24)), 0x0001);      // smallest subnormal
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);      // tie -> even (zero)
  EXPECT_EQ(float_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -14) * (1 - 1.0f / 2048)), 0x0400);  // rounds up to normal
  // Every finite half and bf16 survives a trip through float.
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint16_t code = static_cast<uint16_t>(bits);
    const float half = f16_to_float(code);
    if (!std::isnan(half)) {
      ASSERT_EQ(float_to_f16(half), code) << bits;
    }
    const float brain = bf16_to_float(code);
    if (!std::isnan(brain)) {
      ASSERT_EQ(float_to_bf16(brain), code) << bits;
    }
  }
}

// ---- safetensors: errors --------------------------------------------------------------------

TEST(SafeTensors, ValueReadsCheckDtypeShapeAndName) {
  SafeTensorsFile file = parse_safetensors(serialize_safetensors(sample_file()), "w.safetensors");
  EXPECT_EQ(error_of([&] { tensor_values<double>(file, "f32", {2, 3}); }),
            "w.safetensors: tensor 'f32': dtype F32, expected F64");
  EXPECT_EQ(error_of([&] { tensor_values<float>(file, "f32", {3, 2}); }),
            "w.safetensors: tensor 'f32': shape [2, 3], expected [3, 2]");
  EXPECT_EQ(error_of([&] { tensor_values_as_float(file, "i32", {3}); }),
            "w.safetensors: tensor 'i32': dtype I32, expected a float dtype (F32 F64 BF16 F16)");
  EXPECT_HAS(error_of([&] { file.at("nope"); }), "w.safetensors: no tensor 'nope'");
  const std::vector<float> two = {1, 2};
  EXPECT_HAS(error_of([&] { file.add("f32", to_safetensor({2}, std::span<const float>(two))); }),
             "tensor 'f32': added twice");
  EXPECT_HAS(error_of([&] { to_safetensor({3}, std::span<const float>(two)); }), "2 values for shape [3]");
  EXPECT_HAS(error_of([&] { file.add("bad", SafeTensor{"F32", {3}, std::string(8, '\0')}); }),
             "tensor 'bad': 8 bytes but F32 [3] needs 12");
  EXPECT_HAS(error_of([&] { file.add("odd", SafeTensor{"F31", {1}, ""}); }), "unknown dtype 'F31'");
}

// The bytes of a file with this header text (unpadded) and data buffer.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  return bytes + header + data;
}

std::string parse_error(const std::string& bytes) {
  return error_of([&] { parse_safetensors(bytes, "bad.safetensors"); });
}

TEST(SafeTensors, RejectsBadHeaderLengths) {
  EXPECT_HAS(parse_error("abc"), "bad.safetensors: too short for a safetensors file (3 bytes");
  std::string beyond = raw_file("{}", "");
  beyond[0] = 100;
  EXPECT_HAS(parse_error(beyond), "bad.safetensors: header length 100 exceeds the file (2 bytes");
  std::string huge = raw_file("{}", "");
  huge[5] = 1;  // 2^40
  EXPECT_HAS(parse_error(huge), "bad.safetensors: header length 1099511627778 exceeds the 100 MB limit");
  EXPECT_HAS(parse_error(raw_file("[1]", "")), "bad.safetensors: the header does not start with '{'");
  EXPECT_HAS(parse_error(raw_file(R"({"a": )", "")), "bad.safetensors (JSON header):1:7 (byte 6)");
}

TEST(SafeTensors, RejectsBadTensorEntries) {
  const std::string f32x3 = R"("dtype":"F32","shape":[3])";
  const std::pair<std::string, std::string> cases[] = {
      {R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", "tensor 'a': unknown dtype 'F33'"},
      {R"({"a":{)" + f32x3 + R"(,"data_offsets":[0,8]}})",
       "tensor 'a': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"},
      {R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "tensor 'a': negative extent in shape [-1]"},
      {R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "tensor 'a': shape extent: expected an integer"},
      {R"({"a":{)" + f32x3 + R"(,"data_offsets":[0]}})", "tensor 'a': data_offsets must be [begin, end]"},
      {R"({"a":{)" + f32x3 + R"(,"data_offsets":[12,0]}})", "tensor 'a': invalid data_offsets [12, 0]"},
      {R"({"a":{)" + f32x3 + R"(}})", "tensor 'a': missing key 'data_offsets'"},
      {R"({"a":{)" + f32x3 + R"(,"data_offsets":[0,12],"extra":1}})", "tensor 'a': unknown key 'extra'"},
      {R"({"a":[1]})", "tensor 'a': expected an object, found an array"},
      {R"({"__metadata__":{"k":1}})", "__metadata__ value for 'k': expected a string, found a number"},
      {R"({"a":1,"a":2})", "duplicate key 'a'"},
  };
  for (const auto& [header, problem] : cases) {
    const std::string message = parse_error(raw_file(header, std::string(12, '\0')));
    EXPECT_HAS(message, "bad.safetensors");
    EXPECT_HAS(message, problem);
  }
}

TEST(SafeTensors, RejectsBadLayouts) {
  const auto entry = [](const char* name, int begin, int end) {
    return cat("\"", name, "\":{\"dtype\":\"U8\",\"shape\":[", end - begin, "],\"data_offsets\":[", begin, ",", end, "]}");
  };
  const auto header = [](const std::string& a, const std::string& b) { return "{" + a + "," + b + "}"; };
  EXPECT_HAS(parse_error(raw_file(header(entry("a", 0, 4), entry("b", 4, 12)), std::string(10, 'x'))),
             "bad.safetensors: tensor 'b': data_offsets [4, 12] out of range: the data buffer holds 10 bytes");
  EXPECT_HAS(parse_error(raw_file(header(entry("a", 0, 6), entry("b", 4, 10)), std::string(10, 'x'))),
             "bad.safetensors: tensor 'b': data_offsets [4, 10] overlap tensor 'a' (which ends at 6)");
  EXPECT_HAS(parse_error(raw_file(header(entry("a", 0, 4), entry("b", 6, 10)), std::string(10, 'x'))),
             "bad.safetensors: tensor 'b': data_offsets [6, 10] leave a gap of 2 bytes after tensor 'a'");
  EXPECT_HAS(parse_error(raw_file(header(entry("a", 2, 4), entry("b", 4, 10)), std::string(10, 'x'))),
             "leave a gap of 2 bytes after the start of the buffer");
  EXPECT_HAS(parse_error(raw_file(header(entry("a", 0, 4), entry("b", 4, 10)), std::string(12, 'x'))),
             "bad.safetensors: the tensors cover 10 bytes but the data buffer holds 12 (trailing bytes");
  // Out of order in the header, contiguous in the buffer: fine.
  const SafeTensorsFile swapped =
      parse_safetensors(raw_file(header(entry("b", 4, 10), entry("a", 0, 4)), std::string(10, 'x')), "ok");
  EXPECT_EQ(swapped.names(), (std::vector<std::string>{"a", "b"}));
}

TEST(SafeTensors, TruncatedFileNamesFileAndTensor) {
  TempDir dir;
  const std::string path = dir.file("cut.safetensors");
  const std::string bytes = serialize_safetensors(sample_file());
  write_file_atomic(path, std::string_view(bytes).substr(0, bytes.size() - 3));
  const std::string message = error_of([&] { read_safetensors(path); });
  EXPECT_HAS(message, path + ": tensor '");
  EXPECT_HAS(message, "out of range");
  write_file_atomic(path, std::string_view(bytes).substr(0, 40));  // inside the header
  EXPECT_HAS(error_of([&] { read_safetensors(path); }), path + ": header length");
  EXPECT_HAS(error_of([&] { read_safetensors(dir.file("missing.safetensors")); }),
             dir.file("missing.safetensors") + ": cannot open");
}

TEST(SafeTensors, FailedWriteLeavesExistingFileIntact) {
  TempDir dir;
  const std::string good = dir.file("model.safetensors");
  write_safetensors(good, sample_file());
  const std::string missing_dir = dir.file("no/such/dir/model.safetensors");
  EXPECT_HAS(error_of([&] { write_safetensors(missing_dir, sample_file()); }), missing_dir + ": cannot write");
  // A target that cannot be replaced (a non-empty directory): the rename fails, nothing is left over.
  const std::string blocked = dir.file("blocked.safetensors");
  fs::create_directories(fs::path(blocked) / "child");
  EXPECT_HAS(error_of([&] { write_safetensors(blocked, sample_file()); }), blocked + ": cannot finish write");
  EXPECT_EQ(read_safetensors(good).size(), sample_file().size());
  for (const auto& entry : fs::directory_iterator(dir.file("")))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(SafeTensors, ReadsGoldenFixturesWrittenByPython) {
  const std::string path = std::string(DSA_SOURCE_DIR) + "/tests/golden/dense_untied.safetensors";
  if (!file_exists(path)) GTEST_SKIP() << path << " not present";
  const SafeTensorsFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata.at("generator"), "tools/make_golden.py");
  EXPECT_GT(file.size(), 0u);
  // Re-serializing in the file's own data order reproduces the data buffer byte for byte.
  const std::string original = read_file(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, original.data(), 8);
  std::string data;
  for (const std::string& name : file.names()) data += file.at(name).bytes;
  EXPECT_EQ(data, original.substr(8 + header_length));
}

// ---- the independent numpy reader -----------------------------------------------------------

bool debian_numpy_present() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::string run_command(const std::string& command, int* status) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, count);
  *status = ::pclose(pipe);
  return output;
}

double l2_norm(const std::vector<float>& values) {
  double sum = 0;
  for (float value : values) sum += static_cast<double>(value) * value;
  return std::sqrt(sum);
}

TEST(SafeTensors, NumpyReaderAgreesWithOurWriter) {
  if (!debian_numpy_present()) GTEST_SKIP() << "/usr/bin/python3 cannot import numpy (apt-get install -y python3-numpy)";
  TempDir dir;
  const std::string path = dir.file("export.safetensors");
  const SafeTensorsFile file = sample_file();
  write_safetensors(path, file);
  int status = -1;
  const std::string output =
      run_command("/usr/bin/python3 " + std::string(DSA_SOURCE_DIR) + "/tools/read_safetensors.py " + path + " 2>&1", &status);
  ASSERT_EQ(status, 0) << output;
  EXPECT_HAS(output, "metadata format = pt");
  EXPECT_HAS(output, cat("# ", path, ": ", file.size(), " tensors"));
  std::istringstream lines(output);
  std::map<std::string, std::string> line_of;
  for (std::string line; std::getline(lines, line);) line_of[line.substr(0, line.find(' '))] = line;
  for (const std::string& name : file.names()) {
    ASSERT_TRUE(line_of.count(name)) << name << " missing from:\n" << output;
    const SafeTensor& tensor = file.at(name);
    EXPECT_HAS(line_of[name], cat(name, " ", tensor.dtype, " ", shape_str(tensor.shape), " norm="));
  }
  // Norms computed independently agree with ours.
  const auto norm_in = [&](const std::string& name) {
    const std::string& line = line_of[name];
    return std::stod(line.substr(line.find("norm=") + 5));
  };
  for (const char* name : {"f32", "bf16", "f16", "f64", "scalar", "empty"}) {
    const double ours = l2_norm(tensor_values_as_float(file, name, file.at(name).shape));
    EXPECT_NEAR(norm_in(name), ours, 1e-6 * (1 + ours)) << name;
  }
  // As a module: load() gives arrays (BF16 widened to float32) and the metadata.
  const std::string module_output = run_command(
      "cd / && /usr/bin/python3 -c \"import sys; sys.path.insert(0, '" + std::string(DSA_SOURCE_DIR) +
          "/tools'); from read_safetensors import load; t, m = load('" + path +
          "'); print(t['f32'].shape, t['f32'].dtype, t['bf16'].dtype, t['scalar'].shape, m['format'])\" 2>&1",
      &status);
  ASSERT_EQ(status, 0) << module_output;
  EXPECT_EQ(module_output, "(2, 3) float32 float32 () pt\n");
  // And it rejects a truncated file, naming it.
  const std::string bytes = read_file(path);
  const std::string cut = dir.file("cut.safetensors");
  write_file_atomic(cut, std::string_view(bytes).substr(0, bytes.size() - 3));
  const std::string refusal =
      run_command("/usr/bin/python3 " + std::string(DSA_SOURCE_DIR) + "/tools/read_safetensors.py " + cut + " 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_HAS(refusal, cut + ": tensor '");
}

}  // namespace
}  // namespace dsa
