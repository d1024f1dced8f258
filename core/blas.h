// Which BLAS this process runs on. Debian's LibTorch multiplies through libblas.so.3, which the
// alternatives system points at the reference implementation or at OpenBLAS, and that choice
// changes every timing by about 2x: benchmarks report it.
#pragma once

#include <string>

namespace advtk {

// "openblas-openmp", "openblas-pthread", "reference", ... from the real path of the loaded
// libblas; "built-in" when no shared BLAS is loaded (e.g. a pip LibTorch with MKL inside).
std::string blas_library();

}  // namespace advtk
