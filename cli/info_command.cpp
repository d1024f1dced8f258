// advtk info MODEL: what a TorchScript model is and what it expects.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/values.h"
#include "core/error.h"

namespace advtk::cli {
namespace {

struct InfoOptions {
  std::string model_path;
  std::string input_shape;  // C,H,W; default: recorded in zoo models
  int64_t num_classes = 0;
  bool json = false;
  CommonOptions common;
  ModelCliOptions model;
};

void run_info(const InfoOptions& o) {
  apply_common(o.common);
  Model model = Model::load(o.model_path, to_model_options(o.model, o.common.device));
  const torch::jit::Module& module = model.module();

  int64_t parameters = 0, parameter_bytes = 0, buffers = 0;
  for (const auto& p : module.parameters()) {
    parameters += p.numel();
    parameter_bytes += p.numel() * p.element_size();
  }
  for (const auto& b : module.buffers()) buffers += b.numel();
  std::vector<std::string> methods;
  for (const auto& m : module.get_methods()) methods.push_back(m.name());
  int64_t submodules = 0;
  for (const auto& sub : module.modules()) {
    (void)sub;
    ++submodules;
  }

  std::optional<std::vector<int64_t>> shape = model.recorded_input_shape();
  if (!o.input_shape.empty()) shape = parse_int_list(o.input_shape, "--input-shape");
  std::optional<ProbeResult> probe;
  if (shape) probe = model.fit_input_layout(*shape, o.num_classes);

  nlohmann::json j;
  j["file"] = o.model_path;
  j["file_bytes"] = std::filesystem::file_size(o.model_path);
  j["type"] = module.type()->name() ? module.type()->name()->qualifiedName() : "";
  j["architecture"] = module.hasattr("advtk_arch") ? module.attr("advtk_arch").toStringRef() : "";
  j["parameters"] = parameters;
  j["parameter_bytes"] = parameter_bytes;
  j["buffer_elements"] = buffers;
  j["modules"] = submodules;
  j["methods"] = methods;
  j["input_shape"] = shape ? nlohmann::json(*shape) : nlohmann::json();
  j["input_layout"] =
      probe ? nlohmann::json(layout_name(*model.options().layout)) : nlohmann::json();
  j["num_classes"] = probe ? nlohmann::json(probe->num_classes) : nlohmann::json();
  j["outputs_look_like_probabilities"] =
      probe ? nlohmann::json(probe->looks_like_probabilities) : nlohmann::json();
  j["libtorch"] = TORCH_VERSION;
  j["device"] = model.device().str();
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  const auto line = [](const char* key, const std::string& value) {
    std::cout << std::left << std::setw(14) << key << value << "\n";
  };
  line("file", o.model_path + " (" + std::to_string(j["file_bytes"].get<int64_t>()) + " bytes)");
  line("type", j["type"].get<std::string>());
  if (!j["architecture"].get<std::string>().empty())
    line("architecture", j["architecture"].get<std::string>() + " (advtk zoo)");
  line("parameters",
       std::to_string(parameters) + " (" + std::to_string(parameter_bytes / 1024) + " KiB)");
  line("buffers", std::to_string(buffers) + " elements");
  line("modules", std::to_string(submodules));
  std::string names;
  for (const auto& m : methods) names += (names.empty() ? "" : ", ") + m;
  line("methods", names);
  if (probe) {
    line("input", "[N," + std::to_string((*shape)[0]) + "," + std::to_string((*shape)[1]) + "," +
                      std::to_string((*shape)[2]) + "] in " +
                      fmt::format("[{}, {}]", model.options().input_lo, model.options().input_hi) +
                      (*model.options().layout == InputLayout::Nchw
                           ? ""
                           : ", handed to the model " + layout_name(*model.options().layout)));
    line("output", "[N," + std::to_string(probe->num_classes) + "] " +
                       (probe->looks_like_probabilities ? "probabilities" : "logits"));
  } else {
    line("input", "unknown (give --input-shape C,H,W to probe the model)");
  }
  line("libtorch", TORCH_VERSION);
  line("device", model.device().str());
}

}  // namespace

void setup_info_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a TorchScript model and probe its shapes");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--input-shape", o->input_shape, "C,H,W of one example (zoo models record it)");
  cmd->add_option("--num-classes", o->num_classes, "check the output has this many classes");
  cmd->add_flag("--json", o->json, "print a JSON object instead of text");
  add_common_options(*cmd, o->common, 1);
  add_model_options(*cmd, o->model);
  cmd->footer("Example:\n  advtk info runs/cnn/model.pt --input-shape 1,28,28");
  cmd->callback([o, &exit_code] {
    run_info(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
