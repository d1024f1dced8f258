#include "data/tensor_file.h"

#include <caffe2/serialize/versions.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "core/zip_archive.h"

namespace advtk {
namespace {

// The record's version number, as LibTorch's reader would check it.
uint64_t archive_version(std::string_view bytes, const TorchArchive& archive,
                         const std::string& path) {
  const ZipRecord* r = archive.find(".data/version");
  if (!r) r = archive.find("version");
  const std::string text(bytes.data() + r->offset, std::min<uint64_t>(r->size, 32));
  uint64_t version = 0;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    version = version * 10 + (text[digits++] - '0');
  const bool rest_blank = text.find_first_not_of(" \r\n", digits) == std::string::npos;
  ADVTK_CHECK(digits > 0 && digits < 8 && rest_blank, path, ": its version record is not a number");
  ADVTK_CHECK(version >= caffe2::serialize::kMinSupportedFileFormatVersion &&
                  version <= caffe2::serialize::kMaxSupportedFileFormatVersion,
              path, ": format version ", version, " is not one this LibTorch reads (",
              caffe2::serialize::kMinSupportedFileFormatVersion, "-",
              caffe2::serialize::kMaxSupportedFileFormatVersion, ")");
  return version;
}

// A tensor must lie inside its storage, and the storage inside the record it was read from: the
// unpickler takes both sizes from the pickle as they are.
void check_tensor_extents(const torch::IValue& value,
                          const std::map<const void*, uint64_t>& record_bytes,
                          const std::string& path, int depth = 0) {
  ADVTK_CHECK(depth < 64, path, ": containers nested too deeply");
  if (value.isTensor()) {
    const torch::Tensor& t = value.toTensor();
    const uint64_t storage_bytes = t.storage().nbytes();
    if (storage_bytes > 0) {
      const auto it = record_bytes.find(t.storage().data());
      ADVTK_CHECK(it != record_bytes.end() && storage_bytes <= it->second, path,
                  ": a tensor's storage claims ", storage_bytes,
                  " bytes, more than its record holds");
    }
    check_inside_storage(t, path);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      check_tensor_extents(entry.key(), record_bytes, path, depth + 1);
      check_tensor_extents(entry.value(), record_bytes, path, depth + 1);
    }
  } else if (value.isList()) {
    for (const torch::IValue& item : value.toListRef())
      check_tensor_extents(item, record_bytes, path, depth + 1);
  } else if (value.isTuple()) {
    for (const torch::IValue& item : value.toTupleRef().elements())
      check_tensor_extents(item, record_bytes, path, depth + 1);
  }
}

}  // namespace

void check_inside_storage(const torch::Tensor& t, const std::string& name) {
  if (t.numel() == 0) return;
  const uint64_t storage_bytes = t.storage().nbytes();
  // The last element's offset, in elements; every step checked against the storage.
  const uint64_t capacity = storage_bytes / t.element_size();
  ADVTK_CHECK(t.storage_offset() >= 0 && static_cast<uint64_t>(t.storage_offset()) < capacity, name,
              ": a tensor starts outside its storage");
  uint64_t last = static_cast<uint64_t>(t.storage_offset());
  for (int64_t d = 0; d < t.dim(); ++d) {
    ADVTK_CHECK(t.stride(d) >= 0, name, ": a tensor has a negative stride");
    const uint64_t step = static_cast<uint64_t>(t.size(d) - 1);
    const uint64_t stride = static_cast<uint64_t>(t.stride(d));
    ADVTK_CHECK(stride == 0 || step <= (capacity - 1 - last) / stride, name, ": a tensor of shape ",
                t.sizes(), " runs past its storage of ", storage_bytes, " bytes");
    last += step * stride;
  }
}

namespace {

// parse_torch_save over `bytes`, or over a mapped file's (`mapped`): then tensors keep their
// storage in the mapping instead of a copy (a record not aligned for any element type aside).
torch::IValue parse_torch_save_bytes(std::string_view bytes, const std::string& path,
                                     const MappedFile* mapped) {
  // torch.save(..., _use_new_zipfile_serialization=False) starts with a pickled magic number.
  static const unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                               0xfc, 0x9c, 0x46, 0xf9};
  ADVTK_CHECK(bytes.size() < sizeof kLegacyMagic ||
                  std::memcmp(bytes.data(), kLegacyMagic, sizeof kLegacyMagic) != 0,
              path,
              ": saved in PyTorch's legacy (pre-1.6) format, which advtk does not read; "
              "re-save it with torch.save's default (zip) format");
  ADVTK_CHECK(looks_like_zip(bytes), path,
              ": not a readable torch.save file (it does not start as a zip archive)");
  const TorchArchive archive = read_torch_archive(bytes, path, ArchiveKind::TensorFile);
  for (const auto& [name, r] : archive.records)
    ADVTK_CHECK(!r.deflated, path, ": record ", archive.folder, "/", name,
                " is compressed; torch.save stores its records uncompressed");
  const uint64_t version = archive_version(bytes, archive, path);
  const ZipRecord& pickle = *archive.find("data.pkl");
  uint64_t read_so_far = 0;
  auto reader = [&](char* out, size_t n) -> size_t {
    n = static_cast<size_t>(std::min<uint64_t>(n, pickle.size - read_so_far));
    std::memcpy(out, bytes.data() + pickle.offset + read_so_far, n);
    read_so_far += n;
    return n;
  };
  std::map<const void*, uint64_t> record_bytes;  // each storage's copy of its record: its size
  auto read_record = [&](const std::string& key) {
    const ZipRecord* r = archive.find("data/" + key);
    ADVTK_CHECK(r, path, ": the pickle names a tensor record data/", key,
                " that the archive lacks");
    at::DataPtr data;
    if (mapped && r->size > 0 && r->offset % alignof(std::max_align_t) == 0) {
      data = mapped->data_ptr(r->offset);
    } else {
      data = at::getCPUAllocator()->allocate(r->size);
      if (r->size > 0) std::memcpy(data.get(), bytes.data() + r->offset, r->size);
    }
    record_bytes[data.get()] = r->size;
    return data;
  };
  try {
    torch::jit::Unpickler unpickler(reader, nullptr, nullptr, read_record, c10::nullopt);
    unpickler.set_version(version);
    torch::IValue value = unpickler.parse_ivalue();
    check_tensor_extents(value, record_bytes, path);
    return value;
  } catch (const Error&) {
    throw;
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

}  // namespace

torch::IValue parse_torch_save(const std::vector<char>& bytes, const std::string& path) {
  return parse_torch_save_bytes({bytes.data(), bytes.size()}, path, nullptr);
}

namespace {

// Mapped where the file can be (core/mapped_file.h: processes loading one file share its pages).
torch::IValue load_ivalue(const std::string& path) {
  const MappedFile file = map_file(path);
  if (!file.data) return parse_torch_save(read_file_bytes(path, /*gunzip=*/false), path);
  return parse_torch_save_bytes(file.bytes(), path, &file);
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
