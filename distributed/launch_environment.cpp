#include "distributed/launch_environment.h"

#include <cstdlib>

#include "core/error.h"

namespace advtk {
namespace {

int64_t integer(const EnvironmentLookup& env, const std::string& name, int64_t lo, int64_t hi) {
  const std::string text = *env(name);
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  ADVTK_CHECK(!text.empty() && end == text.c_str() + text.size(), name, "=", text,
              ": expected a whole number");
  ADVTK_CHECK(v >= lo && v <= hi, name, "=", text, ": expected ", lo, " to ", hi);
  return v;
}

}  // namespace

std::optional<std::string> process_environment(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

LaunchEnvironment read_launch_environment(const EnvironmentLookup& env) {
  LaunchEnvironment e;
  std::string rank_var, size_var, local_var;
  if (env("WORLD_SIZE")) {
    e.launcher = "torchrun";
    rank_var = "RANK", size_var = "WORLD_SIZE", local_var = "LOCAL_RANK";
  } else if (env("OMPI_COMM_WORLD_SIZE")) {
    e.launcher = "mpirun";
    rank_var = "OMPI_COMM_WORLD_RANK", size_var = "OMPI_COMM_WORLD_SIZE";
    local_var = "OMPI_COMM_WORLD_LOCAL_RANK";
  } else {
    return e;
  }
  e.world_size = static_cast<int>(integer(env, size_var, 1, 1 << 20));
  ADVTK_CHECK(env(rank_var), size_var, "=", e.world_size, " but ", rank_var,
              " is not set: the launcher names each process's rank");
  e.rank = static_cast<int>(integer(env, rank_var, 0, 1 << 20));
  ADVTK_CHECK(e.rank < e.world_size, rank_var, "=", e.rank, ": expected less than ", size_var, "=",
              e.world_size);
  e.local_rank =
      env(local_var) ? static_cast<int>(integer(env, local_var, 0, e.world_size - 1)) : e.rank;
  if (!e.distributed()) return e;
  ADVTK_CHECK(env("MASTER_ADDR") && !env("MASTER_ADDR")->empty(), size_var, "=", e.world_size,
              " but MASTER_ADDR is not set: the processes meet at MASTER_ADDR:MASTER_PORT");
  ADVTK_CHECK(env("MASTER_PORT"), size_var, "=", e.world_size,
              " but MASTER_PORT is not set: the processes meet at MASTER_ADDR:MASTER_PORT");
  e.master_addr = *env("MASTER_ADDR");
  e.master_port = static_cast<uint16_t>(integer(env, "MASTER_PORT", 1, 65535));
  e.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") == std::optional<std::string>("True");
  if (e.agent_store) {
    // torch.distributed's _create_c10d_store: the agent's store, keys of restart N under this.
    const int64_t attempt = env("TORCHELASTIC_RESTART_COUNT")
                                ? integer(env, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 30)
                                : 0;
    e.store_prefix = "/worker/attempt_" + std::to_string(attempt);
  }
  return e;
}

}  // namespace advtk
