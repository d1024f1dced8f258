#include "attacks/ensemble.h"

#include <chrono>

#include "core/error.h"

namespace advtk {

EnsembleAttack::EnsembleAttack(std::string name, std::vector<std::unique_ptr<Attack>> attacks)
    : name_(std::move(name)), attacks_(std::move(attacks)), seconds_(attacks_.size(), 0.0) {
  ADVTK_CHECK(!attacks_.empty(), "--attack: an ensemble needs at least one attack");
  for (const auto& a : attacks_) {
    ADVTK_CHECK(!a->minimum_norm(), "--attack: ", a->name(),
                " is a minimum-norm attack and cannot join a fixed-budget ensemble");
    ADVTK_CHECK(a->norm() == attacks_.front()->norm(),
                "--attack: every attack of an ensemble must use the same norm");
  }
}

std::vector<std::string> EnsembleAttack::attack_names() const {
  std::vector<std::string> out;
  for (const auto& a : attacks_) out.push_back(a->name());
  return out;
}

nlohmann::json EnsembleAttack::parameters() const {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < attacks_.size(); ++i) {
    nlohmann::json p = attacks_[i]->description();
    p["seconds"] = seconds_[i];
    list.push_back(p);
  }
  nlohmann::json j = {{"attack", name_}, {"attacks", list}, {"norm", norm_name(norm())}};
  if (list[0].contains("eps")) j["eps"] = list[0]["eps"];
  return j;
}

AttackResult EnsembleAttack::run(const Model& model, const AttackBatch& batch) {
  AttackResult result = initial_result(batch);
  const auto dev = batch.x.device();
  result.broken_by =
      torch::full({batch.x.size(0)}, -1, torch::TensorOptions().dtype(torch::kLong).device(dev));
  result.claimed = torch::zeros_like(result.success);
  const torch::Tensor all = torch::arange(batch.x.size(0), result.broken_by.options());
  for (size_t k = 0; k < attacks_.size(); ++k) {
    const torch::Tensor idx = all.masked_select(~result.success);
    if (idx.numel() == 0) break;
    const auto started = std::chrono::steady_clock::now();
    const AttackBatch sub = select_examples(batch, idx);
    AttackResult r = attacks_[k]->run(model, sub);
    // The next attack takes every example whose returned point does not hold up.
    confirm_result(model, sub, attacks_[k]->norm(), attacks_[k]->budget(), r);
    seconds_[k] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // Until an example is broken, it reports the latest attack's point and prediction.
    result.x_adv.index_copy_(0, idx, r.x_adv.to(result.x_adv.scalar_type()));
    result.pred.index_copy_(0, idx, r.pred);
    result.success.index_copy_(0, idx, r.success);
    result.claimed.index_copy_(0, idx, result.claimed.index_select(0, idx) | r.claimed);
    update_rows(result.broken_by, idx, r.success, torch::full_like(idx, static_cast<int64_t>(k)));
    result.forward_calls.index_add_(0, idx, r.forward_calls);
    result.backward_calls.index_add_(0, idx, r.backward_calls);
  }
  result.distance = distance(norm(), result.x_adv, batch.x);
  return result;
}

}  // namespace advtk
