// A command started by a launcher (torchrun, mpirun) as several processes: they join one group,
// rank 0 claims the output folder and alone writes results and prints; the other ranks log to
// OUT/logs/rank-R.log. Without a launcher: a group of one, and nothing changes.
#pragma once

#include <string>

#include "distributed/launch_environment.h"
#include "distributed/process_group.h"

namespace advtk::cli {

struct Ranks {
  LaunchEnvironment env;
  ProcessGroup group;
  bool leader() const { return group.rank() == 0; }
};

// Reads the launcher's environment, joins the group (ADVTK_DIST_TIMEOUT_S), lets rank 0 claim
// `out` (claim_output_folder) while the others wait, then sends the others' logs to their files.
// `out` empty (a command that writes no folder): no claim, and every rank logs to stderr.
Ranks join_ranks(const std::string& out, const std::string& command, bool force);

// --device cuda under a launcher: cuda:LOCAL_RANK, one device per process of a machine (a local
// rank beyond the machine's GPUs is advtk::Error, exit 2; with no GPU at all, resolve_device says
// so).
std::string device_for_rank(const std::string& device, const LaunchEnvironment& env);

// The commands that share their work over a launcher's processes; the others refuse to start
// under one (every process would do the whole work and write the same files).
bool runs_over_ranks(const std::string& command);

}  // namespace advtk::cli
