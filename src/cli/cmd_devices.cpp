// dsatrain devices: what each twin would run on here — the CPU, the GPU if there is one, and
// where the CUDA twin runs when asked for (the GPU, or the emulated device without one).
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "cpu/blas_info.h"
#include "cpu/cpu_ops.h"
#include "cuda_backend.h"

namespace dsa::cli {

static const CommandSpec kDevices{
    "devices",
    "Prints the devices of this machine as dsatrain sees them: the CPU twin's threads and BLAS,\n"
    "the GPU (train.device=auto uses it when there is one), and where the CUDA twin runs when\n"
    "asked for (train.device=cuda): the GPU, or the emulated device without one.",
    {}};

int run_devices(const Args& args) {
  const ParsedOptions options = parse_options(kDevices, args);
  if (options.help) return std::printf("%s", help_text(kDevices).c_str()), 0;
  const cuda::DeviceStatus gpu = cuda::device_status();
  std::printf("cpu: %d threads, BLAS %s (%s)\n", cpu::cpu_threads(), cpu::blas_library().c_str(),
              cpu::blas_threading().c_str());
  std::printf("gpu: %s\n", gpu.available ? gpu.description.c_str() : ("none (" + gpu.description + ")").c_str());
  std::printf("cuda twin: %s\n", cuda::description().c_str());
  return 0;
}

}  // namespace dsa::cli
