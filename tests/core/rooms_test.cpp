// The rooms depend one way (README "Layout"): a file includes only its own room and those
// listed before it. Reads every source file's includes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

namespace advtk {
namespace {

// fuzz/ holds the libFuzzer harnesses, which read through the library like the command line.
const std::vector<std::string> kRooms = {
    "core",     "distributed", "data",    "models",    "eval",  "attacks", "training",
    "defenses", "diagnostics", "leakage", "poisoning", "audit", "cli",     "fuzz"};

int rank_of(const std::string& room) {
  for (size_t i = 0; i < kRooms.size(); ++i)
    if (kRooms[i] == room) return static_cast<int>(i);
  return -1;
}

TEST(Rooms, EveryIncludeGoesToTheSameRoomOrAnEarlierOne) {
  const std::filesystem::path root = ADVTK_SOURCE_DIR;
  const std::regex include(R"(^\s*#include\s+"([a-z_]+)/)");
  int files = 0;
  for (const std::string& room : kRooms) {
    ASSERT_TRUE(std::filesystem::is_directory(root / room)) << room;
    for (const auto& entry : std::filesystem::directory_iterator(root / room)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cpp") continue;
      ++files;
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, include)) continue;
        const int to = rank_of(m[1]);
        ASSERT_GE(to, 0) << entry.path() << " includes from an unknown room: " << line;
        EXPECT_LE(to, rank_of(room)) << entry.path() << " (" << room << ") reaches up: " << line;
      }
    }
  }
  EXPECT_GT(files, 100);
  // Every folder of sources is a room of the list.
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    bool has_sources = false;
    for (const auto& f : std::filesystem::directory_iterator(entry.path()))
      has_sources = has_sources || f.path().extension() == ".cpp";
    const std::string name = entry.path().filename().string();
    if (has_sources && name != "tests" && name != "build")
      EXPECT_GE(rank_of(name), 0) << name << " holds sources but is not a room";
  }
}

// Tests mirror the files: tests/<room>/<file>_test.cpp tests <room>/<file>.{h,cpp}. The suites
// below test no one file but a property across many, and say so by name.
TEST(Rooms, EveryTestFileIsNamedAfterTheFileItTests) {
  const std::vector<std::string> across_files = {
      "attacks/attack_contract",  // every registered attack keeps the contract
      "attacks/cuda",             // every CUDA path (skipped without a device)
      "cli/bad_input_catalogue",  // bad input across every command
      "cli/kill_resume",          // SIGKILL and --resume across train and audit
      "core/rooms",               // this file: the layout itself
      "data/fuzz_regression",     // every reader, on the inputs that once broke it
      "models/python_interop",    // files written by Python's torch
  };
  const std::filesystem::path root = ADVTK_SOURCE_DIR;
  int tests = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root / "tests")) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_test.cpp";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    ++tests;
    const std::string room = entry.path().parent_path().filename().string();
    const std::string file = name.substr(0, name.size() - suffix.size());
    const std::string id = room + "/" + file;
    if (std::find(across_files.begin(), across_files.end(), id) != across_files.end()) continue;
    EXPECT_TRUE(std::filesystem::exists(root / room / (file + ".cpp")) ||
                std::filesystem::exists(root / room / (file + ".h")))
        << "tests/" << id << "_test.cpp tests no file " << id << ".cpp or .h";
  }
  EXPECT_GT(tests, 70);
}

}  // namespace
}  // namespace advtk
