// The launchers' variables, read and checked.
#include <gtest/gtest.h>

#include <map>

#include "distributed/launch_environment.h"
#include "test_util.h"

namespace advtk {
namespace {

EnvironmentLookup lookup(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(LaunchEnvironment, NoLauncherIsOneProcess) {
  const LaunchEnvironment e = read_launch_environment(lookup({}));
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.launcher, "");
}

TEST(LaunchEnvironment, ReadsTorchrunsVariablesAndItsAgentStorePrefix) {
  const LaunchEnvironment own = read_launch_environment(lookup({{"WORLD_SIZE", "4"},
                                                                {"RANK", "3"},
                                                                {"LOCAL_RANK", "1"},
                                                                {"MASTER_ADDR", "10.0.0.2"},
                                                                {"MASTER_PORT", "29500"}}));
  EXPECT_EQ(own.launcher, "torchrun");
  EXPECT_EQ(own.world_size, 4);
  EXPECT_EQ(own.rank, 3);
  EXPECT_EQ(own.local_rank, 1);
  EXPECT_EQ(own.master_addr, "10.0.0.2");
  EXPECT_EQ(own.master_port, 29500);
  EXPECT_FALSE(own.agent_store);
  EXPECT_EQ(own.store_prefix, "");
  const LaunchEnvironment agent =
      read_launch_environment(lookup({{"WORLD_SIZE", "2"},
                                      {"RANK", "0"},
                                      {"MASTER_ADDR", "127.0.0.1"},
                                      {"MASTER_PORT", "1234"},
                                      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                      {"TORCHELASTIC_RESTART_COUNT", "2"}}));
  EXPECT_TRUE(agent.agent_store);
  EXPECT_EQ(agent.store_prefix, "/worker/attempt_2");
  EXPECT_EQ(agent.local_rank, 0);  // LOCAL_RANK unset: the rank
}

TEST(LaunchEnvironment, ReadsOpenMpisVariables) {
  const LaunchEnvironment e = read_launch_environment(lookup({{"OMPI_COMM_WORLD_SIZE", "3"},
                                                              {"OMPI_COMM_WORLD_RANK", "2"},
                                                              {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                                                              {"MASTER_ADDR", "node0"},
                                                              {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(e.launcher, "mpirun");
  EXPECT_EQ(e.world_size, 3);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.local_rank, 0);
}

TEST(LaunchEnvironment, WrongVariablesAreNamedInOneLine) {
  const auto error = [](std::map<std::string, std::string> vars) {
    return test::error_of([&] { read_launch_environment(lookup(vars)); });
  };
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "1"}}),
            "WORLD_SIZE=2 but MASTER_ADDR is not set: the processes meet at "
            "MASTER_ADDR:MASTER_PORT");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}}),
            "WORLD_SIZE=2 but MASTER_PORT is not set: the processes meet at "
            "MASTER_ADDR:MASTER_PORT");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}),
            "RANK=2: expected less than WORLD_SIZE=2");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}}),
            "WORLD_SIZE=2 but RANK is not set: the launcher names each process's rank");
  EXPECT_EQ(error({{"WORLD_SIZE", "two"}}), "WORLD_SIZE=two: expected a whole number");
  EXPECT_EQ(error({{"WORLD_SIZE", "0"}}), "WORLD_SIZE=0: expected 1 to 1048576");
  EXPECT_EQ(
      error({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}),
      "MASTER_PORT=70000: expected 1 to 65535");
  // One process needs no meeting place.
  EXPECT_EQ(error({{"WORLD_SIZE", "1"}, {"RANK", "0"}}), "(no error)");
}

}  // namespace
}  // namespace advtk
