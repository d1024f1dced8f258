#include "diagnostics/straight_through.h"

#include <gtest/gtest.h>

#include "diagnostics/graph_scan.h"
#include "masking_fixtures.h"
#include "models/zoo.h"
#include "test_util.h"

namespace advtk {
namespace {

torch::Tensor input_gradient(torch::jit::Module& m, const torch::Tensor& x,
                             const torch::Tensor& weights) {
  const torch::Tensor xi = x.clone().requires_grad_(true);
  const torch::Tensor out = m.forward({xi}).toTensor();
  if (!out.requires_grad()) return torch::zeros_like(x);
  const auto g = torch::autograd::grad({(out * weights).sum()}, {xi}, {}, false, false, true)[0];
  return g.defined() ? g : torch::zeros_like(x);
}

// round(15x)/15 with a straight-through round: the value of the quantiser, the gradient of the
// identity (d/dx [u/15] with du/dx = 15), so the gradient of Σ w·y is w itself.
TEST(StraightThrough, RoundKeepsItsValuesAndPassesTheGradientThrough) {
  torch::jit::Module original = test::quantise_front_end();
  StraightThrough st = straight_through_copy(original);
  EXPECT_EQ(st.rewritten, 1);
  const torch::Tensor x = torch::rand({3, 1, 6, 6});
  const torch::Tensor w = torch::randn({3, 1, 6, 6});
  EXPECT_TRUE(torch::equal(st.module.forward({x}).toTensor(), original.forward({x}).toTensor()));
  EXPECT_TRUE(torch::equal(input_gradient(original, x, w), torch::zeros_like(x)));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), w, 1e-5, 1e-6));
}

// The thermometer: fifteen comparisons cast to float, summed and divided by 15: each becomes
// the identity in the backward pass, so the whole encoding does too.
TEST(StraightThrough, ComparisonCastsPassTheGradientThrough) {
  torch::jit::Module original = test::thermometer_front_end();
  StraightThrough st = straight_through_copy(original);
  EXPECT_EQ(st.rewritten, 1);  // one comparison cast, in the loop's body
  const torch::Tensor x = torch::rand({3, 1, 6, 6});
  const torch::Tensor w = torch::randn({3, 1, 6, 6});
  EXPECT_TRUE(torch::equal(st.module.forward({x}).toTensor(), original.forward({x}).toTensor()));
  EXPECT_TRUE(torch::equal(input_gradient(original, x, w), torch::zeros_like(x)));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), w, 1e-5, 1e-6));
}

TEST(StraightThrough, AModelWithoutSuchOperationsIsUnchanged) {
  ZooOptions z;
  torch::jit::Module cnn = build_zoo_model(Architecture::Cnn, z);
  StraightThrough st = straight_through_copy(cnn);
  EXPECT_EQ(st.rewritten, 0);
  const torch::Tensor x = torch::rand({2, 1, 28, 28});
  const torch::Tensor w = torch::randn({2, 10});
  EXPECT_TRUE(torch::allclose(st.module.forward({x}).toTensor(), cnn.forward({x}).toTensor()));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), input_gradient(cnn, x, w)));
}

// Rounding inside a submodule's forward: inlining reaches it; the original keeps its zero
// gradient (the copy does not share the rewritten graph).
TEST(StraightThrough, ReachesIntoSubmodulesAndLeavesTheOriginalAlone) {
  torch::jit::Module outer("Outer");
  outer.register_module("front", test::quantise_front_end());
  outer.define("def forward(self, x):\n  return self.front.forward(x) * 2.0\n");
  StraightThrough st = straight_through_copy(outer);
  EXPECT_EQ(st.rewritten, 1);
  const torch::Tensor x = torch::rand({2, 1, 4, 4});
  const torch::Tensor w = torch::ones({2, 1, 4, 4});
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), 2 * w));
  EXPECT_TRUE(torch::equal(input_gradient(outer, x, w), torch::zeros_like(x)));
}

// One construct per tiny model: the rewrite keeps the forward values exactly and gives the
// gradient of its surrogate (slope per element), and the graph scan names the construct.
struct Construct {
  const char* name;
  const char* body;  // the forward's return expression of x
  double slope;      // d surrogate / dx per element
  const char* op;    // what the scan reports
};

// The test's name shows the construct, not its bytes (pointers: another name every build).
void PrintTo(const Construct& c, std::ostream* os) { *os << c.name; }

class StraightThroughConstruct : public ::testing::TestWithParam<Construct> {};

TEST_P(StraightThroughConstruct, KeepsValuesAndGivesTheSurrogatesGradient) {
  const Construct& c = GetParam();
  torch::jit::Module m = test::script(
      "M", std::string("def forward(self, x):\n  y = x * 1.0\n  return ") + c.body + "\n");
  StraightThrough st = straight_through_copy(m);
  EXPECT_GE(st.rewritten, 1) << c.name;
  EXPECT_TRUE(st.blocked.empty()) << c.name << ": " << st.blocked.front();
  const torch::Tensor x = torch::rand({2, 1, 5, 5}) * 0.9 + 0.05;
  const torch::Tensor w = torch::randn({2, 1, 5, 5});
  // Equal up to the rounding of s + (y − s) (the BPDA view only crafts; the model judges).
  EXPECT_TRUE(
      torch::allclose(st.module.forward({x}).toTensor(), m.forward({x}).toTensor(), 0, 1e-6))
      << c.name;
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), c.slope * w, 1e-5, 1e-6))
      << c.name << "\n"
      << input_gradient(st.module, x, w).flatten().slice(0, 0, 4) << "\n"
      << w.flatten().slice(0, 0, 4);
  bool found = false;
  for (const RiskyOp& op : scan_forward_graph(m)) found = found || op.op == c.op;
  EXPECT_TRUE(found) << c.name << " not found by the scan";
}

INSTANTIATE_TEST_SUITE_P(
    EveryConstruct, StraightThroughConstruct,
    ::testing::Values(
        Construct{"round_in_place", "y.round_()", 1.0, "aten::round_"},
        Construct{"floor_in_place", "y.floor_()", 1.0, "aten::floor_"},
        Construct{"sign_in_place", "(y - 0.5).sign_()", 1.0, "aten::sign_"},
        Construct{"heaviside", "torch.heaviside(y - 0.5, torch.zeros_like(y))", 1.0,
                  "aten::heaviside"},
        // x − remainder(x, c) is floor quantisation: the periodic part gets slope 0.
        Construct{"remainder", "y - torch.remainder(y, 0.25)", 1.0, "aten::remainder"},
        Construct{"fmod", "y - torch.fmod(y, 0.25)", 1.0, "aten::fmod"},
        Construct{"frac", "(y * 4.0 - torch.frac(y * 4.0)) / 4.0", 1.0, "aten::frac"},
        Construct{"floor_divide", "torch.floor_divide(y, 0.25)", 4.0, "aten::floor_divide"},
        Construct{"div_floor", "torch.div(y, 0.25, rounding_mode='floor')", 4.0, "aten::div"},
        Construct{"int_cast", "(y * 8.0).long().float() / 8.0", 1.0, "aten::to"},
        Construct{"detach", "y.detach() * 2.0", 2.0, "aten::detach"},
        Construct{"greater", "(y > 0.5).float()", 1.0, "aten::gt"},
        Construct{"less", "(y < 0.5).float()", -1.0, "aten::lt"},
        Construct{"less_times", "(y <= 0.5) * 3.0", -3.0, "aten::le"},
        Construct{"where_step", "torch.where(y > 0.5, 1.0, 0.0)", 1.0, "aten::gt"},
        Construct{"where_down", "torch.where(y < 0.5, 1.0, 0.0)", -1.0, "aten::lt"},
        // Chained: the second construct reads the first one's surrogate.
        Construct{"round_then_cast", "torch.round(y * 4.0).long().float() / 4.0", 1.0,
                  "aten::round"},
        Construct{"round_then_compare", "(torch.round(y * 4.0) > 2.0).float()", 4.0, "aten::gt"},
        Construct{"bucketize", "torch.bucketize(y, torch.tensor([0.25, 0.5, 0.75])).float() / 4.0",
                  0.25, "aten::bucketize"}),
    [](const ::testing::TestParamInfo<Construct>& info) { return std::string(info.param.name); });

// Equality has no monotone surrogate: it is left as it is and named.
TEST(StraightThrough, EqualityIsNamedAsBlocking) {
  torch::jit::Module m =
      test::script("Eq", "def forward(self, x):\n  return (torch.round(x * 4.0) == 2.0).float()\n");
  StraightThrough st = straight_through_copy(m);
  ASSERT_EQ(st.blocked.size(), 1u);
  EXPECT_NE(st.blocked[0].find("aten::eq"), std::string::npos);
}

// A front end scripted in Python under `with torch.no_grad():` (tests/fixtures/make_fixtures.py):
// 2·round(4x)/4 + sigmoid(x), gradient cut. The rewrite drops the with-block and gives round its
// identity: the gradient becomes 2 + σ(x)(1 − σ(x)).
TEST(StraightThrough, ANoGradBlockIsDifferentiatedAsWritten) {
  torch::jit::Module original = torch::jit::load(test::fixture("python_no_grad_front_end.pt"));
  bool found = false;
  for (const RiskyOp& op : scan_forward_graph(original))
    found = found || (op.op == "prim::Enter" && op.risk == OpRisk::GraphCut);
  EXPECT_TRUE(found);
  StraightThrough st = straight_through_copy(original);
  EXPECT_EQ(st.rewritten, 2);  // the with-block and the round inside it
  EXPECT_TRUE(st.blocked.empty()) << st.blocked.front();
  const torch::Tensor x = torch::rand({3, 1, 6, 6}) * 4 - 2;
  const torch::Tensor w = torch::randn({3, 1, 6, 6});
  EXPECT_TRUE(torch::allclose(st.module.forward({x}).toTensor(), original.forward({x}).toTensor(),
                              0, 1e-6));
  EXPECT_TRUE(torch::equal(input_gradient(original, x, w), torch::zeros_like(x)));
  const torch::Tensor s = torch::sigmoid(x);
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), (2 + s * (1 - s)) * w, 1e-5, 1e-6));
}

// Other with-blocks (a profiler range around 2x) keep the gradient: not flagged, not blocked.
TEST(StraightThrough, OtherWithBlocksAreLeftAlone) {
  torch::jit::Module m = torch::jit::load(test::fixture("python_profiled_double.pt"));
  EXPECT_TRUE(scan_forward_graph(m).empty());
  StraightThrough st = straight_through_copy(m);
  EXPECT_EQ(st.rewritten, 0);
  EXPECT_TRUE(st.blocked.empty()) << st.blocked.front();
  const torch::Tensor x = torch::rand({2, 1, 4, 4});
  const torch::Tensor w = torch::randn({2, 1, 4, 4});
  EXPECT_TRUE(torch::allclose(input_gradient(m, x, w), 2 * w));
}

}  // namespace
}  // namespace advtk
