// A kernel launch on the emulated device: the arguments are converted to the kernel's parameter
// types (as a <<<...>>> launch converts them), described for the engine's pointer checks, and the
// kernel body is handed to the engine, which calls it once per thread. cuda/platform.cuh's
// launch<Kernel>(shape, args...) comes here in the emulated build.
#pragma once
#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "engine.h"
#include "status.h"
#include "types.h"

namespace dsa::emu {

// The kernel's name as the compiler spells the template argument: "topk_kernel",
// "attention_forward_kernel<64>" (namespaces dropped), for every message about the launch.
template <auto Kernel>
constexpr std::string_view kernel_name() {
  constexpr std::string_view signature = __PRETTY_FUNCTION__;  // "... [with auto Kernel = ns::name<64>; ...]"
  constexpr std::string_view key = "Kernel = ";
  constexpr size_t start = signature.find(key) + key.size();
  constexpr size_t end = signature.find_first_of(";]", start);
  constexpr std::string_view full = signature.substr(start, end - start);
  constexpr size_t template_open = full.find('<');
  constexpr size_t last_scope = full.rfind("::", template_open);
  return last_scope == std::string_view::npos ? full : full.substr(last_scope + 2);
}

// The parameter's type, for messages ("float*", "int64_t").
template <class T>
constexpr std::string_view type_name() {
  constexpr std::string_view signature = __PRETTY_FUNCTION__;  // "... [with T = float*; ...]"
  constexpr std::string_view key = "T = ";
  constexpr size_t start = signature.find(key) + key.size();
  return signature.substr(start, signature.find_first_of(";]", start) - start);
}

namespace detail {

template <class... Params>
struct KernelCall {
  void (*kernel)(Params...);
  std::tuple<Params...>* params;
  static void run(const void* closure) {
    const auto* call = static_cast<const KernelCall*>(closure);
    std::apply(call->kernel, *call->params);  // each thread gets its own copy of every parameter
  }
};

template <class... Params, size_t... I>
void describe(KernelArgument (&out)[sizeof...(Params) + 1], const std::tuple<Params...>& params,
              std::index_sequence<I...>) {
  ((out[I] = KernelArgument{&std::get<I>(params), sizeof(Params), std::is_pointer_v<Params>, type_name<Params>()}),
   ...);
}

template <class... Params, class... Args>
void launch(std::string_view name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t dynamic_shared,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel launch passes one argument per parameter");
  std::tuple<Params...> params(std::forward<Args>(args)...);
  KernelArgument arguments[sizeof...(Params) + 1] = {};
  describe(arguments, params, std::index_sequence_for<Params...>{});
  KernelCall<Params...> call{kernel, &params};
  LaunchRequest request;
  request.kernel_name = name;
  request.kernel = reinterpret_cast<const void*>(kernel);
  request.grid = grid;
  request.block = block;
  request.dynamic_shared = dynamic_shared;
  request.stream = stream;
  request.arguments = arguments;
  request.argument_count = int(sizeof...(Params));
  request.run_thread = &KernelCall<Params...>::run;
  request.closure = &call;
  execute_launch(request);  // errors become the last error, as a failed <<<...>>> launch's do
}

}  // namespace detail

template <auto Kernel, class... Args>
void launch_kernel(dim3 grid, dim3 block, size_t dynamic_shared, cudaStream_t stream, Args&&... args) {
  detail::launch(kernel_name<Kernel>(), Kernel, grid, block, dynamic_shared, stream, std::forward<Args>(args)...);
}

}  // namespace dsa::emu
