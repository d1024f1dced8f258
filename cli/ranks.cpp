#include "cli/ranks.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/common.h"
#include "core/error.h"

namespace advtk::cli {

Ranks join_ranks(const std::string& out, const std::string& command, bool force) {
  Ranks r;
  r.env = read_launch_environment();
  if (!r.env.distributed()) {
    if (!out.empty()) claim_output_folder(out, command, force);
    return r;
  }
  r.group = ProcessGroup::join(r.env, distributed_timeout());
  // When rank 0 refuses the folder it ends, and the others learn of it at the barrier.
  if (r.leader() && !out.empty()) claim_output_folder(out, command, force);
  r.group.barrier();
  if (!r.leader() && !out.empty()) {
    const std::filesystem::path logs = std::filesystem::path(out) / "logs";
    std::filesystem::create_directories(logs);
    const std::string path = (logs / ("rank-" + std::to_string(r.env.rank) + ".log")).string();
    const auto level = spdlog::default_logger()->level();
    spdlog::drop("advtk");
    auto logger = spdlog::basic_logger_mt("advtk", path, true);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  spdlog::info("rank {} of {} ({}, local rank {}, store {} at {}:{})", r.env.rank, r.env.world_size,
               r.env.launcher, r.env.local_rank,
               r.env.agent_store ? "hosted by the launcher's agent" : "hosted by rank 0",
               r.env.master_addr, r.env.master_port);
  return r;
}

std::string device_for_rank(const std::string& device, const LaunchEnvironment& env) {
  if (!env.distributed() || device != "cuda") return device;
  const auto gpus =
      static_cast<int64_t>(torch::cuda::is_available() ? torch::cuda::device_count() : 0);
  ADVTK_CHECK(gpus == 0 || env.local_rank < gpus, "--device cuda under ", env.launcher,
              ": local rank ", env.local_rank, " takes cuda:", env.local_rank,
              ", but this machine shows ", gpus,
              " GPU(s): start at most that many ranks per machine, or give --device cuda:0 to "
              "share one (NCCL then stands aside: gradients go through Gloo)");
  return "cuda:" + std::to_string(env.local_rank);
}

bool runs_over_ranks(const std::string& command) {
  return command == "attack" || command == "audit" || command == "eval" || command == "leak" ||
         command == "masking" || command == "train";
}

}  // namespace advtk::cli
