#include "attacks/square.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "attacks/losses.h"
#include "core/error.h"

namespace advtk {
namespace {

// Host-side draws from one example's generator: a query needs only a few numbers per example,
// so drawing them as scalars avoids a tensor per draw.
class Draws {
 public:
  explicit Draws(torch::Generator& gen)
      : gen_(gen), impl_(at::check_generator<at::CPUGeneratorImpl>(gen)) {}
  // Uniform in [0, n); 0 when n <= 0.
  int64_t below(int64_t n) {
    if (n <= 0) return 0;
    const double u = static_cast<double>(bits() >> 11) * 0x1.0p-53;
    return std::min(static_cast<int64_t>(u * static_cast<double>(n)), n - 1);
  }
  int64_t sign() { return (bits() & 1) != 0 ? 1 : -1; }
  int64_t coin() { return static_cast<int64_t>(bits() & 1); }

 private:
  uint64_t bits() {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    return impl_->random64();
  }
  torch::Generator& gen_;
  at::CPUGeneratorImpl* impl_;
};

// The size of a pattern in the attack's norm: L2 (Frobenius) or L1.
double pattern_norm(const torch::Tensor& d, Norm norm) {
  return (norm == Norm::L1 ? d.abs().sum() : d.square().sum().sqrt()).item<double>();
}

// Concentric rectangles around the centre of a rows×cols block, ring k weighted 1/(k+1)^power
// (rings overlap inward, so the centre collects every weight); unit norm in `norm`.
torch::Tensor rectangles(int64_t rows, int64_t cols, int power, Norm norm) {
  torch::Tensor d = torch::zeros({rows, cols}, torch::kDouble);
  if (rows == 0 || cols == 0) return d;
  auto a = d.accessor<double, 2>();
  const int64_t r0 = rows / 2, c0 = cols / 2;
  for (int64_t k = 0; k < std::max(r0, c0) + 1; ++k) {
    const double weight = 1.0 / std::pow(static_cast<double>(k + 1), power);
    for (int64_t r = std::max<int64_t>(r0 - k, 0); r < std::min(r0 + k + 1, rows); ++r)
      for (int64_t c = std::max<int64_t>(c0 - k, 0); c < std::min(c0 + k + 1, cols); ++c)
        a[r][c] += weight;
  }
  return d / pattern_norm(d, norm);
}

// Two halves of opposite sign, each unit norm, then the whole unit norm.
torch::Tensor two_halves(int64_t s, int power, Norm norm) {
  ADVTK_CHECK(s >= 1, "square: window side must be at least 1, got ", s);
  const int64_t top = s / 2;
  torch::Tensor d =
      torch::cat({rectangles(top, s, power, norm), -rectangles(s - top, s, power, norm)}, 0);
  return (d / pattern_norm(d, norm)).to(torch::kFloat);
}

// The window side for fraction p of an h×w image (n_features / c = h·w pixels per channel).
// Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
int64_t window_side(double p, int64_t c, int64_t h, int64_t w) {
  const double pixels = p * static_cast<double>(c * h * w) / static_cast<double>(c);
  return static_cast<int64_t>(std::nearbyint(std::sqrt(pixels)));
}

// [m, 1, h, w] float masks of the s×s windows whose top-left corners are (top, left) [m].
torch::Tensor window_mask(const torch::Tensor& top, const torch::Tensor& left, int64_t s, int64_t h,
                          int64_t w, const torch::TensorOptions& opts) {
  const auto long_opts = top.options();
  const torch::Tensor rows = torch::arange(h, long_opts).unsqueeze(0);
  const torch::Tensor cols = torch::arange(w, long_opts).unsqueeze(0);
  const torch::Tensor t = top.unsqueeze(1), l = left.unsqueeze(1);
  const torch::Tensor in_rows = rows.ge(t) & rows.lt(t + s);
  const torch::Tensor in_cols = cols.ge(l) & cols.lt(l + s);
  return (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1).to(opts);
}

// Places per-example s×s patterns [m, s, s] at (top, left) in an [m, 1, h, w] canvas of zeros;
// the parts outside the image are dropped.
torch::Tensor place(const torch::Tensor& pattern, const torch::Tensor& top,
                    const torch::Tensor& left, int64_t s, int64_t h, int64_t w) {
  const int64_t m = pattern.size(0);
  const auto long_opts = top.options();
  const torch::Tensor r =
      (torch::arange(h, long_opts).unsqueeze(0) - top.unsqueeze(1)).clamp(0, s - 1);
  const torch::Tensor c =
      (torch::arange(w, long_opts).unsqueeze(0) - left.unsqueeze(1)).clamp(0, s - 1);
  const torch::Tensor flat = (r.unsqueeze(2) * s + c.unsqueeze(1)).view({m, h * w});
  const torch::Tensor values = pattern.reshape({m, s * s}).gather(1, flat).view({m, 1, h, w});
  return values * window_mask(top, left, s, h, w, pattern.options());
}

torch::Tensor l2_norm(const torch::Tensor& d) {
  return d.square().sum({1, 2, 3}, /*keepdim=*/true).sqrt();
}

torch::Tensor l1_norm(const torch::Tensor& d) { return d.abs().sum({1, 2, 3}, /*keepdim=*/true); }

// The examples still under attack and their search state.
struct Active {
  torch::Tensor pos;  // rows in the batch (device)
  torch::Tensor x, y, target, x_best, loss_min, pred_best;
  std::vector<torch::Generator> gens;

  int64_t size() const { return pos.size(0); }
  void keep(const torch::Tensor& rows) {
    const torch::Tensor rows_cpu = rows.to(torch::kCPU);
    pos = pos.index_select(0, rows);
    x = x.index_select(0, rows);
    y = y.index_select(0, rows);
    if (target.defined()) target = target.index_select(0, rows);
    x_best = x_best.index_select(0, rows);
    loss_min = loss_min.index_select(0, rows);
    pred_best = pred_best.index_select(0, rows);
    std::vector<torch::Generator> kept;
    kept.reserve(rows_cpu.numel());
    const int64_t* p = rows_cpu.data_ptr<int64_t>();
    for (int64_t i = 0; i < rows_cpu.numel(); ++i) kept.push_back(gens[p[i]]);
    gens = std::move(kept);
  }
};

struct Scores {
  torch::Tensor loss, pred, fooled;
};

// The reference's objective, to be minimised: untargeted, the margin z_y - max_{j≠y} z_j;
// targeted, the cross-entropy towards the target. Success is advtk's (the prediction), which
// differs from the reference's margin <= 0 only on exact ties between logits.
Scores score(const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor& target) {
  Scores s;
  s.pred = logits.argmax(1);
  if (target.defined()) {
    s.loss = -torch::log_softmax(logits, 1).gather(1, target.unsqueeze(1)).squeeze(1);
  } else {
    s.loss = logits.gather(1, y.unsqueeze(1)).squeeze(1) - best_other_logit(logits, y);
  }
  s.fooled = is_adversarial_pred(s.pred, y, target);
  return s;
}

// Per-example integers drawn on the host, `per_example` of them per active example, moved to
// the device as one [m, per_example] tensor.
template <typename Fill>
torch::Tensor draw_rows(std::vector<torch::Generator>& gens, int64_t per_example,
                        const torch::Device& dev, Fill fill) {
  const int64_t m = static_cast<int64_t>(gens.size());
  torch::Tensor out = torch::empty({m, per_example}, torch::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < m; ++i) {
    Draws draws(gens[i]);
    fill(draws, p + i * per_example);
  }
  return out.to(dev);
}

// The random search's geometry and its two proposals, the start and the window update.
class Proposals {
 public:
  Proposals(const ThreatModel& threat, const torch::Tensor& x)
      : threat_(threat),
        c_(x.size(1)),
        h_(x.size(2)),
        w_(x.size(3)),
        opts_(x.options()),
        dev_(x.device()) {}

  // Linf: vertical stripes of ±eps, one sign per channel and column. L2: the image tiled with
  // windows of side h/5 from the centre, random signs per channel and a random orientation,
  // scaled to norm eps.
  torch::Tensor start(Active& a) {
    const int64_t m = a.size(), c = c_, w = w_;
    const double eps = threat_.eps;
    if (threat_.norm == Norm::Linf) {
      const torch::Tensor signs = draw_rows(a.gens, c * w, dev_, [&](Draws& d, int64_t* out) {
                                    for (int64_t k = 0; k < c * w; ++k) out[k] = d.sign();
                                  }).view({m, c, 1, w});
      return (a.x + eps * signs.to(opts_)).clamp(threat_.lo, threat_.hi);
    }
    // The reference divides by h / 5, which is 0 below 5 rows; one-pixel windows stand in. The
    // columns start where the rows do, as in the reference (written for square images).
    const int64_t s = std::max<int64_t>(h_ / 5, 1);
    const int64_t first = std::max<int64_t>((h_ - 5 * s) / 2, 0);
    const int64_t down = h_ / s, across = w_ / s, per_tile = 1 + c;
    const torch::Tensor draws =
        draw_rows(a.gens, down * across * per_tile, dev_, [&](Draws& d, int64_t* out) {
          for (int64_t t = 0; t < down * across; ++t) {
            out[t * per_tile] = d.coin();
            for (int64_t k = 0; k < c; ++k) out[t * per_tile + 1 + k] = d.sign();
          }
        }).view({m, down * across, per_tile});
    torch::Tensor delta = torch::zeros_like(a.x);
    for (int64_t i = 0; i < down; ++i) {
      for (int64_t j = 0; j < across; ++j) {
        const torch::Tensor tile = draws.select(1, i * across + j);
        const torch::Tensor top = torch::full({m}, first + i * s, draws.options());
        const torch::Tensor left = torch::full({m}, first + j * s, draws.options());
        delta += place(pattern(tile.select(1, 0), s), top, left, s, h_, w_) *
                 tile.narrow(1, 1, c).to(opts_).view({m, c, 1, 1});
      }
    }
    if (threat_.norm == Norm::L1) return onto_ball(a.x + delta, a.x);
    return (a.x + delta / (l2_norm(delta) + 1e-12) * eps).clamp(threat_.lo, threat_.hi);
  }

  // A candidate that changes a.x_best inside a random window covering a fraction p of the image.
  torch::Tensor update(Active& a, double p) {
    return threat_.norm == Norm::Linf ? linf_update(a, p) : window_update(a, p);
  }

 private:
  // Every window position that fits, as in the paper; the reference's random_int(0, h - s)
  // leaves out the last one, so that no window would ever cover the last row or column.
  int64_t fits(int64_t side, int64_t s) const { return side - s + 1; }

  // The window moves x_best to another vertex of the ball: ±eps around x, one sign per channel.
  torch::Tensor linf_update(Active& a, double p) {
    const int64_t m = a.size(), c = c_;
    const double eps = threat_.eps;
    const int64_t s = std::min({std::max<int64_t>(window_side(p, c_, h_, w_), 1), h_, w_});
    const torch::Tensor draws = draw_rows(a.gens, 2 + c, dev_, [&](Draws& d, int64_t* out) {
      out[0] = d.below(fits(h_, s));
      out[1] = d.below(fits(w_, s));
      for (int64_t k = 0; k < c; ++k) out[2 + k] = d.sign();
    });
    const torch::Tensor mask =
        window_mask(draws.select(1, 0), draws.select(1, 1), s, h_, w_, opts_).to(torch::kBool);
    const torch::Tensor signs = draws.narrow(1, 2, c).to(opts_).view({m, c, 1, 1});
    // The reference adds ±2 eps in the window and clips to the ball; x_best lies in the ball, so
    // that lands on x ± eps exactly, which is computed directly here.
    const torch::Tensor vertex = (a.x + eps * signs).clamp(threat_.lo, threat_.hi);
    return torch::where(mask, vertex, a.x_best);
  }

  // L2 and L1: the mass of two windows moves into the first, redrawn as its old direction plus
  // a fresh pattern, and the second is emptied; square_window_mass says how much each channel
  // gets. L2 then rescales the whole perturbation to norm eps; L1 projects onto the L1 ball
  // within the box, which trims any excess.
  torch::Tensor window_update(Active& a, double p) {
    const bool l1 = threat_.norm == Norm::L1;
    const int64_t m = a.size(), c = c_;
    const double eps = threat_.eps;
    int64_t s = std::max<int64_t>(window_side(p, c_, h_, w_), 3);
    if (s % 2 == 0) ++s;  // odd, so the pattern has a centre pixel
    s = std::min({s, h_, w_});
    const torch::Tensor draws = draw_rows(a.gens, 5 + c, dev_, [&](Draws& d, int64_t* out) {
      out[0] = d.below(fits(h_, s));
      out[1] = d.below(fits(w_, s));
      out[2] = d.below(fits(h_, s));
      out[3] = d.below(fits(w_, s));
      out[4] = d.coin();
      for (int64_t k = 0; k < c; ++k) out[5 + k] = d.sign();
    });
    const torch::Tensor top = draws.select(1, 0), left = draws.select(1, 1);
    const torch::Tensor in_first = window_mask(top, left, s, h_, w_, opts_);
    const torch::Tensor in_either =
        torch::max(in_first, window_mask(draws.select(1, 2), draws.select(1, 3), s, h_, w_, opts_));
    // Per channel [m, c, 1, 1], in the attack's norm.
    const auto size = [l1](const torch::Tensor& t) {
      return l1 ? t.abs().sum({2, 3}, true) : t.square().sum({2, 3}, true).sqrt();
    };
    const torch::Tensor delta = a.x_best - a.x;
    const torch::Tensor old = delta * in_first;
    torch::Tensor fresh = place(pattern(draws.select(1, 4), s), top, left, s, h_, w_) *
                              draws.narrow(1, 5, c).to(opts_).view({m, c, 1, 1}) +
                          old / (size(old) + 1e-12);
    fresh = fresh / (size(fresh) + 1e-12) * square_window_mass(threat_.norm, delta, in_either, eps);
    const torch::Tensor moved = delta * (1 - in_either) + fresh;
    if (l1) return onto_ball(a.x + moved, a.x);
    return (a.x + moved / (l2_norm(moved) + 1e-12) * eps).clamp(threat_.lo, threat_.hi);
  }

  // L1: the projection onto the ball of radius eps·(1 - 1e-6) (as the reference) within the box.
  torch::Tensor onto_ball(const torch::Tensor& point, const torch::Tensor& x) const {
    ThreatModel inside = threat_;
    inside.eps = threat_.eps * (1 - 1e-6);
    return project(inside, point, x);
  }

  // The s×s pattern of the attack's norm per example [m, s, s], transposed where `flip` [m] is 1.
  torch::Tensor pattern(const torch::Tensor& flip, int64_t s) {
    auto it = patterns_.find(s);
    if (it == patterns_.end()) {
      const torch::Tensor eta =
          (threat_.norm == Norm::L1 ? square_l1_window(s) : square_l2_window(s)).to(opts_);
      it = patterns_.emplace(s, std::make_pair(eta, eta.t().contiguous())).first;
    }
    return torch::where(flip.to(torch::kBool).view({-1, 1, 1}), it->second.second,
                        it->second.first);
  }

  ThreatModel threat_;
  int64_t c_, h_, w_;
  torch::TensorOptions opts_;
  torch::Device dev_;
  std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> patterns_;  // s -> (eta, etaᵀ)
};

}  // namespace

torch::Tensor square_window_mass(Norm norm, const torch::Tensor& delta,
                                 const torch::Tensor& in_windows, double eps) {
  const auto channels = static_cast<double>(delta.size(1));
  const torch::Tensor in = delta * in_windows;
  if (norm == Norm::L1)
    return ((eps - l1_norm(delta)).clamp_min(0) / channels + in.abs().sum({2, 3}, true)) * channels;
  TORCH_INTERNAL_ASSERT(norm == Norm::L2, "square_window_mass: an L2 or L1 update");
  return ((eps * eps - l2_norm(delta).square()).clamp_min(0) / channels +
          in.square().sum({2, 3}, true))
      .sqrt();
}

double square_p_schedule(double p_init, int64_t query, int64_t queries, bool rescale) {
  // Tuned for 10,000 queries; other budgets stretch or squeeze it (when rescaling).
  const auto it = rescale ? static_cast<int64_t>(static_cast<double>(query) /
                                                 static_cast<double>(queries) * 10000.0)
                          : query;
  static constexpr int64_t kHalvings[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = p_init;
  for (const int64_t bound : kHalvings) {
    if (it <= bound) break;
    p /= 2;
  }
  return p;
}

torch::Tensor square_l2_window(int64_t s) { return two_halves(s, 2, Norm::L2); }

torch::Tensor square_l1_window(int64_t s) { return two_halves(s, 4, Norm::L1); }

SquareAttack::SquareAttack(SquareOptions options) : options_(options) {
  const auto& o = options_;
  check_threat(o.threat);
  ADVTK_CHECK(o.queries >= 1, "--queries: expected at least 1, got ", o.queries);
  ADVTK_CHECK(o.p_init > 0 && o.p_init <= 1, "--p-init: expected a value in (0, 1], got ",
              o.p_init);
  ADVTK_CHECK(o.restarts >= 1, "--restarts: expected at least 1, got ", o.restarts);
}

nlohmann::json SquareAttack::parameters() const {
  const auto& o = options_;
  return {{"attack", "square"},     {"norm", norm_name(o.threat.norm)},
          {"eps", o.threat.eps},    {"queries", o.queries},
          {"p_init", o.p_init},     {"rescale_schedule", o.rescale_schedule},
          {"restarts", o.restarts}, {"loss", "margin (untargeted), ce (targeted)"},
          {"seed", o.seed}};
}

AttackResult SquareAttack::run(const Model& model, const AttackBatch& batch) {
  ADVTK_CHECK(batch.x.dim() == 4, "square: expects images [N, C, H, W], got a tensor with ",
              batch.x.dim(), " dimensions");
  torch::NoGradGuard no_grad;
  const auto& o = options_;
  const int64_t n = batch.x.size(0);
  AttackResult result = initial_result(batch);
  // The lowest loss reported so far, across restarts, for examples never fooled.
  torch::Tensor reported_loss = torch::full({n}, std::numeric_limits<float>::infinity(),
                                            batch.x.options().dtype(torch::kFloat));
  // With no budget every point is x: evaluate it once.
  const int64_t queries = o.threat.eps > 0 ? o.queries : 0;
  const int64_t restarts = o.threat.eps > 0 ? o.restarts : 1;
  Proposals proposals(o.threat, batch.x);

  for (int64_t restart = 0; restart < restarts && n > 0; ++restart) {
    Active a;
    a.pos = (~result.success).nonzero().squeeze(1);
    if (a.pos.numel() == 0) break;
    const AttackBatch sub = select_examples(batch, a.pos);
    a.x = sub.x;
    a.y = sub.y;
    a.target = sub.target;
    a.gens = example_generators(
        o.seed, sub.index, family_stream(StreamFamily::Square, static_cast<uint64_t>(restart)));

    // Queries the model at x_new [a.size()]; keeps x_new where the loss fell or the example is
    // now fooled (the start is kept whatever its loss). Returns the fooled examples.
    const auto query = [&](const torch::Tensor& x_new, bool start) {
      const torch::Tensor logits = model.logits(x_new);
      result.forward_calls.index_add_(0, a.pos, torch::ones_like(a.pos));
      const Scores sc = score(logits, a.y, a.target);
      const torch::Tensor improved = start ? torch::ones_like(sc.fooled) : sc.loss.lt(a.loss_min);
      const torch::Tensor accept = improved | sc.fooled;
      a.loss_min = start ? sc.loss : torch::where(improved, sc.loss, a.loss_min);
      a.x_best = start ? x_new : where_rows(accept, x_new, a.x_best);
      a.pred_best = start ? sc.pred : torch::where(accept, sc.pred, a.pred_best);
      return sc.fooled;
    };
    // Fooled examples report their point and leave; returns false when none is left.
    const auto retire = [&](const torch::Tensor& fooled) {
      const torch::Tensor keep = (~fooled).nonzero().squeeze(1);  // the one sync per query
      if (keep.numel() == a.size()) return true;
      update_rows(result.x_adv, a.pos, fooled, a.x_best);
      update_rows(result.pred, a.pos, fooled, a.pred_best);
      update_rows(result.success, a.pos, fooled, fooled);
      if (keep.numel() == 0) return false;
      a.keep(keep);
      return true;
    };

    bool running = retire(query(proposals.start(a), /*start=*/true));
    for (int64_t q = 0; q < queries && running; ++q) {
      const double p = square_p_schedule(o.p_init, q, o.queries, o.rescale_schedule);
      running = retire(query(proposals.update(a, p), /*start=*/false));
    }

    // Examples never fooled report their lowest-loss point (over restarts).
    if (running) {
      const torch::Tensor better = a.loss_min.lt(reported_loss.index_select(0, a.pos));
      update_rows(result.x_adv, a.pos, better, a.x_best);
      update_rows(result.pred, a.pos, better, a.pred_best);
      update_rows(reported_loss, a.pos, better, a.loss_min);
    }
  }
  result.distance = distance(o.threat.norm, result.x_adv, batch.x);
  return result;
}

AttackInfo square_info() {
  AttackInfo info;
  info.name = "square";
  info.description =
      "score-based random search, no gradients, 5,000 queries (Andriushchenko et al. 2020)";
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.options = {
      integer_option("queries", 5000, 1, "queries per example"),
      real_option("p-init", 0.8, 0, 1, "initial fraction of the image per window", true),
      flag_option("rescale-schedule", true,
                  "stretch the paper's schedule of window sizes (for 10,000 queries) to "
                  "--queries; --no-rescale-schedule halves p at the raw query counts, as "
                  "AutoAttack does"),
      restarts_option()};
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    SquareOptions o;
    o.threat = s.threat;
    o.queries = v.integer("queries");
    o.p_init = v.real("p-init");
    o.rescale_schedule = v.flag("rescale-schedule");
    o.restarts = v.integer("restarts");
    o.seed = s.seed;
    return std::unique_ptr<Attack>(std::make_unique<SquareAttack>(o));
  };
  return info;
}

}  // namespace advtk
