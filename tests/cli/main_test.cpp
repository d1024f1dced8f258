// The advtk command line as a whole: version, help, usage errors and bad input, exit codes.
#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

int line_count(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, VersionAndHelp) {
  const auto v = run_advtk("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("advtk "), std::string::npos);
  EXPECT_NE(v.out.find("LibTorch"), std::string::npos);
  for (const char* cmd : {"attack", "audit", "bench", "data", "info", "eval", "masking", "train"}) {
    const auto h = run_advtk(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("Example"), std::string::npos) << cmd;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(run_advtk("").exit_code, 2);
  EXPECT_EQ(run_advtk("frobnicate").exit_code, 2);
  EXPECT_EQ(run_advtk("eval").exit_code, 2);  // missing MODEL
  const auto limit = run_advtk("train --arch cnn --limit 0");
  EXPECT_EQ(limit.exit_code, 2);
  // The bound in words, not CLI11's range with the double's maximum written out.
  EXPECT_NE(limit.err.find("--limit: expected at least 1, got 0"), std::string::npos) << limit.err;
  EXPECT_EQ(limit.err.find("000000"), std::string::npos) << limit.err;
  const auto offset = run_advtk("eval x.pt --offset=-3");
  EXPECT_EQ(offset.exit_code, 2);
  EXPECT_NE(offset.err.find("--offset: expected at least 0, got -3"), std::string::npos)
      << offset.err;
  EXPECT_EQ(run_advtk("train --arch vgg").exit_code, 2);
}

TEST(Cli, BadInputGivesOneClearLineAndExitTwo) {
  TempDir dir;
  const auto missing = run_advtk("eval '" + dir.file("none.pt") + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.pt: no such model file"), std::string::npos) << missing.err;
  EXPECT_EQ(line_count(missing.err), 1) << missing.err;

  test::write_bytes(dir.file("corrupt.pt"), {'n', 'o', 'p', 'e'});
  const auto corrupt = run_advtk("info '" + dir.file("corrupt.pt") + "'");
  EXPECT_EQ(corrupt.exit_code, 2);
  EXPECT_EQ(line_count(corrupt.err), 1) << corrupt.err;

  const auto data = run_advtk("train --arch mlp --data npy:'" + dir.file("x.npy") + "','" +
                              dir.file("y.npy") + "'");
  EXPECT_EQ(data.exit_code, 2);
  EXPECT_NE(data.err.find("x.npy: no such file"), std::string::npos) << data.err;

  const auto spec = run_advtk("train --arch mlp --data imagenet:/x");
  EXPECT_EQ(spec.exit_code, 2);
  EXPECT_NE(spec.err.find("unknown source"), std::string::npos) << spec.err;

  const auto resume = run_advtk("train --arch mlp --resume --out '" + dir.file("fresh") + "'");
  EXPECT_EQ(resume.exit_code, 2);
  EXPECT_NE(resume.err.find("no checkpoint"), std::string::npos) << resume.err;
}

TEST(Cli, CudaRequestWithoutCudaIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  TempDir dir;
  const auto r = run_advtk("train --arch mlp --device cuda --out '" + dir.file("o") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("CUDA is not available"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace advtk
