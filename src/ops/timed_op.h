// Wraps an op in a profile::Scope named after it, for the profiled backend tables of both twins
// (`dsatrain bench --profile`). `Sync` runs before the scope opens and before it closes, so that
// on the GPU the scope measures the op's device time (cudaStreamSynchronize), not its launch.
#pragma once
#include <type_traits>

#include "core/profile.h"

namespace dsa::ops {

// NameFn: a captureless lambda returning the op's name (a type, so it can be a template argument).
template <auto Fn, class NameFn, void (*Sync)(), class FnType = decltype(Fn)>
struct TimedOp;

template <auto Fn, class NameFn, void (*Sync)(), class R, class... Args>
struct TimedOp<Fn, NameFn, Sync, R (*)(Args...)> {
  static R call(Args... args) {
    if (Sync != nullptr) Sync();
    const profile::Scope scope(NameFn{}());
    if constexpr (std::is_void_v<R>) {
      Fn(args...);
      if (Sync != nullptr) Sync();
    } else {
      R result = Fn(args...);
      if (Sync != nullptr) Sync();
      return result;
    }
  }
};

// The op itself, or its timed wrapper.
template <bool Profiled, auto Fn, void (*Sync)(), class NameFn>
constexpr auto table_entry(NameFn) {
  if constexpr (Profiled) return &TimedOp<Fn, NameFn, Sync>::call;
  else return Fn;
}

}  // namespace dsa::ops

// Inside a function template with a `bool Profiled` parameter.
#define DSA_TABLE_OP(name, fn, sync) \
  ::dsa::ops::table_entry<Profiled, fn, sync>([] { return #name; })
