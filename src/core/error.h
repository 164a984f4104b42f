// Errors: every failure is a dsa::Error whose message names what failed (file, key, op, tensor,
// shape) and what is allowed. The CLI prints it and exits non-zero; nothing else catches it.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace dsa {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class First, class... Rest>
void append(std::ostringstream& os, const First& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Joins its arguments with operator<< into one string.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

}  // namespace dsa

// DSA_CHECK(cond, "op rmsnorm: dim ", D, " must be > 0") throws dsa::Error with that message.
#define DSA_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::dsa::fail(__VA_ARGS__);   \
  } while (0)
