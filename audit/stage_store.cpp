#include "audit/stage_store.h"

#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "data/tensor_file.h"

namespace advtk {
namespace fs = std::filesystem;

StageStore::StageStore(const std::string& dir, const nlohmann::json& config, bool resume)
    : dir_((fs::path(dir) / "stages").string()) {
  const std::string config_path = path("config", ".json");
  if (fs::exists(config_path)) {
    ADVTK_CHECK(resume, dir,
                " already holds an audit: pass --resume to continue it, or choose another --out");
    nlohmann::json stored;
    try {
      const auto bytes = read_file_bytes(config_path);
      stored = nlohmann::json::parse(bytes.begin(), bytes.end());
    } catch (const nlohmann::json::exception&) {
      throw Error(config_path + ": corrupt (not JSON); remove " + dir_ + " to start afresh");
    }
    // Compared as written: the stored copy went through the same dump (invalid UTF-8 replaced).
    const nlohmann::json expected = nlohmann::json::parse(
        config.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (stored != expected) {
      std::string differ;
      for (const auto& [key, value] : expected.items())
        if (!stored.contains(key) || stored[key] != value)
          differ += (differ.empty() ? "" : ", ") + key;
      throw Error("--resume: " + dir + " holds an audit with other settings (" +
                  (differ.empty() ? std::string("settings") : differ) +
                  " differ); use the same command, or another --out");
    }
    return;
  }
  ensure_directory(dir_);
  write_file_atomic(config_path,
                    config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::string StageStore::path(const std::string& name, const char* ext) const {
  return (fs::path(dir_) / (name + ext)).string();
}

std::optional<nlohmann::json> StageStore::json(const std::string& name) const {
  const std::string p = path(name, ".json");
  if (!fs::exists(p)) return std::nullopt;
  const auto bytes = read_file_bytes(p);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception&) {
    throw Error(p + ": corrupt stage file; delete it to redo that stage");
  }
}

std::optional<TensorMap> StageStore::tensors(const std::string& name) const {
  // Tensors are written before the JSON; a stage whose tensors are missing counts as not done.
  const std::string p = path(name, ".pt");
  if (!json(name) || !fs::exists(p)) return std::nullopt;
  return load_tensor_dict(p);
}

bool StageStore::has_tensors(const std::string& name) const {
  return fs::exists(path(name, ".json")) && fs::exists(path(name, ".pt"));
}

void StageStore::save(const std::string& name, const nlohmann::json& j, const TensorMap& tensors) {
  ensure_directory(fs::path(path(name, ".json")).parent_path().string());
  if (!tensors.empty()) save_tensor_dict(path(name, ".pt"), tensors);
  write_file_atomic(path(name, ".json"),
                    j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace advtk
