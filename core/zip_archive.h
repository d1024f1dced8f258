// The zip container of PyTorch's files (torch.save since 1.6, torch.jit.save), read strictly:
// every offset and size is checked against the file before anything reads through it. LibTorch's
// own reader (miniz behind a buffer adapter that does not bound its reads, in 1.13) overflows the
// heap on a crafted archive; advtk checks the container first, and reads tensor files from the
// records found here.
//
// PKWARE APPNOTE.TXT 6.3 (end of central directory, ZIP64, central and local headers); what
// PyTorch writes (caffe2/serialize/inline_container.cc): entries in one folder, stored (torch.save)
// or deflated (torch.jit.save's code/ files).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace advtk {

struct ZipRecord {
  uint64_t offset = 0;  // of the record's bytes in the file
  uint64_t size = 0;    // as stored: compressed when `deflated`
  uint64_t unpacked_size = 0;
  uint32_t crc32 = 0;     // of the unpacked bytes
  bool deflated = false;  // TorchScript's code/ files are; torch.save's records are not
};

struct TorchArchive {
  std::string folder;                        // the one folder every record sits in ("archive")
  std::map<std::string, ZipRecord> records;  // by name inside that folder ("data.pkl", "data/0")
  const ZipRecord* find(const std::string& record) const;
};

// What the file must hold besides a valid container.
enum class ArchiveKind {
  TensorFile,  // torch.save: data.pkl
  Module,      // torch.jit.save: data.pkl, constants.pkl and code/
};

// Reads `n` bytes at `offset` of a file of `size` bytes; the reader is only asked for ranges
// inside the file.
using ByteRangeReader = std::function<std::vector<char>(uint64_t offset, uint64_t n)>;

// Parses and checks the container of a file of `size` bytes; throws advtk::Error naming `name`
// and the fault. Entries must be stored or deflated, unencrypted, as PyTorch writes them.
TorchArchive read_torch_archive(uint64_t size, const ByteRangeReader& read, const std::string& name,
                                ArchiveKind kind);

// The same over bytes in memory (or mapped); also checks the CRC-32 of every stored record.
TorchArchive read_torch_archive(std::string_view bytes, const std::string& name, ArchiveKind kind);
TorchArchive read_torch_archive(const std::vector<char>& bytes, const std::string& name,
                                ArchiveKind kind);

// The same over a file, reading only its headers (LibTorch checks the CRCs as it extracts).
TorchArchive read_torch_archive_file(const std::string& path, ArchiveKind kind);

// True when `bytes` start like a zip file ("PK\3\4").
bool looks_like_zip(std::string_view bytes);

}  // namespace advtk
