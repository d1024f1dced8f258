// torch.save files on arbitrary bytes: the container check (core/zip_archive.h, also as a
// TorchScript module's), then LibTorch's unpickler over the checked records. Every tensor that
// comes back is copied whole out of its storage, so a storage that outruns its memory shows up
// under AddressSanitizer. Refusals are advtk::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/zip_archive.h"
#include "data/tensor_file.h"

namespace {

void touch(const torch::IValue& v) {
  if (v.isTensor()) {
    const torch::Tensor& t = v.toTensor();
    std::vector<char> copy(t.storage().nbytes());
    if (!copy.empty()) std::memcpy(copy.data(), t.storage().data(), copy.size());
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) touch(e.value());
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) touch(e);
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) touch(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(data, data + size);
  try {
    advtk::read_torch_archive(bytes, "fuzz.pt", advtk::ArchiveKind::Module);
  } catch (const advtk::Error&) {
  }
  try {
    touch(advtk::parse_torch_save(bytes, "fuzz.pt"));
  } catch (const advtk::Error&) {
  }
  return 0;
}
