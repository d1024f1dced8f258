#include "audit/stage_exchange.h"

#include <cstdint>
#include <string>
#include <vector>

namespace advtk {

void share_stage_output(StageOutput& out, int owner, const ProcessGroup& group) {
  if (group.alone()) return;
  const bool mine = group.rank() == owner;
  TORCH_INTERNAL_ASSERT(!mine || (out.breaks.empty() && !out.clean_correct.defined()),
                        "a whole-model stage made per-example records");
  nlohmann::json header;
  if (mine) {
    header = {
        {"sections", out.sections}, {"seconds", out.seconds}, {"files", nlohmann::json::array()}};
    for (const auto& [name, bytes] : out.files) header["files"].push_back(name);
  }
  // CBOR: numbers exactly as they are, NaN included (JSON text would make it null).
  std::vector<char> encoded;
  if (mine) {
    const std::vector<uint8_t> cbor = nlohmann::json::to_cbor(header);
    encoded.assign(cbor.begin(), cbor.end());
  }
  group.broadcast_bytes(encoded, owner);
  header = nlohmann::json::from_cbor(encoded.begin(), encoded.end());
  StageOutput received;
  received.sections = header["sections"];
  received.seconds = header["seconds"];
  for (const auto& name : header["files"]) {
    std::vector<char> bytes = mine ? out.files.at(name.get<std::string>()) : std::vector<char>{};
    group.broadcast_bytes(bytes, owner);
    received.files[name.get<std::string>()] = std::move(bytes);
  }
  out = std::move(received);
}

}  // namespace advtk
