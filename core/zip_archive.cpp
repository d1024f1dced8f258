#include "core/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace advtk {
namespace {

constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint64_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint64_t kCentralSize = 46, kLocalSize = 30, kMaxComment = 0xFFFF;

// Little-endian fields of a header read whole; a read past its end is a bug, not the file's.
class Fields {
 public:
  explicit Fields(std::vector<char> bytes) : bytes_(std::move(bytes)) {}
  uint64_t get(size_t at, int width) const {
    if (at + width > bytes_.size()) throw std::logic_error("zip header field out of range");
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(bytes_[at + i]);
    return v;
  }
  uint16_t u16(size_t at) const { return static_cast<uint16_t>(get(at, 2)); }
  uint32_t u32(size_t at) const { return static_cast<uint32_t>(get(at, 4)); }
  uint64_t u64(size_t at) const { return get(at, 8); }
  std::string text(size_t at, size_t n) const {
    if (at + n > bytes_.size()) throw std::logic_error("zip header text out of range");
    return std::string(bytes_.data() + at, n);
  }
  size_t size() const { return bytes_.size(); }
  const std::vector<char>& bytes() const { return bytes_; }

 private:
  std::vector<char> bytes_;
};

// [offset, offset + n) lies inside [0, limit).
bool inside(uint64_t offset, uint64_t n, uint64_t limit) {
  return offset <= limit && n <= limit - offset;
}

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
  uint64_t end = 0;  // where the directory must stop: the first end-of-directory record
};

class ArchiveParser {
 public:
  ArchiveParser(uint64_t size, const ByteRangeReader& read, const std::string& name)
      : size_(size), read_(read), name_(name) {}

  Fields read(uint64_t offset, uint64_t n, const char* what) const {
    ADVTK_CHECK(inside(offset, n, size_), name_, ": not a valid zip archive (", what, " at byte ",
                offset, " runs past the end of the ", size_, "-byte file)");
    return Fields(read_(offset, n));
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(name_ + ": not a valid PyTorch archive (" + why + ")");
  }

  Directory find_directory() const {
    ADVTK_CHECK(size_ >= kEndSize, name_, ": ", size_,
                " bytes is too short for a zip archive (PyTorch's torch.save and torch.jit.save "
                "write zip archives)");
    // The end record is the last 22 bytes plus its comment: search back over the longest comment.
    const uint64_t window = std::min<uint64_t>(size_, kEndSize + kMaxComment);
    const Fields tail = read(size_ - window, window, "the end of the archive");
    for (uint64_t at = window - kEndSize + 1; at-- > 0;) {
      if (tail.u32(at) != kEndSignature) continue;
      if (at + kEndSize + tail.u16(at + 20) != window) continue;  // its comment must end the file
      return directory_from_end(tail, at, size_ - window + at);
    }
    fail("no end-of-central-directory record: truncated, or not a zip file");
  }

  Directory directory_from_end(const Fields& tail, uint64_t at, uint64_t end_offset) const {
    if (tail.u16(at + 4) != 0 || tail.u16(at + 6) != 0) fail("a multi-disk archive");
    Directory d;
    d.entries = tail.u16(at + 10);
    d.size = tail.u32(at + 12);
    d.offset = tail.u32(at + 16);
    d.end = end_offset;
    if (tail.u16(at + 8) != d.entries) fail("the entry counts of the end record disagree");
    const bool zip64 = d.entries == 0xFFFF || d.size == 0xFFFFFFFF || d.offset == 0xFFFFFFFF;
    if (end_offset >= kZip64LocatorSize) {
      const Fields locator =
          read(end_offset - kZip64LocatorSize, kZip64LocatorSize, "the ZIP64 locator");
      if (locator.u32(0) == kZip64LocatorSignature) {
        const uint64_t at64 = locator.u64(8);
        const uint64_t before = end_offset - kZip64LocatorSize;
        if (!inside(at64, kZip64EndSize, before))
          fail("the ZIP64 end record lies outside the file");
        const Fields end64 = read(at64, kZip64EndSize, "the ZIP64 end record");
        if (end64.u32(0) != kZip64EndSignature)
          fail("no ZIP64 end record where its locator points");
        if (end64.u32(16) != 0 || end64.u32(20) != 0) fail("a multi-disk archive");
        if (end64.u64(24) != end64.u64(32))
          fail("the entry counts of the ZIP64 end record disagree");
        d.entries = end64.u64(32);
        d.size = end64.u64(40);
        d.offset = end64.u64(48);
        d.end = at64;
        return d;
      }
    }
    if (zip64) fail("the end record points to a ZIP64 record that is missing");
    return d;
  }

  // The central directory's entries; each checked against its local header.
  TorchArchive parse(ArchiveKind kind) const {
    const Directory d = find_directory();
    if (!inside(d.offset, d.size, d.end)) fail("the central directory lies outside the file");
    if (d.entries == 0) fail("an empty archive");
    if (d.entries > d.size / kCentralSize) fail("more entries than the central directory holds");
    const Fields dir = read(d.offset, d.size, "the central directory");
    TorchArchive archive;
    std::vector<std::pair<uint64_t, uint64_t>> extents;  // each entry's header-to-data-end span
    uint64_t at = 0;
    for (uint64_t i = 0; i < d.entries; ++i) {
      if (!inside(at, kCentralSize, dir.size()) || dir.u32(at) != kCentralSignature)
        fail("central directory entry " + std::to_string(i) + " is damaged");
      const uint16_t flags = dir.u16(at + 8), method = dir.u16(at + 10);
      const uint32_t crc = dir.u32(at + 16);
      uint64_t packed = dir.u32(at + 20), size = dir.u32(at + 24);
      const uint64_t name_len = dir.u16(at + 28), extra_len = dir.u16(at + 30),
                     comment_len = dir.u16(at + 32);
      uint64_t local = dir.u32(at + 42);
      const uint64_t disk = dir.u16(at + 34);
      if (!inside(at + kCentralSize, name_len + extra_len + comment_len, dir.size()))
        fail("central directory entry " + std::to_string(i) + " runs past the directory");
      const std::string entry_name = dir.text(at + kCentralSize, name_len);
      read_zip64_extra(dir, at + kCentralSize + name_len, extra_len, packed, size, local);
      at += kCentralSize + name_len + extra_len + comment_len;

      const std::string quoted = "entry '" + entry_name + "'";
      if (flags & 1) fail(quoted + " is encrypted");
      if (method != 0 && method != 8)
        fail(quoted + " is compressed by method " + std::to_string(method) +
             "; PyTorch's files are stored or deflated");
      if (method == 0 && packed != size) fail(quoted + " has a stored size unlike its size");
      if (disk != 0) fail("a multi-disk archive");
      const uint64_t data = check_local_header(local, entry_name, d.offset);
      if (!inside(data, packed, d.offset)) fail(quoted + "'s data runs into the central directory");
      extents.emplace_back(local, data + packed);

      const size_t slash = entry_name.find('/');
      if (slash == std::string::npos || slash == 0) fail(quoted + " is not inside a folder");
      const std::string folder = entry_name.substr(0, slash);
      if (i == 0) archive.folder = folder;
      if (folder != archive.folder)
        fail("entries in two folders, '" + archive.folder + "' and '" + folder + "'");
      if (!archive.records
               .emplace(entry_name.substr(slash + 1),
                        ZipRecord{data, packed, size, crc, method == 8})
               .second)
        fail(quoted + " appears twice");
    }
    std::sort(extents.begin(), extents.end());
    for (size_t i = 1; i < extents.size(); ++i)
      if (extents[i].first < extents[i - 1].second) fail("two entries overlap");
    require_records(archive, kind);
    return archive;
  }

  // ZIP64 extra field (id 1): 64-bit values for the fields saturated at 0xFFFFFFFF (0xFFFF).
  void read_zip64_extra(const Fields& dir, uint64_t at, uint64_t n, uint64_t& packed,
                        uint64_t& size, uint64_t& local) const {
    const uint64_t end = at + n;
    while (at + 4 <= end) {
      const uint16_t id = dir.u16(at), len = dir.u16(at + 2);
      if (at + 4 + len > end) fail("an extra field runs past its entry");
      if (id == 1) {
        uint64_t p = at + 4;
        const uint64_t stop = p + len;
        auto next = [&](uint64_t& field) {
          if (p + 8 > stop) fail("a ZIP64 extra field is too short");
          field = dir.u64(p);
          p += 8;
        };
        if (size == 0xFFFFFFFF) next(size);
        if (packed == 0xFFFFFFFF) next(packed);
        if (local == 0xFFFFFFFF) next(local);
      }
      at += 4 + len;
    }
  }

  // Checks the local header at `offset` names `entry_name`; returns where its data starts.
  uint64_t check_local_header(uint64_t offset, const std::string& entry_name,
                              uint64_t limit) const {
    if (!inside(offset, kLocalSize, limit))
      fail("entry '" + entry_name + "' points outside the file");
    const Fields header = read(offset, kLocalSize, "a local header");
    if (header.u32(0) != kLocalSignature)
      fail("no local header where entry '" + entry_name + "' points");
    const uint64_t name_len = header.u16(26), extra_len = header.u16(28);
    if (!inside(offset + kLocalSize, name_len + extra_len, limit))
      fail("the local header of '" + entry_name + "' runs past the file");
    if (read(offset + kLocalSize, name_len, "a local header's name").text(0, name_len) !=
        entry_name)
      fail("the local header of '" + entry_name + "' names another file");
    return offset + kLocalSize + name_len + extra_len;
  }

  void require_records(const TorchArchive& a, ArchiveKind kind) const {
    const std::string what =
        kind == ArchiveKind::Module ? "a TorchScript module" : "a torch.save file";
    auto need = [&](const std::string& record) {
      if (!a.find(record)) fail("no " + a.folder + "/" + record + ", which " + what + " holds");
    };
    need("data.pkl");
    if (!a.find("version") && !a.find(".data/version")) need("version");
    if (kind == ArchiveKind::Module) {
      need("constants.pkl");
      const auto code = a.records.lower_bound("code/");
      if (code == a.records.end() || code->first.rfind("code/", 0) != 0)
        fail("no " + a.folder + "/code/, which " + what + " holds");
    }
  }

 private:
  uint64_t size_;
  const ByteRangeReader& read_;
  std::string name_;
};

}  // namespace

const ZipRecord* TorchArchive::find(const std::string& record) const {
  const auto it = records.find(record);
  return it == records.end() ? nullptr : &it->second;
}

bool looks_like_zip(std::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0;
}

TorchArchive read_torch_archive(uint64_t size, const ByteRangeReader& read, const std::string& name,
                                ArchiveKind kind) {
  return ArchiveParser(size, read, name).parse(kind);
}

TorchArchive read_torch_archive(const std::vector<char>& bytes, const std::string& name,
                                ArchiveKind kind) {
  return read_torch_archive(std::string_view(bytes.data(), bytes.size()), name, kind);
}

TorchArchive read_torch_archive(std::string_view bytes, const std::string& name, ArchiveKind kind) {
  const ByteRangeReader read = [&](uint64_t offset, uint64_t n) {
    return std::vector<char>(bytes.begin() + offset, bytes.begin() + offset + n);
  };
  TorchArchive archive = read_torch_archive(bytes.size(), read, name, kind);
  for (const auto& [record, r] : archive.records) {
    if (r.deflated) continue;  // LibTorch checks those as it inflates them
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < r.size;) {  // zlib takes 32-bit lengths
      const uInt n = static_cast<uInt>(std::min<uint64_t>(r.size - done, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + r.offset + done), n);
      done += n;
    }
    ADVTK_CHECK(crc == r.crc32, name, ": record ", archive.folder, "/", record,
                " fails its CRC-32 check (the file is damaged)");
  }
  return archive;
}

TorchArchive read_torch_archive_file(const std::string& path, ArchiveKind kind) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  ADVTK_CHECK(in, path, ": cannot open file");
  const auto size = static_cast<uint64_t>(in.tellg());
  const ByteRangeReader read = [&](uint64_t offset, uint64_t n) {
    std::vector<char> out(n);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(out.data(), static_cast<std::streamsize>(n));
    ADVTK_CHECK(in.gcount() == static_cast<std::streamsize>(n), path, ": read failed at byte ",
                offset);
    return out;
  };
  return read_torch_archive(size, read, path, kind);
}

}  // namespace advtk
