// The device chooser of the CUDA twin (cuda_backend.h): the GPU build when there is a GPU, the
// emulated build otherwise; DSA_CUDA_DEVICE=gpu|emulated forces one.
#include "cuda_backend.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace dsa::cuda {

namespace {

const TwinApi* hardware_twin() {
#ifdef DSA_WITH_CUDA_HARDWARE
  return &cuda_hw::twin_api();
#else
  return nullptr;
#endif
}

// DSA_CUDA_DEVICE: auto (or unset) = the GPU when there is one, else the emulated device; gpu =
// the GPU or an error (tools/gpu_check.sh sets it: a GPU check must not pass on the emulator);
// emulated = the emulated device even on a GPU machine.
std::string requested_device() {
  const char* value = std::getenv("DSA_CUDA_DEVICE");
  const std::string device = value == nullptr || *value == '\0' ? "auto" : value;
  DSA_CHECK(device == "auto" || device == "gpu" || device == "emulated", "DSA_CUDA_DEVICE='", device,
            "' (environment): allowed values are auto, gpu, emulated");
  return device;
}

const TwinApi& twin() {
  static const TwinApi* chosen = [] {
    const std::string device = requested_device();
    if (device == "emulated") return &cuda_emu::twin_api();
    const bool gpu = device_status().available;
    DSA_CHECK(gpu || device != "gpu", "DSA_CUDA_DEVICE=gpu: ", device_status().description);
    return gpu ? hardware_twin() : &cuda_emu::twin_api();
  }();
  return *chosen;
}

}  // namespace

DeviceStatus device_status() {
  static const DeviceStatus status = [] {
    const TwinApi* hardware = hardware_twin();
    if (hardware == nullptr)
      return DeviceStatus{false, "no GPU support in this build (built without nvcc: tools/build.sh cuda on a machine "
                                 "with the CUDA toolkit)"};
    return hardware->device_status();
  }();
  return status;
}

bool runs_emulated() { return &twin() != hardware_twin(); }

std::string description() {
  if (!runs_emulated()) return "GPU " + device_status().description;
  const std::string why =
      requested_device() == "emulated" ? "DSA_CUDA_DEVICE=emulated" : device_status().description;
  return "emulated device (cuda/emu: the CUDA kernels run as C++ on the CPU, for testing; " + why + ")";
}

const ops::Backend<float>& backend() { return twin().backend(); }
const ops::Backend<float>& profiled_backend() { return twin().profiled_backend(); }
void set_tf32(bool enabled) { twin().set_tf32(enabled); }
size_t allocated_bytes() { return twin().allocated_bytes(); }

Ceilings measure_ceilings() {
  DSA_CHECK(!runs_emulated(), "the GPU's ceilings: speed is not emulated (", description(), ")");
  return twin().measure_ceilings();
}

const Workspaces& workspaces() { return twin().workspaces; }

}  // namespace dsa::cuda
