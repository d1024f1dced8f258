#include "cli/stored_rows.h"

#include "core/error.h"

namespace advtk::cli {

StoredRows::StoredRows(const AttackRun& run, const AttackBatchStore& store, torch::Tensor rows)
    : run_(run),
      store_(store),
      rows_(rows.defined() ? std::move(rows) : torch::arange(run.y.numel(), torch::kLong)) {
  TORCH_INTERNAL_ASSERT(run.x_adv_budget.defined(), "StoredRows: the run keeps x_adv in memory");
}

torch::Tensor StoredRows::next(int64_t count) {
  TORCH_INTERNAL_ASSERT(done_ + count <= rows_.numel(), "StoredRows: read past the last row");
  const torch::Tensor rows = rows_.slice(0, done_, done_ + count);
  torch::Tensor out = run_.x.index_select(0, rows);
  const torch::Tensor from = run_.x_adv_budget.index_select(0, rows);
  const auto row = rows.accessor<int64_t, 1>();
  const auto budget = from.accessor<int64_t, 1>();
  for (int64_t j = 0; j < count; ++j) {
    if (budget[j] < 0) continue;
    const int64_t i = row[j];
    // A budget's batches hold its rows ascending, as the examples are read. Those the store
    // lacks are another part's (--shard); a batch holds one example or more.
    Cursor& c = cursors_[budget[j]];
    const auto missing = [&] {
      return concat("the attack's store has no x_adv for example ", i, " at budget ", budget[j],
                    " (its batches are not this run's)");
    };
    while (!c.rows.defined() || c.rows[-1].item<int64_t>() < i) {
      ADVTK_CHECK(++c.batch < run_.y.numel(), missing());
      if (!store_.holds(static_cast<size_t>(budget[j]), c.batch)) continue;
      const auto stored = store_.read(static_cast<size_t>(budget[j]), c.batch);
      c.rows = stored.at("rows");
      c.x_adv = stored.at("x_adv");
      c.at = 0;
    }
    const auto held = c.rows.accessor<int64_t, 1>();
    while (c.at < c.rows.numel() && held[c.at] < i) ++c.at;
    ADVTK_CHECK(c.at < c.rows.numel() && held[c.at] == i, missing());
    out[j].copy_(c.x_adv[c.at]);
  }
  done_ += count;
  return out;
}

}  // namespace advtk::cli
