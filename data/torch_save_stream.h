// A torch.save file written entry by entry, with a tensor's bytes appended a block of rows at a
// time: an example set of any size is written without its images in memory whole. The file is
// what Python's torch.save writes (a zip of archive/data.pkl, archive/data/K, archive/version;
// ZIP64 past 4 GiB) and reads with torch.load, load_tensor_dict and --data pt:.
//
// The container is PKWARE's APPNOTE 6.3; entries are stored, their data 64-byte aligned as
// PyTorch's writer aligns it (caffe2/serialize/inline_container.cc). data.pkl is a protocol-2
// pickle of a dict, each tensor rebuilt by torch._utils._rebuild_tensor_v2 from a persistent
// ('storage', torch.<Type>Storage, key, 'cpu', numel) — as torch.save's own pickler writes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/partial_file.h"
#include "core/torch.h"

namespace advtk {

class TorchSaveStream {
 public:
  // `zip64_from`: records and offsets from this size on use ZIP64 fields (tests set it low).
  explicit TorchSaveStream(const std::string& path, uint64_t zip64_from = 0xFFFFFFFFull);

  // Starts the next dict entry, a tensor of `type` and `shape` whose rows follow by append().
  void begin_tensor(const std::string& name, torch::ScalarType type, std::vector<int64_t> shape);
  void append(const torch::Tensor& rows);  // the next rows of the entry begun
  void put(const std::string& name, const torch::Tensor& tensor);  // a whole tensor entry
  void put(const std::string& name, const std::string& text);      // a str entry
  // data.pkl, version and the central directory; then the file appears under its name.
  // advtk::Error when an entry's rows are missing.
  void finish();

 private:
  struct Entry {
    std::string name;  // in the zip
    uint64_t header_offset = 0, data_offset = 0, size = 0, written = 0;
    uint32_t crc = 0;
  };
  void start_record(const std::string& name, uint64_t size);
  void end_record();
  void record(const std::string& name, const std::string& bytes);
  void close_tensor();

  PartialFile file_;
  uint64_t zip64_from_;
  std::vector<Entry> records_;
  std::string pickle_;  // the dict's items so far
  int64_t tensors_ = 0;
  bool in_tensor_ = false;
  torch::ScalarType type_ = torch::kFloat;
  std::vector<int64_t> shape_;
  int64_t rows_ = 0;
};

}  // namespace advtk
