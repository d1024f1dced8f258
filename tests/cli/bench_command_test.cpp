// advtk bench end to end: the passes each attack made, and its ratio made from them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

// The JSON report that follows the table.
nlohmann::json bench_report(const std::string& out) {
  return nlohmann::json::parse(out.substr(out.find("\n{") + 1));
}

TEST(BenchCommand, CountsThePassesEachAttackMadeAndDividesItsTimeByTheirCost) {
  TempDir dir;
  auto gen = at::detail::createCPUGenerator(3);
  const torch::Tensor w = torch::randn({3, 16}, gen);
  torch::jit::Module m("Linear");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.define("def forward(self, x):\n    return torch.mm(torch.flatten(x, 1), self.w.t())\n");
  m.save(dir.file("model.pt"));
  const torch::Tensor x = torch::rand({24, 1, 4, 4}, gen);
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("y.npy"), torch::mm(x.flatten(1), w.t()).argmax(1));
  const std::string common = "bench '" + dir.file("model.pt") + "' --data npy:'" +
                             dir.file("x.npy") + "','" + dir.file("y.npy") +
                             "' --eps 0.05 --batch-size 10 --repeats 1 --json";
  const auto r = run_advtk(common + " --attacks pgd,apgd --steps 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json report = bench_report(r.out);
  const double floor = report.at("floor_seconds"), forward = report.at("forward_floor_seconds");
  ASSERT_EQ(report.at("attacks").size(), 4u);
  for (const nlohmann::json& a : report.at("attacks")) {
    const std::string what = a.dump();
    EXPECT_EQ(a.at("steps"), 3) << what;
    const double grads = a.at("gradients_per_example"), fwds = a.at("forwards_per_example");
    // Without early stopping every example takes PGD's three steps. APGD takes a gradient at its
    // start and one per iteration (as the reference does), and drops an example once broken.
    const bool pgd = a.at("attack") == "pgd";
    if (pgd && !a.at("early_stop").get<bool>()) EXPECT_EQ(grads, 3) << what;
    EXPECT_GT(grads, 0) << what;
    EXPECT_LE(grads, pgd ? 3 : 4) << what;
    EXPECT_GE(fwds, 0) << what;
    EXPECT_NEAR(a.at("ratio").get<double>(),
                a.at("seconds").get<double>() / (floor * grads + forward * fwds), 1e-9)
        << what;
    EXPECT_NEAR(a.at("floors").get<double>(), a.at("seconds").get<double>() / floor, 1e-9) << what;
  }
  // --steps reaches only attacks that take it; a preset runs its reference parameters.
  const auto fgsm = run_advtk(common + " --attacks fgsm --steps 3");
  EXPECT_EQ(fgsm.exit_code, 2);
  EXPECT_NE(fgsm.err.find("--steps: fgsm has no such option"), std::string::npos) << fgsm.err;
  const auto preset = run_advtk(common + " --attacks autoattack --steps 3");
  EXPECT_EQ(preset.exit_code, 2);
  EXPECT_NE(preset.err.find("options do not change a preset"), std::string::npos) << preset.err;
}

}  // namespace
}  // namespace advtk
