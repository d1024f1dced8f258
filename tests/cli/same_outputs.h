// Comparing what two advtk attack runs wrote, file by file and timings aside.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "data/tensor_file.h"
#include "without_timings.h"

namespace advtk::test {

inline std::string text_of(const std::string& path) {
  const std::vector<char> bytes = read_file_bytes(path, false);
  return std::string(bytes.begin(), bytes.end());
}

// Everything an attack run wrote, timings aside: summaries, CSV, .npy and the tensors of
// adversarial.pt, file by file.
// `at_least`: the files a run must have written.
inline void expect_same_outputs(const std::filesystem::path& a, const std::filesystem::path& b,
                                int at_least = 5) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file()) continue;
    const auto rel = std::filesystem::relative(entry.path(), a);
    const std::string name = entry.path().filename().string();
    if (rel.begin()->string() == "logs") continue;
    ++files;
    const std::filesystem::path other = b / rel;
    ASSERT_TRUE(std::filesystem::exists(other)) << rel;
    if (entry.path().extension() == ".json") {
      EXPECT_EQ(without_timings(nlohmann::json::parse(text_of(entry.path().string()))),
                without_timings(nlohmann::json::parse(text_of(other.string()))))
          << rel;
    } else if (name == "adversarial.pt" || name == "found.pt") {
      const auto dict = [](const std::filesystem::path& p) {
        return parse_torch_save(read_file_bytes(p.string()), p.string()).toGenericDict();
      };
      const auto x = dict(entry.path()), y = dict(other);
      ASSERT_EQ(x.size(), y.size());
      for (const auto& item : x) {
        const auto& key = item.key().toStringRef();
        const torch::IValue& v = y.at(item.key());
        if (item.value().isTensor()) {
          EXPECT_TRUE(torch::equal(item.value().toTensor(), v.toTensor())) << rel << " " << key;
        } else {
          EXPECT_EQ(without_timings(nlohmann::json::parse(item.value().toStringRef())),
                    without_timings(nlohmann::json::parse(v.toStringRef())))
              << rel << " " << key;
        }
      }
    } else {
      EXPECT_EQ(read_file_bytes(entry.path().string()), read_file_bytes(other.string())) << rel;
    }
  }
  EXPECT_GE(files, at_least);
}

}  // namespace advtk::test
