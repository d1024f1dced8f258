// SHA-256 digests against the standard test vectors (the empty string, "abc", 448 bits).
#include "core/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test_util.h"

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

// Bytes given piece by piece, in pieces that straddle the 64-byte blocks and the 56-byte padding
// edge, digest as the whole; so do files and tensors, which are digested so.
TEST(Sha256, PiecesDigestAsTheWhole) {
  std::vector<char> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  for (size_t n : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000}) {
    const std::vector<char> whole(bytes.begin(), bytes.begin() + n);
    for (size_t piece : {1, 3, 63, 64, 65, 200}) {
      Sha256 digest;
      for (size_t s = 0; s < n; s += piece) digest.update(whole.data() + s, std::min(piece, n - s));
      EXPECT_EQ(digest.hex(), sha256_hex(whole)) << n << " bytes in pieces of " << piece;
    }
  }
  // hex() leaves the digest open: more bytes continue it.
  Sha256 open;
  open.update("ab", 2);
  EXPECT_EQ(open.hex(), sha256_hex({'a', 'b'}));
  EXPECT_EQ(open.update("c", 1).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  test::TempDir dir;
  const std::vector<unsigned char> file(3 << 20, 0x5a);  // three read blocks
  test::write_bytes(dir.file("f.bin"), file);
  EXPECT_EQ(sha256_file(dir.file("f.bin")), sha256_hex({file.begin(), file.end()}));
  EXPECT_NE(test::error_of([&] { sha256_file(dir.file("none")); }).find("no such file"),
            std::string::npos);
  const torch::Tensor a = torch::arange(10, torch::kFloat), b = torch::arange(4, torch::kLong);
  std::vector<char> both(reinterpret_cast<const char*>(a.data_ptr()),
                         reinterpret_cast<const char*>(a.data_ptr()) + 40);
  both.insert(both.end(), reinterpret_cast<const char*>(b.data_ptr()),
              reinterpret_cast<const char*>(b.data_ptr()) + 32);
  EXPECT_EQ(tensor_sha256({a, b}), sha256_hex(both));
  EXPECT_EQ(tensor_sha256({a.view({2, 5}).t()}), tensor_sha256({a.view({2, 5}).t().contiguous()}));
}

}  // namespace
}  // namespace advtk
