#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <mutex>

namespace advtk {
namespace {

// Never destroyed: a tensor in a static may outlive any static made after it.
std::mutex& mappings_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::map<uintptr_t, size_t>& live_mappings() {  // base -> size
  static auto* live = new std::map<uintptr_t, size_t>;
  return *live;
}

}  // namespace

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
  {
    const std::lock_guard<std::mutex> lock(mappings_mutex());
    live_mappings()[reinterpret_cast<uintptr_t>(base)] = size;
  }
  out.data.reset(static_cast<char*>(base), [size](char* p) {
    {
      const std::lock_guard<std::mutex> lock(mappings_mutex());
      live_mappings().erase(reinterpret_cast<uintptr_t>(p));
    }
    ::munmap(p, size);
  });
  return out;
}

at::DataPtr MappedFile::data_ptr(size_t offset) const {
  return at::DataPtr(
      data.get() + offset, new std::shared_ptr<char>(data),
      [](void* keep) { delete static_cast<std::shared_ptr<char>*>(keep); }, at::Device(at::kCPU));
}

bool in_mapped_file(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  const std::lock_guard<std::mutex> lock(mappings_mutex());
  const auto& live = live_mappings();
  auto it = live.upper_bound(at);
  if (it == live.begin()) return false;
  --it;
  return at < it->first + it->second;
}

}  // namespace advtk
