// The contract every registered attack keeps, as one table of clauses (the points finite, in the
// box and the budget; deterministic; the same under a no-grad guard; success true at the point;
// never worse than clean) checked on two models: an
// affine one (gradients everywhere) and one whose graph has no gradient path to its input (a
// comparison cast to float, as in a thermometer encoding). A deliberately broken attack shows
// that the table catches each kind of breach.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "attack_test_util.h"
#include "attacks/registry.h"

namespace advtk {
namespace {

Model thresholded_affine(const torch::Tensor& w, const torch::Tensor& b) {
  torch::jit::Module m("Thresholded");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.register_parameter("b", b, false);
  m.define(
      "def forward(self, x):\n"
      "    v = torch.gt(torch.flatten(x, 1), 0.5).float()\n"
      "    return torch.addmm(self.b, v, self.w.t())\n");
  return Model::wrap(m, ModelOptions{}, "thresholded");
}

using MakeAttackFn = std::function<std::unique_ptr<Attack>()>;

// The clauses an attack breaks on `model` and `batch` (empty: none). `eps` is its budget (inf for
// minimum-norm attacks).
std::vector<std::string> contract_breaches(const MakeAttackFn& make, const Model& model,
                                           const AttackBatch& batch, Norm norm, double eps) {
  std::vector<std::string> out;
  AttackResult r;
  try {
    r = make()->run(model, batch);
  } catch (const std::exception& e) {
    return {std::string("runs without throwing: ") + e.what()};
  }
  const torch::Tensor x = batch.x;
  if (!torch::isfinite(r.x_adv).all().item<bool>()) out.push_back("finite points");
  if (r.x_adv.min().item<double>() < 0.0 || r.x_adv.max().item<double>() > 1.0)
    out.push_back("points in the input box");
  if (std::isfinite(eps) &&
      distance(norm, r.x_adv, x).max().item<double>() > eps * (1 + 1e-5) + 1e-6)
    out.push_back("points within the budget");
  // Deterministic given the seed: a fresh instance on the same batch returns the same points.
  const AttackResult again = make()->run(model, batch);
  if (!torch::equal(again.x_adv, r.x_adv)) out.push_back("deterministic given the seed");
  // Works under a caller's no-grad guard (attacks switch gradients on themselves).
  {
    torch::NoGradGuard caller;
    const AttackResult guarded = make()->run(model, batch);
    if (!torch::equal(guarded.x_adv, r.x_adv)) out.push_back("the same under a NoGradGuard");
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor pred = model.logits(r.x_adv).argmax(1);
  if (!torch::equal(r.success, pred.ne(batch.y))) out.push_back("success is the truth at x_adv");
  // Never worse than clean: an example misclassified at x is broken (x itself will do).
  const torch::Tensor wrong_at_x = model.logits(x).argmax(1).ne(batch.y);
  if ((wrong_at_x & ~r.success).any().item<bool>()) out.push_back("never worse than clean");
  return out;
}

// 12 points in [0, 1]^16, four of them misclassified at x (labels shifted), on `model`.
AttackBatch contract_batch(const Model& model, uint64_t seed) {
  auto gen = make_generator(seed);
  const torch::Tensor x = torch::rand({12, 1, 4, 4}, gen);
  torch::Tensor y = model.logits(x).argmax(1);
  y.narrow(0, 0, 4).add_(1).remainder_(4);
  return {x, y, {}, torch::arange(12, torch::kLong)};
}

double budget_for(Norm norm) { return norm == Norm::Linf ? 0.1 : norm == Norm::L2 ? 0.5 : 2.0; }

TEST(AttackContract, EveryRegisteredAttackKeepsIt) {
  auto gen = make_generator(9);
  const torch::Tensor w = torch::randn({4, 16}, gen), b = torch::randn({4}, gen);
  const std::vector<Model> models = {test::affine_model(w, b), thresholded_affine(w, b)};
  int checked = 0;
  for (const Model& model : models) {
    const AttackBatch batch = contract_batch(model, 3);
    for (const auto& info : attack_registry()) {
      if (info.preset) continue;  // made of the attacks checked here
      for (Norm norm : info.norms) {
        AttackSetup s;
        s.threat.norm = norm;
        s.threat.eps = budget_for(norm);
        s.seed = 11;
        // Short runs: the contract, not the strength, is under test.
        const OptionValues c = OptionValues()
                                   .set("steps", 5)
                                   .set("queries", 50)
                                   .set("draws", 5)
                                   .set("binary-steps", 2);
        const auto breaches =
            contract_breaches([&] { return make_attack(info, s, c); }, model, batch, norm,
                              info.minimum_norm ? INFINITY : s.threat.eps);
        for (const auto& clause : breaches)
          ADD_FAILURE() << info.name << " " << norm_name(norm) << " on " << model.name()
                        << " breaks: " << clause;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 50);
}

// An attack that breaks every clause: it steps 2ε along torch's global generator (outside the
// budget and the box, different on every run) and claims success nowhere.
class BrokenAttack : public Attack {
 public:
  AttackResult run(const Model& model, const AttackBatch& batch) override {
    AttackResult r = initial_result(batch);
    r.x_adv = batch.x + 0.2 * torch::randn_like(batch.x).sign() + 1.0;
    (void)model;
    return r;
  }
  std::string name() const override { return "broken"; }
  Norm norm() const override { return Norm::Linf; }
  double budget() const override { return 0.1; }
  nlohmann::json parameters() const override { return {{"attack", "broken"}}; }
};

TEST(AttackContract, TheTableCatchesABrokenAttack) {
  auto gen = make_generator(9);
  const Model model = test::affine_model(torch::randn({4, 16}, gen), torch::randn({4}, gen));
  const AttackBatch batch = contract_batch(model, 3);
  const auto broken = contract_breaches([] { return std::make_unique<BrokenAttack>(); }, model,
                                        batch, Norm::Linf, 0.1);
  for (const char* clause :
       {"points in the input box", "points within the budget", "success is the truth at x_adv",
        "deterministic given the seed", "never worse than clean"})
    EXPECT_NE(std::find(broken.begin(), broken.end(), clause), broken.end()) << clause;
}

}  // namespace
}  // namespace advtk
