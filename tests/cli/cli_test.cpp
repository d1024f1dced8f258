// End-to-end runs of the advtk binary: exit codes, messages and outputs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

int line_count(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, VersionAndHelp) {
  const auto v = run_advtk("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("advtk "), std::string::npos);
  EXPECT_NE(v.out.find("LibTorch"), std::string::npos);
  for (const char* cmd : {"attack", "audit", "bench", "data", "info", "eval", "masking", "train"}) {
    const auto h = run_advtk(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("Example"), std::string::npos) << cmd;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(run_advtk("").exit_code, 2);
  EXPECT_EQ(run_advtk("frobnicate").exit_code, 2);
  EXPECT_EQ(run_advtk("eval").exit_code, 2);  // missing MODEL
  const auto limit = run_advtk("train --arch cnn --limit 0");
  EXPECT_EQ(limit.exit_code, 2);
  // The bound in words, not CLI11's range with the double's maximum written out.
  EXPECT_NE(limit.err.find("--limit: expected at least 1, got 0"), std::string::npos) << limit.err;
  EXPECT_EQ(limit.err.find("000000"), std::string::npos) << limit.err;
  const auto offset = run_advtk("eval x.pt --offset=-3");
  EXPECT_EQ(offset.exit_code, 2);
  EXPECT_NE(offset.err.find("--offset: expected at least 0, got -3"), std::string::npos)
      << offset.err;
  EXPECT_EQ(run_advtk("train --arch vgg").exit_code, 2);
}

TEST(Cli, BadInputGivesOneClearLineAndExitTwo) {
  TempDir dir;
  const auto missing = run_advtk("eval '" + dir.file("none.pt") + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.pt: no such model file"), std::string::npos) << missing.err;
  EXPECT_EQ(line_count(missing.err), 1) << missing.err;

  test::write_bytes(dir.file("corrupt.pt"), {'n', 'o', 'p', 'e'});
  const auto corrupt = run_advtk("info '" + dir.file("corrupt.pt") + "'");
  EXPECT_EQ(corrupt.exit_code, 2);
  EXPECT_EQ(line_count(corrupt.err), 1) << corrupt.err;

  const auto data = run_advtk("train --arch mlp --data npy:'" + dir.file("x.npy") + "','" +
                              dir.file("y.npy") + "'");
  EXPECT_EQ(data.exit_code, 2);
  EXPECT_NE(data.err.find("x.npy: no such file"), std::string::npos) << data.err;

  const auto spec = run_advtk("train --arch mlp --data imagenet:/x");
  EXPECT_EQ(spec.exit_code, 2);
  EXPECT_NE(spec.err.find("unknown source"), std::string::npos) << spec.err;

  const auto resume = run_advtk("train --arch mlp --resume --out '" + dir.file("fresh") + "'");
  EXPECT_EQ(resume.exit_code, 2);
  EXPECT_NE(resume.err.find("no checkpoint"), std::string::npos) << resume.err;
}

TEST(Cli, CudaRequestWithoutCudaIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  TempDir dir;
  const auto r = run_advtk("train --arch mlp --device cuda --out '" + dir.file("o") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("CUDA is not available"), std::string::npos) << r.err;
}

TEST(Cli, TrainThenEvalAndInfoOnNpyData) {
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

TEST(Cli, AModelTakingFlatInputsIsFedFlattenedImages) {
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

TEST(Cli, DataSummarisesASource) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto r = run_advtk("data --json --limit 100 --offset 50");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("examples"), 100);
  EXPECT_EQ(j.at("shape"), nlohmann::json({1, 28, 28}));
  int64_t total = 0;
  for (const auto& c : j.at("class_counts")) total += c.get<int64_t>();
  EXPECT_EQ(total, 100);
}

TEST(Cli, FineTunesAPythonScriptedModelWithTupleOutput) {
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

TEST(Cli, AttackWritesAnExampleSetThatEvaluatesToItsRobustAccuracy) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(run_advtk("train --arch mlp --epochs 1 --limit 2000 --val-size 100 --out '" + run + "'")
                .exit_code,
            0);
  const std::string out = dir.file("atk");
  const auto atk =
      run_advtk("attack '" + run +
                "/model.pt' --limit 100 --attack pgd --eps 0.05 --steps 10 --out '" + out + "'");
  ASSERT_EQ(atk.exit_code, 0) << atk.err;
  for (const char* f :
       {"adversarial.pt", "x_adv.npy", "y.npy", "examples.csv", "summary.json", "grid.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  const auto summary = nlohmann::json::parse(test::read_bytes(out + "/summary.json"));
  for (const char* key :
       {"clean_accuracy", "robust_accuracy", "success_rate", "median_l2", "median_linf", "seconds",
        "forward_calls", "backward_calls", "eps", "seed", "versions"})
    EXPECT_TRUE(summary.contains(key)) << key;
  // The set loads back as data (its x_adv), and the model's accuracy on it is the robust accuracy.
  const auto eval =
      run_advtk("eval '" + run + "/model.pt' --json --data pt:'" + out + "/adversarial.pt'");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(eval.out).at("accuracy").get<double>(),
                   summary.at("robust_accuracy").get<double>());
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack pgd").exit_code,
            2);  // no --eps
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack cw --norm linf").exit_code,
            2);
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack nope --eps 0.1").exit_code,
            2);

  // An ensemble says which attack broke each example; with --surrogate it is a transfer attack.
  const std::string suite = dir.file("suite");
  const auto ens =
      run_advtk("attack '" + run + "/model.pt' --limit 50 --attack apgd,noise " +
                "--steps 10 --eps 0.05 --surrogate '" + run + "/model.pt' --out '" + suite + "'");
  ASSERT_EQ(ens.exit_code, 0) << ens.err;
  const auto ens_summary = nlohmann::json::parse(test::read_bytes(suite + "/summary.json"));
  ASSERT_EQ(ens_summary.at("attacks").size(), 2u);
  EXPECT_EQ(ens_summary.at("attack"), "transfer:apgd,noise");
  const auto csv = test::read_bytes(suite + "/examples.csv");
  EXPECT_NE(std::string(csv.begin(), csv.end()).find(",broken_by\n"), std::string::npos);
  for (const std::string& bad : std::vector<std::string>{
           "--attack autoattack-max --eps 0.1", "--attack pgd --eps 0.1 --bpda",
           "--attack pgd --eps 0.1 --preprocess '" + dir.file("none.pt") + "'",
           "--attack pgd --eps 0.1 --eot 0", "--attack fab --eps 0.1 --eot 5",
           "--attack apgd,cw --eps 0.1", "--attack deepfool --norm l1 --eps 0.1",
           "--attack cw --initial-const big", "--attack cw --initial-const -1",
           "--attack pgd --eps 0.1 --surrogate '" + dir.file("none.pt") + "'"}) {
    const auto r = run_advtk("attack '" + run + "/model.pt' --limit 10 " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  // The declarations decide: a value outside its range, an option the attack does not read, an
  // option given to a preset — each one line naming the flag.
  for (const auto& [bad, says] : std::vector<std::pair<std::string, std::string>>{
           {"--attack pgd --eps 0.1 --steps 0", "--steps: expected at least 1, got 0"},
           {"--attack square --eps 0.1 --p-init 1.5", "--p-init: expected a value in (0, 1]"},
           {"--attack pgd --eps 0.1 --queries 10",
            "--queries: pgd has no such option (read by square)"},
           {"--attack autoattack --eps 0.1 --steps 10", "autoattack runs its reference parameters"},
           {"--attack pgd --eps 0.1 --loss hinge", "--loss: expected one of ce, margin"},
           {"--attack pgd --eps 0.1 --steps 2.5", "--steps: expected an integer, got '2.5'"}}) {
    const auto r = run_advtk("attack '" + run + "/model.pt' --limit 10 " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find(says), std::string::npos) << bad << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  // The minimum-norm FMN from the CLI, with its own option, and its distances at the budgets.
  const auto fmn = run_advtk("attack '" + run + "/model.pt' --limit 20 --attack fmn --norm linf " +
                             "--eps 0.05,0.1 --alpha-init 2 --out '" + dir.file("fmn") + "'");
  ASSERT_EQ(fmn.exit_code, 0) << fmn.err;
  const auto fmn_summary =
      nlohmann::json::parse(test::read_bytes(dir.file("fmn") + "/summary.json"));
  EXPECT_DOUBLE_EQ(fmn_summary.at("alpha_init").get<double>(), 2.0);
  EXPECT_EQ(fmn_summary.at("robust_accuracy_at").size(), 2u) << fmn_summary.dump();
}

TEST(Cli, AdversarialTrainingWritesRobustHistoryAndKeepsTheBestEpoch) {
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

TEST(Cli, MaskingGivesAVerdictWithEvidenceAndExitCodes) {
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

TEST(Cli, AuditWritesTheReportsAndGatesACiPipeline) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run"), out = dir.file("audit");
  ASSERT_EQ(run_advtk("train --arch mlp --epochs 1 --limit 2000 --val-size 100 --quiet --out '" +
                      run + "'")
                .exit_code,
            0);
  const std::string audit =
      "audit '" + run + "/model.pt' --budget quick --quiet --out '" + out + "'";
  const auto first = run_advtk(audit);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("worst case"), std::string::npos) << first.out;
  for (const char* file : {"report.json", "report.md", "report.html", "fragile.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + file)) << file;
  const auto report = nlohmann::json::parse(test::read_bytes(out + "/report.json"));
  EXPECT_EQ(report["data"]["examples"], 200);  // the quick budget's default --limit
  EXPECT_EQ(report["model"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(report["gate"]["exit_code"], 0);
  const double robust = report["main_robust_accuracy"].get<double>();
  EXPECT_LT(robust, report["clean_accuracy"].get<double>());

  // The gate, read from the saved stages: no attack runs again.
  const auto gated = run_advtk(audit + " --resume --fail-under 99%");
  EXPECT_EQ(gated.exit_code, 3) << gated.err;
  const auto again = nlohmann::json::parse(test::read_bytes(out + "/report.json"));
  EXPECT_EQ(again["main_robust_accuracy"].get<double>(), robust);
  EXPECT_EQ(again["gate"]["passed"], false);
  EXPECT_EQ(run_advtk(audit + " --resume --fail-under 0.01").exit_code, robust >= 0.01 ? 0 : 3);

  // Bad input: one line, exit 2, and the finished audit is left alone.
  for (const std::string& bad : std::vector<std::string>{
           "", "--resume --skip everything", "--resume --fail-under 150", "--resume --eps -0.1",
           "--resume --norm l3", "--resume --eps 0.3"}) {
    const auto e = run_advtk(audit + " " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad << ": " << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
  {
    const std::string bad = "--budget huge";
    const auto e =
        run_advtk("audit '" + run + "/model.pt' --quiet --resume --out '" + out + "' " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad << ": " << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
  EXPECT_EQ(nlohmann::json::parse(test::read_bytes(out + "/report.json"))["main_robust_accuracy"],
            robust);
  EXPECT_EQ(run_advtk("audit '" + dir.file("none.pt") + "' --quiet").exit_code, 2);
}

}  // namespace
}  // namespace advtk
