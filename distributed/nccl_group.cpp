#include "distributed/nccl_group.h"

#include <unistd.h>

#include <cstdlib>

#include "core/error.h"
#include "core/sha256.h"

#ifdef ADVTK_HAVE_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <ATen/cuda/CUDAContext.h>
#include <torch/csrc/cuda/nccl.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace advtk {

bool nccl_built() {
#ifdef ADVTK_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

#ifdef ADVTK_HAVE_NCCL
namespace {

// The first 60 bits of the text's SHA-256: the same in every process and on every machine
// (std::hash need not be), and never 0, which means "no NCCL here".
int64_t digest(const std::string& text) {
  const std::string hex = Sha256().update(text.data(), text.size()).hex();
  return std::stoll(hex.substr(0, 15), nullptr, 16) | 1;
}

// Whether the nccl.h compiled against is the NCCL version this LibTorch was built with (its
// major and minor): ProcessGroupNCCL's options embed NCCL's config struct, allocated here by an
// inline function with this header's size and filled by LibTorch with its own.
bool nccl_header_matches() {
  const uint64_t built = torch::cuda::nccl::version();  // major << 32 | minor << 16 | patch
  return (built >> 16) == ((static_cast<uint64_t>(NCCL_MAJOR) << 16) | NCCL_MINOR);
}

}  // namespace
#endif

void prepare_nccl_environment() {
#ifdef ADVTK_HAVE_NCCL
  // Read by ProcessGroupNCCL's constructor, under this name from PyTorch 2.2 (the old one is
  // deprecated there); a user's own setting wins. Set before any thread of the run starts, as
  // setenv beside a getenv on another thread is unsafe.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
#else
  setenv("NCCL_BLOCKING_WAIT", "1", 0);
#endif
#endif
}

int64_t nccl_device_identity(torch::Device device) {
#ifdef ADVTK_HAVE_NCCL
  if (!device.is_cuda() || !torch::cuda::is_available() || !nccl_header_matches()) return 0;
  const c10::DeviceIndex index =
      device.has_index() ? device.index() : static_cast<c10::DeviceIndex>(0);
  if (index >= static_cast<c10::DeviceIndex>(torch::cuda::device_count())) return 0;
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return digest(concat(host, "/", p->pciDomainID, ":", p->pciBusID, ":", p->pciDeviceID));
#else
  (void)device;
  return 0;
#endif
}

DeviceExchange choose_device_exchange(const std::vector<int64_t>& identities) {
  const char* staged = "by Gloo, copied to the CPU and back";
  for (size_t r = 0; r < identities.size(); ++r)
    if (identities[r] == 0)
      return {false, nccl_built()
                         ? concat(staged, ": rank ", r,
                                  " cannot use NCCL (no GPU, or advtk built with another NCCL "
                                  "version's nccl.h than its LibTorch's)")
                         : concat(staged, ": this advtk was built without NCCL")};
  for (size_t r = 0; r < identities.size(); ++r)
    for (size_t s = 0; s < r; ++s)
      if (identities[r] == identities[s])
        return {false, concat(staged, ": ranks ", s, " and ", r,
                              " share one GPU, and NCCL needs a GPU per rank")};
  return {true, concat("by NCCL on the ", identities.size(), " ranks' GPUs")};
}

#ifdef ADVTK_HAVE_NCCL
struct NcclGroup::Impl {
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  // Without it, PyTorch from 2.4 warns at exit that the group was never destroyed. From 2.6
  // shutdown() waits for every peer (a dead one: forever); abort() is bounded, and silences it.
  ~Impl() {
    try {
      if (!nccl) return;
#if TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 6
      nccl->shutdown();
#else
      nccl->abort();
#endif
    } catch (const std::exception&) {  // a peer already gone: nothing left to shut
    }
  }
#endif
};
#else
struct NcclGroup::Impl {};
#endif

NcclGroup::NcclGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NcclGroup::~NcclGroup() = default;

std::shared_ptr<NcclGroup> NcclGroup::join(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                           int size, std::chrono::milliseconds timeout) {
#ifdef ADVTK_HAVE_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto impl = std::make_unique<Impl>();
  impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
  return std::shared_ptr<NcclGroup>(new NcclGroup(std::move(impl)));
#else
  (void)store, (void)rank, (void)size, (void)timeout;
  throw std::logic_error("NcclGroup::join: this advtk was built without NCCL");
#endif
}

c10::intrusive_ptr<c10d::Work> NcclGroup::all_reduce_sum(torch::Tensor& t) const {
#ifdef ADVTK_HAVE_NCCL
  TORCH_INTERNAL_ASSERT(t.is_cuda() && t.is_contiguous());
  std::vector<torch::Tensor> ts{t};
  return impl_->nccl->allreduce(ts);  // its timeout is the group's (options->timeout)
#else
  (void)t;
  throw std::logic_error("NcclGroup::all_reduce_sum: this advtk was built without NCCL");
#endif
}

}  // namespace advtk
