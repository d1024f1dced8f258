#include "core/file_io.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/error.h"

namespace advtk {
namespace fs = std::filesystem;

std::vector<char> read_file_bytes(const std::string& path, bool gunzip) {
  std::error_code ec;
  ADVTK_CHECK(fs::exists(path, ec), path, ": no such file");
  ADVTK_CHECK(!fs::is_directory(path, ec), path, ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  ADVTK_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  std::vector<char> raw(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  ADVTK_CHECK(in.good() || raw.empty(), path, ": read error");
  return gunzip ? gunzip_if_gzipped(std::move(raw), path) : raw;
}

bool looks_gzipped(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::vector<char> gunzip_if_gzipped(std::vector<char> raw, const std::string& path) {
  if (!looks_gzipped({raw.data(), raw.size()})) return raw;

  z_stream stream{};
  ADVTK_CHECK(inflateInit2(&stream, 15 + 32) == Z_OK, path, ": cannot initialise zlib");
  stream.next_in = reinterpret_cast<Bytef*>(raw.data());
  stream.avail_in = static_cast<uInt>(raw.size());
  std::vector<char> out(raw.size() * 4 + 1024);
  int status = Z_OK;
  while (true) {
    if (stream.total_out == out.size()) out.resize(out.size() * 2);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + stream.total_out);
    stream.avail_out = static_cast<uInt>(out.size() - stream.total_out);
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_STREAM_END) break;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended early
    if (status != Z_OK && status != Z_BUF_ERROR) break;
  }
  const auto produced = stream.total_out;
  inflateEnd(&stream);
  ADVTK_CHECK(status == Z_STREAM_END, path, ": corrupt or truncated gzip data");
  out.resize(produced);
  return out;
}

void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write) {
  const fs::path target(path);
  if (target.has_parent_path()) ensure_directory(target.parent_path().string());
  const std::string tmp = path + ".tmp";
  try {
    write(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(path + ": cannot write (" + ec.message() + ")");
  }
}

void write_file_atomic(const std::string& path, const std::vector<char>& bytes) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    ADVTK_CHECK(out.good(), path, ": cannot open for writing (", std::strerror(errno), ")");
    errno = 0;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    // The reason, e.g. "No space left on device" or "File too large" (a size limit).
    ADVTK_CHECK(out.good(), path, ": write failed (",
                errno != 0 ? std::strerror(errno) : "unknown reason", ")");
  });
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, std::vector<char>(text.begin(), text.end()));
}

void ensure_directory(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  ADVTK_CHECK(!ec && fs::is_directory(path), path, ": cannot create directory (", ec.message(),
              ")");
}

}  // namespace advtk
