// Models that several tests share, trained once per build of the test binary: ctest runs each
// test in a process of its own, so a model kept in memory would be trained again by every test.
// They are kept in the temp folder under the modification times of the test binary and of the
// advtk binary (a rebuild of either trains them again; a day later the old ones go). One test
// makes a model while the others that need it wait (a lock), and it appears only whole (made
// beside its place, then renamed).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "models/model.h"
#include "test_util.h"

namespace advtk::test {

// This build's folder. Making it removes the folders of other builds untouched for a day.
inline std::filesystem::path fixture_cache() {
  namespace fs = std::filesystem;
  const auto stamp = [](const fs::path& p) {
    return std::to_string(fs::last_write_time(p).time_since_epoch().count());
  };
  const fs::path all = fs::temp_directory_path() / "advtk-test-fixtures";
  const fs::path mine = all / (stamp("/proc/self/exe") + "_" + stamp(ADVTK_BINARY));
  std::error_code ec;
  if (!fs::exists(mine) && fs::is_directory(all, ec))
    for (const auto& other : fs::directory_iterator(all, ec))
      if (fs::last_write_time(other.path(), ec) <
          fs::file_time_type::clock::now() - std::chrono::hours(24))
        fs::remove_all(other.path(), ec);
  return mine;
}

// An exclusive lock on the file `path` (made if missing) while alive: of the tests that need one
// model at once, one trains it and the others wait for it (on a 2-core machine under ctest -j2
// they would otherwise train it side by side). The lock goes with its process, however it ends.
class CacheLock {
 public:
  explicit CacheLock(const std::string& path)
      : fd_(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_;
};

// The folder `make(folder)` fills (e.g. an `advtk train --out` run), made once per build; empty
// when `make` fails (returns false), and then nothing is kept.
inline std::string cached_folder(const std::string& name,
                                 const std::function<bool(const std::string&)>& make) {
  namespace fs = std::filesystem;
  const fs::path folder = fixture_cache() / name;
  if (fs::exists(folder)) return folder.string();
  fs::create_directories(folder.parent_path());
  const CacheLock lock(folder.string() + ".lock");
  if (fs::exists(folder)) return folder.string();  // made while this one waited
  const fs::path tmp = folder.string() + ".partial";
  fs::remove_all(tmp);  // left by a test that died making it
  fs::create_directories(tmp);
  if (!make(tmp.string())) {
    fs::remove_all(tmp);
    return "";
  }
  fs::rename(tmp, folder);
  return folder.string();
}

// The model `train_it` makes, trained once per build. Every test reads it from the file, the one
// that trained it too, so that all see the same module.
inline Model cached_model(const std::string& name, const std::function<Model()>& train_it) {
  const std::string folder = cached_folder(name, [&](const std::string& dir) {
    train_it().save(dir + "/model.pt");
    return true;
  });
  return Model::load(folder + "/model.pt", {});
}

}  // namespace advtk::test
