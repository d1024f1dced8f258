// SHA-256 (FIPS 180-4) of a file, so that a report names exactly which model it audited.
#pragma once

#include <string>
#include <vector>

namespace advtk {

// Lower-case hex digest.
std::string sha256_hex(const std::vector<char>& bytes);
// Throws advtk::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace advtk
