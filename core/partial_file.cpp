#include "core/partial_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {

namespace fs = std::filesystem;

PartialFile::PartialFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  const fs::path target(path_);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  errno = 0;
  file_ = std::fopen(tmp_.c_str(), "wb");
  check(file_ != nullptr, "cannot open for writing");
}

PartialFile::~PartialFile() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  std::error_code ec;
  fs::remove(tmp_, ec);
}

void PartialFile::check(bool ok, const char* what) const {
  // The reason, e.g. "No space left on device" or "File too large" (a size limit).
  ADVTK_CHECK(ok, path_, ": ", what, " (", errno != 0 ? std::strerror(errno) : "unknown reason",
              ")");
}

void PartialFile::write(const void* data, size_t n) {
  ADVTK_CHECK(file_ != nullptr, path_, ": written after commit");
  errno = 0;
  check(n == 0 || std::fwrite(data, 1, n, file_) == n, "write failed");
  size_ += n;
}

void PartialFile::overwrite(uint64_t offset, const void* data, size_t n) {
  ADVTK_CHECK(file_ != nullptr && offset + n <= size_, path_, ": overwrite outside the file");
  errno = 0;
  check(fseeko(file_, static_cast<off_t>(offset), SEEK_SET) == 0 &&
            std::fwrite(data, 1, n, file_) == n && fseeko(file_, 0, SEEK_END) == 0,
        "write failed");
}

void PartialFile::commit() {
  ADVTK_CHECK(file_ != nullptr, path_, ": committed twice");
  errno = 0;
  const bool flushed = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  std::error_code ec;
  if (!flushed || !closed) {
    const int saved = errno;
    fs::remove(tmp_, ec);
    errno = saved;
    check(false, "write failed");
  }
  fs::rename(tmp_, path_, ec);
  if (ec) {
    fs::remove(tmp_, ec);
    throw Error(path_ + ": cannot write (" + ec.message() + ")");
  }
}

}  // namespace advtk
