// One part of an attack split over jobs that cannot talk to each other (Slurm arrays, Kubernetes
// jobs): advtk attack --shard i/n attacks share i of every batch the whole run would attack (as
// rank i of n processes would) and writes it to its folder; advtk merge joins the n parts into the
// outputs of the whole run.
//
//   shard.json  {format, shard, of, settings (what must match across the parts), outputs,
//                parameters, eps, seconds, examples, source, class_names}
//   shard.pt    rows (the dataset positions this part attacked, ascending) and their pred_adv,
//               success, claimed, distance, broken_by, forward_calls, backward_calls, l1, l2,
//               linf; part 0 also the whole run as it saw it (x, y, clean_pred, target, index,
//               all_*), into which the other parts' rows go
//   x_adv.npy   the x_adv of those rows, in their order (read back a block at a time)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/attack_runner.h"
#include "audit/example_set.h"
#include "cli/attack_outputs.h"
#include "data/dataset.h"

namespace advtk::cli {

// "i/n" → {i, n}; advtk::Error unless 0 <= i < n.
std::pair<int, int> parse_shard(const std::string& text);

// `attacked`: the x_adv of run.attacked_rows, in their order.
void write_attack_shard(const std::string& dir, std::pair<int, int> shard,
                        const nlohmann::json& settings, const AttackOutputs& outputs,
                        const AttackRun& run, const Dataset& data, AdversarialRows& attacked);

struct MergedAttack {
  AttackOutputs outputs;  // out left empty: the caller's
  AttackRun run;          // x_adv not in memory: x_adv_rows reads it
  Dataset data;           // ids, labels, class names, source
  std::function<std::unique_ptr<AdversarialRows>()> x_adv_rows;
};

// Reads the parts in `dirs`; advtk::Error when one is missing or repeated, the parts come from
// different settings, or a file is not a part.
MergedAttack merge_attack_shards(const std::vector<std::string>& dirs);

}  // namespace advtk::cli
