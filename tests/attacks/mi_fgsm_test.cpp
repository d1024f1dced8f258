// MI-FGSM (Dong et al. 2018) on affine models, where its steps are known in closed form.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "attacks/registry.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

TEST(MiFgsm, OnTwoClassesEveryStepFollowsTheFixedGradientSignToEps) {
  // Two classes: ∇x CE = p_other·(w_other − w_y), one direction at every point, so the
  // accumulated gradient keeps its sign and ten steps of ε/10 land on x + ε·sign(w_other − w_y).
  const auto p = problem(6, 2, 16, 4);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const double eps = 0.05;
  AttackSetup setup;
  setup.threat = {Norm::Linf, eps, -100, 100};
  OptionValues given;
  given.set("early-stop", false);
  const std::unique_ptr<Attack> mi = make_attack("mi-fgsm", setup, given);
  const AttackResult r = mi->run(model, batch_of(p));
  const torch::Tensor other = 1 - p.y;
  const torch::Tensor direction = (p.w.index_select(0, other) - p.w.index_select(0, p.y)).sign();
  // Unbroken examples report their highest-loss iterate: the last one, at the corner.
  const torch::Tensor corner = p.x.flatten(1) + eps * direction;
  const torch::Tensor z = torch::addmm(p.b, corner, p.w.t());
  for (int64_t i = 0; i < 6; ++i) {
    const bool flips = z[i].argmax().item<int64_t>() != p.y[i].item<int64_t>();
    EXPECT_EQ(r.success[i].item<bool>(), flips) << i;
    if (!flips) {
      EXPECT_TRUE(torch::allclose(r.x_adv[i].flatten(), corner[i], 0, 1e-5)) << i;
    }
  }
  EXPECT_TRUE(torch::equal(r.backward_calls, torch::full({6}, 10, torch::kLong)));
  EXPECT_EQ(mi->parameters()["momentum"], 1.0);
  EXPECT_NEAR(mi->parameters()["step_size"].get<double>(), eps / 10, 1e-12);
}

TEST(MiFgsm, WithoutMomentumItIsTheBasicIterativeMethod) {
  // μ = 0 is I-FGSM: the same points as the loop with plain sign steps of ε/10 from x.
  const auto p = problem(8, 5, 12, 5);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  AttackSetup setup;
  setup.threat = {Norm::Linf, 0.2, -100, 100};
  OptionValues given;
  given.set("momentum", 0.0).set("early-stop", false);
  const AttackResult mi = make_attack("mi-fgsm", setup, given)->run(model, batch_of(p));
  IterativeAttackOptions o;
  o.threat = setup.threat;
  o.steps = 10;
  o.step_size = 0.02;
  o.start = StartKind::None;
  o.early_stop = false;
  const AttackResult bim = make_pgd(o)->run(model, batch_of(p));
  EXPECT_TRUE(torch::equal(mi.x_adv, bim.x_adv));
}

}  // namespace
}  // namespace advtk
