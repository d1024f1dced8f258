// Activation clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava
// 2018, "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering"): per
// class, the features projected to 10 dimensions (PCA here; the paper uses ICA) are split by
// 2-means; poison and legitimate examples land in different clusters.
//
// Which cluster, if any, is poison? The paper offers three criteria: relative size (the smaller
// cluster), silhouette score, and exclusionary reclassification (retrain without the cluster and
// see whether it is still classified as its label). Size fails when poison is half the class
// (10% BadNets into one of ten classes), and silhouette does not separate on Fashion-MNIST: clean
// classes score 0.19–0.41, BadNets targets 0.33–0.40 (measured, README). advtk reports both and
// decides by a reclassification against the clean reference instead of a retrained model: a
// cluster holding a share q of the class is legitimate when the reference says it could be part
// of the class. Any subset with share q of a distribution with RMS radius R has its mean within
// R·√((1 − q)/q) of the distribution's mean (Cauchy–Schwarz), so a cluster whose mean lies
// further than that from the reference inputs' class mean (R their RMS radius), plus two standard
// errors of that reference mean (2/√m in units of R), is flagged as not drawn from the class.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "poisoning/class_groups.h"

namespace advtk {

struct ActivationClusteringOptions {
  int64_t dims = 10;     // the projection's dimension (the paper's 10)
  int64_t restarts = 4;  // 2-means restarts, the lowest inertia kept
  int64_t iterations = 100;
  int64_t silhouette_sample = 2000;  // per class, for the (reported) silhouette score
  uint64_t seed = 0;
};

struct ClusterClass {
  int64_t examples = 0, reference = 0;
  std::array<int64_t, 2> sizes{0, 0};
  double silhouette = 0;                 // the paper's criterion, reported
  double relative_size = 0;              // the smaller cluster's share, reported
  std::array<double, 2> distance{0, 0};  // cluster mean to the reference class mean, in R
  std::array<double, 2> bound{0, 0};     // what a legitimate cluster of its share can reach
  bool decided = false;
  int64_t flagged_cluster = -1;  // 0 or 1; -1: none
};

struct ActivationClusteringReport {
  std::vector<ClusterClass> classes;
  std::vector<int64_t> flagged;  // rows of the training set
};

ActivationClusteringReport activation_clustering(const FeatureSet& set,
                                                 const ActivationClusteringOptions& options = {});

// Lloyd's 2-means with k-means++ seeding, the lowest-inertia of `restarts`: cluster ids [N] (long).
torch::Tensor two_means(const torch::Tensor& points, int64_t restarts, int64_t iterations,
                        torch::Generator& gen);

// Mean silhouette coefficient of a 2-cluster assignment (Rousseeuw 1987).
double silhouette_score(const torch::Tensor& points, const torch::Tensor& assignment);

}  // namespace advtk
