#include "training/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {
namespace fs = std::filesystem;
namespace {

std::string path_in(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

}  // namespace

void save_checkpoint(const std::string& dir, const Model& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state) {
  ensure_directory(dir);
  model.save(path_in(dir, "model.pt"));
  write_atomically(path_in(dir, "optimizer.pt"), [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(tmp);
  });
  nlohmann::json j;
  j["epochs_done"] = state.epochs_done;
  j["history"] = state.history;
  j["config"] = state.config;
  write_file_atomic(path_in(dir, "state.json"), j.dump(2) + "\n");
}

bool checkpoint_exists(const std::string& dir) { return fs::exists(path_in(dir, "state.json")); }

CheckpointState load_checkpoint(const std::string& dir, Model& model,
                                torch::optim::Optimizer& optimizer) {
  const std::string state_path = path_in(dir, "state.json");
  ADVTK_CHECK(fs::exists(state_path), "--resume: no checkpoint in ", dir, " (state.json missing)");
  CheckpointState state;
  try {
    std::ifstream in(state_path);
    const nlohmann::json j = nlohmann::json::parse(in);
    state.epochs_done = j.at("epochs_done").get<int64_t>();
    state.history = j.at("history");
    state.config = j.value("config", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(state_path + ": corrupt checkpoint state (" + e.what() + ")");
  }
  try {
    torch::jit::Module saved = torch::jit::load(path_in(dir, "model.pt"), model.device());
    torch::NoGradGuard no_grad;
    auto target_params = model.module().named_parameters();
    for (const auto& p : saved.named_parameters()) {
      bool found = false;
      for (const auto& t : target_params) {
        if (t.name == p.name) {
          ADVTK_CHECK(t.value.sizes() == p.value.sizes(), dir, ": parameter ", p.name,
                      " has shape ", p.value.sizes(), " in the checkpoint but ", t.value.sizes(),
                      " in the model");
          t.value.copy_(p.value);
          found = true;
        }
      }
      ADVTK_CHECK(found, dir, ": checkpoint parameter ", p.name, " is not in the model");
    }
    auto target_buffers = model.module().named_buffers();
    for (const auto& b : saved.named_buffers())
      for (const auto& t : target_buffers)
        if (t.name == b.name) t.value.copy_(b.value);
    torch::serialize::InputArchive archive;
    archive.load_from(path_in(dir, "optimizer.pt"), model.device());
    optimizer.load(archive);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(dir + ": cannot load the checkpoint (" + short_message(e) + ")");
  }
  return state;
}

}  // namespace advtk
