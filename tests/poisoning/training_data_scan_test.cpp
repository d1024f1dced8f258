// The training-data detectors: 2-means and the silhouette against hand cases; on Gaussian
// features, a poisoned group found and a clean set left alone; on the shared Fashion-MNIST models,
// the figures (BadNets and Blend found at TPR >= 0.9 with at most 10% of clean examples
// flagged, label flips at TPR >= 0.8, clean models raising no flag).
#include <gtest/gtest.h>

#include "core/seeding.h"
#include "models/feature_layer.h"
#include "poisoning/backdoor_fixtures.h"
#include "poisoning/training_data_scan.h"

namespace advtk {
namespace {

TEST(TwoMeans, SeparatesTwoBlobsAndTheSilhouetteMatchesAHandComputation) {
  // Points 0, 1 | 10, 11 on a line: a(0) = 1, b(0) = 10.5, s(0) = 9.5 / 10.5; a(1) = 1,
  // b(1) = 9.5, s(1) = 8.5 / 9.5; the other two mirror them.
  const torch::Tensor x = torch::tensor({0.0, 1.0, 10.0, 11.0}, torch::kDouble).view({4, 1});
  torch::Generator gen = make_generator(1);
  const torch::Tensor a = two_means(x, 3, 50, gen);
  EXPECT_EQ(a[0].item<int64_t>(), a[1].item<int64_t>());
  EXPECT_EQ(a[2].item<int64_t>(), a[3].item<int64_t>());
  EXPECT_NE(a[0].item<int64_t>(), a[2].item<int64_t>());
  EXPECT_NEAR(silhouette_score(x, a), (9.5 / 10.5 + 8.5 / 9.5) / 2, 1e-12);
  // One cluster only: every point scores 0.
  EXPECT_EQ(silhouette_score(x, torch::zeros({4}, torch::kLong)), 0.0);
}

// Classes of unit Gaussian features around well-separated centres; `make` draws n of class c.
struct Gaussians {
  torch::Generator gen = make_generator(7);  // before centres: it draws them
  torch::Tensor centres;
  explicit Gaussians(int64_t classes) : centres(torch::randn({classes, 8}, gen) * 10) {}
  torch::Tensor draw(int64_t c, int64_t n) { return torch::randn({n, 8}, gen) + centres[c]; }
};

FeatureSet gaussian_set(Gaussians& g, int64_t classes, int64_t per_class, int64_t refs = 60) {
  std::vector<torch::Tensor> f, y, rf, ry;
  for (int64_t c = 0; c < classes; ++c) {
    f.push_back(g.draw(c, per_class));
    y.push_back(torch::full({per_class}, c, torch::kLong));
    rf.push_back(g.draw(c, refs));
    ry.push_back(torch::full({refs}, c, torch::kLong));
  }
  return {torch::cat(f), torch::cat(y), torch::cat(rf), torch::cat(ry), classes};
}

TEST(TrainingDataScan, FindsAShiftedGroupHalfItsClassAndLeavesCleanGaussiansAlone) {
  Gaussians g(4);
  const FeatureSet clean = gaussian_set(g, 4, 300);
  const TrainingDataScan none = scan_training_data(clean, {});
  EXPECT_TRUE(none.poisoned_classes.empty());
  EXPECT_TRUE(none.suspicious.empty());
  // 300 examples of class 1, shifted by 8 along one direction, labelled 0: half of class 0.
  FeatureSet poisoned = clean;
  const torch::Tensor shift = torch::nn::functional::normalize(
      torch::randn({1, 8}, g.gen), torch::nn::functional::NormalizeFuncOptions().dim(1));
  poisoned.features = torch::cat({clean.features, g.draw(0, 300) + 8 * shift});
  poisoned.labels = torch::cat({clean.labels, torch::zeros({300}, torch::kLong)});
  std::vector<int64_t> truth;
  for (int64_t i = 1200; i < 1500; ++i) truth.push_back(i);
  const TrainingDataScan s = scan_training_data(poisoned, {});
  EXPECT_EQ(s.spectral.flagged.size() > 0 && s.spectral.classes[0].flagged, true);
  EXPECT_GE(detection_rates(s.spectral.flagged, truth, 1500).tpr, 0.95);
  EXPECT_LE(detection_rates(s.spectral.flagged, truth, 1500).fpr, 0.01);
  EXPECT_GE(detection_rates(s.clustering.flagged, truth, 1500).tpr, 0.95);
  EXPECT_LE(detection_rates(s.clustering.flagged, truth, 1500).fpr, 0.01);
  for (int64_t c = 1; c < 4; ++c) {
    EXPECT_FALSE(s.spectral.classes[c].flagged) << c;
    EXPECT_EQ(s.clustering.classes[c].flagged_cluster, -1) << c;
  }
}

TEST(TrainingDataScan, AFewReferenceInputsPerClassRaiseNoFalseAlarm) {
  // 8 reference inputs per class estimate its spread poorly; the decisions allow for that.
  for (uint64_t seed : {1, 2, 3}) {
    Gaussians g(4);
    g.gen = make_generator(seed);
    const TrainingDataScan s = scan_training_data(gaussian_set(g, 4, 500, 8), {});
    EXPECT_TRUE(s.poisoned_classes.empty()) << seed;
  }
}

TEST(TrainingDataScan, DeepKnnFindsLabelsFlippedFromSeveralClasses) {
  // 40 examples of each of classes 1..4 labelled 0: each sits among ~300 of its true class.
  Gaussians g(5);
  FeatureSet s = gaussian_set(g, 5, 300);
  std::vector<torch::Tensor> f{s.features}, y{s.labels};
  for (int64_t c = 1; c < 5; ++c) {
    f.push_back(g.draw(c, 40));
    y.push_back(torch::zeros({40}, torch::kLong));
  }
  s.features = torch::cat(f);
  s.labels = torch::cat(y);
  std::vector<int64_t> truth;
  for (int64_t i = 1500; i < 1660; ++i) truth.push_back(i);
  const DeepKnnReport r = deep_knn(s, {});
  EXPECT_TRUE(r.classes[0].flagged);
  for (int64_t c = 1; c < 5; ++c) EXPECT_FALSE(r.classes[c].flagged) << c;
  EXPECT_GE(detection_rates(r.flagged, truth, 1660).tpr, 0.95);
  EXPECT_NEAR(r.classes[0].foreign_share, 160.0 / 460, 0.1);
}

TEST(DetectionRates, CountsHitsAgainstTheTruth) {
  const DetectionRates d = detection_rates({1, 2, 7}, {1, 2, 3, 4}, 10);
  EXPECT_DOUBLE_EQ(d.tpr, 0.5);
  EXPECT_DOUBLE_EQ(d.fpr, 1.0 / 6);
}

// The scan of a fixture model's training set, with the first 500 test images as the reference.
TrainingDataScan scan_of(const Model& model, const Dataset& train) {
  const test::BackdoorFixture& f = test::backdoor_fixture();
  const FeatureLayer layer = FeatureLayer::find(model);
  const Dataset ref = select(f.test, {0, 500});
  FeatureSet set{layer.extract(train.images, 500), train.labels, layer.extract(ref.images, 500),
                 ref.labels, 10};
  return scan_training_data(set, {});
}

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const torch::Tensor l = t.to(torch::kLong).contiguous();
  return {l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel()};
}

TEST(TrainingDataScan, FindsBadNetsAndBlendPoisonOnFashionMnist) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  for (PoisonAttack attack : {PoisonAttack::BadNets, PoisonAttack::Blend}) {
    const test::PoisonedModel& p = test::poisoned_model(attack);
    const TrainingDataScan s = scan_of(p.model, p.set.data);
    const std::vector<int64_t> truth = as_vector(p.set.index);
    const DetectionRates spectral = detection_rates(s.spectral.flagged, truth, 6000);
    const DetectionRates clusters = detection_rates(s.clustering.flagged, truth, 6000);
    const DetectionRates& better = spectral.tpr >= clusters.tpr ? spectral : clusters;
    EXPECT_GE(better.tpr, 0.9) << poison_attack_name(attack);
    EXPECT_LE(better.fpr, 0.1) << poison_attack_name(attack);
    EXPECT_EQ(s.poisoned_classes, std::vector<int64_t>{0}) << poison_attack_name(attack);
  }
}

TEST(TrainingDataScan, FindsFlippedLabelsOnFashionMnist) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const test::PoisonedModel& p = test::poisoned_model(PoisonAttack::LabelFlip);
  const TrainingDataScan s = scan_of(p.model, p.set.data);
  EXPECT_GE(detection_rates(s.knn.flagged, as_vector(p.set.index), 6000).tpr, 0.8);
  EXPECT_TRUE(s.knn.classes[0].flagged);
  for (int64_t c = 1; c < 10; ++c) EXPECT_FALSE(s.knn.classes[c].flagged) << c;
}

TEST(TrainingDataScan, CleanModelsOfTwoSeedsRaiseNoFlag) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  for (int which : {0, 1}) {
    const TrainingDataScan s = scan_of(test::clean_model(which), test::clean_train_set());
    EXPECT_TRUE(s.poisoned_classes.empty()) << which;
    EXPECT_TRUE(s.suspicious.empty()) << which;
  }
}

}  // namespace
}  // namespace advtk
