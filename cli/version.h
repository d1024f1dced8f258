#pragma once

#include <string>

namespace advtk::cli {

// "advtk 0.1.0 (LibTorch 1.13.0, CUDA available|CPU only, BLAS openblas-openmp)"
std::string version_text();

}  // namespace advtk::cli
