# NCCL for the exchanges of CUDA tensors (distributed/nccl_group.cpp), beside Gloo: only with a
# CUDA LibTorch, Gloo, and NCCL's header (pip wheels keep it in site-packages/nvidia/nccl, the
# version that LibTorch was built with). That file is compiled and linked once here against this
# LibTorch, so headers or libraries that do not fit it leave advtk on Gloo alone, with a warning,
# instead of failing the build. Sets ADVTK_HAVE_NCCL and ADVTK_NCCL_INCLUDE_DIR. ADVTK_NCCL=OFF
# skips it.
option(ADVTK_NCCL "Use NCCL for CUDA tensors where this LibTorch has it" ON)
set(ADVTK_HAVE_NCCL OFF)
set(advtk_nccl_header "${TORCH_INSTALL_PREFIX}/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
if(NOT ADVTK_NCCL)
  message(STATUS "advtk: NCCL off (ADVTK_NCCL=OFF)")
elseif(NOT ADVTK_HAVE_GLOO)
  message(STATUS "advtk: NCCL off (no Gloo to run beside)")
elseif(NOT (TORCH_CUDA_LIBRARIES OR TARGET torch_cuda))
  message(STATUS "advtk: NCCL off (a LibTorch without CUDA)")
elseif(NOT EXISTS "${advtk_nccl_header}")
  message(STATUS "advtk: NCCL off (this LibTorch has no ProcessGroupNCCL.hpp)")
else()
  get_filename_component(advtk_site_packages "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
  find_path(ADVTK_NCCL_INCLUDE_DIR nccl.h
    HINTS "${advtk_site_packages}/nvidia/nccl/include" ENV NCCL_INCLUDE_DIR
          ${CUDAToolkit_INCLUDE_DIRS} ${CUDA_INCLUDE_DIRS}
    PATHS /usr/local/cuda/include /usr/include)
  if(NOT ADVTK_NCCL_INCLUDE_DIR)
    message(WARNING "advtk: NCCL off: nccl.h not found (set NCCL_INCLUDE_DIR); CUDA tensors go "
                    "through Gloo on the CPU")
  else()
    if(NOT ADVTK_NCCL_INCLUDE_DIR STREQUAL "${advtk_site_packages}/nvidia/nccl/include")
      message(STATUS "advtk: nccl.h from ${ADVTK_NCCL_INCLUDE_DIR}, not beside this LibTorch: "
                     "NCCL is used only where its version is the one LibTorch was built with")
    endif()
    # Tried again at every configure, and a change to the file configures again.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 ${CMAKE_CURRENT_SOURCE_DIR}/distributed/nccl_group.cpp)
    unset(ADVTK_NCCL_COMPILES CACHE)
    # Linked into a program, so that a symbol LibTorch does not export fails here too.
    file(WRITE ${CMAKE_BINARY_DIR}/nccl-probe-main.cpp "int main() { return 0; }\n")
    try_compile(ADVTK_NCCL_COMPILES ${CMAKE_BINARY_DIR}/nccl-probe
      SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/distributed/nccl_group.cpp
              ${CMAKE_CURRENT_SOURCE_DIR}/core/sha256.cpp ${CMAKE_CURRENT_SOURCE_DIR}/core/error.cpp
              ${CMAKE_BINARY_DIR}/nccl-probe-main.cpp
      COMPILE_DEFINITIONS -DADVTK_HAVE_NCCL -DADVTK_HAVE_GLOO ${TORCH_CXX_FLAGS}
      CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${CMAKE_CURRENT_SOURCE_DIR};${ADVTK_NCCL_INCLUDE_DIR}"
      LINK_LIBRARIES ${TORCH_LIBRARIES}
      OUTPUT_VARIABLE advtk_nccl_probe)
    if(ADVTK_NCCL_COMPILES)
      set(ADVTK_HAVE_NCCL ON)
      message(STATUS "advtk: NCCL for CUDA tensors (nccl.h in ${ADVTK_NCCL_INCLUDE_DIR})")
    else()
      string(REGEX MATCH "[^\n]*error[^\n]*" advtk_nccl_error "${advtk_nccl_probe}")
      file(WRITE ${CMAKE_BINARY_DIR}/nccl-probe.log "${advtk_nccl_probe}")
      message(WARNING "advtk: NCCL off: distributed/nccl_group.cpp does not build against this "
                      "LibTorch (${advtk_nccl_error}; whole output: "
                      "${CMAKE_BINARY_DIR}/nccl-probe.log); CUDA tensors go through Gloo on the CPU")
    endif()
  endif()
endif()
