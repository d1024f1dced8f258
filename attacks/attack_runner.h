// Runs an attack over a dataset: the clean pass, batching, targets, and the sweep over several
// budgets — written once for every attack.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "attacks/targets.h"
#include "data/dataset.h"
#include "distributed/process_group.h"

namespace advtk {

// Where finished batches are kept so that a stopped run resumes without redoing them (advtk
// attack --resume). Batch k of budget e is the attack's outcome on rows [k·B, (k+1)·B) of the
// examples still pending at that budget, exactly as it came out (before it joins the result).
class AttackBatchStore {
 public:
  virtual ~AttackBatchStore() = default;
  virtual std::optional<std::map<std::string, torch::Tensor>> load(size_t budget,
                                                                   int64_t batch) const = 0;
  virtual void save(size_t budget, int64_t batch,
                    const std::map<std::string, torch::Tensor>& outcome) const = 0;
  virtual bool holds(size_t budget, int64_t batch) const = 0;
  // A batch it holds, read without counting it as resumed (sent on to rank 0, or written out).
  virtual std::map<std::string, torch::Tensor> read(size_t budget, int64_t batch) const = 0;
};

struct AttackRunOptions {
  int64_t batch_size = 256;
  // Clean-misclassified examples (untargeted) are adversarial at distance 0 and not attacked.
  bool skip_misclassified = true;
  TargetSpec target;
  uint64_t seed = 0;
  // Several processes share the work (null: this one alone): each rank attacks a contiguous
  // share of every budget's batches, and after each budget the ranks exchange their rows, so
  // every rank ends with the whole result. The batches are those one process would run, so the
  // result is the same bit for bit (at the same batch size and thread count).
  const ProcessGroup* group = nullptr;
  // Without a group: only share `shard_index` of `shard_count` of the batches, as that rank of a
  // group would run them, and no exchange (jobs that cannot talk: advtk attack --shard i/n, joined
  // by advtk merge). A sweep over several budgets needs a group.
  int shard_index = 0;
  int shard_count = 1;
  // Null: nothing kept. A batch found there is read back instead of attacked (its rows must be
  // the ones this run would attack, else advtk::Error); each batch attacked is saved there
  // before the progress callback hears of it.
  const AttackBatchStore* store = nullptr;
  // False: x_adv is not kept in memory (AttackRun::x_adv_budget says which stored batch holds
  // each example's), so that no process holds all of it; needs a store. After each budget rank
  // 0's store receives the batches of the other ranks that it cannot see (no shared folder).
  bool keep_x_adv = true;
};

// Everything per example, on the CPU, in dataset order.
struct AttackRun {
  double eps = 0.0;  // the budget (fixed-budget attacks); 0 for minimum-norm attacks
  torch::Tensor x, x_adv, y, target, clean_pred, pred_adv, success, distance;
  // Cumulative over the sweep: the clean pass and every smaller budget's work are included.
  torch::Tensor forward_calls, backward_calls;
  // Ensembles: the attack (index into parameters["attacks"]) that broke each example; -1 none.
  torch::Tensor broken_by;
  // What the attacks saw as adversarial before the returned points were judged again (success
  // is that judgement: one fresh forward pass per attack).
  torch::Tensor claimed;
  // The rows (dataset positions) this process attacked at this budget: its share when ranks or
  // --shard parts share the work.
  torch::Tensor attacked_rows;
  // The L1, L2 and L∞ distances of x_adv to x, per example (float).
  torch::Tensor l1, l2, linf;
  // Without keep_x_adv (x_adv undefined): the budget (index into the sweep) whose stored batch
  // holds each example's x_adv, or -1 where it is x itself.
  torch::Tensor x_adv_budget;
  double seconds = 0.0;
  nlohmann::json parameters;
};

using AttackFactory = std::function<std::unique_ptr<Attack>(double eps)>;
using RunProgress = std::function<void(int64_t done, int64_t total, double eps)>;

// Attacks `data` once per budget, in increasing order. An example broken at a smaller budget is
// broken at every larger one (its example lies in the larger ball), so only the examples still
// robust are attacked again: robust accuracy never rises with the budget.
std::vector<AttackRun> run_attack(const Model& model, const Dataset& data,
                                  const AttackFactory& factory, std::vector<double> budgets,
                                  const AttackRunOptions& options,
                                  const RunProgress& progress = {});

}  // namespace advtk
