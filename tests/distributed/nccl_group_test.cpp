// NCCL beside Gloo: the ranks' choice, and NCCL's sum on the GPUs where this advtk has NCCL and
// the machine a GPU (skipped elsewhere; two ranks need two GPUs, as NCCL refuses two on one).
#include <gtest/gtest.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <future>
#include <vector>

#include "distributed/nccl_group.h"
#include "distributed/process_group.h"
#include "test_util.h"

namespace advtk {
namespace {

TEST(ChooseDeviceExchange, NcclOnlyWhenEveryRankHasAGpuOfItsOwn) {
  const DeviceExchange three = choose_device_exchange({11, 12, 13});
  EXPECT_TRUE(three.direct);
  EXPECT_EQ(three.how, "by NCCL on the 3 ranks' GPUs");

  const DeviceExchange shared = choose_device_exchange({11, 12, 11});
  EXPECT_FALSE(shared.direct);
  EXPECT_NE(shared.how.find("copied to the CPU"), std::string::npos) << shared.how;
  EXPECT_NE(shared.how.find("ranks 0 and 2 share one GPU"), std::string::npos) << shared.how;

  const DeviceExchange missing = choose_device_exchange({11, 0, 13});
  EXPECT_FALSE(missing.direct);
  EXPECT_NE(missing.how.find(nccl_built() ? "rank 1 cannot use NCCL"
                                          : "this advtk was built without NCCL"),
            std::string::npos)
      << missing.how;
}

TEST(NcclDeviceIdentity, NoneForTheCpu) {
  EXPECT_EQ(nccl_device_identity(torch::kCPU), 0);
  if (!nccl_built() || !torch::cuda::is_available()) {
    EXPECT_EQ(nccl_device_identity(torch::Device(torch::kCUDA, 0)), 0);
    return;
  }
  const int64_t first = nccl_device_identity(torch::Device(torch::kCUDA, 0));
  EXPECT_NE(first, 0);
  EXPECT_EQ(nccl_device_identity(torch::Device(torch::kCUDA, 0)), first);
  if (torch::cuda::device_count() > 1)
    EXPECT_NE(nccl_device_identity(torch::Device(torch::kCUDA, 1)), first);
}

#ifdef ADVTK_HAVE_NCCL
// NCCL's group of one rank on the first GPU: every call of the NCCL path, on any GPU machine.
TEST(NcclGroupCuda, OneRankSumsInPlaceOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // 0 also when this nccl.h is not LibTorch's NCCL version: then NCCL must not be used at all.
  ASSERT_NE(nccl_device_identity(torch::Device(torch::kCUDA, 0)), 0);
  c10d::TCPStoreOptions o;
  o.port = test::free_port();
  o.isServer = true;
  o.waitWorkers = false;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  const auto group = NcclGroup::join(c10::make_intrusive<c10d::PrefixStore>("nccl", store), 0, 1,
                                     std::chrono::seconds(60));
  torch::Tensor t =
      torch::arange(6, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA));
  ASSERT_TRUE(group->all_reduce_sum(t)->wait(std::chrono::seconds(60)));
  EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(6, torch::kFloat)));
}

// Ranks on GPUs of their own agree on NCCL, and sum there (2 ranks, where 2 GPUs are).
TEST(NcclGroupCuda, RanksOnGpusOfTheirOwnSumThroughNccl) {
  if (!torch::cuda::is_available() || torch::cuda::device_count() < 2)
    GTEST_SKIP() << "needs 2 GPUs";
  const uint16_t port = test::free_port();
  std::vector<std::future<std::pair<DeviceExchange, torch::Tensor>>> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      LaunchEnvironment e;
      e.launcher = "torchrun";
      e.rank = r;
      e.world_size = 2;
      e.local_rank = r;
      e.master_addr = "127.0.0.1";
      e.master_port = port;
      const ProcessGroup g = ProcessGroup::join(e, std::chrono::seconds(60));
      const torch::Device gpu(torch::kCUDA, static_cast<c10::DeviceIndex>(r));
      const DeviceExchange how = g.device_exchange(gpu);
      torch::Tensor t =
          torch::full({4}, static_cast<float>(r + 1), torch::TensorOptions().device(gpu));
      if (how.direct) g.all_reduce_sum(t);
      return std::make_pair(how, t.cpu());
    }));
  }
  for (auto& f : ranks) {
    const auto [how, sum] = f.get();
    ASSERT_TRUE(how.direct) << how.how;
    EXPECT_TRUE(torch::equal(sum, torch::full({4}, 3.0f)));
  }
}
#endif

}  // namespace
}  // namespace advtk
