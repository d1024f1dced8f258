// Helpers shared by the test suites: temporary folders, fixture paths, running the advtk binary.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "data/data_source.h"

namespace advtk::test {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("advtk-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string fixture(const std::string& name) {
  return std::string(ADVTK_SOURCE_DIR) + "/tests/fixtures/" + name;
}

inline bool fashion_mnist_available() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

// Linearly separable 4-class toy data on 1x4x4 images, for fast training-loop tests.
inline Dataset toy(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  Dataset d;
  d.labels = torch::randint(0, 4, {n}, gen, torch::kLong);
  d.images = torch::rand({n, 1, 4, 4}, gen) * 0.5;
  for (int64_t i = 0; i < n; ++i) d.images[i][0][d.labels[i].item<int64_t>()] += 0.5;
  d.source = "toy";
  return d;
}

// The first `limit` images of a Fashion-MNIST split.
inline Dataset fashion(Split split, int64_t limit) {
  DataSource source;
  source.split = split;
  Selection selection;
  selection.limit = limit;
  return select(load_dataset(source), selection);
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `advtk ARGS` through the shell; ARGS must already be shell-quoted where needed. `env`:
// variables set for it ("A=1 B=2").
inline CommandResult run_advtk(const std::string& args, const std::string& env = "") {
  TempDir tmp;
  const std::string out_path = tmp.file("stdout"), err_path = tmp.file("stderr");
  const std::string command = "OMP_WAIT_POLICY=PASSIVE " + env + " '" + ADVTK_BINARY + "' " + args +
                              " > '" + out_path + "' 2> '" + err_path + "'";
  const int status = std::system(command.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// A loopback port nothing listens on now (the kernel's pick for a socket bound to port 0).
inline uint16_t free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// The message of the advtk::Error that `f` throws, or "(no error)".
// True when `p` lies in a mapping of the file `path` (/proc/self/maps names each mapped file).
inline bool mapped_from_file(const void* p, const std::string& path) {
  const std::string target = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto at = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.size() < target.size() ||
        line.compare(line.size() - target.size(), target.size(), target) != 0)
      continue;
    const size_t dash = line.find('-'), space = line.find(' ');
    const uintptr_t lo = std::stoull(line.substr(0, dash), nullptr, 16);
    const uintptr_t hi = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
    if (at >= lo && at < hi) return true;
  }
  return false;
}

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const advtk::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Big-endian 32-bit integer bytes, for crafting IDX headers.
inline std::array<unsigned char, 4> be32(uint32_t v) {
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
          static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
}

}  // namespace advtk::test
