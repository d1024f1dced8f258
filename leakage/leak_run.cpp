#include "leakage/leak_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include <torch/csrc/jit/runtime/graph_executor.h>

#include "core/error.h"
#include "core/median.h"
#include "core/seeding.h"
#include "leakage/analytic_inversion.h"
#include "leakage/assignment.h"
#include "leakage/gradient_matching.h"
#include "leakage/image_metrics.h"
#include "leakage/label_inference.h"

namespace advtk {
namespace {

constexpr uint64_t kLeakStream = 0x1EA4;

torch::Tensor to_unit(const torch::Tensor& x, const Model& model) {
  const ModelOptions& o = model.options();
  return ((x.to(torch::kCPU, torch::kFloat) - o.input_lo) / (o.input_hi - o.input_lo)).clamp(0, 1);
}

int64_t multiset_overlap(const torch::Tensor& a, const torch::Tensor& b) {
  std::vector<int64_t> x(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
  std::vector<int64_t> y(b.data_ptr<int64_t>(), b.data_ptr<int64_t>() + b.numel());
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  std::vector<int64_t> common;
  std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(common));
  return static_cast<int64_t>(
      std::count_if(common.begin(), common.end(), [](int64_t c) { return c >= 0; }));
}

// What one reconstruction needs: the batch and what its client shared.
struct Task {
  int64_t run = 0, batch = 0;
  torch::Tensor x01, y;  // originals, CPU
  std::vector<int64_t> ids;
  ClientShare share;
};

class LeakEngine {
 public:
  LeakEngine(Model& model, const Dataset& data, const LeakOptions& o)
      : model_(model), o_(o), num_classes_(data.num_classes()) {
    image_shape_ = {data.images.size(1), data.images.size(2), data.images.size(3)};
    params_ = shared_parameters(model);
    output_ = find_output_layer(params_, num_classes_);
    first_ = find_first_linear_layer(params_, image_shape_[0] * image_shape_[1] * image_shape_[2]);
    if (o.attack == LeakAttack::Analytic) {
      ADVTK_CHECK(first_.has_value(), model.name(), ": analytic needs a first fully-connected ",
                  "layer with bias on the flattened input (its first parameters must be a [U, ",
                  image_shape_[0] * image_shape_[1] * image_shape_[2], "] weight and a [U] bias); ",
                  "use --attack idlg or ig");
    } else {
      ADVTK_CHECK(o.attack == LeakAttack::Dlg || output_.has_value(), model.name(), ": ",
                  leak_attack_name(o.attack), " reads labels off an output layer, but no [",
                  num_classes_, ", F] parameter was found; use --attack dlg (learns the labels)");
      if (const auto why = second_order_failure(model, image_shape_, num_classes_, o.protocol))
        throw Error(model.name() + ": its parameter gradient cannot be differentiated again (" +
                    *why + "); " + leak_attack_name(o.attack) +
                    " needs a twice-differentiable model");
    }
  }

  BatchLeak reconstruct(Model& model, const Task& t) const {
    const auto start = std::chrono::steady_clock::now();
    const int64_t b = t.x01.size(0);
    const double sign = o_.protocol.local_steps > 0 ? -1.0 : 1.0;
    torch::Generator gen = make_generator(mix_seed(o_.seed, kLeakStream), 2 * t.ids.front());
    torch::Tensor labels =
        output_ ? torch::tensor(infer_labels(t.share.shared, *output_, b, sign)) : torch::Tensor();
    torch::Tensor x_rec01, y_rec;
    if (o_.attack == LeakAttack::Analytic) {
      x_rec01 = analytic_inversion(t.share.shared, *first_, b, image_shape_, model).cpu();
      y_rec = labels.defined() ? labels : torch::full({b}, -1, torch::kLong);
    } else {
      MatchingProblem p;
      p.model = &model;
      p.shared = t.share.shared;
      p.protocol = o_.protocol;
      p.batch_size = b;
      p.image_shape = image_shape_;
      p.num_classes = num_classes_;
      if (o_.attack != LeakAttack::Dlg) p.labels = labels.to(model.device());
      const Reconstruction r = o_.attack == LeakAttack::InvertingGradients
                                   ? run_inverting_gradients(p, o_.ig, gen)
                                   : run_dlg(p, o_.dlg, gen);
      x_rec01 = to_unit(r.x, model);
      y_rec = r.labels.to(torch::kLong);
    }
    // One-to-one matching on the images, labels following their images.
    const torch::Tensor cost =
        (x_rec01.flatten(1).unsqueeze(0) - t.x01.flatten(1).unsqueeze(1)).pow(2).mean(2);
    const std::vector<int64_t> match = min_cost_assignment(cost);
    const torch::Tensor order = torch::tensor(match);
    BatchLeak out;
    out.ids = t.ids;
    out.x = t.x01;
    out.y = t.y;
    out.x_rec = x_rec01.index_select(0, order);
    out.y_rec = y_rec.index_select(0, order);
    const torch::Tensor psnr = image_psnr(out.x_rec, out.x), ssim = image_ssim(out.x_rec, out.x),
                        mse = image_mse(out.x_rec, out.x);
    for (int64_t i = 0; i < b; ++i) {
      out.psnr.push_back(psnr[i].item<double>());
      out.ssim.push_back(ssim[i].item<double>());
      out.mse.push_back(mse[i].item<double>());
    }
    out.labels_right = multiset_overlap(out.y, out.y_rec);
    out.gradient_distance = relative_distance(model, out.x_rec, out.y_rec, t.share.shared);
    out.utility_cosine = t.share.utility_cosine;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }

  int64_t num_classes() const { return num_classes_; }

 private:
  double relative_distance(Model& model, const torch::Tensor& x01, const torch::Tensor& y,
                           const std::vector<torch::Tensor>& shared) const {
    const torch::Tensor x = model.from_unit_range(x01).to(model.device());
    const torch::Tensor probs =
        torch::one_hot(y.clamp_min(0), num_classes_).to(model.device(), torch::kFloat);
    const std::vector<torch::Tensor> u = client_update(model, x, probs, o_.protocol, false);
    double d = 0;
    for (size_t i = 0; i < u.size(); ++i)
      d += (u[i].detach().to(torch::kDouble) - shared[i].to(torch::kDouble))
               .pow(2)
               .sum()
               .item<double>();
    const double n = squared_norm(shared);
    return n > 0 ? d / n : 0.0;
  }

  Model& model_;
  const LeakOptions& o_;
  int64_t num_classes_;
  std::vector<int64_t> image_shape_;
  std::vector<torch::Tensor> params_;
  std::optional<OutputLayer> output_;
  std::optional<FirstLinearLayer> first_;
};

}  // namespace

std::string leak_attack_name(LeakAttack attack) {
  switch (attack) {
    case LeakAttack::Analytic:
      return "analytic";
    case LeakAttack::Idlg:
      return "idlg";
    case LeakAttack::Dlg:
      return "dlg";
    case LeakAttack::InvertingGradients:
      return "ig";
  }
  return "?";
}

namespace {

// One reconstruction from the rank that made it to every rank, numbers exactly (CBOR).
void share_batch_leak(BatchLeak& b, int root, const ProcessGroup& group) {
  nlohmann::json j;
  std::map<std::string, torch::Tensor> t;
  std::vector<char> bytes;
  if (group.rank() == root) {
    j = {{"ids", b.ids},
         {"psnr", b.psnr},
         {"ssim", b.ssim},
         {"mse", b.mse},
         {"labels_right", b.labels_right},
         {"gradient_distance", b.gradient_distance},
         {"utility_cosine", b.utility_cosine},
         {"seconds", b.seconds}};
    const std::vector<uint8_t> cbor = nlohmann::json::to_cbor(j);
    bytes.assign(cbor.begin(), cbor.end());
    t = {{"x", b.x.cpu()}, {"x_rec", b.x_rec.cpu()}, {"y", b.y.cpu()}, {"y_rec", b.y_rec.cpu()}};
  }
  group.broadcast_bytes(bytes, root);
  group.broadcast_tensors(t, root);
  if (group.rank() == root) return;
  j = nlohmann::json::from_cbor(bytes.begin(), bytes.end());
  b.ids = j["ids"].get<std::vector<int64_t>>();
  b.psnr = j["psnr"].get<std::vector<double>>();
  b.ssim = j["ssim"].get<std::vector<double>>();
  b.mse = j["mse"].get<std::vector<double>>();
  b.labels_right = j["labels_right"];
  b.gradient_distance = j["gradient_distance"];
  b.utility_cosine = j["utility_cosine"];
  b.seconds = j["seconds"];
  b.x = t.at("x");
  b.x_rec = t.at("x_rec");
  b.y = t.at("y");
  b.y_rec = t.at("y_rec");
}

}  // namespace

std::vector<LeakRun> run_leak(Model& model, const Dataset& data, const LeakOptions& o,
                              const LeakProgress& progress) {
  ADVTK_CHECK(o.batch_size >= 1, "--batch-size: expected at least 1");
  ADVTK_CHECK(data.size() >= o.batch_size, data.source, ": ", data.size(),
              " examples are fewer than one batch of ", o.batch_size);
  ADVTK_CHECK(!o.defenses.empty(), "leak: expected at least one defense (none counts)");
  for (const GradientDefense& d : o.defenses) validate_defense(d);
  const int lib_threads = at::get_num_threads();
  // Every client and every reconstruction runs on one LibTorch thread, whatever the number of
  // workers, so that its sums — and so its result — do not depend on --threads.
  struct ThreadsRestore {
    int n;
    ~ThreadsRestore() { at::set_num_threads(n); }
  } restore{lib_threads};
  at::set_num_threads(1);
  // The interpreter as written, without the profiling executor's specialised plans: those
  // change the floating-point path after a module's first calls, so a cloned module (or a
  // resumed run) would not repeat the original's numbers.
  torch::jit::GraphOptimizerEnabledGuard plain_graphs(false);
  const bool profiling = torch::jit::getProfilingMode().exchange(false);
  const bool executor = torch::jit::getExecutorMode().exchange(false);
  struct ModeRestore {
    bool p, e;
    ~ModeRestore() {
      torch::jit::getProfilingMode() = p;
      torch::jit::getExecutorMode() = e;
    }
  } mode_restore{profiling, executor};
  ParameterGradientScope scope(model);
  const LeakEngine engine(model, data, o);

  // The clients, one batch after another (DP-SGD's local steps move the shared parameters).
  const int64_t batches = data.size() / o.batch_size;
  const torch::Tensor ids = data.example_ids();
  std::vector<Task> tasks;
  for (size_t r = 0; r < o.defenses.size(); ++r) {
    for (int64_t k = 0; k < batches; ++k) {
      Task t;
      t.run = static_cast<int64_t>(r);
      t.batch = k;
      t.x01 = data.images.narrow(0, k * o.batch_size, o.batch_size).contiguous();
      t.y = data.labels.narrow(0, k * o.batch_size, o.batch_size).contiguous();
      const torch::Tensor id = ids.narrow(0, k * o.batch_size, o.batch_size);
      t.ids.assign(id.data_ptr<int64_t>(), id.data_ptr<int64_t>() + id.numel());
      // The same noise draw for every strength: a stronger defense differs only by its scale.
      torch::Generator gen = make_generator(mix_seed(o.seed, kLeakStream), 2 * t.ids.front() + 1);
      t.share = share_update(model, model.from_unit_range(t.x01).to(model.device()),
                             t.y.to(model.device()), engine.num_classes(), o.protocol,
                             o.defenses[r], gen);
      tasks.push_back(std::move(t));
    }
  }

  // This rank's share of the reconstructions (all of them alone); the clients above ran on
  // every rank, as their updates chain through DP-SGD's local steps.
  const ProcessGroup& group = group_or_alone(o.group);
  const auto [first, last] =
      share_of(static_cast<int64_t>(tasks.size()), group.rank(), group.size());
  const int64_t workers = std::max<int64_t>(
      1, std::min<int64_t>(last - first, o.threads > 0 ? o.threads : lib_threads));
  std::vector<BatchLeak> done(tasks.size());
  std::atomic<int64_t> next{first}, finished{0};
  std::mutex report;
  std::exception_ptr failure;
  const auto work = [&](Model& worker_model) {
    for (int64_t i = next++; i < last; i = next++) {
      try {
        done[i] = engine.reconstruct(worker_model, tasks[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(report);
        if (!failure) failure = std::current_exception();
        next = last;
        return;
      }
      const int64_t f = ++finished;
      std::lock_guard<std::mutex> lock(report);
      if (progress) progress(f, last - first);
    }
  };
  {
    // Local steps swap the module's parameters: each worker then needs a module of its own,
    // cloned without a graph so that its parameters are leaves.
    std::vector<Model> own;
    if (o.protocol.local_steps > 0 && workers > 1) {
      torch::NoGradGuard no_graph;
      for (int64_t w = 0; w < workers; ++w)
        own.push_back(Model::wrap(model.module().clone(), model.options(), model.name()));
    }
    std::vector<std::thread> pool;
    for (int64_t w = 0; w < workers; ++w) {
      pool.emplace_back([&, w] {
        try {
          at::set_num_threads(1);
          if (own.empty()) {
            work(model);
          } else {
            ParameterGradientScope own_scope(own[w]);
            work(own[w]);
          }
        } catch (...) {
          std::lock_guard<std::mutex> lock(report);
          if (!failure) failure = std::current_exception();
        }
      });
    }
    for (std::thread& t : pool) t.join();
  }
  if (failure) std::rethrow_exception(failure);
  for (int r = 0; r < group.size() && !group.alone(); ++r) {
    const auto [begin, end] = share_of(static_cast<int64_t>(tasks.size()), r, group.size());
    for (int64_t i = begin; i < end; ++i) share_batch_leak(done[i], r, group);
  }

  std::vector<LeakRun> runs(o.defenses.size());
  for (size_t r = 0; r < runs.size(); ++r) runs[r].defense = o.defenses[r];
  for (size_t i = 0; i < tasks.size(); ++i) runs[tasks[i].run].batches.push_back(done[i]);
  for (LeakRun& run : runs) {
    std::vector<double> psnr, ssim;
    int64_t right = 0, examples = 0;
    double cosines = 0;
    for (const BatchLeak& b : run.batches) {
      psnr.insert(psnr.end(), b.psnr.begin(), b.psnr.end());
      ssim.insert(ssim.end(), b.ssim.begin(), b.ssim.end());
      right += b.labels_right;
      examples += static_cast<int64_t>(b.ids.size());
      cosines += b.utility_cosine;
      run.seconds += b.seconds;
    }
    run.median_psnr = median(psnr);
    run.median_ssim = median(ssim);
    run.label_accuracy = examples > 0 ? static_cast<double>(right) / examples : 0;
    run.mean_utility_cosine = run.batches.empty() ? 1 : cosines / run.batches.size();
  }
  return runs;
}

}  // namespace advtk
