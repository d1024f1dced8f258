// What advtk attack writes and prints once its runs are done: the example sets (one per budget,
// audit/example_set.h), the sweep's summary.json and the table on stdout. advtk merge writes the
// same from the parts of a sharded run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/attack_runner.h"
#include "audit/example_set.h"
#include "data/dataset.h"

namespace advtk::cli {

struct AttackOutputs {
  std::string attack;  // as given: a name, a preset or a list
  bool minimum_norm = false;
  bool preset = false;          // one of AutoAttack's suites: its checks go into the summary
  std::vector<double> budgets;  // --eps as given (minimum-norm: the robust-accuracy points)
  int64_t nonfinite_outputs = 0;
  nlohmann::json checks = nlohmann::json::array();  // AutoAttack's checks before the run
  uint64_t seed = 0;
  std::string model_path;
  std::string out;
};

// Where a run's x_adv is read from when it is not in memory (AttackRun::x_adv undefined).
using RowsOf = std::function<std::unique_ptr<AdversarialRows>(const AttackRun&)>;

// `data`: the examples' ids, labels, class names and source (its images are not read).
void write_attack_outputs(const AttackOutputs& c, const std::vector<AttackRun>& runs,
                          const Dataset& data, const RowsOf& rows_of = {});

}  // namespace advtk::cli
