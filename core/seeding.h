// Explicit, reproducible random generators. Library code never touches the global seed.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace advtk {

// A CPU generator for the stream named by (seed, stream). Different streams (epochs, examples,
// restarts) are decorrelated by mixing them through splitmix64, so results do not depend on the
// order in which streams are drawn.
torch::Generator make_generator(uint64_t seed, uint64_t stream = 0);

// splitmix64 of (seed, stream): a well-mixed 64-bit value for seeding.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

}  // namespace advtk
