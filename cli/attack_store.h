// advtk attack's resume store, OUT/store: every finished batch as budget-E/batch-K.pt, beside
// config.json with what the batches depend on (the model's and the data's bytes, the attack and
// its settings). The ranks of a launcher's run share it (one folder, as their logs), so a job
// restarted with --resume, with any number of processes, attacks only what had not finished. A
// run that writes its outputs (from the store: rank 0's holds every batch once a budget is done)
// removes it; one that fails (advtk::Error: bad input, a full disk)
// before any batch finished removes it too, so a refused command leaves the folder as it was.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "attacks/attack_runner.h"
#include "distributed/process_group.h"

namespace advtk::cli {

class AttackStore final : public AttackBatchStore {
 public:
  // Without `resume` a store left there is removed first. With it, a store made for another
  // `config` is refused (advtk::Error, on every rank before any changes it).
  AttackStore(std::string out, const nlohmann::json& config, bool resume,
              const ProcessGroup& group);

  std::optional<std::map<std::string, torch::Tensor>> load(size_t budget,
                                                           int64_t batch) const override;
  void save(size_t budget, int64_t batch,
            const std::map<std::string, torch::Tensor>& outcome) const override;
  bool holds(size_t budget, int64_t batch) const override;
  std::map<std::string, torch::Tensor> read(size_t budget, int64_t batch) const override;
  int64_t loaded() const { return loaded_; }  // batches read back so far
  bool holds_batches() const;                 // any finished batch, of this run or an earlier one
  void remove() const;                        // once the outputs are written (rank 0)

 private:
  std::string file(size_t budget, int64_t batch) const;
  std::string dir_;
  mutable int64_t loaded_ = 0;
};

}  // namespace advtk::cli
