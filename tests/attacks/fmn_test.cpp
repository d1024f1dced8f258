// FMN against affine classifiers, whose minimal adversarial distance in each norm is known in
// closed form: min over j ≠ y of (z_y − z_j) / ‖w_y − w_j‖_dual (the box inactive).
#include "attacks/fmn.h"

#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/registry.h"
#include "core/error.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

struct NormCase {
  Norm norm;
  const char* dual;
};

// The test's name shows the norm, not the case's bytes (a pointer: another name every build).
void PrintTo(const NormCase& c, std::ostream* os) { *os << norm_name(c.norm); }

class FmnOnAffine : public ::testing::TestWithParam<NormCase> {};

// With the paper's defaults (100 steps) every example is broken, never closer than the exact
// minimum (that would be impossible), and within 2% of it.
TEST_P(FmnOnAffine, FindsTheClosedFormMinimum) {
  const NormCase c = GetParam();
  const auto p = problem(16, 4, 30, 5);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  FmnOptions o;
  o.norm = c.norm;
  o.lo = -100;
  o.hi = 100;
  Fmn fmn(o);
  const AttackResult r = fmn.run(model, batch_of(p));
  ASSERT_TRUE(r.success.all().item<bool>()) << r.success;
  const torch::Tensor exact = test::affine_min_distance(p, c.dual);
  const torch::Tensor ratio = r.distance.to(torch::kDouble) / exact;
  // Measured: L2 1.0000, Linf 1.0004, L1 1.0124 at the worst of 16.
  EXPECT_GE(ratio.min().item<double>(), 1 - 1e-4);
  EXPECT_LE(ratio.max().item<double>(), 1.02) << ratio;
  // Each reported point is adversarial and at the reported distance.
  const torch::Tensor pred = model.logits(r.x_adv).argmax(1);
  EXPECT_TRUE(pred.ne(p.y).all().item<bool>());
  EXPECT_TRUE(torch::allclose(r.distance, distance(c.norm, r.x_adv, p.x)));
  EXPECT_TRUE(torch::equal(r.forward_calls, torch::full({16}, o.steps + 1, torch::kLong)));
  EXPECT_TRUE(torch::equal(r.backward_calls, torch::full({16}, o.steps, torch::kLong)));
}

INSTANTIATE_TEST_SUITE_P(EveryNorm, FmnOnAffine,
                         ::testing::Values(NormCase{Norm::L2, "l2"}, NormCase{Norm::Linf, "l1"},
                                           NormCase{Norm::L1, "linf"}),
                         [](const auto& info) { return norm_name(info.param.norm); });

// A targeted run ends in the target's region, no closer than the exact distance to it.
TEST(Fmn, ATargetedRunReachesItsTarget) {
  const auto p = problem(8, 4, 30, 6);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const torch::Tensor target = (p.y + 1).remainder(4);
  AttackBatch batch = batch_of(p);
  batch.target = target;
  FmnOptions o;
  o.lo = -100;
  o.hi = 100;
  const AttackResult r = Fmn(o).run(model, batch);
  ASSERT_TRUE(r.success.all().item<bool>());
  EXPECT_TRUE(torch::equal(model.logits(r.x_adv).argmax(1), target));
}

// The registry's entry: its options and defaults, and the box of the model's input range.
TEST(Fmn, TheRegistryEntryFollowsThePaper) {
  const AttackInfo& info = find_attack("fmn");
  EXPECT_TRUE(info.minimum_norm);
  AttackSetup s;
  s.threat.norm = Norm::Linf;
  const nlohmann::json j = make_attack(info, s, {})->parameters();
  EXPECT_EQ(j["steps"], 100);
  EXPECT_DOUBLE_EQ(j["alpha_init"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["alpha_final"].get<double>(), 0.01);
  EXPECT_DOUBLE_EQ(j["gamma_init"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(j["gamma_final"].get<double>(), 0.001);
  EXPECT_THROW(make_attack(info, s, OptionValues().set("gamma-init", 1.5)), Error);
}

}  // namespace
}  // namespace advtk
