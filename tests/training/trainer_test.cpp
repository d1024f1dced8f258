#include "training/trainer.h"

#include <gtest/gtest.h>

#include "data/data_source.h"
#include "eval/evaluation.h"
#include "models/zoo.h"
#include "test_util.h"
#include "training/model_state.h"

namespace advtk {
namespace {

using test::TempDir;

using test::fashion;
using test::toy;

Model zoo_model(Architecture arch, std::vector<int64_t> shape, int64_t classes, uint64_t seed) {
  ZooOptions o;
  o.input_shape = std::move(shape);
  o.num_classes = classes;
  o.seed = seed;
  return Model::wrap(build_zoo_model(arch, o), {}, "zoo");
}

TEST(Trainer, CnnOnTwoThousandFashionMnistImagesBeatsSeventyFivePercent) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset train_data = fashion(Split::Train, 2000);
  const Dataset test_data = fashion(Split::Test, 1000);
  Model model = zoo_model(Architecture::Cnn, {1, 28, 28}, 10, 0);
  TrainOptions o;
  o.epochs = 4;
  o.batch_size = 32;
  CrossEntropyObjective objective;
  const TrainResult r = train(model, train_data, &test_data, objective, o);
  ASSERT_EQ(r.history.size(), 4u);
  const double accuracy = evaluate(model, test_data, 500).accuracy;
  EXPECT_GT(accuracy, 0.75);
  EXPECT_DOUBLE_EQ(*r.history.back().val_accuracy, accuracy);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

TEST(Trainer, ResumeContinuesExactlyAsAnUninterruptedRun) {
  const Dataset data = toy(300, 1);
  TrainOptions o;
  o.batch_size = 32;
  o.seed = 9;
  o.optimizer.kind = OptimizerKind::Adam;
  o.schedule.kind = ScheduleKind::Cosine;
  CrossEntropyObjective objective;

  TempDir straight_dir, split_dir;
  Model straight = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 3);
  o.epochs = 3;
  o.checkpoint_dir = straight_dir.path().string();
  train(straight, data, nullptr, objective, o);

  Model first = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 3);
  o.epochs = 3;
  o.checkpoint_dir = split_dir.path().string();
  // Stop after one epoch by training a 3-epoch run's first epoch only: same schedule length.
  struct StopAfterOne : std::exception {};
  TrainCallbacks stop;
  stop.on_epoch = [](const EpochRecord& r) {
    if (r.epoch == 1) throw StopAfterOne();
  };
  EXPECT_THROW(train(first, data, nullptr, objective, o, stop), StopAfterOne);

  Model resumed = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 99);  // other init: overwritten
  o.resume = true;
  const TrainResult r = train(resumed, data, nullptr, objective, o);
  EXPECT_EQ(r.first_epoch, 2);
  ASSERT_EQ(r.history.size(), 3u);
  const auto a = straight.parameters(), b = resumed.parameters();
  ASSERT_EQ(a.size(), b.size());
  // Equal up to float rounding: the JIT executor optimises a module's graph after its first
  // runs, so a resumed process runs its first steps on another plan; with fused multiply-add
  // BLAS kernels (OpenBLAS's Haswell ones) that moves the last bit (1.5e-8 here; with its
  // Sandybridge kernels, or with the optimisation off, the runs are bit-identical).
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-7))
        << "parameter " << i << ": " << (a[i] - b[i]).abs().max().item<double>();
}

TEST(Trainer, ResumeWithoutCheckpointIsAnError) {
  TempDir dir;
  Model model = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  TrainOptions o;
  o.checkpoint_dir = dir.path().string();
  o.resume = true;
  CrossEntropyObjective objective;
  EXPECT_NE(test::error_of([&] {
              train(model, toy(10, 0), nullptr, objective, o);
            }).find("no checkpoint"),
            std::string::npos);
}

TEST(Trainer, DivergenceIsReportedNotHidden) {
  struct NanObjective : TrainingObjective {
    BatchLoss compute(Model& model, const TrainBatch& batch) override {
      torch::Tensor logits = model.logits(batch.x);
      return {torch::nn::functional::cross_entropy(logits, batch.y) * std::nan(""), logits};
    }
    std::string name() const override { return "nan"; }
  } objective;
  Model model = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  TrainOptions o;
  o.epochs = 1;
  EXPECT_NE(
      test::error_of([&] { train(model, toy(64, 0), nullptr, objective, o); }).find("diverged"),
      std::string::npos);
}

TEST(Trainer, GradientClippingBoundsTheUpdate) {
  Model model = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  std::vector<torch::Tensor> before;
  for (const auto& p : model.parameters()) before.push_back(p.clone());
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 64;
  o.optimizer.kind = OptimizerKind::Sgd;
  o.optimizer.lr = 1.0;
  o.clip_grad_norm = 1e-2;
  CrossEntropyObjective objective;
  train(model, toy(64, 0), nullptr, objective, o);  // one step of norm lr * 1e-2
  double moved = 0;
  const auto after = model.parameters();
  for (size_t i = 0; i < after.size(); ++i)
    moved += (after[i] - before[i]).pow(2).sum().item<double>();
  // float32 rounding of ~70k parameters blurs the norm by well under 1%.
  EXPECT_NEAR(std::sqrt(moved), 1e-2, 1e-4);
}

// An epoch check that reports the given robust accuracies (epoch 1 first) as the metric "robust"
// and stops at `stop_at`.
EpochCheck scripted_check(std::vector<double> robust, int64_t stop_at = 0) {
  return [robust, stop_at](const Model&, const std::vector<EpochRecord>&, EpochRecord& r) {
    r.metrics["robust"] = robust.at(static_cast<size_t>(r.epoch - 1));
    if (r.epoch == stop_at) r.stop_reason = "collapsed";
  };
}

bool same_parameters(const Model& model, const ModelState& state) {
  const ModelState now = capture_state(model.module());
  for (size_t i = 0; i < now.tensors.size(); ++i)
    if (!torch::equal(now.tensors[i], state.tensors[i])) return false;
  return true;
}

TEST(Trainer, KeepBestEndsWithTheMostRobustEpochsModel) {
  Model model = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  std::vector<ModelState> after_epoch;
  TrainCallbacks keep_states;
  keep_states.on_epoch = [&](const EpochRecord&) {
    after_epoch.push_back(capture_state(model.module()));
  };
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 32;
  o.keep = KeepPolicy::Best;
  o.rank_metric = "robust";
  o.epoch_check = scripted_check({0.5, 0.9, 0.3});
  CrossEntropyObjective objective;
  const TrainResult r = train(model, toy(200, 0), nullptr, objective, o, keep_states);
  EXPECT_EQ(r.best_epoch, 2);
  EXPECT_EQ(r.kept_epoch, 2);
  ASSERT_EQ(after_epoch.size(), 3u);
  EXPECT_TRUE(same_parameters(model, after_epoch[1]));
  EXPECT_FALSE(same_parameters(model, after_epoch[2]));
}

TEST(Trainer, AStoppedRunKeepsTheLastGoodEpochAndCannotBeResumed) {
  TempDir dir;
  Model model = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  std::vector<ModelState> after_epoch;
  TrainCallbacks keep_states;
  keep_states.on_epoch = [&](const EpochRecord&) {
    after_epoch.push_back(capture_state(model.module()));
  };
  TrainOptions o;
  o.epochs = 5;
  o.batch_size = 32;
  o.keep = KeepPolicy::Last;
  o.checkpoint_dir = dir.path().string();
  o.epoch_check = scripted_check({0.5, 0.6, 0.1, 0.7, 0.7}, 3);
  CrossEntropyObjective objective;
  const Dataset data = toy(200, 0);
  const TrainResult r = train(model, data, nullptr, objective, o, keep_states);
  EXPECT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.stop_reason, "collapsed");
  EXPECT_EQ(r.kept_epoch, 2);
  EXPECT_TRUE(same_parameters(model, after_epoch[1]));
  // The checkpoint's model is the last good one too.
  Model reloaded = Model::load(dir.file("model.pt"), {});
  EXPECT_TRUE(same_parameters(reloaded, after_epoch[1]));
  o.resume = true;
  EXPECT_NE(test::error_of([&] {
              train(model, data, nullptr, objective, o);
            }).find("already ended at epoch 3 (collapsed)"),
            std::string::npos);
}

TEST(Trainer, ResumeRestoresTheBestEpochFromItsCheckpoint) {
  TempDir dir;
  const Dataset data = toy(200, 0);
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 32;
  o.keep = KeepPolicy::Best;
  o.rank_metric = "robust";
  o.checkpoint_dir = dir.path().string();
  o.epoch_check = scripted_check({0.9, 0.5, 0.3});
  CrossEntropyObjective objective;
  Model first = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 0);
  ModelState epoch_one;
  TrainCallbacks stop;
  stop.on_epoch = [&](const EpochRecord& r) {
    epoch_one = capture_state(first.module());
    if (r.epoch == 1) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(train(first, data, nullptr, objective, o, stop), std::runtime_error);
  Model resumed = zoo_model(Architecture::Mlp, {1, 4, 4}, 4, 7);
  o.resume = true;
  const TrainResult r = train(resumed, data, nullptr, objective, o);
  EXPECT_EQ(r.first_epoch, 2);
  EXPECT_EQ(r.kept_epoch, 1);
  EXPECT_TRUE(same_parameters(resumed, epoch_one));
}

}  // namespace
}  // namespace advtk
