// The process group's exchanges, with ranks as threads of this process over loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "distributed/nccl_group.h"
#include "distributed/process_group.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::free_port;

LaunchEnvironment rank_of(int rank, int size, uint16_t port) {
  LaunchEnvironment e;
  e.launcher = "torchrun";
  e.rank = rank;
  e.world_size = size;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

TEST(ShareOf, SplitsContiguouslyWithTheLargerSharesFirst) {
  EXPECT_EQ(share_of(10, 0, 3), (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(share_of(10, 1, 3), (std::pair<int64_t, int64_t>{4, 7}));
  EXPECT_EQ(share_of(10, 2, 3), (std::pair<int64_t, int64_t>{7, 10}));
  EXPECT_EQ(share_of(2, 2, 3), (std::pair<int64_t, int64_t>{2, 2}));  // nothing left for rank 2
  EXPECT_EQ(share_of(0, 0, 1), (std::pair<int64_t, int64_t>{0, 0}));
}

TEST(ProcessGroup, AloneEveryExchangeLeavesTheTensor) {
  const ProcessGroup alone;
  torch::Tensor t = torch::arange(3);
  alone.broadcast(t, 0);
  alone.all_reduce_sum(t);
  alone.barrier();
  EXPECT_TRUE(torch::equal(t, torch::arange(3)));
}

#ifdef ADVTK_HAVE_GLOO
TEST(ProcessGroup, ThreeRanksBroadcastAndSumOverLoopback) {
  const uint16_t port = free_port();
  std::vector<std::future<std::vector<torch::Tensor>>> ranks;
  for (int r = 0; r < 3; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      const ProcessGroup g = ProcessGroup::join(rank_of(r, 3, port), std::chrono::seconds(20));
      torch::Tensor from_two = torch::full({4}, r == 2 ? 7.5 : 0.0);
      g.broadcast(from_two, 2);
      torch::Tensor flags = torch::tensor({r == 1, r != 1});
      g.broadcast(flags, 1);  // bools travel as bytes
      torch::Tensor sum = torch::full({2}, static_cast<int64_t>(r + 1));
      g.all_reduce_sum(sum);
      g.barrier();
      return std::vector<torch::Tensor>{from_two, flags, sum};
    }));
  }
  for (auto& f : ranks) {
    const auto got = f.get();
    EXPECT_TRUE(torch::equal(got[0], torch::full({4}, 7.5)));
    EXPECT_TRUE(torch::equal(got[1], torch::tensor({true, false})));
    EXPECT_TRUE(torch::equal(got[2], torch::full({2}, int64_t{6})));  // 1 + 2 + 3
  }
}

TEST(ProcessGroup, ARankThatNeverComesEndsTheOthersWithinTheTimeout) {
  const uint16_t port = free_port();
  const auto started = std::chrono::steady_clock::now();
  std::string message;
  try {
    ProcessGroup::join(rank_of(0, 2, port), std::chrono::seconds(2));
  } catch (const PeerFailure& e) {
    message = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_NE(message.find("did not all meet within 2 s"), std::string::npos) << message;
  EXPECT_LT(seconds, 15);
}

TEST(ProcessGroup, ARankThatHangsEndsTheOthersWithinTheTimeout) {
  const uint16_t port = free_port();
  std::promise<void> done;
  std::future<void> released = done.get_future();
  auto hung = std::async(std::launch::async, [&] {
    const ProcessGroup g = ProcessGroup::join(rank_of(1, 2, port), std::chrono::seconds(20));
    released.wait();  // never takes part in the broadcast
  });
  const ProcessGroup g = ProcessGroup::join(rank_of(0, 2, port), std::chrono::seconds(2));
  torch::Tensor t = torch::zeros({3});
  const auto started = std::chrono::steady_clock::now();
  std::string message;
  try {
    g.broadcast(t, 1);
  } catch (const PeerFailure& e) {
    message = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  done.set_value();
  hung.get();
  EXPECT_NE(message.find("rank 0: a broadcast with the other ranks failed"), std::string::npos)
      << message;
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 15);
}

TEST(ProcessGroup, TensorsTravelWithTheirNamesTypesAndShapes) {
  const uint16_t port = free_port();
  std::vector<std::future<std::map<std::string, torch::Tensor>>> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      const ProcessGroup g = ProcessGroup::join(rank_of(r, 2, port), std::chrono::seconds(20));
      std::map<std::string, torch::Tensor> t;
      if (r == 1)
        t = {{"a", torch::arange(6, torch::kFloat).reshape({2, 3})},
             {"b", torch::zeros({0, 4}, torch::kLong)},
             {"c", torch::tensor({true, false})},
             {"d", torch::tensor(2.5, torch::kDouble)}};
      g.broadcast_tensors(t, 1);
      return t;
    }));
  }
  for (auto& f : ranks) {
    const auto t = f.get();
    ASSERT_EQ(t.size(), 4u);
    EXPECT_TRUE(torch::equal(t.at("a"), torch::arange(6, torch::kFloat).reshape({2, 3})));
    EXPECT_EQ(t.at("b").sizes(), (std::vector<int64_t>{0, 4}));
    EXPECT_EQ(t.at("b").scalar_type(), torch::kLong);
    EXPECT_TRUE(torch::equal(t.at("c"), torch::tensor({true, false})));
    EXPECT_EQ(t.at("d").dim(), 0);
    EXPECT_EQ(t.at("d").item<double>(), 2.5);
  }
}

// Ranks 1 and 2 each send two maps to rank 0 alone, in order; rank 1 takes part in nothing else.
TEST(ProcessGroup, TensorsSentPointToPointArriveInOrderAtTheirRankAlone) {
  const uint16_t port = free_port();
  const auto sent = [](int from, int k) {
    return std::map<std::string, torch::Tensor>{
        {"rows", torch::arange(3, torch::kLong) + 10 * from + k},
        {"x_adv", torch::full({3, 2, 2}, 0.5 * from + k, torch::kBFloat16)},
        {"success", torch::tensor({from == 1, k == 1, false})},
        {"none", torch::zeros({0, 5})}};
  };
  std::vector<std::future<std::vector<std::map<std::string, torch::Tensor>>>> ranks;
  for (int r = 0; r < 3; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port, &sent] {
      const ProcessGroup g = ProcessGroup::join(rank_of(r, 3, port), std::chrono::seconds(20));
      std::vector<std::map<std::string, torch::Tensor>> got;
      if (r == 0)
        for (int from : {2, 1})
          for (int k = 0; k < 2; ++k) got.push_back(g.receive_tensors(from));
      else
        for (int k = 0; k < 2; ++k) g.send_tensors(sent(r, k), 0);
      return got;
    }));
  }
  const auto got = ranks[0].get();
  EXPECT_TRUE(ranks[1].get().empty());
  EXPECT_TRUE(ranks[2].get().empty());
  ASSERT_EQ(got.size(), 4u);
  for (size_t m = 0; m < got.size(); ++m) {
    const auto want = sent(m < 2 ? 2 : 1, static_cast<int>(m % 2));
    ASSERT_EQ(got[m].size(), want.size());
    for (const auto& [name, t] : want) {
      EXPECT_EQ(got[m].at(name).scalar_type(), t.scalar_type()) << name;
      EXPECT_TRUE(torch::equal(got[m].at(name), t)) << name << " of message " << m;
    }
  }
}

// A rank that never receives ends its sender within the timeout.
TEST(ProcessGroup, ASendNobodyReceivesEndsWithinTheTimeout) {
  const uint16_t port = free_port();
  std::promise<void> done;
  std::future<void> released = done.get_future();
  auto deaf = std::async(std::launch::async, [&] {
    const ProcessGroup g = ProcessGroup::join(rank_of(0, 2, port), std::chrono::seconds(20));
    released.wait();
  });
  const ProcessGroup g = ProcessGroup::join(rank_of(1, 2, port), std::chrono::seconds(2));
  std::string message;
  try {
    g.send_tensors({{"x", torch::zeros({4})}}, 0);
  } catch (const PeerFailure& e) {
    message = e.what();
  }
  done.set_value();
  deaf.get();
  EXPECT_NE(message.find("rank 1: a send with the other ranks failed"), std::string::npos)
      << message;
}

// A rank busy on its own work for twice the timeout is waited for: its heartbeat goes on.
TEST(ProcessGroup, APatientBarrierWaitsForABusyRankPastTheTimeout) {
  const uint16_t port = free_port();
  std::vector<std::future<double>> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      const ProcessGroup g = ProcessGroup::join(rank_of(r, 2, port), std::chrono::seconds(2));
      const auto started = std::chrono::steady_clock::now();
      if (r == 1) std::this_thread::sleep_for(std::chrono::seconds(4));
      g.patient_barrier();
      g.patient_barrier();  // a second round has keys of its own
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }));
  }
  for (auto& f : ranks) EXPECT_GE(f.get(), 3.9);
}

// A rank that leaves (its heartbeat stops) before it arrives ends the wait within the timeout.
TEST(ProcessGroup, APatientBarrierEndsWhenARankStopsBeating) {
  const uint16_t port = free_port();
  auto gone = std::async(std::launch::async, [port] {
    ProcessGroup::join(rank_of(1, 2, port), std::chrono::seconds(20));  // and leaves at once
  });
  const ProcessGroup g = ProcessGroup::join(rank_of(0, 2, port), std::chrono::seconds(2));
  gone.get();
  const auto started = std::chrono::steady_clock::now();
  std::string message;
  try {
    g.patient_barrier();
  } catch (const PeerFailure& e) {
    message = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_NE(message.find("rank 1 stopped beating for 2 s"), std::string::npos) << message;
  EXPECT_LT(seconds, 10);
}

// Two ranks on one GPU cannot use NCCL (it refuses them): on every build and machine they agree
// to copy CUDA tensors to the CPU for Gloo, and say why. CPU tensors always go as they are.
TEST(ProcessGroup, TwoRanksOnOneGpuAgreeToExchangeThroughTheCpu) {
  const uint16_t port = free_port();
  std::vector<std::future<std::pair<DeviceExchange, DeviceExchange>>> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      const ProcessGroup g = ProcessGroup::join(rank_of(r, 2, port), std::chrono::seconds(20));
      const DeviceExchange gpu = g.device_exchange(torch::Device(torch::kCUDA, 0));
      const DeviceExchange again = g.device_exchange(torch::Device(torch::kCUDA, 0));  // kept
      EXPECT_EQ(again.how, gpu.how);
      return std::make_pair(gpu, g.device_exchange(torch::kCPU));
    }));
  }
  const char* why = !nccl_built()                  ? "this advtk was built without NCCL"
                    : !torch::cuda::is_available() ? "rank 0 cannot use NCCL"
                                                   : "ranks 0 and 1 share one GPU";
  for (auto& f : ranks) {
    const auto [gpu, cpu] = f.get();
    EXPECT_FALSE(gpu.direct);
    EXPECT_NE(gpu.how.find(why), std::string::npos) << gpu.how;
    EXPECT_TRUE(cpu.direct);
  }
}

TEST(ProcessGroup, AnUnreachableStoreIsABadAddress) {
  const uint16_t port = free_port();
  const std::string message =
      test::error_of([&] { ProcessGroup::join(rank_of(1, 2, port), std::chrono::seconds(1)); });
  EXPECT_NE(message.find("cannot reach the store at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" +
                         std::to_string(port)),
            std::string::npos)
      << message;
}
#endif

}  // namespace
}  // namespace advtk
