// Device selection with clear errors when CUDA is asked for and absent.
#pragma once

#include <string>

#include "core/torch.h"

namespace advtk {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else CPU).
torch::Device resolve_device(const std::string& spec);

}  // namespace advtk
