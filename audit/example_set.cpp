#include "audit/example_set.h"

#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "attacks/threat_model.h"
#include "audit/image_grid.h"
#include "core/blas.h"
#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/torch_save_stream.h"

namespace advtk {
namespace {

nlohmann::json median_or_null(const torch::Tensor& values) {
  if (values.numel() == 0) return nullptr;
  // The lower median, like torch.median: an actual observed perturbation.
  return values.median().item<double>();
}

std::string file_in(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

const torch::Tensor& distance_in(const AttackRun& run, Norm norm) {
  switch (norm) {
    case Norm::L1:
      return run.l1;
    case Norm::L2:
      return run.l2;
    case Norm::Linf:
      break;
  }
  return run.linf;
}

constexpr int64_t kRowsPerBlock = 256;  // x_adv is written this many rows at a time

}  // namespace

nlohmann::json summarize_run(const AttackRun& run, bool minimum_norm,
                             const std::vector<double>& budgets) {
  const int64_t n = run.y.numel();
  const bool targeted = run.target.defined();
  const torch::Tensor clean_correct = run.clean_pred.eq(run.y);
  const torch::Tensor still_correct = run.pred_adv.eq(run.y);
  // Examples the attack had to work on: clean-correct (untargeted) or not yet at the target.
  const torch::Tensor attacked =
      targeted ? run.y.ne(run.target) & run.clean_pred.ne(run.target) : clean_correct;
  const torch::Tensor broken = run.success & attacked;
  const torch::Tensor& l2 = run.l2;
  const torch::Tensor& linf = run.linf;

  nlohmann::json j = run.parameters;
  j["examples"] = n;
  j["clean_accuracy"] = clean_correct.to(torch::kDouble).mean().item<double>();
  // Robust: classified correctly at x and not broken by the attack.
  const torch::Tensor robust = clean_correct & ~run.success;
  j["robust_accuracy"] =
      (targeted ? still_correct & clean_correct : robust).to(torch::kDouble).mean().item<double>();
  const int64_t attacked_count = attacked.sum().item<int64_t>();
  j["attacked"] = attacked_count;
  j["success_rate"] = attacked_count == 0
                          ? nlohmann::json(nullptr)
                          : nlohmann::json(broken.sum().item<double>() / attacked_count);
  j["median_l2"] = median_or_null(l2.masked_select(broken));
  j["median_linf"] = median_or_null(linf.masked_select(broken));
  j["seconds"] = run.seconds;
  j["forward_calls"] = run.forward_calls.sum().item<int64_t>();
  j["backward_calls"] = run.backward_calls.sum().item<int64_t>();
  j["targeted"] = targeted;
  if (!minimum_norm) j["eps"] = run.eps;
  if (minimum_norm && !budgets.empty()) {
    const Norm norm = parse_norm(run.parameters.value("norm", "l2"));
    const torch::Tensor& d = distance_in(run, norm);
    nlohmann::json at = nlohmann::json::array();
    for (double eps : budgets) {
      const torch::Tensor within = run.success & d.le(eps * (1 + 1e-6) + 1e-7);
      const double acc = (clean_correct & ~within).to(torch::kDouble).mean().item<double>();
      at.push_back({{"eps", eps}, {"robust_accuracy", acc}});
    }
    j["robust_accuracy_at"] = at;
  }
  if (run.parameters.contains("attacks")) {
    // Ensembles: how many examples each attack broke, and robust accuracy after each one.
    nlohmann::json& attacks = j["attacks"];
    torch::Tensor left = clean_correct.clone();
    for (size_t k = 0; k < attacks.size(); ++k) {
      const torch::Tensor by_k = run.broken_by.eq(static_cast<int64_t>(k)) & clean_correct;
      left &= ~by_k;
      attacks[k]["broken"] = by_k.sum().item<int64_t>();
      attacks[k]["robust_accuracy_after"] = left.to(torch::kDouble).mean().item<double>();
    }
  }
  j["versions"] = {{"advtk", ADVTK_VERSION}, {"libtorch", TORCH_VERSION}, {"blas", blas_library()}};
  return j;
}

torch::Tensor InMemoryRows::next(int64_t count) {
  const torch::Tensor rows = x_adv_.slice(0, done_, done_ + count);
  done_ += count;
  return rows;
}

void write_example_set(const std::string& dir, const AttackRun& run, const Dataset& data,
                       const nlohmann::json& summary, AdversarialRows* rows) {
  ensure_directory(dir);
  const Norm norm = parse_norm(run.parameters.value("norm", "linf"));
  const torch::Tensor ids = data.example_ids();
  const torch::Tensor& l2 = run.l2;
  const torch::Tensor& linf = run.linf;
  std::optional<InMemoryRows> in_memory;
  if (rows == nullptr) rows = &in_memory.emplace(run.x_adv);

  // The grid shows broken examples first (what the attack did), then unbroken ones.
  const torch::Tensor order =
      torch::cat({run.success.nonzero().squeeze(1), (~run.success).nonzero().squeeze(1)})
          .slice(0, 0, 8);
  std::map<int64_t, torch::Tensor> shown;  // x_adv of the grid's examples, kept as they pass
  for (int64_t k = 0; k < order.numel(); ++k) shown[order[k].item<int64_t>()];

  const int64_t n = run.y.numel();
  TorchSaveStream pt(file_in(dir, "adversarial.pt"));
  NpyWriter npy(file_in(dir, "x_adv.npy"), run.x.scalar_type(), run.x.sizes().vec());
  pt.begin_tensor("x_adv", run.x.scalar_type(), run.x.sizes().vec());
  for (int64_t start = 0; start < n; start += kRowsPerBlock) {
    const int64_t count = std::min(kRowsPerBlock, n - start);
    const torch::Tensor block = rows->next(count);
    pt.append(block);
    npy.append(block);
    for (auto it = shown.lower_bound(start); it != shown.end() && it->first < start + count; ++it)
      it->second = block[it->first - start].clone();
  }
  pt.put("x", run.x);
  pt.put("y", run.y);
  pt.put("pred_clean", run.clean_pred);
  pt.put("pred_adv", run.pred_adv);
  pt.put("success", run.success);
  pt.put("distance", distance_in(run, norm));
  pt.put("index", ids);
  if (run.target.defined()) pt.put("target", run.target);
  pt.put("parameters", summary.dump());
  pt.finish();
  npy.finish();
  write_npy(file_in(dir, "y.npy"), run.y);

  std::ostringstream csv;
  const bool ensemble = run.parameters.contains("attacks");
  csv << "index,label,target,clean_pred,adv_pred,success,linf,l2,forward_calls,backward_calls"
      << (ensemble ? ",broken_by\n" : "\n");
  csv.precision(7);
  for (int64_t i = 0; i < run.y.numel(); ++i) {
    csv << ids[i].item<int64_t>() << "," << run.y[i].item<int64_t>() << ",";
    if (run.target.defined()) csv << run.target[i].item<int64_t>();
    csv << "," << run.clean_pred[i].item<int64_t>() << "," << run.pred_adv[i].item<int64_t>() << ","
        << (run.success[i].item<bool>() ? 1 : 0) << "," << linf[i].item<float>() << ","
        << l2[i].item<float>() << "," << run.forward_calls[i].item<int64_t>() << ","
        << run.backward_calls[i].item<int64_t>();
    if (ensemble) {
      const int64_t k = run.broken_by[i].item<int64_t>();
      csv << "," << (k >= 0 ? run.parameters["attacks"][k].value("attack", "?") : "");
    }
    csv << "\n";
  }
  write_file_atomic(file_in(dir, "examples.csv"), csv.str());
  write_file_atomic(file_in(dir, "summary.json"), summary.dump(2) + "\n");

  std::vector<GridRow> grid;
  const double lo = run.x.min().item<double>(),
               hi = std::max(run.x.max().item<double>(), lo + 1e-12);
  for (int64_t k = 0; k < order.numel(); ++k) {
    const int64_t i = order[k].item<int64_t>();
    GridRow row;
    row.clean = (run.x[i] - lo) / (hi - lo);
    row.adversarial = (shown.at(i) - lo) / (hi - lo);
    row.clean_caption = "#" + std::to_string(ids[i].item<int64_t>()) + " " +
                        data.class_name(run.y[i].item<int64_t>());
    std::ostringstream d;
    d.precision(3);
    d << "L2 " << l2[i].item<float>() << " Linf " << linf[i].item<float>();
    row.perturbation_caption = d.str();
    row.adversarial_caption = std::string(run.success[i].item<bool>() ? "-> " : "kept ") +
                              data.class_name(run.pred_adv[i].item<int64_t>());
    grid.push_back(row);
  }
  write_png(file_in(dir, "grid.png"), render_grid(grid));
}

}  // namespace advtk
