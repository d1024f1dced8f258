#include "data/tensor_file.h"

#include <cstring>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {
namespace {

torch::IValue load_ivalue(const std::string& path) {
  const std::vector<char> bytes = read_file_bytes(path, /*gunzip=*/false);
  // torch.save(..., _use_new_zipfile_serialization=False) starts with a pickled magic number.
  static const unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                               0xfc, 0x9c, 0x46, 0xf9};
  ADVTK_CHECK(bytes.size() < sizeof kLegacyMagic ||
                  std::memcmp(bytes.data(), kLegacyMagic, sizeof kLegacyMagic) != 0,
              path,
              ": saved in PyTorch's legacy (pre-1.6) format, which advtk does not read; "
              "re-save it with torch.save's default (zip) format");
  try {
    return torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string why = short_message(e);
    // Pickle writes a one-entry dict with SETITEM (0x73, 's'), larger ones with SETITEMS; the
    // unpickler of LibTorch 1.13 knows only the latter.
    ADVTK_CHECK(why.find("Unknown opcode for unpickling at 0x73") == std::string::npos, path,
                ": a torch.save of a dict with a single entry, which this LibTorch's reader "
                "cannot read (pickle's SETITEM opcode); save a dict of two or more entries, e.g. "
                "{'x': images, 'y': labels}, or a tuple");
    throw Error(path + ": not a readable torch.save file (" + why + ")");
  }
}

torch::Tensor first_of(const std::map<std::string, torch::Tensor>& dict,
                       std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = dict.find(key);
    if (it != dict.end()) return it->second;
  }
  return {};
}

// The tensor entries of a dict with string keys; other entries are skipped.
std::map<std::string, torch::Tensor> tensor_entries(const torch::IValue& dict) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& entry : dict.toGenericDict()) {
    if (entry.key().isString() && entry.value().isTensor())
      out[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return out;
}

}  // namespace

std::map<std::string, torch::Tensor> load_tensor_dict(const std::string& path) {
  const torch::IValue value = load_ivalue(path);
  ADVTK_CHECK(value.isGenericDict(), path, ": expected a dict of tensors, got ", value.tagKind());
  return tensor_entries(value);
}

Dataset load_tensor_file(const std::string& path) {
  const torch::IValue value = load_ivalue(path);
  torch::Tensor images, labels;
  if (value.isGenericDict()) {
    const auto dict = tensor_entries(value);
    images = first_of(dict, {"x_adv", "x", "images", "data"});
    labels = first_of(dict, {"y", "labels", "targets"});
    ADVTK_CHECK(images.defined() && labels.defined(), path,
                ": expected a dict with keys x (or images) and y (or labels)");
  } else if (value.isTuple() || value.isList()) {
    const std::vector<torch::IValue> items =
        value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    ADVTK_CHECK(items.size() == 2 && items[0].isTensor() && items[1].isTensor(), path,
                ": expected a pair (images, labels) of tensors");
    images = items[0].toTensor();
    labels = items[1].toTensor();
  } else {
    throw Error(path + ": expected a dict {x, y} or a pair (images, labels), got " +
                value.tagKind());
  }
  return dataset_from_arrays(images, labels, path);
}

void save_tensor_dict(const std::string& path,
                      const std::map<std::string, torch::Tensor>& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [key, tensor] : tensors)
    dict.insert(key, tensor.detach().to(torch::kCPU).contiguous());
  write_file_atomic(path, torch::pickle_save(dict));
}

}  // namespace advtk
