#include "cli/attack_shard.h"

#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/file_io.h"
#include "data/tensor_file.h"

namespace advtk::cli {
namespace {

constexpr const char* kFormat = "advtk-attack-shard-1";

// The per-example fields of a run, by name, restricted to `rows` (all when undefined).
std::map<std::string, torch::Tensor> fields(const AttackRun& r, const torch::Tensor& rows,
                                            const std::string& prefix) {
  const auto at = [&](const torch::Tensor& t) {
    return rows.defined() ? t.index_select(0, rows) : t;
  };
  return {{prefix + "x_adv", at(r.x_adv)},
          {prefix + "pred_adv", at(r.pred_adv)},
          {prefix + "success", at(r.success)},
          {prefix + "claimed", at(r.claimed)},
          {prefix + "distance", at(r.distance)},
          {prefix + "broken_by", at(r.broken_by)},
          {prefix + "forward_calls", at(r.forward_calls)},
          {prefix + "backward_calls", at(r.backward_calls)}};
}

torch::Tensor& field_of(AttackRun& r, const std::string& name) {
  if (name == "x_adv") return r.x_adv;
  if (name == "pred_adv") return r.pred_adv;
  if (name == "success") return r.success;
  if (name == "claimed") return r.claimed;
  if (name == "distance") return r.distance;
  if (name == "broken_by") return r.broken_by;
  if (name == "forward_calls") return r.forward_calls;
  TORCH_INTERNAL_ASSERT(name == "backward_calls");
  return r.backward_calls;
}

const std::vector<std::string> kFields = {"x_adv",         "pred_adv",      "success",
                                          "claimed",       "distance",      "broken_by",
                                          "forward_calls", "backward_calls"};

nlohmann::json read_json(const std::string& path) {
  const std::vector<char> bytes = read_file_bytes(path, false);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const std::exception&) {
    throw Error(concat(path, ": not JSON (an advtk attack --shard part has a shard.json)"));
  }
}

torch::Tensor tensor_of(const std::map<std::string, torch::Tensor>& t, const std::string& name,
                        const std::string& path) {
  const auto it = t.find(name);
  ADVTK_CHECK(it != t.end(), path, ": has no '", name, "' (not a whole advtk shard part)");
  return it->second;
}

}  // namespace

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int i = -1, n = -1;
  try {
    size_t used = 0;
    if (slash != std::string::npos) {
      i = std::stoi(text.substr(0, slash), &used);
      if (used != slash) i = -1;
      n = std::stoi(text.substr(slash + 1), &used);
      if (used != text.size() - slash - 1) n = -1;
    }
  } catch (const std::exception&) {
    i = n = -1;
  }
  ADVTK_CHECK(i >= 0 && n >= 1 && i < n,
              "--shard: expected i/n with 0 <= i < n (0/4 is the "
              "first of four parts), got '",
              text, "'");
  return {i, n};
}

void write_attack_shard(const std::string& dir, std::pair<int, int> shard,
                        const nlohmann::json& settings, const AttackOutputs& o,
                        const AttackRun& run, const Dataset& data) {
  std::filesystem::create_directories(dir);
  std::map<std::string, torch::Tensor> t = fields(run, run.attacked_rows, "");
  t["rows"] = run.attacked_rows;
  if (shard.first == 0) {
    for (auto& [k, v] : fields(run, {}, "all_")) t[k] = v;
    t["x"] = run.x;
    t["y"] = run.y;
    t["clean_pred"] = run.clean_pred;
    t["index"] = data.example_ids();
    if (run.target.defined()) t["target"] = run.target;
  }
  save_tensor_dict((std::filesystem::path(dir) / "shard.pt").string(), t);
  nlohmann::json j = {{"format", kFormat},
                      {"shard", shard.first},
                      {"of", shard.second},
                      {"settings", settings},
                      {"outputs",
                       {{"attack", o.attack},
                        {"minimum_norm", o.minimum_norm},
                        {"preset", o.preset},
                        {"budgets", o.budgets},
                        {"nonfinite_outputs", o.nonfinite_outputs},
                        {"checks", o.checks},
                        {"seed", o.seed},
                        {"model", o.model_path}}},
                      {"parameters", run.parameters},
                      {"eps", run.eps},
                      {"seconds", run.seconds},
                      {"examples", data.size()},
                      {"source", data.source},
                      {"class_names", data.class_names}};
  // shard.json last: a part without it is unfinished.
  write_file_atomic((std::filesystem::path(dir) / "shard.json").string(), j.dump(2) + "\n");
}

MergedAttack merge_attack_shards(const std::vector<std::string>& dirs) {
  ADVTK_CHECK(!dirs.empty(), "advtk merge: expected the folders of the parts");
  std::vector<nlohmann::json> parts(dirs.size());
  std::map<int, size_t> by_index;
  for (size_t k = 0; k < dirs.size(); ++k) {
    const std::string path = (std::filesystem::path(dirs[k]) / "shard.json").string();
    ADVTK_CHECK(std::filesystem::exists(path), dirs[k],
                ": has no shard.json (not a finished advtk attack --shard part)");
    parts[k] = read_json(path);
    const nlohmann::json& p = parts[k];
    ADVTK_CHECK(p.value("format", "") == kFormat, path, ": not an advtk attack --shard part");
    const int i = p.at("shard").get<int>();
    ADVTK_CHECK(!by_index.count(i), dirs[by_index[i]], " and ", dirs[k], " are both part ", i);
    by_index[i] = k;
    ADVTK_CHECK(p.at("settings") == parts[0].at("settings") && p.at("of") == parts[0].at("of"),
                dirs[k], " and ", dirs[0],
                " are parts of different runs (their settings differ: model, data, attack, "
                "budget, seed, batch size or threads)");
  }
  const int n = parts[0].at("of").get<int>();
  for (int i = 0; i < n; ++i)
    ADVTK_CHECK(by_index.count(i), "part ", i, " of ", n, " is missing (", dirs.size(), " given)");

  const std::string first = (std::filesystem::path(dirs[by_index[0]]) / "shard.pt").string();
  const auto base = load_tensor_dict(first);
  const nlohmann::json& p0 = parts[by_index[0]];
  MergedAttack m;
  AttackRun& run = m.run;
  run.eps = p0.at("eps").get<double>();
  run.parameters = p0.at("parameters");
  run.x = tensor_of(base, "x", first);
  run.y = tensor_of(base, "y", first);
  run.clean_pred = tensor_of(base, "clean_pred", first);
  if (base.count("target")) run.target = base.at("target");
  for (const std::string& f : kFields) field_of(run, f) = tensor_of(base, "all_" + f, first);
  const int64_t examples = p0.at("examples").get<int64_t>();
  for (int i = 1; i < n; ++i) {
    const std::string path = (std::filesystem::path(dirs[by_index[i]]) / "shard.pt").string();
    const auto part = load_tensor_dict(path);
    const torch::Tensor rows = tensor_of(part, "rows", path);
    ADVTK_CHECK(rows.dim() == 1 && rows.scalar_type() == torch::kLong &&
                    (rows.numel() == 0 ||
                     (rows.min().item<int64_t>() >= 0 && rows.max().item<int64_t>() < examples)),
                path, ": its rows are not positions among the ", examples, " examples");
    for (const std::string& f : kFields) {
      torch::Tensor& whole = field_of(run, f);
      const torch::Tensor got = tensor_of(part, f, path);
      ADVTK_CHECK(got.scalar_type() == whole.scalar_type() && got.dim() == whole.dim() &&
                      got.size(0) == rows.numel() && got.sizes().slice(1) == whole.sizes().slice(1),
                  path, ": '", f, "' does not match the run's shape");
      whole.index_copy_(0, rows, got);
    }
  }
  run.seconds = 0;
  for (const auto& p : parts) run.seconds += p.at("seconds").get<double>();  // the work in all

  const nlohmann::json& o = p0.at("outputs");
  m.outputs.attack = o.at("attack").get<std::string>();
  m.outputs.minimum_norm = o.at("minimum_norm").get<bool>();
  m.outputs.preset = o.at("preset").get<bool>();
  m.outputs.budgets = o.at("budgets").get<std::vector<double>>();
  m.outputs.nonfinite_outputs = o.at("nonfinite_outputs").get<int64_t>();
  m.outputs.checks = o.at("checks");
  m.outputs.seed = o.at("seed").get<uint64_t>();
  m.outputs.model_path = o.at("model").get<std::string>();
  m.data.labels = run.y;
  m.data.ids = tensor_of(base, "index", first);
  m.data.source = p0.at("source").get<std::string>();
  m.data.class_names = p0.at("class_names").get<std::vector<std::string>>();
  return m;
}

}  // namespace advtk::cli
