#include "eval/batched.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "eval/prediction.h"

namespace advtk {

Dataset rows_of(const Dataset& data, const torch::Tensor& rows) {
  Dataset out = data;
  out.images = data.images.index_select(0, rows);
  out.labels = data.labels.index_select(0, rows);
  out.ids = data.example_ids().index_select(0, rows);
  return out;
}

torch::Tensor wrong_votes(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                          int64_t passes, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    const int64_t end = std::min(x.size(0), start + batch_size);
    const torch::Tensor xb = x.slice(0, start, end).to(model.device());
    const torch::Tensor yb = y.slice(0, start, end).to(model.device());
    torch::Tensor wrong = torch::zeros({end - start}, yb.options().dtype(torch::kLong));
    for (int64_t p = 0; p < passes; ++p)
      wrong += predicted_class(model.logits(xb)).ne(yb).to(torch::kLong);
    out.push_back(wrong.cpu());
  }
  return out.empty() ? torch::zeros({0}, torch::kLong) : torch::cat(out);
}

torch::Tensor majority_misclassified(const Model& model, const torch::Tensor& x,
                                     const torch::Tensor& y, int64_t passes, int64_t batch_size) {
  return wrong_votes(model, x, y, passes, batch_size) * 2 > passes;
}

Points clean_correct_points(const Model& model, const Dataset& data, int64_t want, int64_t passes,
                            int64_t batch_size) {
  Points p;
  std::vector<torch::Tensor> keep;
  int64_t found = 0;
  for (int64_t start = 0; start < data.size() && found < want; start += batch_size) {
    const int64_t end = std::min(data.size(), start + batch_size);
    const torch::Tensor x = model.from_unit_range(data.images.slice(0, start, end));
    const torch::Tensor ok =
        ~majority_misclassified(model, x, data.labels.slice(0, start, end), passes, batch_size);
    torch::Tensor rows = ok.nonzero().squeeze(1) + start;
    if (found + rows.size(0) > want) {
      rows = rows.slice(0, 0, want - found);
      // The examples seen stop at the last point taken.
      p.seen = rows[-1].item<int64_t>() + 1;
    } else {
      p.seen = end;
    }
    found += rows.size(0);
    keep.push_back(rows);
  }
  ADVTK_CHECK(found > 0, data.source, ": the model classifies none of the ", p.seen,
              " examples correctly; there is no robustness to check");
  const torch::Tensor rows = torch::cat(keep);
  p.data = rows_of(data, rows);
  // Accuracy over the examples seen (those after the last point taken are not counted).
  p.clean_accuracy = static_cast<double>(rows.size(0)) / static_cast<double>(p.seen);
  return p;
}

torch::Tensor batched_logits(const Model& model, const torch::Tensor& x, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    const int64_t end = std::min(x.size(0), start + batch_size);
    out.push_back(model.logits(x.slice(0, start, end)).cpu());
  }
  return out.empty() ? torch::zeros({0, 0}) : torch::cat(out);
}

torch::Tensor predictions(const Model& model, const torch::Tensor& x, int64_t batch_size) {
  return x.size(0) == 0 ? torch::zeros({0}, torch::kLong)
                        : predicted_class(batched_logits(model, x, batch_size));
}

}  // namespace advtk
