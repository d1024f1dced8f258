// NumPy .npy arrays (format versions 1-3, C order, little-endian) read into and written from
// tensors.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "core/partial_file.h"
#include "core/torch.h"

namespace advtk {

// Supported element types: bool, u1, i1, i2, i4, i8, u2, f2, f4, f8. Fortran order and big-endian
// data are rejected with a message.
torch::Tensor read_npy(const std::string& path);
// The same with the data mapped from the file instead of read into memory: copy-on-write, so a
// write to the tensor never reaches the file, and processes reading one file (the ranks of a
// launcher on one machine) share its pages in the page cache instead of holding a copy each.
// A gzipped or empty file, or data not aligned for its element type, is read instead. The file
// must not be cut short while the tensor lives (advtk replaces files by renaming, which is safe).
torch::Tensor map_npy(const std::string& path);
// The same from the file's bytes (gunzipped already); errors name `name`.
torch::Tensor parse_npy(const std::vector<char>& bytes, const std::string& name);

// Writes a CPU copy of `tensor` (any supported dtype) atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);

// An array of a known type and shape written row block by row block, so that it never needs to
// be in memory whole; the file appears (atomically) once every row has come.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, torch::ScalarType type, std::vector<int64_t> shape);
  // The next rows: [k, shape[1:]...] of the array's type (a 0-d array: the value itself).
  void append(const torch::Tensor& rows);
  void finish();  // advtk::Error unless all shape[0] rows came (a 0-d array: its value)

 private:
  PartialFile file_;
  torch::ScalarType type_;
  std::vector<int64_t> shape_;
  int64_t written_ = 0;
};

// Reads a .npy file's rows in order, a block at a time (advtk merge reads its parts so).
class NpyRowReader {
 public:
  explicit NpyRowReader(const std::string& path);
  const std::vector<int64_t>& shape() const { return shape_; }
  torch::ScalarType type() const { return type_; }
  torch::Tensor next(int64_t rows);  // advtk::Error past the last row

 private:
  std::string path_;
  std::ifstream in_;
  torch::ScalarType type_;
  std::vector<int64_t> shape_;
  int64_t read_ = 0;
};

}  // namespace advtk
