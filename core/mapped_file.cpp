#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

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

// A live mapping's file as it was when mapped. While mapped, its inode cannot be freed and given
// to another file, so the same device and inode at its path are the same file.
struct MappedRecord {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};

  bool changed_in_place() const {
    struct stat now {};
    if (::stat(path.c_str(), &now) != 0 || now.st_dev != device || now.st_ino != inode)
      return false;  // removed, or another file renamed over it: the mapping holds the old whole
    return now.st_size != size || now.st_mtim.tv_sec != modified.tv_sec ||
           now.st_mtim.tv_nsec != modified.tv_nsec;
  }
};
std::map<uintptr_t, MappedRecord>& mapped_records() {  // base -> its file
  static auto* records = new std::map<uintptr_t, MappedRecord>;
  return *records;
}
std::vector<std::string>& changed_while_mapped() {  // files found changed as they were unmapped
  static auto* changed = new std::vector<std::string>;
  return *changed;
}

// The live mappings again, for the SIGBUS handler, which may neither lock nor allocate: a fixed
// table of atomics (constant-initialised, trivially destroyed), filled under mappings_mutex.
struct SignalSlot {
  std::atomic<uintptr_t> begin{0};  // 0: free; stored last, so that a reader sees the rest
  std::atomic<uintptr_t> end{0};
  char path[512] = {};
};
constexpr int kSignalSlots = 64;
SignalSlot signal_slots[kSignalSlots];
struct sigaction previous_bus_action {};

std::atomic<bool> reporting_bus_error{false};

// Appends `text` to `line` (of `capacity`, NUL-ended): no allocation, as a signal handler needs.
void append(char* line, size_t capacity, const char* text) {
  const size_t at = std::strlen(line);
  std::strncpy(line + at, text, capacity - 1 - at);
}

// A read past the end of a mapped file that was cut short: one line and exit 2, as for any other
// bad input, not a crash. Threads faulting at once wait for the first one's exit. Any other bus
// error goes to the handler there was before, as the faulting access repeats.
void on_bus_error(int, siginfo_t* info, void*) {
  const auto at = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const SignalSlot& s : signal_slots) {
    const uintptr_t begin = s.begin.load(std::memory_order_acquire);
    if (begin == 0 || at < begin || at >= s.end.load(std::memory_order_acquire)) continue;
    if (reporting_bus_error.exchange(true))
      for (;;) ::pause();
    char line[1024] = "error: ";
    append(line, sizeof(line), s.path);
    append(line, sizeof(line),
           ": the file was cut short while advtk read it (a data file must not be rewritten in "
           "place during a run: write a new file and rename it over the old)\n");
    const ssize_t written = ::write(STDERR_FILENO, line, std::strlen(line));
    (void)written;
    ::_exit(2);
  }
  ::sigaction(SIGBUS, &previous_bus_action, nullptr);
}

void guard_bus_errors() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_bus_action);
  });
}

// Under mappings_mutex.
void add_signal_slot(const std::string& path, uintptr_t base, size_t size) {
  for (SignalSlot& s : signal_slots) {
    if (s.begin.load(std::memory_order_relaxed) != 0) continue;
    std::strncpy(s.path, path.c_str(), sizeof(s.path) - 1);
    s.end.store(base + size, std::memory_order_release);
    s.begin.store(base, std::memory_order_release);
    return;
  }  // more than 64 files mapped at once: a bus error on the others is not named
}

void remove_signal_slot(uintptr_t base) {
  for (SignalSlot& s : signal_slots)
    if (s.begin.load(std::memory_order_relaxed) == base) {
      s.begin.store(0, std::memory_order_release);
      s.end.store(0, std::memory_order_release);
    }
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
  guard_bus_errors();
  out.size = static_cast<size_t>(st.st_size);
  const size_t size = out.size;
  {
    const std::lock_guard<std::mutex> lock(mappings_mutex());
    live_mappings()[reinterpret_cast<uintptr_t>(base)] = size;
    add_signal_slot(path, reinterpret_cast<uintptr_t>(base), size);
    mapped_records()[reinterpret_cast<uintptr_t>(base)] = {path, st.st_dev, st.st_ino, st.st_size,
                                                           st.st_mtim};
  }
  out.data.reset(static_cast<char*>(base), [size](char* p) {
    {
      const auto at = reinterpret_cast<uintptr_t>(p);
      const std::lock_guard<std::mutex> lock(mappings_mutex());
      live_mappings().erase(at);
      remove_signal_slot(at);
      const auto record = mapped_records().find(at);
      if (record->second.changed_in_place()) changed_while_mapped().push_back(record->second.path);
      mapped_records().erase(record);
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

std::vector<std::string> mapped_files_changed() {
  const std::lock_guard<std::mutex> lock(mappings_mutex());
  std::vector<std::string> all = changed_while_mapped();
  for (const auto& [base, record] : mapped_records())
    if (record.changed_in_place()) all.push_back(record.path);
  std::vector<std::string> changed;  // each once, in the order found
  std::set<std::string> named;
  for (std::string& path : all)
    if (named.insert(path).second) changed.push_back(std::move(path));
  return changed;
}

}  // namespace advtk
