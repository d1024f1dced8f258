#include "audit/evaluation.h"

#include <limits>

#include "core/error.h"

namespace advtk {

EvaluationResult evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                          int64_t num_classes, const BatchProgress& progress) {
  ADVTK_CHECK(batch_size > 0, "--batch-size: expected a positive number, got ", batch_size);
  torch::NoGradGuard no_grad;
  const int64_t n = data.size();
  std::vector<torch::Tensor> predictions;
  torch::Tensor loss_sum = torch::zeros({}, torch::kDouble);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    const torch::Tensor x = model.from_unit_range(data.images.slice(0, start, end));
    const torch::Tensor y = data.labels.slice(0, start, end).to(model.device());
    const torch::Tensor logits = model.logits(x).to(torch::kFloat);
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .to(torch::kCPU, torch::kDouble);
    predictions.push_back(logits.argmax(1).to(torch::kCPU));
    if (num_classes <= 0) num_classes = logits.size(1);
    if (progress) progress(end, n);
  }
  EvaluationResult r;
  r.examples = n;
  r.predictions = torch::cat(predictions);
  const int64_t k = std::max(
      num_classes,
      std::max(r.predictions.max().item<int64_t>(), data.labels.max().item<int64_t>()) + 1);
  r.confusion = torch::bincount(data.labels * k + r.predictions, {}, k * k).view({k, k});
  r.correct = r.confusion.diagonal().sum().item<int64_t>();
  r.accuracy = static_cast<double>(r.correct) / static_cast<double>(n);
  r.mean_loss = loss_sum.item<double>() / static_cast<double>(n);
  const torch::Tensor per_class_total = r.confusion.sum(1);
  for (int64_t c = 0; c < k; ++c) {
    const int64_t total = per_class_total[c].item<int64_t>();
    r.per_class_accuracy.push_back(
        total == 0 ? std::numeric_limits<double>::quiet_NaN()
                   : static_cast<double>(r.confusion[c][c].item<int64_t>()) / total);
  }
  return r;
}

}  // namespace advtk
