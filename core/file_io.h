// Whole-file reads and atomic writes: a result file is either complete or absent, never
// half-written.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace advtk {

// Reads a file whole, transparently gunzipping it when it starts with the gzip magic.
// Throws advtk::Error naming the file when it is missing or unreadable.
std::vector<char> read_file_bytes(const std::string& path, bool gunzip = true);

// `raw` itself, or its gunzipped contents when it starts with the gzip magic; errors name `path`.
std::vector<char> gunzip_if_gzipped(std::vector<char> raw, const std::string& path);
// True when `bytes` start with gzip's magic number.
bool looks_gzipped(std::string_view bytes);

// Writes `bytes` to `path` via a temporary file in the same folder and a rename.
void write_file_atomic(const std::string& path, const std::vector<char>& bytes);
void write_file_atomic(const std::string& path, const std::string& text);

// Lets `write` fill a temporary path, then renames it over `path`; removes the temporary on
// failure.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write);

// Creates a directory (and parents); throws advtk::Error when it cannot.
void ensure_directory(const std::string& path);

}  // namespace advtk
