// The trainer talks to other ranks only through this interface (docs/design.md §1). Backends: `local`
// (one rank, every collective is the identity) now; `mpi` (CPU ranks) and `nccl` (GPU ranks) plug
// in here later without touching the training loop.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace dsa::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend_name() const = 0;
  // In-place sum over ranks of n floats living in the training device's memory.
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  // In-place sum of host doubles (losses, counts) over ranks.
  virtual void allreduce_sum_host(double* data, int64_t n) = 0;
  virtual void barrier() = 0;
};

// "local" is the only backend in this build; other names are an error naming the allowed ones.
std::unique_ptr<Communicator> make_communicator(const std::string& backend);

}  // namespace dsa::dist
