#include "cli/attack_store.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"
#include "data/tensor_file.h"

namespace advtk::cli {

namespace fs = std::filesystem;

AttackStore::AttackStore(std::string out, const nlohmann::json& config, bool resume,
                         const ProcessGroup& group)
    : dir_((fs::path(out) / "store").string()) {
  const fs::path config_file = fs::path(dir_) / "config.json";
  std::error_code ec;
  const bool found = fs::exists(config_file, ec);
  if (resume && found) {
    nlohmann::json held;
    try {
      std::ifstream in(config_file);
      held = nlohmann::json::parse(in);
    } catch (const std::exception&) {
      throw Error(concat("--resume: ", config_file.string(),
                         " is not the JSON advtk attack writes (delete the store, or run "
                         "without --resume)"));
    }
    if (held != config) {
      std::string differs;
      for (const auto& [key, value] : config.items())
        if (!held.contains(key) || held[key] != value)
          differs += (differs.empty() ? "" : ", ") + key;
      throw Error(concat("--resume: the store in ", dir_, " was made by another run (",
                         differs.empty() ? std::string("its settings") : differs,
                         " differ); run without --resume to start again"));
    }
  }
  if (group.rank() == 0) {
    if (!resume) fs::remove_all(dir_, ec);
    ensure_directory(dir_);
    if (!resume || !found) write_file_atomic(config_file.string(), config.dump(1) + "\n");
  }
  group.barrier();
}

std::string AttackStore::file(size_t budget, int64_t batch) const {
  return (fs::path(dir_) / ("budget-" + std::to_string(budget)) /
          ("batch-" + std::to_string(batch) + ".pt"))
      .string();
}

std::optional<std::map<std::string, torch::Tensor>> AttackStore::load(size_t budget,
                                                                      int64_t batch) const {
  if (!holds(budget, batch)) return std::nullopt;
  ++loaded_;
  return read(budget, batch);
}

bool AttackStore::holds(size_t budget, int64_t batch) const {
  std::error_code ec;
  return fs::exists(file(budget, batch), ec);
}

std::map<std::string, torch::Tensor> AttackStore::read(size_t budget, int64_t batch) const {
  const std::string f = file(budget, batch);
  ADVTK_CHECK(holds(budget, batch), f, ": missing from the attack's store (removed while it ran?)");
  return load_tensor_dict(f);
}

void AttackStore::save(size_t budget, int64_t batch,
                       const std::map<std::string, torch::Tensor>& outcome) const {
  const std::string f = file(budget, batch);
  // Written aside and renamed (write_file_atomic): a run killed mid-write leaves no half batch.
  save_tensor_dict(f, outcome);
}

bool AttackStore::holds_batches() const {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && it->path().extension() == ".pt") return true;
  return false;
}

void AttackStore::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace advtk::cli
