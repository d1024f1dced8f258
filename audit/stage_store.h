// Where an audit keeps what it has finished, so that an interrupted audit resumes where it stopped:
// DIR/stages/config.json (what the audit is of; a resume must match it), one NAME.json per
// finished stage or chunk and NAME.pt for its per-example tensors. Every file is written
// atomically: a file that exists is complete.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/torch.h"

namespace advtk {

using TensorMap = std::map<std::string, torch::Tensor>;

class StageStore {
 public:
  // Opens DIR/stages. With `resume`, an existing store must hold the same `config`; without it,
  // a store that already holds stages is refused (nothing already written is overwritten).
  StageStore(const std::string& dir, const nlohmann::json& config, bool resume);

  std::optional<nlohmann::json> json(const std::string& name) const;
  // The stage's tensors; nullopt unless both its JSON and its tensors were saved.
  std::optional<TensorMap> tensors(const std::string& name) const;
  // Whether `name` is saved with its tensors (what tensors() would find), without reading them.
  bool has_tensors(const std::string& name) const;
  // Saves the tensors first and the JSON last: a stage counts as done once its JSON exists.
  void save(const std::string& name, const nlohmann::json& j, const TensorMap& tensors = {});

  const std::string& dir() const { return dir_; }

 private:
  std::string path(const std::string& name, const char* ext) const;
  std::string dir_;
};

}  // namespace advtk
