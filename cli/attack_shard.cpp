#include "cli/attack_shard.h"

#include <filesystem>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/file_io.h"
#include "data/npy.h"
#include "data/tensor_file.h"

namespace advtk::cli {
namespace {

constexpr const char* kFormat = "advtk-attack-shard-2";

// The per-example fields of a run but x_adv (a part's x_adv.npy), by name.
const std::vector<std::pair<std::string, torch::Tensor AttackRun::*>> kFields = {
    {"pred_adv", &AttackRun::pred_adv},
    {"success", &AttackRun::success},
    {"claimed", &AttackRun::claimed},
    {"distance", &AttackRun::distance},
    {"broken_by", &AttackRun::broken_by},
    {"forward_calls", &AttackRun::forward_calls},
    {"backward_calls", &AttackRun::backward_calls},
    {"l1", &AttackRun::l1},
    {"l2", &AttackRun::l2},
    {"linf", &AttackRun::linf}};

// The fields, restricted to `rows` (all when undefined).
std::map<std::string, torch::Tensor> fields(const AttackRun& r, const torch::Tensor& rows,
                                            const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, field] : kFields)
    out[prefix + name] = rows.defined() ? (r.*field).index_select(0, rows) : r.*field;
  return out;
}

// The parts' x_adv rows in dataset order: each part's rows come from its x_adv.npy in the order
// it attacked them (ascending), every other example's is x itself (not attacked).
class PartRows final : public AdversarialRows {
 public:
  PartRows(torch::Tensor x, const std::vector<std::string>& files,
           const std::vector<torch::Tensor>& rows)
      : x_(std::move(x)), owner_(torch::full({x_.size(0)}, -1, torch::kLong)) {
    for (size_t p = 0; p < files.size(); ++p) {
      readers_.push_back(std::make_unique<NpyRowReader>(files[p]));
      const NpyRowReader& r = *readers_.back();
      ADVTK_CHECK(r.type() == x_.scalar_type() &&
                      r.shape().size() == static_cast<size_t>(x_.dim()) &&
                      r.shape()[0] == rows[p].numel() &&
                      torch::IntArrayRef(r.shape()).slice(1) == x_.sizes().slice(1),
                  files[p], ": does not hold the ", rows[p].numel(), " rows its part attacked");
      owner_.index_fill_(0, rows[p], static_cast<int64_t>(p));
    }
  }
  torch::Tensor next(int64_t count) override {
    torch::Tensor out = x_.slice(0, done_, done_ + count).clone();
    const auto owner = owner_.accessor<int64_t, 1>();
    for (int64_t j = 0; j < count;) {  // runs of rows of one part at a time
      const int64_t p = owner[done_ + j];
      int64_t k = j + 1;
      while (k < count && owner[done_ + k] == p) ++k;
      if (p >= 0) out.slice(0, j, k).copy_(readers_[p]->next(k - j));
      j = k;
    }
    done_ += count;
    return out;
  }

 private:
  torch::Tensor x_, owner_;
  std::vector<std::unique_ptr<NpyRowReader>> readers_;
  int64_t done_ = 0;
};

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
                        const AttackRun& run, const Dataset& data, AdversarialRows& attacked) {
  std::filesystem::create_directories(dir);
  NpyWriter x_adv((std::filesystem::path(dir) / "x_adv.npy").string(), run.x.scalar_type(), [&] {
    std::vector<int64_t> shape = run.x.sizes().vec();
    shape[0] = run.attacked_rows.numel();
    return shape;
  }());
  constexpr int64_t kBlock = 256;
  for (int64_t done = 0; done < run.attacked_rows.numel(); done += kBlock)
    x_adv.append(attacked.next(std::min(kBlock, run.attacked_rows.numel() - done)));
  x_adv.finish();
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
  for (const auto& [name, field] : kFields) run.*field = tensor_of(base, "all_" + name, first);
  const int64_t examples = p0.at("examples").get<int64_t>();
  std::vector<std::string> x_adv_files;
  std::vector<torch::Tensor> part_rows;
  for (int i = 0; i < n; ++i) {
    const std::string path = (std::filesystem::path(dirs[by_index[i]]) / "shard.pt").string();
    const auto part = i == 0 ? base : load_tensor_dict(path);
    const torch::Tensor rows = tensor_of(part, "rows", path);
    ADVTK_CHECK(rows.dim() == 1 && rows.scalar_type() == torch::kLong &&
                    (rows.numel() == 0 ||
                     (rows.min().item<int64_t>() >= 0 && rows.max().item<int64_t>() < examples)),
                path, ": its rows are not positions among the ", examples, " examples");
    ADVTK_CHECK(rows.numel() < 2 || (rows.slice(0, 1) > rows.slice(0, 0, -1)).all().item<bool>(),
                path, ": its rows are not ascending (not an advtk attack --shard part)");
    x_adv_files.push_back((std::filesystem::path(dirs[by_index[i]]) / "x_adv.npy").string());
    part_rows.push_back(rows);
    if (i == 0) continue;  // its rows are in the whole run it holds
    for (const auto& [name, field] : kFields) {
      torch::Tensor& whole = run.*field;
      const torch::Tensor got = tensor_of(part, name, path);
      ADVTK_CHECK(got.scalar_type() == whole.scalar_type() && got.dim() == whole.dim() &&
                      got.size(0) == rows.numel() && got.sizes().slice(1) == whole.sizes().slice(1),
                  path, ": '", name, "' does not match the run's shape");
      whole.index_copy_(0, rows, got);
    }
  }
  const torch::Tensor sorted = std::get<0>(torch::cat(part_rows).sort());
  ADVTK_CHECK(
      sorted.numel() < 2 || (sorted.slice(0, 1) != sorted.slice(0, 0, -1)).all().item<bool>(),
      "the parts attacked some examples twice (parts of different runs)");
  m.x_adv_rows = [x = run.x, x_adv_files, part_rows] {
    return std::unique_ptr<AdversarialRows>(new PartRows(x, x_adv_files, part_rows));
  };
  m.x_adv_rows();  // its files are checked before anything is written
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
