// A file mapped into memory copy-on-write: writes through the mapping never reach the file, and
// processes mapping one file share its pages in the page cache instead of holding a copy each.
// The file must not be rewritten in place while the mapping lives: a read past the end of a file
// cut short is a SIGBUS, which advtk turns into one line naming the file and exit code 2; bytes
// rewritten in place show through the mapping, which mapped_files_changed reports. Renaming a new
// file over it (as advtk writes files) leaves a mapping intact.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/torch.h"

namespace advtk {

struct MappedFile {
  std::shared_ptr<char> data;  // unmapped when the last copy goes; null: not mapped
  size_t size = 0;
  std::string_view bytes() const { return {data.get(), size}; }
  // A tensor storage's pointer to the byte at `offset`, which keeps the file mapped while it lives.
  at::DataPtr data_ptr(size_t offset) const;
};

// The whole of a regular, non-empty file; a null `data` when it cannot be mapped (missing, a
// folder, empty, or mmap refused), so that the caller reads it instead and reports the fault.
MappedFile map_file(const std::string& path);

// True when `p` points into a file mapped by map_file that is still mapped: a tensor there is
// shared with the other processes mapping the file, and a view of it keeps it so.
bool in_mapped_file(const void* p);

// The files this process has mapped whose bytes changed in place since (the same file, now of
// another size or modification time): what was read from them may mix old and new bytes. A file
// replaced by renaming another over it, or removed, is not among them: the mapping keeps the old.
std::vector<std::string> mapped_files_changed();

}  // namespace advtk
