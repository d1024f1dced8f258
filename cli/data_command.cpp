// advtk data --data ...: what a data spec loads to (count, shape, classes, balance, load time),
// to check a source before attacking or training on it; --save writes it as the .npy pair that
// processes map rather than read (data/npy.h: map_npy), so that ranks on one machine share it.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/split.h"
#include "data/npy.h"

namespace advtk::cli {
namespace {

struct DataCommandOptions {
  bool json = false;
  std::string save;  // IMAGES.npy,LABELS.npy
  CommonOptions common;
  DataOptions data;
};

// The --save pair, checked before anything is loaded: two paths, neither of them taken.
std::vector<std::string> save_paths(const std::string& spec) {
  const std::vector<std::string> paths = split_text(spec, ',');
  ADVTK_CHECK(paths.size() == 2 && !paths[0].empty() && !paths[1].empty() && paths[0] != paths[1],
              "--save ", spec, ": expected IMAGES.npy,LABELS.npy (two different files)");
  for (const std::string& p : paths) {
    std::error_code ec;
    ADVTK_CHECK(!std::filesystem::exists(p, ec), "--save: ", p,
                " exists already (advtk does not replace it; remove it first)");
  }
  return paths;
}

void run_data(const DataCommandOptions& o) {
  apply_common(o.common);
  const std::vector<std::string> save =
      o.save.empty() ? std::vector<std::string>{} : save_paths(o.save);
  const auto started = std::chrono::steady_clock::now();
  const Dataset d = load_data(o.data, o.common.seed);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const torch::Tensor counts = torch::bincount(d.labels, {}, d.num_classes());
  nlohmann::json j;
  j["source"] = d.source;
  j["examples"] = d.size();
  j["shape"] = std::vector<int64_t>(d.images.sizes().begin() + 1, d.images.sizes().end());
  j["num_classes"] = d.num_classes();
  j["class_names"] = d.class_names;
  j["class_counts"] =
      std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  j["pixel_min"] = d.images.min().item<double>();
  j["pixel_max"] = d.images.max().item<double>();
  j["pixel_mean"] = d.images.mean().item<double>();
  j["load_seconds"] = seconds;
  if (!save.empty()) {
    // As `--data npy:` reads them back unchanged: float32 [N,C,H,W] in [0, 1], int64 labels.
    write_npy(save[0], d.images);
    write_npy(save[1], d.labels);
    j["saved"] = save;
  }
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "source       " << d.source << "\n"
            << "examples     " << d.size() << "\n"
            << "shape        [" << d.images.size(1) << "," << d.images.size(2) << ","
            << d.images.size(3) << "]\n"
            << "pixels       min " << j["pixel_min"] << ", max " << j["pixel_max"] << ", mean "
            << std::setprecision(4) << j["pixel_mean"].get<double>() << "\n"
            << "loaded in    " << std::fixed << std::setprecision(3) << seconds << " s\n"
            << "classes      " << d.num_classes() << "\n";

  for (int64_t c = 0; c < d.num_classes(); ++c) {
    std::cout << "  " << std::setw(3) << c << "  " << std::left << std::setw(14) << d.class_name(c)
              << std::right << std::setw(8) << counts[c].item<int64_t>() << "\n";
  }
  if (!o.save.empty())
    std::cout << "saved        " << o.save << " (read it with --data npy:" << o.save << ")\n";
}

}  // namespace

void setup_data_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<DataCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("data", "Load a data spec and summarise it (checks the files)");
  cmd->add_flag("--json", o->json, "print a JSON object");
  cmd->add_option("--save", o->save,
                  "IMAGES.npy,LABELS.npy: write the selection as float32 NCHW images and int64 "
                  "labels (read back with --data npy:IMAGES.npy,LABELS.npy, the images mapped)");
  add_common_options(*cmd, o->common, 1);
  add_data_options(*cmd, o->data, "test");
  cmd->footer(
      "Examples:\n  advtk data --data cifar10:data/cifar-10-batches-bin --split train\n"
      "  advtk data --data folder:imagenet/val --save val_x.npy,val_y.npy");
  cmd->callback([o, &exit_code] {
    run_data(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
