// What a launcher tells each of the processes it starts: torchrun (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT and, when its agent hosts the store, TORCHELASTIC_USE_AGENT_STORE with
// TORCHELASTIC_RESTART_COUNT), or Open MPI's mpirun (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK, with
// MASTER_ADDR and MASTER_PORT exported by the user). No launcher: one process.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace advtk {

struct LaunchEnvironment {
  std::string launcher;  // "torchrun" (any launcher setting torchrun's variables), "mpirun", ""
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // on this machine: picks cuda:LOCAL_RANK
  std::string master_addr;
  uint16_t master_port = 0;
  // The store is hosted outside the ranks (torchrun's agent): every rank connects as a client,
  // and keys live under store_prefix (torchrun's "/worker/attempt_N" for restart N). Otherwise
  // rank 0 hosts it.
  bool agent_store = false;
  std::string store_prefix;

  bool distributed() const { return world_size > 1; }
};

using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's own environment.
std::optional<std::string> process_environment(const std::string& name);

// Reads and checks the variables; advtk::Error (exit 2) names the variable that is missing,
// not a number, or out of range (a RANK of at least WORLD_SIZE, a port beyond 65535).
LaunchEnvironment read_launch_environment(const EnvironmentLookup& env = process_environment);

}  // namespace advtk
