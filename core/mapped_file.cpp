#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace advtk {

MappedFile map_file(const std::string& path) {
  MappedFile out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st {};
  void* base = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    base = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
                  0);
  ::close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) return out;
  out.size = static_cast<size_t>(st.st_size);
  const size_t size = out.size;
  out.data.reset(static_cast<char*>(base), [size](char* p) { ::munmap(p, size); });
  return out;
}

}  // namespace advtk
