# The C++ standard, chosen after find_package(Torch): LibTorch 2.12 and later require C++20 of
# code that includes their headers (ATen stops with "#error C++20 or later compatible compiler is
# required"); older ones are built and tested as C++17. ADVTK_CXX_STANDARD overrides the choice.
set(ADVTK_CXX_STANDARD "" CACHE STRING "C++ standard: 17 or 20 (default: by the LibTorch found)")
if(ADVTK_CXX_STANDARD)
  set(CMAKE_CXX_STANDARD ${ADVTK_CXX_STANDARD})
elseif(DEFINED Torch_VERSION AND Torch_VERSION VERSION_GREATER_EQUAL 2.12)
  set(CMAKE_CXX_STANDARD 20)
else()
  set(CMAKE_CXX_STANDARD 17)
endif()
message(STATUS "advtk: C++${CMAKE_CXX_STANDARD} (LibTorch ${Torch_VERSION})")
