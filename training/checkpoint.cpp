#include "training/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/zip_archive.h"

namespace advtk {
namespace fs = std::filesystem;
namespace {

std::string path_in(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

ModelState read_state(const std::string& path, torch::Device device) {
  read_torch_archive_file(path, ArchiveKind::Module);
  try {
    return capture_state(torch::jit::load(path, device));
  } catch (const std::exception& e) {
    throw Error(path + ": cannot load the checkpoint (" + short_message(e) + ")");
  }
}

}  // namespace

void save_checkpoint(const std::string& dir, const Model& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state, CheckpointWrite what) {
  ensure_directory(dir);
  if (what != CheckpointWrite::StateOnly) {
    model.save(path_in(dir, "model.pt"));
    write_atomically(path_in(dir, "optimizer.pt"), [&](const std::string& tmp) {
      torch::serialize::OutputArchive archive;
      optimizer.save(archive);
      archive.save_to(tmp);
    });
  }
  if (what == CheckpointWrite::ModelAndBest) model.save(path_in(dir, "best.pt"));
  nlohmann::json j;
  j["epochs_done"] = state.epochs_done;
  j["history"] = state.history;
  j["config"] = state.config;
  j["best_epoch"] = state.best_epoch;
  j["stop_reason"] = state.stop_reason;
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
    state.best_epoch = j.value("best_epoch", int64_t{0});
    state.stop_reason = j.value("stop_reason", std::string());
  } catch (const nlohmann::json::exception& e) {
    throw Error(state_path + ": corrupt checkpoint state (" + e.what() + ")");
  }
  restore_state(model, read_state(path_in(dir, "model.pt"), model.device()), dir);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path_in(dir, "optimizer.pt"), model.device());
    optimizer.load(archive);
  } catch (const std::exception& e) {
    throw Error(dir + ": cannot load the optimizer state (" + short_message(e) + ")");
  }
  return state;
}

ModelState load_best_state(const std::string& dir, torch::Device device) {
  return read_state(path_in(dir, "best.pt"), device);
}

}  // namespace advtk
