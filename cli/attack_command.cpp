// advtk attack MODEL --data ... --attack ... --eps ... --out DIR: adversarial example sets.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

#include "attacks/attack_runner.h"
#include "attacks/autoattack_checks.h"
#include "attacks/registry.h"
#include "attacks/transfer.h"
#include "audit/example_set.h"
#include "cli/attack_flags.h"
#include "cli/attack_outputs.h"
#include "cli/attack_shard.h"
#include "cli/attack_store.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/kill_point.h"
#include "cli/progress_bar.h"
#include "cli/ranks.h"
#include "cli/stored_rows.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "eval/evaluation.h"

namespace advtk::cli {
namespace {

struct AttackCliOptions {
  bool force = false;   // --force: write beside another command's results
  bool resume = false;  // --resume: read back the batches a stopped run finished
  std::string model_path;
  std::string attack = "pgd";
  std::optional<std::string> norm;  // default: the attack's first norm (pgd linf, cw/deepfool l2)
  std::string eps;                  // comma-separated, fractions allowed
  std::string target;               // random | least-likely | CLASS
  AttackFlags attack_options;
  std::string surrogate;
  std::string shard;  // i/n: one part of a run split over jobs (advtk merge joins them)
  std::string out = "runs/attack";
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

TargetSpec parse_target(const std::string& text) {
  TargetSpec t;
  if (text.empty()) return t;
  if (text == "random") {
    t.mode = TargetMode::Random;
  } else if (text == "least-likely") {
    t.mode = TargetMode::LeastLikely;
  } else {
    char* end = nullptr;
    const long long c = std::strtoll(text.c_str(), &end, 10);
    ADVTK_CHECK(!text.empty() && end == text.c_str() + text.size() && c >= 0, "--target: expected ",
                "random, least-likely or a class number, got '", text, "'");
    t.mode = TargetMode::Fixed;
    t.fixed_class = c;
  }
  return t;
}

void run_attack_command(const AttackCliOptions& o) {
  apply_common(o.common);
  const std::pair<int, int> shard = o.shard.empty() ? std::pair{0, 1} : parse_shard(o.shard);
  const Ranks ranks = join_ranks(o.out, "attack", o.force);
  const Dataset data = load_data(o.data, o.common.seed);
  const ModelOptions model_options =
      to_model_options(o.model, device_for_rank(o.common.device, ranks.env));
  const Model model = load_model_for(o.model_path, model_options, data);
  const AttackInfo info = describe_attack(o.attack);
  const int64_t nonfinite = count_nonfinite_outputs(model, data, o.common.batch_size);
  if (nonfinite > 0) spdlog::warn("{}", nonfinite_outputs_warning(nonfinite, data.size()));
  OptionValues given = given_options(o.attack_options);
  check_options_apply(o.attack, given);
  const bool early_stop = !given.has("early-stop") || given.flag("early-stop");

  std::vector<double> budgets;
  if (!o.eps.empty()) budgets = parse_number_list(o.eps, "--eps");
  for (double e : budgets) ADVTK_CHECK(e >= 0, "--eps: expected budgets >= 0, got ", e);
  ADVTK_CHECK(info.minimum_norm || !budgets.empty(), "--eps: ", info.name,
              " needs a budget, e.g. --eps 0.1 or --eps 8/255 or --eps 0.05,0.1");

  AttackSetup setup;
  setup.threat.norm = o.norm ? parse_norm(*o.norm) : info.norms.front();
  setup.threat.lo = model_options.input_lo;
  setup.threat.hi = model_options.input_hi;
  setup.seed = o.common.seed;
  std::optional<Model> surrogate;
  if (!o.surrogate.empty()) {
    surrogate = load_surrogate(o.surrogate, model_options, data);
    // Every step raises the surrogate's loss: the first point that fools the surrogate is barely
    // across its boundary, and seldom across the target's.
    given.set("early-stop", false);
  }
  const auto build = [&]() -> std::unique_ptr<Attack> {
    auto attack = make_attack(o.attack, setup, given);
    if (surrogate) return std::make_unique<TransferAttack>(std::move(attack), *surrogate);
    return attack;
  };
  setup.threat.eps = budgets.empty() ? 0.0 : budgets.front();
  build();  // validates the options before any work

  AttackRunOptions run_options;
  run_options.batch_size = o.common.batch_size;
  run_options.skip_misclassified = early_stop;
  run_options.target = parse_target(o.target);
  run_options.seed = o.common.seed;
  run_options.group = &ranks.group;
  run_options.shard_index = shard.first;
  run_options.shard_count = shard.second;
  ADVTK_CHECK(info.targeted || run_options.target.mode == TargetMode::None, "--target: ", info.name,
              " is untargeted");

  // AutoAttack's own sanity checks around its suites (checks.py), as warnings.
  const bool autoattack = info.preset;  // every preset is one of AutoAttack's suites
  std::vector<SanityCheck> checks;
  if (autoattack) checks = autoattack_checks(model, data, o.common.batch_size);
  for (const SanityCheck& c : checks)
    if (c.warning) spdlog::warn("{}: {}", c.id, c.message);

  // What must match across the parts for advtk merge to join them.
  const nlohmann::json settings = {{"model", o.model_path},
                                   {"attack", o.attack},
                                   {"norm", norm_name(setup.threat.norm)},
                                   {"eps", o.eps},
                                   {"target", o.target},
                                   {"options", options_json(given)},
                                   {"surrogate", o.surrogate},
                                   {"seed", o.common.seed},
                                   {"batch_size", o.common.batch_size},
                                   {"threads", torch::get_num_threads()},
                                   {"data",
                                    {{"spec", o.data.spec},
                                     {"split", o.data.split},
                                     {"limit", o.data.limit},
                                     {"offset", o.data.offset},
                                     {"shuffle", o.data.shuffle}}},
                                   {"model_options",
                                    {{"mean", o.model.mean},
                                     {"std", o.model.std},
                                     {"input_range", o.model.input_range},
                                     {"output_index", o.model.output_index.value_or(-1)},
                                     {"output_key", o.model.output_key.value_or("")},
                                     {"input_layout", o.model.input_layout},
                                     {"preprocess", o.model.preprocess},
                                     {"bpda", o.model.bpda}}},
                                   {"examples", data.size()}};
  // The resume store: what a batch depends on besides the settings is the bytes of the model,
  // the surrogate and the data.
  nlohmann::json store_config = settings;
  store_config["model_sha256"] = sha256_file(o.model_path);
  store_config["surrogate_sha256"] = o.surrogate.empty() ? "" : sha256_file(o.surrogate);
  store_config["data_sha256"] = tensor_sha256(
      {data.images.to(torch::kFloat), data.labels.to(torch::kLong), data.example_ids()});
  const AttackStore store(o.out, store_config, o.resume, ranks.group);
  run_options.store = &store;
  // The batches' x_adv stay in the store until rank 0 writes them out, a block at a time.
  run_options.keep_x_adv = false;

  ProgressBar bar(o.attack, data.size(), show_progress(o.common) && ranks.leader());
  double shown_eps = -1;
  const KillPoint kill = KillPoint::from_environment();
  int64_t batches = 0;
  const auto progress = [&](int64_t done, int64_t total, double eps) {
    kill.check("batch", std::to_string(++batches));
    if (eps != shown_eps) {
      bar.reset(o.attack + (info.minimum_norm ? "" : " eps " + concat(eps)), total);
      shown_eps = eps;
    }
    bar.update(done);
  };
  std::vector<AttackRun> runs;
  try {
    runs = run_attack(
        model, data,
        [&](double eps) {
          setup.threat.eps = eps;
          return build();
        },
        info.minimum_norm ? std::vector<double>{0.0} : budgets, run_options, progress);
  } catch (const Error&) {
    // Refused before anything finished: the folder stays as it was. Finished batches stay for
    // --resume (a full disk, once freed); so do those of a rank that died (PeerFailure).
    if (ranks.leader() && !store.holds_batches()) store.remove();
    throw;
  }
  bar.finish();
  if (store.loaded() > 0)
    spdlog::info("--resume: {} finished batches read back from {}/store", store.loaded(), o.out);
  // Rank 0 writes the results from its store and prints them; then every rank removes its
  // store (one without a shared folder has one of its own). The others wait however long the
  // writing takes (a patient barrier: heartbeats, not the exchange timeout).
  if (!ranks.leader()) {
    ranks.group.patient_barrier();
    store.remove();
    return;
  }

  AttackOutputs outputs;
  outputs.attack = o.attack;
  outputs.minimum_norm = info.minimum_norm;
  outputs.preset = autoattack;
  outputs.budgets = budgets;
  outputs.nonfinite_outputs = nonfinite;
  outputs.checks = to_json(checks);
  outputs.seed = o.common.seed;
  outputs.model_path = o.model_path;
  outputs.out = o.out;
  if (o.shard.empty()) {
    write_attack_outputs(outputs, runs, data, [&](const AttackRun& run) {
      return std::unique_ptr<AdversarialRows>(new StoredRows(run, store));
    });
    store.remove();
    ranks.group.patient_barrier();
    return;
  }
  StoredRows attacked(runs.front(), store, runs.front().attacked_rows);
  write_attack_shard(o.out, shard, settings, outputs, runs.front(), data, attacked);
  store.remove();
  std::cout << "part " << shard.first << " of " << shard.second << " ("
            << runs.front().attacked_rows.numel() << " examples attacked) written to " << o.out
            << "; advtk merge joins the parts\n";
}

}  // namespace

void setup_attack_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<AttackCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("attack", "Attack a model and write the adversarial example set");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  std::string attacks;
  for (const auto& a : attack_registry()) attacks += "\n    " + a.name + ": " + a.description;
  attacks += "\n    a,b,c: an ensemble, each attack on what the earlier ones left robust";
  cmd->add_option("--attack", o->attack, "attack:" + attacks)->capture_default_str();
  cmd->add_option("--norm", o->norm, "linf, l2 or l1 (default: linf, or l2 for cw and deepfool)");
  cmd->add_option("--eps", o->eps,
                  "budget(s) in the model's pixel range: 0.1, 8/255 or 0.05,0.1,0.2");
  cmd->add_option("--target", o->target, "targeted attack: random, least-likely or a class number");
  add_attack_flags(*cmd, o->attack_options);
  cmd->add_option("--surrogate", o->surrogate,
                  "transfer: craft the examples on this TorchScript model, judge them on MODEL");
  cmd->add_option("--shard", o->shard,
                  "i/n: attack part i of n (jobs that cannot talk, e.g. a Slurm array) and write "
                  "it for advtk merge; one budget per job");
  cmd->add_option("--out", o->out, "output directory")->capture_default_str();
  add_common_options(*cmd, o->common, 250);
  add_force_flag(*cmd, o->force);
  cmd->add_flag("--resume", o->resume,
                "read back the batches a stopped run with the same settings finished (kept in "
                "OUT/store until the outputs are written)");
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Examples:\n  advtk attack model.pt --data fashion-mnist --limit 1000 --attack pgd --eps 0.1 "
      "--out runs/pgd\n"
      "  advtk attack model.pt --attack pgd --norm l2 --eps 0.5,1,2 --restarts 5\n"
      "  advtk attack model.pt --attack cw --eps 0.5,1 --out runs/cw\n"
      "  advtk attack model.pt --attack deepfool --norm linf\n"
      "  advtk attack model.pt --attack autoattack --eps 0.1 --limit 1000\n"
      "  advtk attack model.pt --attack apgd,square --eps 8/255");
  cmd->callback([o, &exit_code] {
    run_attack_command(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
