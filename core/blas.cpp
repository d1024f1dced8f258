#include "core/blas.h"

#include <link.h>

#include <filesystem>

namespace advtk {

std::string blas_library() {
  std::string path;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.find("libblas.so") == std::string::npos) return 0;
        *static_cast<std::string*>(out) = name;
        return 1;
      },
      &path);
  if (path.empty()) return "built-in";
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) return path;
  // .../x86_64-linux-gnu/<variant>/libblas.so.3: the folder names the implementation.
  const std::string variant = real.parent_path().filename().string();
  return variant == "blas" ? "reference" : variant;
}

}  // namespace advtk
