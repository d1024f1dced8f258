#include "cli/version.h"

#include "core/blas.h"
#include "core/torch.h"

namespace advtk::cli {

std::string version_text() {
  return std::string("advtk ") + ADVTK_VERSION + " (LibTorch " + TORCH_VERSION + ", " +
         (torch::cuda::is_available() ? "CUDA available" : "CPU only") + ", BLAS " +
         blas_library() + ")";
}

}  // namespace advtk::cli
