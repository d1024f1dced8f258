// advtk train end to end: npy data, a fine-tuned Python model, adversarial training.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(TrainCommand, TrainThenEvalAndInfoOnNpyData) {
  TempDir dir;
  // 4 classes told apart by which image row is bright: learnable in one epoch.
  auto gen = at::detail::createCPUGenerator(2);
  const torch::Tensor y = torch::randint(0, 4, {400}, gen, torch::kLong);
  torch::Tensor x = torch::rand({400, 1, 4, 4}, gen) * 0.3;
  for (int64_t i = 0; i < 400; ++i) x[i][0][y[i].item<int64_t>()] += 0.7;
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("y.npy"), y);
  const std::string data = "--data npy:'" + dir.file("x.npy") + "','" + dir.file("y.npy") + "'";
  const std::string out = dir.file("run");
  const auto train = run_advtk("train --arch mlp --epochs 3 --batch-size 32 --lr 0.01 " + data +
                               " --out '" + out + "'");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  for (const char* f : {"model.pt", "history.csv", "history.json", "checkpoint/state.json",
                        "checkpoint/optimizer.pt", "checkpoint/model.pt"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  const auto history = nlohmann::json::parse(test::read_bytes(out + "/history.json"));
  EXPECT_EQ(history.size(), 3u);

  const auto eval = run_advtk("eval '" + out + "/model.pt' --json " + data);
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto j = nlohmann::json::parse(eval.out);
  EXPECT_GT(j.at("accuracy").get<double>(), 0.9);
  EXPECT_EQ(j.at("per_class_accuracy").size(), 4u);
  int64_t total = 0;
  for (const auto& row : j.at("confusion"))
    for (const auto& v : row) total += v.get<int64_t>();
  EXPECT_EQ(total, 400);

  const auto info = run_advtk("info '" + out + "/model.pt' --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto i = nlohmann::json::parse(info.out);
  EXPECT_EQ(i.at("architecture"), "mlp");
  EXPECT_EQ(i.at("num_classes"), 4);
  EXPECT_EQ(i.at("input_shape"), nlohmann::json({1, 4, 4}));
  EXPECT_EQ(i.at("parameters"), 16 * 256 + 256 + 256 * 256 + 256 + 256 * 4 + 4);

  // Resuming a finished run with more epochs continues from the checkpoint.
  const auto more = run_advtk("train --arch mlp --epochs 4 --batch-size 32 --lr 0.01 " + data +
                              " --out '" + out + "' --resume");
  ASSERT_EQ(more.exit_code, 0) << more.err;
  EXPECT_EQ(nlohmann::json::parse(test::read_bytes(out + "/history.json")).size(), 4u);

  // A model trained on 4 classes does not fit 10-class data: a clear error, not a crash.
  if (test::fashion_mnist_available()) {
    const auto mismatch = run_advtk("eval '" + out + "/model.pt' --limit 10");
    EXPECT_EQ(mismatch.exit_code, 2);
    EXPECT_NE(mismatch.err.find("forward failed"), std::string::npos) << mismatch.err;
  }
}

TEST(TrainCommand, FineTunesAPythonScriptedModelWithTupleOutput) {
  TempDir dir;
  // The fixture takes 3x8x8 images and has 5 outputs; labels follow the brightest channel.
  auto gen = at::detail::createCPUGenerator(4);
  const torch::Tensor y = torch::randint(0, 3, {120}, gen, torch::kLong);
  torch::Tensor x = torch::rand({120, 3, 8, 8}, gen) * 0.4;
  for (int64_t i = 0; i < 120; ++i) x[i][y[i].item<int64_t>()] += 0.6;
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("y.npy"), y);
  const std::string data = "--data npy:'" + dir.file("x.npy") + "','" + dir.file("y.npy") + "'";
  const std::string model = "'" + test::fixture("python_tiny_model.pt") + "'";
  const auto no_index =
      run_advtk("train --model " + model + " " + data + " --out '" + dir.file("a") + "'");
  EXPECT_EQ(no_index.exit_code, 2);
  EXPECT_NE(no_index.err.find("--output-index"), std::string::npos) << no_index.err;
  const auto tuned =
      run_advtk("train --model " + model + " --output-index 0 --epochs 4 --lr 0.01 " +
                "--batch-size 20 " + data + " --out '" + dir.file("b") + "'");
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  const auto eval =
      run_advtk("eval '" + dir.file("b/model.pt") + "' --output-index 0 --json " + data);
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_GT(nlohmann::json::parse(eval.out).at("accuracy").get<double>(), 0.9);
}

TEST(TrainCommand, AdversarialTrainingWritesRobustHistoryAndKeepsTheBestEpoch) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run");
  const auto r = run_advtk(
      "train --arch mlp --epochs 2 --limit 500 --adversarial fgsm-rs --eps 0.1 --val-size 100 "
      "--epsilon-warmup 1 --out '" +
      run + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("robust       PGD-10 "), std::string::npos) << r.out;
  const auto history = nlohmann::json::parse(test::read_bytes(run + "/history.json"));
  ASSERT_EQ(history.size(), 2u);
  double best = -1;
  for (const auto& e : history) {
    const double acc = e.at("val_robust_accuracy").get<double>();
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, e.at("val_accuracy").get<double>());  // robust ≤ clean on the same examples
    EXPECT_DOUBLE_EQ(e.at("eps").get<double>(), 0.1);    // warm-up done by each epoch's end
    best = std::max(best, acc);
  }
  EXPECT_TRUE(std::filesystem::exists(run + "/checkpoint/best.pt"));
  const auto csv = test::read_bytes(run + "/history.csv");
  EXPECT_NE(std::string(csv.begin(), csv.end()).find(",val_robust_accuracy,val_fgsm_accuracy,"),
            std::string::npos);
  // The saved model is the most robust epoch's: its PGD-10 accuracy on the same 100 examples.
  const auto atk = run_advtk("attack '" + run + "/model.pt' --limit 100 --attack pgd --steps 10 " +
                             "--eps 0.1 --out '" + dir.file("atk") + "'");
  ASSERT_EQ(atk.exit_code, 0) << atk.err;
  const auto summary = nlohmann::json::parse(test::read_bytes(dir.file("atk") + "/summary.json"));
  EXPECT_NEAR(summary.at("robust_accuracy").get<double>(), best, 1e-9);

  for (const std::string& bad : std::vector<std::string>{
           "--adversarial pgd", "--adversarial pgd --eps 0", "--adversarial pgd --eps -0.1",
           "--adversarial pgd --eps 0.1 --attack-steps 0", "--adversarial free --eps 0.1",
           "--adversarial fgsm-rs --eps 0.1 --attack-steps 5",
           "--adversarial pgd --eps 0.1 --mix 1.5", "--adversarial trades --eps 0.1 --mix 0.5",
           "--adversarial pgd --eps 0.1 --keep worst", "--mix 0.5",
           "--adversarial pgd --eps 0.1 --attack-step-size 0"}) {
    const auto e = run_advtk("train --arch mlp --limit 10 --out '" + dir.file("bad") + "' " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad") + "/checkpoint"));
}

}  // namespace
}  // namespace advtk
