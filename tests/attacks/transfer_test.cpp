// Transfer attacks: from the model itself they are the direct attack; from its opposite, nothing.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "attacks/transfer.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

TEST(Transfer, FromTheModelItselfEqualsTheDirectAttack) {
  const auto p = problem(20, 2, 20, 4);  // two classes: the opposite model's loss is our margin
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  IterativeAttackOptions o;
  o.threat = {Norm::L2, test::affine_min_distance(p, "l2").median().item<double>(), -100, 100};
  o.steps = 20;
  const AttackResult direct = make_pgd(o)->run(model, batch_of(p));
  TransferAttack transfer(make_pgd(o), model);
  const AttackResult r = transfer.run(model, batch_of(p));
  EXPECT_TRUE(torch::equal(r.success, direct.success));
  // A surrogate with the opposite weights pushes the wrong way: nothing transfers.
  const Model opposite = test::affine_model(-p.w, -p.b, -100, 100);
  const AttackResult wrong = TransferAttack(make_pgd(o), opposite).run(model, batch_of(p));
  EXPECT_FALSE(wrong.success.any().item<bool>());
}

}  // namespace
}  // namespace advtk
