#include "eval/evaluation.h"

#include <limits>

#include "core/error.h"
#include "eval/prediction.h"

namespace advtk {

EvaluationResult evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                          int64_t num_classes, const BatchProgress& progress, int64_t passes,
                          const ProcessGroup* group) {
  ADVTK_CHECK(batch_size > 0, "--batch-size: expected a positive number, got ", batch_size);
  ADVTK_CHECK(passes >= 1 && passes % 2 == 1, "passes: expected an odd number >= 1, got ", passes);
  torch::NoGradGuard no_grad;
  const int64_t n = data.size();
  const int64_t batches = (n + batch_size - 1) / batch_size;
  // Several ranks: each runs its contiguous share of the batches and fills its columns; the
  // others' are zeros until the sums below, which add nothing else to them.
  const ProcessGroup& ranks = group_or_alone(group);
  const auto [first, last] = share_of(batches, ranks.rank(), ranks.size());
  if (!ranks.alone() && num_classes <= 0 && n > 0)
    num_classes = model.logits(model.from_unit_range(data.images.slice(0, 0, 1))).size(1);
  torch::Tensor all = torch::zeros({passes, n}, torch::kLong);  // predictions per pass
  torch::Tensor losses = torch::zeros({batches, passes}, torch::kDouble);
  torch::Tensor bad = torch::zeros({n}, torch::kLong);
  for (int64_t b = first; b < last; ++b) {
    const int64_t start = b * batch_size, end = std::min(n, start + batch_size);
    const torch::Tensor x = model.from_unit_range(data.images.slice(0, start, end));
    const torch::Tensor y = data.labels.slice(0, start, end).to(model.device());
    for (int64_t p = 0; p < passes; ++p) {
      const torch::Tensor logits = model.logits(x).to(torch::kFloat);
      bad.slice(0, start, end) |= (~torch::isfinite(logits).all(1)).to(torch::kCPU, torch::kLong);
      losses[b][p] =
          torch::nn::functional::cross_entropy(
              logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
              .to(torch::kCPU, torch::kDouble);
      all[p].slice(0, start, end) = predicted_class(logits).to(torch::kCPU);
      if (num_classes <= 0) num_classes = logits.size(1);
    }
    if (progress) progress(end, n);
  }
  ranks.all_reduce_sum(all);
  ranks.all_reduce_sum(losses);
  ranks.all_reduce_sum(bad);
  // In batch and pass order, as one running sum.
  double loss_sum = 0;
  const auto loss_of = losses.accessor<double, 2>();
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t p = 0; p < passes; ++p) loss_sum += loss_of[b][p];
  const int64_t nonfinite = bad.gt(0).sum().item<int64_t>();
  EvaluationResult r;
  r.examples = n;
  r.passes = passes;
  r.predictions = passes == 1 ? all[0] : std::get<0>(all.mode(0));
  const torch::Tensor labels = data.labels.to(torch::kLong);
  r.majority_correct = all.eq(labels.unsqueeze(0)).sum(0).mul(2).gt(passes);
  const int64_t k =
      std::max(num_classes, std::max(all.max().item<int64_t>(), labels.max().item<int64_t>()) + 1);
  // Rows with a NaN predicted no class: counted wrong, outside the matrix.
  const torch::Tensor cells = (labels.unsqueeze(0) * k + all).masked_select(all.ne(kNoClass));
  r.confusion = torch::bincount(cells, {}, k * k).view({k, k});
  const auto total = static_cast<double>(n * passes);
  r.correct = r.majority_correct.sum().item<int64_t>();
  r.accuracy = static_cast<double>(r.confusion.diagonal().sum().item<int64_t>()) / total;
  r.majority_accuracy = static_cast<double>(r.correct) / static_cast<double>(n);
  r.mean_loss = loss_sum / total;
  r.nonfinite = nonfinite;
  const torch::Tensor per_class_total = torch::bincount(labels, {}, k) * passes;
  for (int64_t c = 0; c < k; ++c) {
    const int64_t count = per_class_total[c].item<int64_t>();
    r.per_class_accuracy.push_back(
        count == 0 ? std::numeric_limits<double>::quiet_NaN()
                   : static_cast<double>(r.confusion[c][c].item<int64_t>()) / count);
  }
  return r;
}

int64_t count_nonfinite_outputs(const Model& model, const Dataset& data, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  int64_t count = 0;
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t end = std::min(data.size(), start + batch_size);
    const torch::Tensor logits =
        model.logits(model.from_unit_range(data.images.slice(0, start, end)));
    count += (~torch::isfinite(logits).all(1)).sum().item<int64_t>();
  }
  return count;
}

std::string nonfinite_outputs_warning(int64_t nonfinite, int64_t examples) {
  return "the model's outputs are NaN or infinite on " + std::to_string(nonfinite) + " of " +
         std::to_string(examples) +
         " clean inputs: an input whose logits hold a NaN predicts no class (counted as "
         "misclassified), and no loss or gradient is a number there (advtk audit's numerical "
         "probe counts the same)";
}

bool outputs_vary(const Model& model, const Dataset& data, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const int64_t m = std::min<int64_t>({data.size(), 100, std::max<int64_t>(batch_size, 1)});
  if (m == 0) return false;
  const torch::Tensor x = model.from_unit_range(data.images.slice(0, 0, m));
  const torch::Tensor a = model.logits(x).to(torch::kCPU, torch::kDouble);
  const torch::Tensor b = model.logits(x).to(torch::kCPU, torch::kDouble);
  const torch::Tensor finite = torch::isfinite(a) & torch::isfinite(b);
  if (!finite.any().item<bool>()) return false;
  const double scale = 1 + a.masked_select(finite).abs().max().item<double>();
  return (a - b).masked_select(finite).abs().max().item<double>() > kRandomOutputTolerance * scale;
}

}  // namespace advtk
