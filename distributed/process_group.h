// The processes of one run, joined through PyTorch's own collective library: c10d's TCPStore for
// the meeting, its Gloo process group for the exchanges (Li et al. 2020, "PyTorch Distributed:
// Experiences on Accelerating Data Parallel Training"), and NCCL beside it for CUDA tensors where
// every rank has a GPU of its own (distributed/nccl_group.h). One process alone is a group of one
// whose exchanges do nothing, so callers need no second code path.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/torch.h"
#include "distributed/launch_environment.h"

namespace advtk {

// How the ranks exchange tensors that lie on one device type (ProcessGroup::device_exchange).
struct DeviceExchange {
  bool direct = false;  // as they lie (Gloo on the CPU, NCCL on GPUs); else copied to the CPU
  std::string how;      // for the log: which, and why not NCCL
};

// A peer died or hung during an exchange (or did not come within the timeout): the run cannot go
// on. The CLI prints it as one line and exits 1; resumable commands can be started again.
class PeerFailure : public std::runtime_error {
 public:
  explicit PeerFailure(const std::string& message) : std::runtime_error(message) {}
};

class ProcessGroup {
 public:
  ProcessGroup() = default;  // one process alone

  // Meets the other ranks at env's store (hosted by rank 0, or by torchrun's agent) and builds
  // the Gloo group; each rank waits at most `timeout` for the others, at the meeting and at every
  // exchange. An unreachable store is advtk::Error (exit 2): the address or port is wrong.
  static ProcessGroup join(const LaunchEnvironment& env, std::chrono::milliseconds timeout);

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool alone() const { return size_ == 1; }

  // `t` (same shape and type on every rank, CPU) becomes root's on every rank.
  void broadcast(torch::Tensor& t, int root) const;
  // `bytes` become root's on every rank (any length: the length goes first).
  void broadcast_bytes(std::vector<char>& bytes, int root) const;
  // `tensors` (CPU, any names, types and shapes) become root's on every rank: their names, types
  // and shapes first, then the tensors as they are.
  void broadcast_tensors(std::map<std::string, torch::Tensor>& tensors, int root) const;
  // Point to point: `tensors` (CPU, any names, types and shapes) go to rank `to` alone, which
  // receives them with receive_tensors(from). Messages between two ranks arrive in order.
  void send_tensors(const std::map<std::string, torch::Tensor>& tensors, int to) const;
  std::map<std::string, torch::Tensor> receive_tensors(int from) const;
  // `t` becomes the sum over the ranks, on every rank: on the CPU through Gloo, on a GPU through
  // NCCL once device_exchange has found it usable.
  void all_reduce_sum(torch::Tensor& t) const;
  // How the ranks exchange tensors on `device` (this rank's own; all of one type): on the CPU,
  // directly (Gloo); on GPUs directly (NCCL) when every rank has NCCL and a GPU of its own, else
  // not (the caller copies them to the CPU). A collective the first time a GPU is asked about:
  // every rank asks at the same point; later answers are kept.
  DeviceExchange device_exchange(torch::Device device) const;
  void barrier() const;
  // A barrier however long each rank's own work before it takes (a whole-model audit stage on
  // one rank): every rank's heartbeat goes through the store once a second, and a rank silent
  // for min(timeout, 60 s) has died or frozen (PeerFailure).
  void patient_barrier() const;

  struct Backend;

 private:
  std::shared_ptr<Backend> backend_;
  int rank_ = 0;
  int size_ = 1;
};

// `group`, or a group of one when null: code that runs either way calls its exchanges alike.
const ProcessGroup& group_or_alone(const ProcessGroup* group);

// The timeout for joining and every exchange: ADVTK_DIST_TIMEOUT_S seconds, or 30 minutes (as
// torch.distributed's default) when unset.
std::chrono::milliseconds distributed_timeout(const EnvironmentLookup& env = process_environment);

// Rows [begin, end) of `count` that rank `rank` of `size` takes: contiguous, sizes differing by
// at most one, the larger shares first.
std::pair<int64_t, int64_t> share_of(int64_t count, int rank, int size);

}  // namespace advtk
