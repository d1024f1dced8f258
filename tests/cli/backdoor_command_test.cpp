// advtk backdoor from the command line: the Neural Cleanse evidence and the verdict with its exit
// code, the training-data sections with their rates against a known poison index, STRIP's screen
// of --inputs, and bad input as exit 2 with one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/torch.h"
#include "data/npy.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

const std::string kTiny =
    "npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");

TEST(BackdoorCommand, WritesTheEvidenceOfEachDetectorAndAVerdict) {
  test::TempDir tmp;
  ASSERT_EQ(
      test::run_advtk("train --arch cnn --epochs 0 --data " + kTiny + " --out " + tmp.file("m"))
          .exit_code,
      0);
  write_npy(tmp.file("poison.npy"), torch::tensor({1}, torch::kLong));
  const std::string out = tmp.file("b");
  const auto r = test::run_advtk("backdoor " + tmp.file("m/model.pt") + " --clean " + kTiny +
                                 " --data " + kTiny + " --poison-index " + tmp.file("poison.npy") +
                                 " --nc-steps 5 --nc-batch 2 --strip-copies 4 --inputs " + kTiny +
                                 " -q --out " + out);
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;
  const auto j = nlohmann::json::parse(test::read_bytes(out + "/backdoor.json"));
  EXPECT_EQ(j["verdict"], r.exit_code == 3 ? "backdoor" : "no-evidence");
  EXPECT_EQ(j["neural_cleanse"]["mask_norm"].size(), 5u);
  EXPECT_EQ(j["neural_cleanse"]["anomaly_index"].size(), 5u);
  EXPECT_TRUE(std::filesystem::exists(out + "/triggers.png"));
  for (const char* method : {"spectral", "activation_clustering", "deep_knn"}) {
    EXPECT_EQ(j[method]["classes"].size(), 5u) << method;
    EXPECT_TRUE(j[method].contains("tpr")) << method;
    EXPECT_TRUE(j[method]["flagged"].is_array()) << method;
  }
  // Three examples, one per class: no class can be split or judged, so nothing is flagged.
  EXPECT_EQ(j["suspicious_index"].size(), 0u);
  EXPECT_EQ(j["deep_knn"]["k"], 2);
  EXPECT_EQ(j["training_data"]["features"], "input of the last linear layer (aten::addmm)");
  EXPECT_EQ(j["strip"]["screened"], 3);
  EXPECT_EQ(j["strip"]["entropy"].size(), 3u);
}

// 25 classes (a model whose logits are its flattened 5×5 input): above 20 a pre-screen keeps
// max(10, 25/10) = 10 classes for the full search, and the outputs say so.
TEST(BackdoorCommand, AModelWithManyClassesIsPrescreened) {
  test::TempDir tmp;
  torch::jit::Module m("Pixels");
  m.register_parameter("w", torch::ones({1}), false);
  m.define("def forward(self, x):\n    return torch.flatten(x, 1) * self.w\n");
  m.save(tmp.file("pixels.pt"));
  const std::string out = tmp.file("b");
  const auto r = test::run_advtk("backdoor " + tmp.file("pixels.pt") + " --clean " + kTiny +
                                 " --nc-steps 10 --nc-batch 2 -q --out " + out);
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;
  EXPECT_NE(r.out.find("kept the 10 of 25 classes"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(test::read_bytes(out + "/backdoor.json"));
  const auto& nc = j["neural_cleanse"];
  EXPECT_EQ(nc["classes"], 25);
  EXPECT_EQ(nc["searched"].size(), 10u);
  EXPECT_EQ(nc["prescreen"]["steps"], 2);
  EXPECT_EQ(nc["prescreen"]["mask_norm"].size(), 25u);
  int not_searched = 0;
  for (const auto& v : nc["mask_norm"]) not_searched += v.is_null();
  EXPECT_EQ(not_searched, 15);
  for (const auto& t : nc["flagged"])
    EXPECT_FALSE(nc["mask_norm"][t.get<size_t>()].is_null()) << "an unsearched class flagged";
  EXPECT_TRUE(std::filesystem::exists(out + "/triggers.png"));
}

TEST(BackdoorCommand, BadInputIsOneLineAndExitTwo) {
  test::TempDir tmp;
  ASSERT_EQ(
      test::run_advtk("train --arch cnn --epochs 0 --data " + kTiny + " --out " + tmp.file("m"))
          .exit_code,
      0);
  const std::string model = tmp.file("m/model.pt"), out = " --out " + tmp.file("b");
  write_npy(tmp.file("float.npy"), torch::tensor({0.5}));
  save_tensor_dict(tmp.file("small.pt"),
                   {{"pattern", torch::ones({1, 4, 4})}, {"mask", torch::ones({1, 4, 4})}});
  save_tensor_dict(tmp.file("fits.pt"),
                   {{"pattern", torch::ones({1, 5, 5})}, {"mask", torch::ones({1, 5, 5})}});
  // A model without a linear layer: 25 outputs, the flattened input.
  torch::jit::Module m("NoLinear");
  m.register_parameter("w", torch::ones({1}), false);
  m.define("def forward(self, x):\n    return torch.flatten(x, 1) * self.w\n");
  m.save(tmp.file("flat.pt"));
  const std::string clean = " --clean " + kTiny + " --nc-steps 2";
  const struct {
    std::string args, words;
  } cases[] = {
      {"--clean " + kTiny + " --nc-steps 0", "--nc-steps"},
      {clean + " --poison-index " + tmp.file("float.npy"), "give the training set"},
      {clean + " --data " + kTiny + " --poison-index " + tmp.file("float.npy"),
       "integer example ids"},
      {clean + " --data " + kTiny + " --feature-layer conv9", "--feature-layer conv9"},
      {clean + " --knn 0", "--knn"},
      {clean + " --trigger " + tmp.file("small.pt"), "do not fit the clean inputs' shape"},
      {clean + " --trigger " + tmp.file("fits.pt") + " --trigger-target 9", "--trigger-target"},
      {clean + " --data npy:" + tmp.file("missing.npy") + "," + tmp.file("missing.npy"),
       "missing.npy"},
  };
  for (const auto& c : cases) {
    const auto r = test::run_advtk("backdoor " + model + " " + c.args + out);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("frame #"), std::string::npos) << r.err;
  }
  const auto flat = test::run_advtk("backdoor " + tmp.file("flat.pt") + " --clean " + kTiny +
                                    " --data " + kTiny + " --nc-steps 2" + out);
  EXPECT_EQ(flat.exit_code, 2) << flat.err;
  EXPECT_NE(flat.err.find("no linear layer"), std::string::npos) << flat.err;
}

}  // namespace
}  // namespace advtk
