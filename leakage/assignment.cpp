#include "leakage/assignment.h"

#include <limits>

#include "core/error.h"

namespace advtk {

std::vector<int64_t> min_cost_assignment(const torch::Tensor& cost_in) {
  ADVTK_CHECK(cost_in.dim() == 2 && cost_in.size(0) == cost_in.size(1),
              "assignment: expected a square cost matrix");
  const int64_t n = cost_in.size(0);
  const torch::Tensor cost = cost_in.to(torch::kCPU, torch::kDouble).contiguous();
  const double* a = cost.data_ptr<double>();
  ADVTK_CHECK(torch::isfinite(cost).all().item<bool>(), "assignment: the costs must be finite");
  const double inf = std::numeric_limits<double>::infinity();
  // 1-based rows/columns; column 0 is the virtual start of each augmenting path.
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<int64_t> row_of(n + 1, 0), way(n + 1, 0);
  for (int64_t i = 1; i <= n; ++i) {
    row_of[0] = i;
    int64_t j0 = 0;
    std::vector<double> min_to(n + 1, inf);
    std::vector<bool> used(n + 1, false);
    do {
      used[j0] = true;
      const int64_t i0 = row_of[j0];
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double reduced = a[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (reduced < min_to[j]) {
          min_to[j] = reduced;
          way[j] = j0;
        }
        if (min_to[j] < delta) {
          delta = min_to[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[row_of[j]] += delta;
          v[j] -= delta;
        } else {
          min_to[j] -= delta;
        }
      }
      j0 = j1;
    } while (row_of[j0] != 0);
    do {
      const int64_t j1 = way[j0];
      row_of[j0] = row_of[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> column_of(n, 0);
  for (int64_t j = 1; j <= n; ++j) column_of[row_of[j] - 1] = j - 1;
  return column_of;
}

}  // namespace advtk
