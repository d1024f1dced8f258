#include "attacks/attack.h"

#include <cmath>
#include <limits>

#include "core/seeding.h"
#include "eval/prediction.h"

namespace advtk {

torch::Tensor is_adversarial_pred(const torch::Tensor& pred, const torch::Tensor& y,
                                  const torch::Tensor& target) {
  return target.defined() ? pred.eq(target) : pred.ne(y);
}

torch::Tensor is_adversarial(const torch::Tensor& logits, const AttackBatch& batch) {
  return is_adversarial_pred(predicted_class(logits), batch.y, batch.target);
}

std::vector<torch::Generator> example_generators(uint64_t seed, const torch::Tensor& index,
                                                 uint64_t stream) {
  const torch::Tensor ids = index.to(torch::kCPU, torch::kLong).contiguous();
  std::vector<torch::Generator> out;
  out.reserve(ids.numel());
  const int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    out.push_back(make_generator(mix_seed(seed, static_cast<uint64_t>(p[i])), stream));
  }
  return out;
}

uint64_t family_stream(StreamFamily family, uint64_t k) {
  return (static_cast<uint64_t>(family) << 40) + k;
}

torch::Tensor example_gaussian(std::vector<torch::Generator>& generators,
                               const torch::Tensor& like) {
  std::vector<torch::Tensor> noise;
  noise.reserve(generators.size());
  for (auto& g : generators) noise.push_back(torch::randn(like[0].sizes(), g));
  return torch::stack(noise).to(like.device(), like.scalar_type());
}

torch::Tensor where_rows(const torch::Tensor& mask, const torch::Tensor& a,
                         const torch::Tensor& b) {
  std::vector<int64_t> shape(a.dim(), 1);
  shape[0] = mask.size(0);
  return torch::where(mask.view(shape), a, b);
}

void update_rows(torch::Tensor& dst, const torch::Tensor& idx, const torch::Tensor& mask,
                 const torch::Tensor& value) {
  dst.index_copy_(0, idx, where_rows(mask, value, dst.index_select(0, idx)));
}

AttackBatch select_examples(const AttackBatch& batch, const torch::Tensor& rows) {
  AttackBatch out;
  out.x = batch.x.index_select(0, rows);
  out.y = batch.y.index_select(0, rows);
  if (batch.target.defined()) out.target = batch.target.index_select(0, rows);
  if (batch.reference_logits.defined())
    out.reference_logits = batch.reference_logits.index_select(0, rows);
  if (batch.clean_pred.defined()) out.clean_pred = batch.clean_pred.index_select(0, rows);
  out.index = batch.index.index_select(0, rows.to(torch::kCPU));
  return out;
}

Judgement judge_points(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                       const torch::Tensor& target) {
  torch::NoGradGuard no_grad;
  Judgement j;
  j.pred = predicted_class(model.logits(x));
  j.adversarial = is_adversarial_pred(j.pred, y, target);
  return j;
}

void confirm_result(const Model& model, const AttackBatch& batch, Norm norm, double eps,
                    AttackResult& result) {
  if (result.claimed.defined()) return;
  result.claimed = result.success.to(torch::kBool).clone();
  if (batch.x.size(0) == 0) return;
  const Judgement j =
      judge_points(model, result.x_adv.to(batch.x.scalar_type()), batch.y, batch.target);
  result.pred = j.pred;
  result.success = j.adversarial;
  if (std::isfinite(eps)) {
    // Float rounding of x + δ may add an ulp or so to the measured distance.
    const double tolerance = 1e-5 * eps + 1e-6;
    result.success &= distance(norm, result.x_adv, batch.x).le(eps + tolerance);
  }
  result.forward_calls += 1;
}

nlohmann::json Attack::description() const {
  nlohmann::json j = parameters();
  if (declared_options_.is_object() && !declared_options_.empty()) j["options"] = declared_options_;
  return j;
}

AttackResult initial_result(const AttackBatch& batch) {
  const int64_t n = batch.x.size(0);
  const auto dev = batch.x.device();
  AttackResult r;
  r.x_adv = batch.x.clone();
  r.success = torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  r.pred = batch.y.clone();
  r.distance = torch::zeros({n}, batch.x.options());
  r.forward_calls = torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(dev));
  r.backward_calls = torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(dev));
  return r;
}

}  // namespace advtk
