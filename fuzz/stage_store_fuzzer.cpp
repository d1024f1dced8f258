// The audit's resume store (audit/stage_store.h) on arbitrary files: the first byte picks the
// file the rest becomes — the store's config.json, a finished stage's JSON, or its tensors —
// and the store is opened with --resume and read. Refusals are advtk::Error; anything else is a
// bug. The store lives in /dev/shm when there is one (a file write per execution).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "audit/stage_store.h"
#include "core/error.h"

namespace {

namespace fs = std::filesystem;

const nlohmann::json& config() {
  static const nlohmann::json c = {{"model", "m.pt"}, {"eps", {0.1}}};
  return c;
}
const char* const kConfig = "config.json";
const char* const kStage = "clean.json";

void write(const fs::path& p, const char* data, size_t size) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(data, static_cast<std::streamsize>(size));
}

// The store as an audit leaves it: its config and one finished stage without tensors.
const fs::path& folder() {
  static const fs::path dir = [] {
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path d = base / ("advtk-fuzz-store-" + std::to_string(getpid()));
    fs::create_directories(d / "stages");
    return d;
  }();
  return dir;
}

void restore(const fs::path& stages) {
  const std::string c = config().dump(2) + "\n", stage = "{\"accuracy\": 0.5}\n";
  write(stages / kConfig, c.data(), c.size());
  write(stages / kStage, stage.data(), stage.size());
  std::error_code ec;
  fs::remove(stages / "clean.pt", ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path stages = folder() / "stages";
  restore(stages);
  const int which = data[0] % 3;
  const fs::path target = which == 0   ? stages / kConfig
                          : which == 1 ? stages / kStage
                                       : stages / "clean.pt";
  write(target, reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    advtk::StageStore store(folder().string(), config(), /*resume=*/true);
    store.json("clean");
    store.tensors("clean");
  } catch (const advtk::Error&) {
  }
  return 0;
}
