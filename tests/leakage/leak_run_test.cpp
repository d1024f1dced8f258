// The engine end to end: results that do not depend on the number of threads, reconstructions
// matched one-to-one within a batch, and a stronger defense leaking less on a fixed seed.
#include <gtest/gtest.h>

#include "leak_test_util.h"
#include "leakage/leak_run.h"

namespace advtk {
namespace {

TEST(LeakRun, ResultsDoNotDependOnTheNumberOfThreads) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 3);
  LeakOptions o;
  o.attack = LeakAttack::Idlg;
  o.dlg.iterations = 20;
  o.protocol = {2, 0.01};  // local steps: each worker runs its own copy of the module
  std::vector<std::vector<double>> psnr;
  for (const int threads : {1, 2, 3}) {
    Model model = test::leak_model(Architecture::DlgLeNet);
    o.threads = threads;
    const std::vector<LeakRun> runs = run_leak(model, data, o);
    ASSERT_EQ(runs.size(), 1u);
    ASSERT_EQ(runs[0].batches.size(), 3u);
    std::vector<double> p;
    for (const BatchLeak& b : runs[0].batches) p.push_back(b.psnr[0]);
    psnr.push_back(p);
  }
  EXPECT_EQ(psnr[0], psnr[1]);
  EXPECT_EQ(psnr[0], psnr[2]);
}

TEST(LeakRun, ABatchIsScoredAfterAOneToOneMatching) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 4);
  Model model = test::leak_model(Architecture::Mlp, 1);
  LeakOptions o;
  o.attack = LeakAttack::Analytic;
  o.batch_size = 4;
  const BatchLeak b = run_leak(model, data, o).front().batches.front();
  ASSERT_EQ(b.ids, (std::vector<int64_t>{0, 1, 2, 3}));
  // Each original is paired with a distinct reconstruction, the closest one overall.
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = i + 1; j < 4; ++j)
      EXPECT_FALSE(torch::equal(b.x_rec[i], b.x_rec[j])) << i << " and " << j;
  EXPECT_EQ(b.psnr.size(), 4u);
  EXPECT_EQ(b.labels_right, 4) << "the label counts of a batch of 4";
}

TEST(LeakRun, MoreNoiseOrPruningLeaksLessOnAFixedSeed) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 2);
  Model model = test::leak_model(Architecture::DlgLeNet);
  LeakOptions o;
  o.attack = LeakAttack::Idlg;
  o.defenses.clear();
  for (const double s : {0.0, 1e-3, 1e-2}) {
    GradientDefense d;
    d.kind = s == 0 ? DefenseKind::None : DefenseKind::Noise;
    d.sigma = s;
    o.defenses.push_back(d);
  }
  for (const double p : {0.3, 0.6}) {
    GradientDefense d;
    d.kind = DefenseKind::Prune;
    d.prune_fraction = p;
    o.defenses.push_back(d);
  }
  const std::vector<LeakRun> runs = run_leak(model, data, o);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_GT(runs[0].median_psnr, 30);
  EXPECT_GT(runs[0].median_psnr, runs[1].median_psnr);
  EXPECT_GT(runs[1].median_psnr, runs[2].median_psnr);
  EXPECT_GT(runs[0].median_psnr, runs[3].median_psnr);
  EXPECT_GT(runs[3].median_psnr, runs[4].median_psnr);
  EXPECT_GT(runs[2].mean_utility_cosine, 0.9) << "the noise kept most of the update";
  EXPECT_EQ(runs[0].label_accuracy, 1.0);
}

TEST(LeakRun, AModelWhoseGradientCannotBeDifferentiatedTwiceIsNamed) {
  // cdist has no double backward in LibTorch.
  torch::jit::Module m("Prototypes");
  m.register_parameter("p", torch::rand({4, 16}), false);
  m.define("def forward(self, x):\n    return -torch.cdist(torch.flatten(x, 1), self.p)\n");
  Model model = Model::wrap(m, {}, "prototypes.pt");
  Dataset data = test::toy(2, 1);
  LeakOptions o;
  o.attack = LeakAttack::Idlg;
  const std::string message = test::error_of([&] { run_leak(model, data, o); });
  EXPECT_NE(message.find("cannot be differentiated again"), std::string::npos) << message;
  EXPECT_NE(message.find("cdist"), std::string::npos) << message;
}

TEST(LeakRun, OnCudaTheReconstructionMatchesTheCpus) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "CUDA is not available here";
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 2);
  LeakOptions o;
  o.attack = LeakAttack::Idlg;
  ModelOptions gpu;
  gpu.device = torch::Device(torch::kCUDA, 0);
  Model model = test::leak_model(Architecture::DlgLeNet, 0, gpu);
  model.module().to(gpu.device);
  const std::vector<LeakRun> runs = run_leak(model, data, o);
  // Kernels differ from the CPU's: the figure, not the bits.
  EXPECT_GT(runs[0].median_psnr, 30);
  EXPECT_EQ(runs[0].label_accuracy, 1.0);
}

}  // namespace
}  // namespace advtk
