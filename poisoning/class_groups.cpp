#include "poisoning/class_groups.h"

#include "core/error.h"

namespace advtk {

std::vector<torch::Tensor> rows_by_class(const torch::Tensor& labels, int64_t classes) {
  const torch::Tensor y = labels.to(torch::kLong).cpu();
  if (y.numel() > 0) {
    const int64_t lo = y.min().item<int64_t>(), hi = y.max().item<int64_t>();
    ADVTK_CHECK(lo >= 0 && hi < classes, "labels ", lo, "..", hi, " outside the model's ", classes,
                " classes");
  }
  std::vector<torch::Tensor> rows;
  for (int64_t c = 0; c < classes; ++c) rows.push_back(torch::nonzero(y == c).flatten());
  return rows;
}

void check_feature_set(const FeatureSet& s) {
  ADVTK_CHECK(s.classes >= 2, "training-data scan: expected at least 2 classes");
  ADVTK_CHECK(
      s.features.dim() == 2 && s.labels.dim() == 1 && s.features.size(0) == s.labels.size(0),
      "training-data scan: expected features [N, D] with N labels");
  ADVTK_CHECK(s.reference_features.dim() == 2 &&
                  s.reference_features.size(1) == s.features.size(1) &&
                  s.reference_labels.dim() == 1 &&
                  s.reference_labels.size(0) == s.reference_features.size(0),
              "training-data scan: expected reference features [M, D] with M labels");
  ADVTK_CHECK(torch::isfinite(s.features).all().item<bool>(),
              "training-data scan: the model's features of the training set are not finite");
}

}  // namespace advtk
