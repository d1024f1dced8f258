// CIFAR-10 in its binary form: records of 1 label byte + 3072 pixel bytes (R, G, B planes of
// 32×32).
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace advtk {

enum class Split { Train, Test };

// `dir` holds data_batch_1..5.bin and test_batch.bin (or a cifar-10-batches-bin sub-folder);
// class names come from batches.meta.txt when present.
Dataset load_cifar10(const std::string& dir, Split split);

// One batch file; `path` is named in messages.
Dataset load_cifar10_batch(const std::string& path);

// The same from the file's bytes (gunzipped already); errors name `path`.
Dataset parse_cifar10_batch(const std::vector<char>& bytes, const std::string& path);

}  // namespace advtk
