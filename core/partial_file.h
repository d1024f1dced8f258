// A file written piece by piece that appears under its name only when whole: it is written as
// NAME.tmp beside it and renamed over NAME by commit(); one dropped before commit() (an error,
// a failed rank) removes its temporary, so the name holds the old file or none. The streaming
// writers (data/npy.h, data/torch_save_stream.h) write through it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace advtk {

class PartialFile {
 public:
  explicit PartialFile(std::string path);  // advtk::Error when the temporary cannot be made
  ~PartialFile();
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(const void* data, size_t n);  // at the end; errors name the file and the reason
  // Rewrites `n` bytes at `offset` (written before): a header patched once its data is known.
  void overwrite(uint64_t offset, const void* data, size_t n);
  uint64_t size() const { return size_; }
  void commit();  // flushed, closed and renamed into place
  const std::string& path() const { return path_; }

 private:
  void check(bool ok, const char* what) const;
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace advtk
