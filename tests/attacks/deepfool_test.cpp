// DeepFool: exact on an affine classifier, and with C&W breaking almost all of a trained CNN.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/deepfool.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::batch_of;
using test::problem;
using test::trained_cnn;
using test::with_norm;

TEST(DeepFool, FindsTheExactMinimalL2PerturbationOfAnAffineModel) {
  // Large logit gaps, so that the 1e-4 DeepFool adds to each gap is negligible (< 2e-5 relative).
  auto p = problem(20, 4, 30, 2);
  p.w *= 100;
  p.b *= 100;
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  DeepFoolOptions o;
  o.lo = -100;
  o.hi = 100;
  DeepFool deepfool(o);
  const AttackResult r = deepfool.run(model, batch_of(p));
  ASSERT_TRUE(r.success.all().item<bool>());
  for (int64_t i = 0; i < 20; ++i) {
    const double exact = test::affine_min_l2(p.w, p.b, p.x[i].flatten(), p.y[i].item<int64_t>());
    // One linearisation step is exact for an affine model.
    const double found = r.distance[i].item<double>() / (1 + o.overshoot);
    EXPECT_NEAR(found / exact, 1.0, 1e-4) << "example " << i << ", exact " << exact;
    EXPECT_EQ(r.forward_calls[i].item<int64_t>(), 2);
  }
}

class DeepFoolOnTheCnn : public test::CnnTest {};

// Covers cw (attacks/carlini_wagner.cpp) too, with the same threshold.
TEST_F(DeepFoolOnTheCnn, MinimumNormAttacksBreakAlmostEveryCorrectExample) {
  for (const auto& [name, at_least] :
       {std::pair<const char*, double>{"deepfool", 0.97}, {"cw", 0.97}}) {
    const auto run = attack(name, {0.0}, {}, {}, 60, trained_cnn(), with_norm(Norm::L2))[0];
    const torch::Tensor correct = run.clean_pred.eq(run.y);
    const double broken =
        (run.success & correct).sum().item<double>() / correct.sum().item<double>();
    EXPECT_GE(broken, at_least) << name;
    // What they report is what the model does: the prediction at x_adv.
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(trained_cnn().logits(run.x_adv).argmax(1), run.pred_adv)) << name;
  }
}

}  // namespace
}  // namespace advtk
