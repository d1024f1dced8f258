// The single place advtk includes LibTorch; precompiled once for every target (see CMakeLists.txt).
#pragma once

#include <torch/script.h>
#include <torch/torch.h>
