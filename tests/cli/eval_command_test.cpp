// advtk eval end to end: input layouts, randomised front ends and their expected accuracy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(EvalCommand, AModelTakingFlatInputsIsFedFlattenedImages) {
  TempDir dir;
  auto gen = at::detail::createCPUGenerator(6);
  const torch::Tensor w = torch::randn({3, 16}, gen);
  torch::jit::Module m("FlatLinear");
  m.register_parameter("w", w, false);
  m.define("def forward(self, x):\n    return torch.mm(x, self.w.t())\n");
  m.save(dir.file("flat.pt"));
  const torch::Tensor x = torch::rand({60, 1, 4, 4}, gen);
  // Labels are the model's own predictions on flattened images: accuracy 100% only if fed so.
  const torch::Tensor y = torch::mm(x.flatten(1), w.t()).argmax(1);
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("y.npy"), y);
  const std::string data = "--data npy:'" + dir.file("x.npy") + "','" + dir.file("y.npy") + "'";
  const auto eval = run_advtk("eval '" + dir.file("flat.pt") + "' --json " + data);
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(eval.out).at("accuracy").get<double>(), 1.0);
  const auto info = run_advtk("info '" + dir.file("flat.pt") + "' --input-shape 1,4,4 --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out).at("input_layout"), "flat");
  const auto attack = run_advtk("attack '" + dir.file("flat.pt") + "' -q --attack pgd --eps 1 " +
                                data + " --out '" + dir.file("atk") + "'");
  ASSERT_EQ(attack.exit_code, 0) << attack.err;
  const auto summary = nlohmann::json::parse(test::read_bytes(dir.file("atk/summary.json")));
  EXPECT_LT(summary.at("robust_accuracy").get<double>(), 1.0);
  // A randomised front end draws from torch's global generator, which --seed fixes: the same
  // seed repeats the loss exactly, another seed changes it.
  torch::jit::Module noise("Noise");
  noise.register_attribute("training", c10::BoolType::get(), false);
  noise.define("def forward(self, x):\n    return x + 0.3 * torch.randn_like(x)\n");
  noise.save(dir.file("noise.pt"));
  const auto noisy_loss = [&](int seed) {
    const auto r =
        run_advtk("eval '" + dir.file("flat.pt") + "' --json --preprocess '" +
                  dir.file("noise.pt") + "' --seed " + std::to_string(seed) + " " + data);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).at("mean_loss").get<double>();
  };
  EXPECT_EQ(noisy_loss(0), noisy_loss(0));
  EXPECT_NE(noisy_loss(0), noisy_loss(1));
  // The randomised model's accuracy is an expectation over 51 passes, and says so.
  const auto noisy = run_advtk("eval '" + dir.file("flat.pt") + "' --json --preprocess '" +
                               dir.file("noise.pt") + "' " + data);
  ASSERT_EQ(noisy.exit_code, 0) << noisy.err;
  const auto nj = nlohmann::json::parse(noisy.out);
  EXPECT_TRUE(nj.at("randomised").get<bool>());
  EXPECT_EQ(nj.at("passes"), 51);
  EXPECT_EQ(nj.at("majority_accuracy").get<double>(), nj.at("correct").get<double>() / 60);
  EXPECT_FALSE(nlohmann::json::parse(eval.out).at("randomised").get<bool>());
  const auto text = run_advtk("eval '" + dir.file("flat.pt") + "' --preprocess '" +
                              dir.file("noise.pt") + "' " + data);
  EXPECT_NE(text.out.find("expected accuracy of one pass"), std::string::npos) << text.out;
  const auto forced = run_advtk("eval '" + dir.file("flat.pt") + "' --input-layout nchw " + data);
  EXPECT_EQ(forced.exit_code, 2);
  EXPECT_NE(forced.err.find("nchw layout"), std::string::npos) << forced.err;
  EXPECT_EQ(run_advtk("eval '" + dir.file("flat.pt") + "' --input-layout nwhc " + data).exit_code,
            2);
}

}  // namespace
}  // namespace advtk
