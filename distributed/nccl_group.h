// NCCL for the exchanges of CUDA tensors (a data-parallel training step's gradients), beside the
// Gloo group that carries everything else, as torch.distributed pairs "cuda:nccl" with
// "cpu:gloo" (Li et al. 2020). Built only against a CUDA LibTorch whose c10d has NCCL and with
// which this file builds (cmake/nccl.cmake compiles and links it once at configure time to find
// out: ADVTK_HAVE_NCCL); elsewhere CUDA tensors go through Gloo on the CPU, as before. NCCL needs
// one GPU per rank (it refuses two ranks on one device), so the ranks first agree on whether every
// one of them has NCCL and a GPU of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "core/torch.h"
#include "distributed/process_group.h"

namespace advtk {

// Whether this advtk was built with NCCL.
bool nccl_built();

// Sets what NCCL's group reads from the environment (blocking waits: NcclGroup::join); called
// before the run starts any thread.
void prepare_nccl_environment();

// This process's GPU `device` as one number, the same on every rank that uses that GPU: a digest
// of the machine's name and the GPU's PCI address (never 0). 0 when `device` is not a GPU, no GPU
// is there, this advtk has no NCCL, or the nccl.h it was built with is not its LibTorch's NCCL.
int64_t nccl_device_identity(torch::Device device);

// The choice every rank makes alike from the ranks' identities (rank r's at r): NCCL when every
// rank has one (non-zero) and no two are the same GPU.
DeviceExchange choose_device_exchange(const std::vector<int64_t>& identities);

// One rank's NCCL process group. Its keys go under the store it is given (a PrefixStore of the
// run's own); every rank constructs it at the same point of the run.
class NcclGroup {
 public:
  // A collective still unfinished after `timeout` throws from Work::wait (NCCL's blocking wait,
  // prepare_nccl_environment), instead of NCCL's watchdog ending the process without a word of
  // advtk's. The first collective also makes NCCL's communicator, which waits for every rank
  // with no timeout of PyTorch's: a rank that died just before it leaves the others waiting.
  static std::shared_ptr<NcclGroup> join(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                         int size, std::chrono::milliseconds timeout);
  ~NcclGroup();

  // Starts the sum of `t` (contiguous, on this rank's GPU) over the ranks, in place.
  c10::intrusive_ptr<c10d::Work> all_reduce_sum(torch::Tensor& t) const;

  struct Impl;

 private:
  explicit NcclGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace advtk
