// advtk poison --data … --attack badnets|blend|label-flip --rate R --target T --out DIR: writes a
// poisoned copy of a training set (loadable with --data npy:DIR/x.npy,DIR/y.npy), which examples
// were changed, and the trigger.
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/tensor_file.h"
#include "poisoning/poison.h"

namespace advtk::cli {
namespace {

namespace fs = std::filesystem;

struct PoisonCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string attack = "badnets";
  double rate = 0.1;
  int64_t target = 0;
  int64_t trigger_size = 3;
  std::string corner = "bottom-right";
  double alpha = 0.2;
  std::string out = "runs/poison";
  CommonOptions common;
  DataOptions data;
};

PoisonOptions to_options(const PoisonCliOptions& c) {
  PoisonOptions o;
  bool found = false;
  for (PoisonAttack a : {PoisonAttack::BadNets, PoisonAttack::Blend, PoisonAttack::LabelFlip})
    if (poison_attack_name(a) == c.attack) o.attack = a, found = true;
  ADVTK_CHECK(found, "--attack: expected badnets, blend or label-flip, got '", c.attack, "'");
  found = false;
  for (Corner k : {Corner::BottomRight, Corner::BottomLeft, Corner::TopRight, Corner::TopLeft})
    if (corner_name(k) == c.corner) o.corner = k, found = true;
  ADVTK_CHECK(found, "--corner: expected bottom-right, bottom-left, top-right or top-left, got '",
              c.corner, "'");
  o.rate = c.rate;
  o.target = c.target;
  o.trigger_size = c.trigger_size;
  o.alpha = c.alpha;
  o.seed = c.common.seed;
  return o;
}

// uint8 when every pixel is a multiple of 1/255 (BadNets and label flips keep the data's bytes),
// float32 otherwise (a blended pattern).
torch::Tensor storable(const torch::Tensor& images) {
  const torch::Tensor scaled = images * 255;
  if ((scaled - scaled.round()).abs().max().item<double>() < 1e-3)
    return scaled.round().clamp(0, 255).to(torch::kUInt8);
  return images.to(torch::kFloat);
}

void run_poison(const PoisonCliOptions& c) {
  apply_common(c.common);
  claim_output_folder(c.out, "poison", c.force);
  const PoisonOptions o = to_options(c);
  const Dataset clean = load_data(c.data, c.common.seed);
  const PoisonedSet p = poison_dataset(clean, o);
  ensure_directory(c.out);
  const fs::path dir(c.out);
  write_npy((dir / "x.npy").string(), storable(p.data.images));
  write_npy((dir / "y.npy").string(), p.data.labels);
  write_npy((dir / "poison_index.npy").string(), p.index);
  save_tensor_dict((dir / "trigger.pt").string(), {{"pattern", p.trigger.pattern},
                                                   {"mask", p.trigger.mask},
                                                   {"target", torch::tensor(o.target)}});
  write_png((dir / "trigger.png").string(), (p.trigger.pattern * p.trigger.mask).clamp(0, 1));
  nlohmann::json per_class = nlohmann::json::object();
  const torch::Tensor original = clean.labels.index_select(0, p.index);
  for (int64_t k = 0; k < clean.num_classes(); ++k) {
    const int64_t n = (original == k).sum().item<int64_t>();
    if (n > 0) per_class[std::to_string(k)] = n;
  }
  nlohmann::json j = {
      {"attack", poison_attack_name(o.attack)},
      {"rate", o.rate},
      {"target", o.target},
      {"seed", o.seed},
      {"source", clean.source},
      {"examples", clean.size()},
      {"poisoned", p.index.numel()},
      {"poisoned_by_original_class", per_class},
      {"files", {"x.npy", "y.npy", "poison_index.npy", "trigger.pt", "trigger.png"}}};
  if (o.attack == PoisonAttack::BadNets) {
    j["trigger_size"] = o.trigger_size;
    j["corner"] = corner_name(o.corner);
  }
  if (o.attack == PoisonAttack::Blend) j["alpha"] = o.alpha;
  write_file_atomic((dir / "poison.json").string(), j.dump(2) + "\n");
  std::cout << poison_attack_name(o.attack) << ": " << p.index.numel() << " of " << clean.size()
            << " examples poisoned towards class " << o.target << "\nwrote " << c.out
            << "/x.npy, y.npy, poison_index.npy, trigger.pt, trigger.png, poison.json\n"
            << "train on it with --data npy:" << c.out << "/x.npy," << c.out << "/y.npy\n";
}

}  // namespace

void setup_poison_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PoisonCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "poison", "Write a poisoned copy of a training set (BadNets, Blend, label flips)");
  cmd->add_option("--attack", o->attack,
                  "badnets (Gu et al. 2017: a white patch), blend (Chen et al. 2017: a random "
                  "pattern blended in) or label-flip (labels only)")
      ->capture_default_str();
  cmd->add_option("--rate", o->rate,
                  "poisoned fraction of the whole set, drawn from non-target "
                  "classes")
      ->capture_default_str();
  cmd->add_option("--target", o->target, "the class the poison points to")->capture_default_str();
  cmd->add_option("--trigger-size", o->trigger_size, "badnets: the patch's side in pixels")
      ->capture_default_str();
  cmd->add_option("--corner", o->corner,
                  "badnets: bottom-right, bottom-left, top-right or top-left")
      ->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "blend: the pattern's weight")->capture_default_str();
  cmd->add_option("--out", o->out,
                  "output directory (x.npy, y.npy, poison_index.npy, trigger.pt, trigger.png, "
                  "poison.json)")
      ->capture_default_str();
  add_common_options(*cmd, o->common, 128);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "train");
  cmd->footer(
      "Example:\n  advtk poison --data fashion-mnist --attack badnets --rate 0.1 --target 0 "
      "--out runs/badnets\n  advtk train --arch lenet --data npy:runs/badnets/x.npy,"
      "runs/badnets/y.npy --val-data fashion-mnist --out runs/badnets-model");
  cmd->callback([o, &exit_code] {
    run_poison(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
