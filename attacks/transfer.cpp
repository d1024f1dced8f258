#include "attacks/transfer.h"

namespace advtk {

TransferAttack::TransferAttack(std::unique_ptr<Attack> inner, Model surrogate)
    : inner_(std::move(inner)), surrogate_(std::move(surrogate)) {}

nlohmann::json TransferAttack::parameters() const {
  nlohmann::json j = inner_->description();
  j["surrogate"] = surrogate_.name();
  j["crafted_with"] = j.value("attack", inner_->name());
  j["attack"] = name();
  return j;
}

AttackResult TransferAttack::run(const Model& model, const AttackBatch& batch) {
  // The surrogate's success is irrelevant: every crafted point is tried on the target.
  AttackBatch on_surrogate = batch;
  on_surrogate.x = batch.x.to(surrogate_.device());
  on_surrogate.y = batch.y.to(surrogate_.device());
  if (batch.target.defined()) on_surrogate.target = batch.target.to(surrogate_.device());
  AttackResult r = inner_->run(surrogate_, on_surrogate);
  torch::NoGradGuard no_grad;
  r.x_adv = r.x_adv.to(batch.x.device());
  r.pred = model.logits(r.x_adv).argmax(1);
  r.success = is_adversarial_pred(r.pred, batch.y, batch.target);
  r.distance = distance(inner_->norm(), r.x_adv, batch.x);
  r.forward_calls = r.forward_calls.to(batch.x.device()) + 1;
  r.backward_calls = r.backward_calls.to(batch.x.device());
  if (r.broken_by.defined())
    r.broken_by = torch::where(r.success, r.broken_by.to(batch.x.device()), -1);
  return r;
}

}  // namespace advtk
