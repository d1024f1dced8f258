// SHA-256 digests against the standard test vectors (the empty string, "abc", 448 bits).
#include "core/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace advtk {
namespace {

TEST(Sha256, MatchesTheStandardTestVectors) {
  const auto hex = [](const std::string& s) {
    return sha256_hex(std::vector<char>(s.begin(), s.end()));
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

}  // namespace
}  // namespace advtk
