// The catalogue of bad input: each case runs advtk as a user would, and must end with exit 2, one
// line naming the file or option and the problem (no stack trace), and the --out folder's files
// as they were before — 62 cases across the subcommands.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "data/image_folder.h"
#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

namespace fs = std::filesystem;

// Every file under `dir` with its bytes.
std::map<std::string, std::vector<unsigned char>> snapshot(const fs::path& dir) {
  std::map<std::string, std::vector<unsigned char>> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = test::read_bytes(e.path().string());
  return files;
}

struct Case {
  std::string args;   // after `advtk`; {out} is replaced by the case's --out folder
  std::string words;  // what the one line must say
};

class BadInputCatalogue : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const auto f = [](const std::string& n) { return dir_->file(n); };
    tiny_ = "npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
    ASSERT_EQ(test::run_advtk("train --arch cnn --epochs 1 --data " + tiny_ + " -q --out " + f("m"))
                  .exit_code,
              0);
    ASSERT_EQ(test::run_advtk("attack " + f("m/model.pt") + " --data " + tiny_ +
                              " --attack fgsm --eps 0.1 -q --out " + f("attacked"))
                  .exit_code,
              0);
    test::write_bytes(f("corrupt.pt"), {'n', 'o', 'p', 'e'});
    write_npy(f("y_short.npy"), torch::tensor({0, 1}, torch::kLong));
    write_npy(f("y_negative.npy"), torch::tensor({0, -1, 2}, torch::kLong));
    write_npy(f("y_float.npy"), torch::tensor({0.5, 1.0, 2.0}, torch::kDouble));
    write_npy(f("y_nine.npy"), torch::tensor({9, 1, 2}, torch::kLong));
    write_npy(f("x_nan.npy"), torch::full({3, 1, 5, 5}, NAN, torch::kDouble));
    write_npy(f("x_1d.npy"), torch::zeros({10}, torch::kDouble));
    write_npy(f("x_big.npy"), torch::full({3, 1, 5, 5}, 7.0, torch::kDouble));
    fs::create_directories(f("mixed/a"));
    fs::create_directories(f("mixed/b"));
    write_png(f("mixed/a/1.png"), torch::zeros({1, 5, 5}));
    write_png(f("mixed/b/2.png"), torch::zeros({1, 6, 5}));
    test::write_bytes(f("a_file"), {'x'});
    // A model whose first central-directory entry points 2 GiB past its end, and a torch.save
    // file cut short: refused by advtk's container check before LibTorch reads them.
    std::vector<unsigned char> lying = test::read_bytes(f("m/model.pt"));
    const unsigned char central[] = {'P', 'K', 1, 2};
    const auto entry = std::search(lying.begin(), lying.end(), central, central + 4);
    ASSERT_NE(entry, lying.end());
    std::fill_n(entry + 42, 3, 0xFF);
    entry[45] = 0x7F;
    test::write_bytes(f("lying.pt"), lying);
    std::vector<unsigned char> cut = test::read_bytes(test::fixture("python_dict.pt"));
    cut.resize(cut.size() - 30);
    test::write_bytes(f("cut.pt"), cut);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string file(const std::string& n) { return dir_->file(n); }

  // Runs each case and checks the exit code, the line, and that `kept` (default: the {out} folder,
  // which holds a file from before) is unchanged.
  static void expect_refused(const std::vector<Case>& cases, std::vector<std::string> kept = {}) {
    const std::string out = file("out");
    if (kept.empty()) kept = {out};
    for (const Case& c : cases) {
      std::string args = c.args;
      test::write_bytes(out + "/earlier.txt", {'k', 'e', 'e', 'p'});
      const auto at = args.find("{out}");
      if (at != std::string::npos) args.replace(at, 5, out);
      std::vector<std::map<std::string, std::vector<unsigned char>>> before;
      for (const std::string& k : kept) before.push_back(snapshot(k));
      const auto r = test::run_advtk(args);
      EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
      EXPECT_NE(r.err.find(c.words), std::string::npos) << args << "\n" << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
      EXPECT_EQ(r.err.find("frame #"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
      for (size_t i = 0; i < kept.size(); ++i)
        EXPECT_TRUE(snapshot(kept[i]) == before[i]) << args << ": " << kept[i] << " changed";
    }
  }

  static test::TempDir* dir_;
  static std::string tiny_;
};

test::TempDir* BadInputCatalogue::dir_ = nullptr;
std::string BadInputCatalogue::tiny_;

TEST_F(BadInputCatalogue, ModelsAndData) {
  const std::string model = file("m/model.pt"), x = test::fixture("nchw_f64_x.npy"),
                    y = test::fixture("nchw_f64_y.npy");
  const std::string eval = "eval " + model + " --data ";
  expect_refused({
      {"eval " + file("none.pt"), "none.pt: no such model file"},
      {"info " + file("corrupt.pt"), "corrupt.pt: not a loadable TorchScript model"},
      {"info " + file("lying.pt"),
       "lying.pt: not a loadable TorchScript model (not a valid "
       "PyTorch archive (entry '"},
      {"data --data pt:" + file("cut.pt"),
       "cut.pt: not a valid PyTorch archive (no "
       "end-of-central-directory record"},
      {eval + "npy:" + x + "," + file("y_short.npy"), "y_short.npy"},
      {eval + "npy:" + file("x_nan.npy") + "," + y, "x_nan.npy"},
      {eval + "npy:" + x + "," + file("y_negative.npy"), "y_negative.npy: negative label -1"},
      {eval + "npy:" + x + "," + file("y_float.npy"), "y_float.npy: expected integer labels"},
      {eval + "npy:" + file("x_1d.npy") + "," + y, "x_1d.npy"},
      {eval + "npy:" + file("x_big.npy") + "," + y, "x_big.npy"},
      {eval + "npy:" + x + "," + file("y_nine.npy"), "the model has 5 outputs but the data has 10"},
      {eval + tiny_ + " --mean 0.5 --std 0", "--std: expected positive values, got 0"},
      {eval + tiny_ + " --mean 0.5,0.2 --std 1,1", "2 values given but the inputs have 1 channel"},
      {eval + tiny_ + " --offset 5", "--offset"},
      {eval + tiny_ + " --limit 0", "--limit: expected at least 1, got 0"},
      {eval + tiny_ + " --input-range 1,0", "--input-range: expected lo,hi with lo < hi"},
      {eval + tiny_ + " --output-index 3", "returns a single tensor"},
      {"data --data cifar10:" + file("nowhere"), "nowhere"},
      {"data --data idx:" + file("corrupt.pt") + "," + file("corrupt.pt"), "corrupt.pt"},
      {"data --data pt:" + file("corrupt.pt"), "corrupt.pt"},
      {"data --data pt:" + test::fixture("python_single_entry_dict.pt"),
       "python_single_entry_dict.pt: "},  // unreadable (LibTorch 1.13) or without labels
      {"data --data folder:" + file("mixed"), "differs from"},
      {"data --data imagenet:/x", "unknown source"},
      {"data --data npy:" + file("missing.npy") + "," + y, "missing.npy: no such file"},
  });
}

TEST_F(BadInputCatalogue, AttacksAndChecks) {
  const std::string model = file("m/model.pt");
  const std::string attack = "attack " + model + " --data " + tiny_ + " --out {out} ";
  const std::string masking = "masking " + model + " --data " + tiny_ + " --out {out} ";
  const std::string audit = "audit " + model + " --data " + tiny_ + " --out {out} ";
  expect_refused({
      {attack + "--attack pgd --eps 0.1 --norm l7", "--norm: expected linf, l2 or l1"},
      {attack + "--attack pgd --eps -1", "--eps: expected budgets >= 0"},
      {attack + "--attack pgd --eps 1e308", "more than the largest linf distance"},
      {attack + "--attack pgd", "--eps: pgd needs a budget"},
      {attack + "--attack pgd --eps 0.1 --steps 0", "--steps: expected at least 1, got 0"},
      {attack + "--attack pgd --eps 0.1 --target 9", "--target 9: expected a class in [0, 4]"},
      {attack + "--attack sleeper --eps 0.1", "unknown attack 'sleeper'"},
      {attack + "--attack fab --eps 0.1 --no-early-stop", "fab has no such option"},
      {attack + "--attack pgd --eps 0.1 --surrogate " + file("corrupt.pt"), "corrupt.pt"},
      {attack + "--attack pgd --eps 0.1 --preprocess " + file("gone.pt"), "gone.pt"},
      {attack + "--attack pgd --eps 8/0", "--eps"},
      {masking + "--points 3", "--eps: give the budget to check"},
      {masking + "--eps 0.1 --points 0", "--points: expected at least 1"},
      {audit + "--budget huge", "--budget: expected quick, standard or thorough"},
      {audit + "--skip frobnicate", "--skip: expected min-norm"},
      {audit + "--eps 0,0.1", "--eps: expected finite budgets > 0, got 0"},
      {audit + "--train-data npy:" + file("gone.npy") + "," + file("gone.npy"), "gone.npy"},
      {"backdoor " + model + " --clean " + tiny_ + " --nc-steps 0 --out {out}", "--nc-steps"},
      {"backdoor " + model + " --clean " + tiny_ + " --knn 0 --out {out}", "--knn"},
      {"leak " + model + " --data " + tiny_ + " --attack sleeper --out {out}", "--attack"},
  });
}

TEST_F(BadInputCatalogue, TrainingAndPoisoning) {
  const std::string train = "train --arch cnn --data " + tiny_ + " --out {out} ";
  const std::string poison = "poison --data " + tiny_ + " --out {out} ";
  expect_refused({
      {train + "--lr -1", "--lr: expected a positive learning rate, got -1"},
      {train + "--momentum 2", "--momentum: expected a value in [0, 1), got 2"},
      {train + "--weight-decay -1", "--weight-decay: expected >= 0, got -1"},
      {train + "--optimizer sgdx", "--optimizer"},
      {train + "--resume", "no checkpoint"},
      {"train --arch vgg --data " + tiny_ + " --out {out}", "--arch"},
      {train + "--val-data npy:" + file("gone.npy") + "," + file("gone.npy"), "gone.npy"},
      {poison + "--target 9", "--target"},
      {poison + "--rate 1.5", "--rate"},
      {poison + "--rate 0.34 --trigger-size 6", "--trigger-size"},
  });
}

// A refused command whose --out did not exist leaves none behind, even when it had begun (the
// audit had stored its clean pass before the attack stages refused the budget); one that existed
// stays, empty as it was.
TEST_F(BadInputCatalogue, ARefusedCommandLeavesNoFolderItCreated) {
  const std::string model = file("m/model.pt"), data = " --data " + tiny_;
  const std::vector<std::string> cases = {
      "audit " + model + data + " --budget quick --eps 1e308",
      "attack " + model + data + " --attack pgd --eps 1e308",
      "masking " + model + data + " --eps 1e308 --points 3",
      "train --arch cnn" + data + " --epochs 1 --val-data npy:" + file("gone.npy") + "," +
          file("gone.npy"),
      "poison" + data + " --rate 1.5",
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string out = file("fresh-" + std::to_string(i));
    const auto r = test::run_advtk(cases[i] + " -q --out " + out);
    EXPECT_EQ(r.exit_code, 2) << cases[i] << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << cases[i] << ": left " << out;
  }
  const std::string empty = file("empty-before");
  fs::create_directories(empty);
  EXPECT_EQ(test::run_advtk(cases[0] + " -q --out " + empty).exit_code, 2);
  EXPECT_TRUE(fs::is_directory(empty) && fs::is_empty(empty));
}

// Output folders: one under a file, one holding another command's results (--force writes
// beside them), an audit folder without --resume, and an audit resumed with another model or
// other data.
TEST_F(BadInputCatalogue, OutputFolders) {
  const std::string model = file("m/model.pt");
  const std::string attack = "attack " + model + " --data " + tiny_ + " --attack fgsm --eps 0.1 ";
  expect_refused({
      {attack + "--out " + file("a_file") + "/sub", "cannot create directory"},
  });
  // The training folder and the attack's folder keep their results.
  expect_refused(
      {{attack + "--out " + file("m"), "--out " + file("m") + ": holds advtk train's results"},
       {"train --arch cnn --epochs 0 --data " + tiny_ + " --out " + file("attacked"),
        "holds advtk attack's results (summary.json)"},
       {"masking " + model + " --data " + tiny_ + " --eps 0.1 --out " + file("attacked"),
        "pass --force to write beside them"}},
      {file("m"), file("attacked")});
  EXPECT_EQ(test::run_advtk(attack + "-q --force --out " + file("m")).exit_code, 0);
  EXPECT_TRUE(fs::exists(file("m/summary.json")) && fs::exists(file("m/history.json")));

  // An audit with every optional section skipped (seconds), then the folder reused.
  const std::string audit = "audit " + model + " --data " + tiny_ +
                            " --budget quick --eps 0.1 -q --skip "
                            "min-norm,masking,sharpness,leakage,backdoor --out " +
                            file("audited");
  const auto first = test::run_advtk(audit);
  ASSERT_TRUE(first.exit_code == 0 || first.exit_code == 3) << first.err;
  write_npy(file("x_other.npy"), torch::rand({3, 1, 5, 5}, torch::kDouble));
  expect_refused(
      {{audit, "already holds an audit: pass --resume"},
       {"audit " + file("m/model.pt") + " --data " + tiny_ +
            " --budget quick --eps 0.1 -q --skip min-norm,masking,sharpness,leakage --resume "
            "--out " +
            file("audited"),
        "holds an audit with other settings (settings differ)"},
       {"audit " + file("attacked/../m/model.pt") + " --data npy:" + file("x_other.npy") + "," +
            test::fixture("nchw_f64_y.npy") +
            " --budget quick --eps 0.1 -q --skip min-norm,masking,sharpness,leakage,backdoor "
            "--resume --out " +
            file("audited"),
        "(data differ)"}},
      {file("audited")});
}

// A disk that fills mid-run (a file-size limit of one block): the write fails with its reason,
// and the results already in the folder stay whole.
TEST_F(BadInputCatalogue, AFullDiskFailsTheWriteAndKeepsEarlierFiles) {
  const std::string out = file("full");
  test::write_bytes(out + "/summary.json", {'{', '}'});
  const auto before = snapshot(out);
  const std::string command = "bash -c \"trap '' XFSZ; ulimit -f 1; '" + std::string(ADVTK_BINARY) +
                              "' attack " + file("m/model.pt") + " --data " + tiny_ +
                              " --attack fgsm --eps 0.1 -q --out " + out + "\" 2> " +
                              file("full.err") + " > /dev/null";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  const auto bytes = test::read_bytes(file("full.err"));
  const std::string err(bytes.begin(), bytes.end());
  EXPECT_NE(err.find("write failed (File too large)"), std::string::npos) << err;
  EXPECT_TRUE(snapshot(out) == before);
}

// Not refused but warned: a model whose logits are NaN on one of the three inputs (the one
// labelled 0, where argmax of a NaN row would answer class 0 and count it correct).
TEST(NonFiniteOutputs, AreCountedWrongAndWarnedInEvalAttackAndMasking) {
  test::TempDir tmp;
  torch::jit::Module m("NanOnDark");
  m.register_parameter("w", torch::ones({1}), false);
  m.define(
      "def forward(self, x):\n"
      "    f = torch.flatten(x, 1)[:, :5] * self.w\n"
      "    return torch.where(f[:, 0:1] < 0.1, f * float('nan'), f)\n");
  m.save(tmp.file("nan.pt"));
  const std::string tiny =
      " --data npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
  const std::string warning = "NaN or infinite on 1 of 3 clean inputs";
  const auto eval = test::run_advtk("eval " + tmp.file("nan.pt") + tiny + " --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.err.find(warning), std::string::npos) << eval.err;
  const auto j = nlohmann::json::parse(eval.out);
  EXPECT_NEAR(j["accuracy"].get<double>(), 1.0 / 3, 1e-12);  // the NaN row is not class 0
  EXPECT_EQ(j["nonfinite_outputs"], 1);
  const auto attack = test::run_advtk("attack " + tmp.file("nan.pt") + tiny +
                                      " --attack fgsm --eps 0.1 -q --out " + tmp.file("a"));
  ASSERT_EQ(attack.exit_code, 0) << attack.err;
  EXPECT_NE(attack.err.find(warning), std::string::npos) << attack.err;
  const auto s = nlohmann::json::parse(test::read_bytes(tmp.file("a/summary.json")));
  EXPECT_EQ(s["nonfinite_outputs"], 1);
  EXPECT_NEAR(s["clean_accuracy"].get<double>(), 1.0 / 3, 1e-12) << s.dump();
  const auto masking = test::run_advtk("masking " + tmp.file("nan.pt") + tiny +
                                       " --eps 0.1 --points 1 -q --out " + tmp.file("k"));
  EXPECT_NE(masking.err.find(warning), std::string::npos) << masking.err;
}

}  // namespace
}  // namespace advtk
