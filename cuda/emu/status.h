// The runtime's error state on the emulated device: the last error (cudaGetLastError returns and
// clears it, cudaPeekAtLastError only returns it), the runtime's names and strings for each code,
// and the emulator's own account of what went wrong, which cudaGetErrorString appends for the
// error it belongs to. Unlike a real GPU's, no error is sticky: a test can plant a bug, see it
// reported, and go on.
#pragma once
#include <string>

#include "types.h"

namespace dsa::emu {

// Sets the last error to `code` with the emulator's explanation (may be empty); returns `code`.
cudaError_t record_error(cudaError_t code, std::string detail);
cudaError_t take_last_error();
cudaError_t peek_last_error();
// The explanation recorded with the most recent error (empty when none).
const std::string& last_error_detail();

const char* error_name(cudaError_t code);
// The runtime's string for `code`, followed by the emulator's explanation when `code` is the
// error most recently recorded.
const char* error_string(cudaError_t code);

}  // namespace dsa::emu
