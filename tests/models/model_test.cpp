#include "models/model.h"

#include <gtest/gtest.h>

#include "attacks/attack_test_util.h"
#include "attacks/loss_gradient.h"
#include "attacks/losses.h"
#include "attacks/trained_cnn.h"
#include "core/error.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::attack;
using test::error_of;
using test::fixture;
using test::problem;
using test::robust_accuracy;
using test::TempDir;
using test::trained_cnn;

// A module whose forward is `body` (a TorchScript expression in x); saved and loaded from disk.
Model scripted(const TempDir& dir, const std::string& body, const ModelOptions& options = {}) {
  torch::jit::Module m("Scripted");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", torch::ones({1}), false);
  m.define("def forward(self, x):\n    return " + body + "\n");
  const std::string path = dir.file("m" + std::to_string(std::hash<std::string>{}(body)) + ".pt");
  m.save(path);
  return Model::load(path, options);
}

TEST(Model, MatchesPythonOutputsOfAScriptedModule) {
  ModelOptions o;
  o.output_index = 0;  // the fixture returns (logits, features)
  const Model model = Model::load(fixture("python_tiny_model.pt"), o);
  const auto io = load_tensor_dict(fixture("python_tiny_model_io.pt"));
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model.logits(io.at("x"));
  EXPECT_TRUE(torch::allclose(logits, io.at("logits"), 1e-5, 1e-5));
  for (const auto& p : model.module().parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_FALSE(model.module().is_training());
}

TEST(Model, TupleAndDictOutputsNeedASelector) {
  TempDir dir;
  const std::string tuple_msg = error_of([&] {
    scripted(dir, "(torch.flatten(x, 1), x)").logits(torch::rand({2, 3, 1, 1}));
  });
  EXPECT_NE(tuple_msg.find("--output-index"), std::string::npos) << tuple_msg;
  const std::string dict_body = "{\"logits\": torch.flatten(x, 1), \"features\": x}";
  const std::string dict_msg = error_of([&] {
    scripted(dir, dict_body).logits(torch::rand({2, 3, 1, 1}));
  });
  EXPECT_NE(dict_msg.find("--output-key"), std::string::npos) << dict_msg;
  EXPECT_NE(dict_msg.find("features"), std::string::npos) << dict_msg;

  ModelOptions by_key;
  by_key.output_key = "logits";
  const torch::Tensor x = torch::rand({2, 3, 1, 1});
  EXPECT_TRUE(torch::equal(scripted(dir, dict_body, by_key).logits(x), x.flatten(1)));
  ModelOptions by_index;
  by_index.output_index = 1;
  EXPECT_TRUE(
      torch::equal(scripted(dir, "(x, torch.flatten(x, 1))", by_index).logits(x), x.flatten(1)));
  by_index.output_index = 2;
  EXPECT_NE(error_of([&] { scripted(dir, "(x, x)", by_index).logits(x); }).find("only 2 outputs"),
            std::string::npos);
}

TEST(Model, NormalisationAndInputRangeAreFoldedIn) {
  TempDir dir;
  ModelOptions o;
  o.mean = {0.5, 0.25, 0.0};
  o.std = {0.5, 0.25, 2.0};
  const Model model = scripted(dir, "torch.flatten(x, 1)", o);
  const torch::Tensor x = torch::tensor({1.0f, 0.5f, 1.0f}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(model.logits(x), torch::tensor({{1.0f, 1.0f, 0.5f}})));

  ModelOptions range;
  range.input_lo = 0;
  range.input_hi = 255;
  const Model byte_model = scripted(dir, "torch.flatten(x, 1)", range);
  EXPECT_TRUE(torch::allclose(byte_model.from_unit_range(torch::full({1, 1, 1, 1}, 0.2)),
                              torch::full({1, 1, 1, 1}, 51.0)));
  ModelOptions bad = o;
  bad.std = {0.5, 0.0, 1.0};
  EXPECT_NE(error_of([&] { scripted(dir, "x", bad); }).find("--std"), std::string::npos);
  EXPECT_NE(error_of([&] { model.probe({1, 4, 4}, 0); }).find("channels"), std::string::npos);
}

TEST(Model, ProbeTurnsShapeAndTypeProblemsIntoClearMessages) {
  TempDir dir;
  torch::jit::Module linear("Linear");
  linear.register_parameter("w", torch::rand({10, 4}), false);
  linear.define("def forward(self, x):\n    return torch.mm(torch.flatten(x, 1), self.w.t())\n");
  linear.save(dir.file("linear.pt"));
  const Model model = Model::load(dir.file("linear.pt"), {});
  EXPECT_EQ(model.probe({1, 2, 2}, 10).num_classes, 10);
  const std::string shape_msg = error_of([&] { model.probe({1, 28, 28}, 10); });
  EXPECT_NE(shape_msg.find("[2,1,28,28]"), std::string::npos) << shape_msg;
  EXPECT_NE(error_of([&] {
              model.probe({1, 2, 2}, 12);
            }).find("10 outputs but the data has 12"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              scripted(dir, "torch.flatten(x, 1).long()").probe({3, 1, 1}, 0);
            }).find("float logits"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              scripted(dir, "x").probe({3, 1, 1}, 0);
            }).find("[N, K]"),
            std::string::npos);
  EXPECT_TRUE(scripted(dir, "torch.softmax(torch.flatten(x, 1), 1)")
                  .probe({3, 1, 1}, 0)
                  .looks_like_probabilities);
  EXPECT_FALSE(
      scripted(dir, "torch.flatten(x, 1) * 3.0").probe({3, 1, 1}, 0).looks_like_probabilities);
}

TEST(Model, FlatAndChannelsLastModelsAreFedInTheirLayout) {
  TempDir dir;
  auto gen = at::detail::createCPUGenerator(4);
  const torch::Tensor w = torch::randn({5, 12}, gen);  // 5 classes, 3×2×2 images
  const torch::Tensor x = torch::rand({7, 3, 2, 2}, gen);
  // Starts with a linear layer: needs [N, 12].
  torch::jit::Module flat("Flat");
  flat.register_parameter("w", w, false);
  flat.define("def forward(self, x):\n    return torch.mm(x, self.w.t())\n");
  flat.save(dir.file("flat.pt"));
  // Channels last: a per-pixel linear map over the last axis (C = 3), then the mean over pixels.
  const torch::Tensor v = torch::randn({5, 3}, gen);
  torch::jit::Module nhwc("Nhwc");
  nhwc.register_parameter("v", v, false);
  nhwc.define("def forward(self, x):\n    return torch.matmul(x, self.v.t()).mean([1, 2])\n");
  nhwc.save(dir.file("nhwc.pt"));

  Model f = Model::load(dir.file("flat.pt"), {});
  EXPECT_EQ(f.fit_input_layout({3, 2, 2}, 5).num_classes, 5);
  EXPECT_EQ(f.options().layout, InputLayout::Flat);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(f.logits(x), torch::mm(x.flatten(1), w.t()), 1e-5, 1e-6));

  Model c = Model::load(dir.file("nhwc.pt"), {});
  c.fit_input_layout({3, 2, 2}, 5);
  EXPECT_EQ(c.options().layout, InputLayout::Nhwc);
  // By hand: logits_k = mean over pixels of Σ_c v_kc x_c.
  const torch::Tensor expected = torch::einsum("nchw,kc->nk", {x, v}) / 4;
  EXPECT_TRUE(torch::allclose(c.logits(x), expected, 1e-5, 1e-6));

  // A layout given by the user is kept, and its failure is reported as it is.
  ModelOptions nchw;
  nchw.layout = InputLayout::Nchw;
  Model forced = Model::load(dir.file("flat.pt"), nchw);
  EXPECT_NE(error_of([&] {
              forced.fit_input_layout({3, 2, 2}, 5);
            }).find("nchw layout"),
            std::string::npos);
  // No layout fits: the NCHW failure, and the others named.
  Model none = Model::load(dir.file("flat.pt"), {});
  const std::string msg = error_of([&] { none.fit_input_layout({3, 4, 4}, 5); });
  EXPECT_NE(msg.find("[2,3,4,4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flattened and channels-last inputs fail too"), std::string::npos) << msg;
}

TEST(Model, ADoublePrecisionModelGetsDoubleInputsAndGivesFloatLogits) {
  TempDir dir;
  auto gen = at::detail::createCPUGenerator(8);
  const torch::Tensor w = torch::randn({4, 6}, gen).to(torch::kDouble);
  torch::jit::Module m("Double");
  m.register_parameter("w", w, false);
  m.define("def forward(self, x):\n    return torch.mm(torch.flatten(x, 1), self.w.t())\n");
  m.save(dir.file("double.pt"));
  Model model = Model::load(dir.file("double.pt"), {});
  EXPECT_EQ(model.fit_input_layout({1, 2, 3}, 4).num_classes, 4);
  const torch::Tensor x = torch::rand({5, 1, 2, 3}, gen).requires_grad_(true);
  const torch::Tensor z = model.logits(x);
  EXPECT_EQ(z.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(z.to(torch::kDouble),
                              torch::mm(x.detach().flatten(1).to(torch::kDouble), w.t()), 1e-6,
                              1e-6));
  // The input gradient reaches the float pixels: d(Σ z_0)/dx = w_0 for every example.
  const torch::Tensor g = torch::autograd::grad({z.select(1, 0).sum()}, {x})[0];
  EXPECT_EQ(g.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(g.flatten(1), w[0].to(torch::kFloat).expand({5, 6}), 1e-6, 1e-6));
}

TEST(Model, LoadRejectsMissingAndCorruptFiles) {
  TempDir dir;
  EXPECT_NE(error_of([&] { Model::load(dir.file("none.pt"), {}); }).find("no such model file"),
            std::string::npos);
  test::write_bytes(dir.file("corrupt.pt"), {'P', 'K', 3, 4, 'x', 'y'});
  const std::string msg = error_of([&] { Model::load(dir.file("corrupt.pt"), {}); });
  EXPECT_NE(msg.find("not a loadable TorchScript model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt.pt"), std::string::npos) << msg;
}

TEST(Model, TrainingScopeRestoresFrozenEvalModeOnException) {
  TempDir dir;
  Model model = scripted(dir, "torch.flatten(x, 1) * self.w");
  try {
    TrainingScope scope(model);
    EXPECT_TRUE(model.module().is_training());
    for (const auto& p : model.module().parameters()) EXPECT_TRUE(p.requires_grad());
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(model.module().is_training());
  for (const auto& p : model.module().parameters()) EXPECT_FALSE(p.requires_grad());
}

torch::jit::Module front_end(const std::string& body) {
  torch::jit::Module m("FrontEnd");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.define("def forward(self, x):\n    return " + body + "\n");
  return m;
}

TEST(Bpda, TheGradientSkipsTheFrontEndAndTheForwardKeepsIt) {
  const auto p = problem(6, 4, 20, 8);
  ModelOptions with, plain;
  with.input_lo = plain.input_lo = -100;
  with.input_hi = plain.input_hi = 100;
  with.preprocess = front_end("torch.round(x * 4.0) / 4.0");
  ModelOptions bpda = with;
  bpda.bpda = true;
  const torch::Tensor w = p.w, b = p.b;
  const auto wrap = [&](const ModelOptions& o) {
    return Model::wrap(test::affine_model(w, b, -100, 100).module(), o, "affine");
  };
  const Model quantised = wrap(with), through = wrap(bpda), bare = wrap(plain);
  const LossOfLogits loss = [&](const torch::Tensor& z) {
    return attack_loss({LossKind::CrossEntropy}, z, p.y, {});
  };
  // round has a zero derivative: no gradient reaches the input without BPDA.
  EXPECT_EQ(loss_gradient(quantised, p.x, loss).grad.abs().max().item<double>(), 0.0);
  // With BPDA the gradient is the bare model's at the quantised point; the logits are the
  // quantised model's.
  const torch::Tensor xq = torch::round(p.x * 4) / 4;
  EXPECT_TRUE(torch::allclose(loss_gradient(through, p.x, loss).grad,
                              loss_gradient(bare, xq, loss).grad, 1e-5, 1e-6));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(through.logits(p.x), bare.logits(xq)));
  // On a differentiable identity front end BPDA changes nothing.
  ModelOptions identity = plain;
  identity.preprocess = front_end("x * 1.0");
  ModelOptions identity_bpda = identity;
  identity_bpda.bpda = true;
  torch::AutoGradMode grad_mode(true);
  EXPECT_TRUE(torch::allclose(loss_gradient(wrap(identity), p.x, loss).grad,
                              loss_gradient(wrap(identity_bpda), p.x, loss).grad));
}

TEST(Bpda, NeedsAFrontEndAndOneThatKeepsTheShape) {
  const auto p = problem(2, 4, 20, 8);
  ModelOptions o;
  o.bpda = true;
  EXPECT_THROW(Model::wrap(test::affine_model(p.w, p.b).module(), o, "m"), Error);
  o.bpda = false;
  o.preprocess = front_end("torch.flatten(x, 1)");
  const Model m = Model::wrap(test::affine_model(p.w, p.b).module(), o, "m");
  EXPECT_THROW(m.logits(p.x), Error);
}

class ModelOnTheCnn : public test::CnnTest {};

TEST_F(ModelOnTheCnn, BpdaBreaksAnInputQuantisationThatPgdCannotMove) {
  torch::jit::Module quantise("Quantise");
  quantise.register_attribute("training", c10::BoolType::get(), false);
  quantise.define("def forward(self, x):\n    return torch.round(x * 4.0) / 4.0\n");
  ModelOptions o;
  o.preprocess = quantise;
  const Model defended = Model::wrap(trained_cnn().module(), o, "quantised");
  o.bpda = true;
  const Model through = Model::wrap(trained_cnn().module(), o, "quantised-bpda");
  const double plain = robust_accuracy(attack("pgd", {0.1}, {}, {}, 100, defended)[0]);
  const AttackRun bpda_run = attack("pgd", {0.1}, {}, {}, 100, through)[0];
  EXPECT_LT(robust_accuracy(bpda_run), plain - 0.2);
  // The examples break the defended model itself: its forward includes the quantisation.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(defended.logits(bpda_run.x_adv).argmax(1), bpda_run.pred_adv));
}

}  // namespace
}  // namespace advtk
