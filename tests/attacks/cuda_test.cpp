// The CUDA path: skipped where there is no GPU; run on a machine that has one.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/attack_runner.h"
#include "attacks/registry.h"
#include "models/zoo.h"
#include "test_util.h"
#include "training/trainer.h"

namespace advtk {
namespace {

TEST(Cuda, TrainAndAttackOnTheGpuAgreeWithTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Dataset data;
  auto gen = make_generator(3);
  data.labels = torch::randint(0, 4, {256}, gen, torch::kLong);
  data.images = torch::rand({256, 1, 8, 8}, gen) * 0.5;
  for (int64_t i = 0; i < 256; ++i) data.images[i][0][2 * data.labels[i].item<int64_t>()] += 0.5;
  data.source = "toy";
  ZooOptions z;
  z.input_shape = {1, 8, 8};
  z.num_classes = 4;
  ModelOptions on_gpu;
  on_gpu.device = torch::Device(torch::kCUDA, 0);
  Model gpu = Model::wrap(build_zoo_model(Architecture::Cnn, z), on_gpu, "cnn");
  TrainOptions t;
  t.epochs = 3;
  t.batch_size = 32;
  CrossEntropyObjective objective;
  train(gpu, data, nullptr, objective, t);
  EXPECT_TRUE(gpu.parameters()[0].is_cuda());

  test::TempDir dir;
  gpu.save(dir.file("m.pt"));
  const Model cpu = Model::load(dir.file("m.pt"), {});
  const AttackInfo& pgd = find_attack("pgd");
  const OptionValues c = OptionValues().set("steps", int64_t{10});
  AttackSetup s;
  const auto factory = [&](double eps) {
    s.threat.eps = eps;
    return make_attack(pgd, s, c);
  };
  const AttackRun a = run_attack(gpu, data, factory, {0.1}, {})[0];
  const AttackRun b = run_attack(cpu, data, factory, {0.1}, {})[0];
  // Float differences may flip an example or two, no more.
  EXPECT_LE((a.success ^ b.success).sum().item<int64_t>(), 3);
  EXPECT_LE(distance(Norm::Linf, a.x_adv, a.x).max().item<double>(), 0.1 + 1e-6);
}

}  // namespace
}  // namespace advtk
