// advtk masking end to end: its verdict, the evidence it writes, and its exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(MaskingCommand, MaskingGivesAVerdictWithEvidenceAndExitCodes) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(run_advtk("train --arch mlp --epochs 1 --limit 2000 --val-size 100 --quiet --out '" +
                      run + "'")
                .exit_code,
            0);
  const std::string quick =
      " --limit 200 --eps 0.1 --points 40 --expensive-points 20 --pgd-steps 10 --apgd-steps 10 "
      "--queries 100 --noise-draws 20 --quiet";
  const auto honest =
      run_advtk("masking '" + run + "/model.pt'" + quick + " --out '" + dir.file("honest") + "'");
  EXPECT_EQ(honest.exit_code, 0) << honest.out << honest.err;
  const auto report = nlohmann::json::parse(test::read_bytes(dir.file("honest") + "/masking.json"));
  EXPECT_EQ(report.at("verdict"), "no-evidence");
  ASSERT_EQ(report.at("indicators").size(), 14u);
  EXPECT_LE(report.at("adaptive_robust_accuracy").get<double>(),
            report.at("pgd_robust_accuracy").get<double>());

  // A round() front end: masked, exit 3, and the examples the retries found.
  torch::jit::Module front("Quantise");
  front.define("def forward(self, x):\n  return torch.round(x * 15.0) / 15.0\n");
  front.save(dir.file("front.pt"));
  const auto masked =
      run_advtk("masking '" + run + "/model.pt' --preprocess '" + dir.file("front.pt") + "'" +
                quick + " --out '" + dir.file("masked") + "'");
  EXPECT_EQ(masked.exit_code, 3) << masked.out << masked.err;
  EXPECT_NE(masked.out.find("verdict          masked"), std::string::npos) << masked.out;
  const auto found = load_tensor_dict(dir.file("masked") + "/found.pt");
  ASSERT_EQ(found.count("x_adv"), 1u);
  EXPECT_GT(found.at("x_adv").size(0), 0);
  EXPECT_TRUE(found.at("pred_adv").ne(found.at("y")).all().item<bool>());

  for (const std::string& bad :
       std::vector<std::string>{"", "--eps 0", "--eps 0.1 --vote-passes 2", "--eps 0.1 --points 0",
                                "--eps 0.1 --bpda --preprocess '" + dir.file("front.pt") + "'"}) {
    const auto e = run_advtk("masking '" + run + "/model.pt' --limit 50 " + bad + " --out '" +
                             dir.file("bad") + "'");
    EXPECT_EQ(e.exit_code, 2) << bad;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
}

}  // namespace
}  // namespace advtk
