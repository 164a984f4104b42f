// The emulated runtime's error state (status.h).
#include "status.h"

namespace dsa::emu {

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local cudaError_t t_detail_code = cudaSuccess;
thread_local std::string t_detail;
thread_local std::string t_string;  // what error_string returned last (kept alive for the caller)

struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;  // cudaGetErrorString of CUDA 13
};
#define DSA_EMU_ERROR_TEXT(name, value, text) {name, #name, text},
constexpr ErrorText kErrorTexts[] = {DSA_EMU_CUDA_ERRORS(DSA_EMU_ERROR_TEXT)};
#undef DSA_EMU_ERROR_TEXT

const ErrorText* find_text(cudaError_t code) {
  for (const ErrorText& e : kErrorTexts)
    if (e.code == code) return &e;
  return nullptr;
}

const char* plain_string(cudaError_t code) {
  const ErrorText* e = find_text(code);
  return e != nullptr ? e->text : "unrecognized error code";
}

}  // namespace

cudaError_t record_error(cudaError_t code, std::string detail) {
  t_last_error = code;
  t_detail_code = code;
  t_detail = std::move(detail);
  return code;
}

cudaError_t take_last_error() {
  const cudaError_t code = t_last_error;
  t_last_error = cudaSuccess;
  return code;
}

cudaError_t peek_last_error() { return t_last_error; }

const std::string& last_error_detail() { return t_detail; }

const char* error_name(cudaError_t code) {
  const ErrorText* e = find_text(code);
  return e != nullptr ? e->name : "cudaErrorUnrecognized";
}

const char* error_string(cudaError_t code) {
  if (code != cudaSuccess && code == t_detail_code && !t_detail.empty()) {
    t_string = std::string(plain_string(code)) + " [emulated device: " + t_detail + "]";
    return t_string.c_str();
  }
  return plain_string(code);
}

}  // namespace dsa::emu
