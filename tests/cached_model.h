// Models that several tests share, trained once per build of the test binary: ctest runs each
// test in a process of its own, so a model kept in memory would be trained again by every test.
// They are kept in the temp folder under the modification times of the test binary and of the
// advtk binary (a rebuild of either trains them again; a day later the old ones go); a file
// appears only whole (written beside it, then renamed), so tests running at once never read half
// a model, and only one of them trains it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
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

// The model `train_it` makes, read from the cache when this build already made it.
inline Model cached_model(const std::string& name, const std::function<Model()>& train_it) {
  namespace fs = std::filesystem;
  const fs::path file = fixture_cache() / (name + ".pt");
  if (fs::exists(file)) return Model::load(file.string(), {});
  fs::create_directories(file.parent_path());
  const CacheLock lock(file.string() + ".lock");
  if (fs::exists(file)) return Model::load(file.string(), {});  // made while this one waited
  Model model = train_it();
  const fs::path tmp = file.string() + "." + std::to_string(std::random_device{}());
  model.save(tmp.string());
  fs::rename(tmp, file);
  return model;
}

// The folder `make(folder)` fills (e.g. an `advtk train --out` run), made once per build; empty
// when `make` fails (returns false), and then nothing is kept.
inline std::string cached_folder(const std::string& name,
                                 const std::function<bool(const std::string&)>& make) {
  namespace fs = std::filesystem;
  const fs::path folder = fixture_cache() / name;
  if (fs::exists(folder)) return folder.string();
  fs::create_directories(folder.parent_path());
  const CacheLock lock(folder.string() + ".lock");
  if (fs::exists(folder)) return folder.string();
  const fs::path tmp = folder.string() + "." + std::to_string(std::random_device{}());
  fs::create_directories(tmp);
  if (!make(tmp.string())) {
    fs::remove_all(tmp);
    return "";
  }
  std::error_code taken;  // another test made it first: theirs stands
  fs::rename(tmp, folder, taken);
  if (taken) fs::remove_all(tmp);
  return folder.string();
}

}  // namespace advtk::test
