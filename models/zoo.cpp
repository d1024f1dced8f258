#include "models/zoo.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/seeding.h"

namespace advtk {
namespace {

// Accumulates parameters and the body of `forward` for one TorchScript module.
class ScriptBuilder {
 public:
  ScriptBuilder(const std::string& class_name, uint64_t seed)
      : module_(class_name), gen_(make_generator(seed, /*stream=*/0x200)) {
    if (!module_.hasattr("training")) {
      module_.register_attribute("training", c10::BoolType::get(), true);
    }
  }

  void line(const std::string& text) { body_ << "    " << text << "\n"; }

  // PyTorch's default for Conv/Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias;
  // or one fixed bound for every layer (the DLG paper's U(-0.5, 0.5)).
  void set_uniform_bound(double bound) { fixed_bound_ = bound; }
  torch::Tensor uniform_fan_in(std::vector<int64_t> shape, int64_t fan_in) {
    const double bound =
        fixed_bound_ > 0 ? fixed_bound_ : 1.0 / std::sqrt(static_cast<double>(fan_in));
    return torch::rand(shape, gen_).mul_(2 * bound).sub_(bound);
  }

  void conv(const std::string& name, const std::string& var, int64_t in, int64_t out, int64_t k,
            int64_t stride, int64_t pad, bool he_init_no_bias = false) {
    const int64_t fan_in = in * k * k;
    torch::Tensor w;
    if (he_init_no_bias) {
      w = torch::randn({out, in, k, k}, gen_)
              .mul_(std::sqrt(2.0 / static_cast<double>(out * k * k)));
    } else {
      w = uniform_fan_in({out, in, k, k}, fan_in);
    }
    module_.register_parameter(name + "_w", w, false);
    std::string bias = "None";
    if (!he_init_no_bias) {
      module_.register_parameter(name + "_b", uniform_fan_in({out}, fan_in), false);
      bias = "self." + name + "_b";
    }
    std::ostringstream s;
    s << var << " = torch.conv2d(" << var << ", self." << name << "_w, " << bias << ", [" << stride
      << ", " << stride << "], [" << pad << ", " << pad << "], [1, 1], 1)";
    line(s.str());
  }

  void linear(const std::string& name, const std::string& var, int64_t in, int64_t out) {
    module_.register_parameter(name + "_w", uniform_fan_in({out, in}, in), false);
    module_.register_parameter(name + "_b", uniform_fan_in({out}, in), false);
    line(var + " = torch.addmm(self." + name + "_b, " + var + ", self." + name + "_w.t())");
  }

  void batch_norm(const std::string& name, const std::string& var, int64_t channels) {
    module_.register_parameter(name + "_w", torch::ones({channels}), false);
    module_.register_parameter(name + "_b", torch::zeros({channels}), false);
    module_.register_buffer(name + "_mean", torch::zeros({channels}));
    module_.register_buffer(name + "_var", torch::ones({channels}));
    line(var + " = torch.batch_norm(" + var + ", self." + name + "_w, self." + name + "_b, self." +
         name + "_mean, self." + name + "_var, self.training, 0.1, 1e-05, False)");
  }

  void relu(const std::string& var) { line(var + " = torch.relu(" + var + ")"); }
  void sigmoid(const std::string& var) { line(var + " = torch.sigmoid(" + var + ")"); }
  void max_pool2(const std::string& var) {
    line(var + " = torch.max_pool2d(" + var + ", [2, 2], [2, 2], [0, 0], [1, 1], False)");
  }
  void flatten(const std::string& var) { line(var + " = torch.flatten(" + var + ", 1)"); }

  torch::jit::Module finish(const std::string& arch, const std::vector<int64_t>& input_shape) {
    module_.register_attribute("advtk_arch", c10::StringType::get(), arch);
    module_.register_attribute("advtk_input_shape", c10::ListType::ofInts(),
                               c10::List<int64_t>(input_shape));
    module_.define("def forward(self, x):\n" + body_.str() + "    return x\n");
    module_.eval();
    return module_;
  }

 private:
  torch::jit::Module module_;
  torch::Generator gen_;
  std::ostringstream body_;
  double fixed_bound_ = 0;
};

int64_t pooled(int64_t size) { return size / 2; }

torch::jit::Module build_mlp(const ZooOptions& o) {
  ScriptBuilder b("Mlp", o.seed);
  const int64_t in = o.input_shape[0] * o.input_shape[1] * o.input_shape[2];
  b.flatten("x");
  b.linear("fc1", "x", in, 256);
  b.relu("x");
  b.linear("fc2", "x", 256, 256);
  b.relu("x");
  b.linear("fc3", "x", 256, o.num_classes);
  return b.finish("mlp", o.input_shape);
}

torch::jit::Module build_cnn(const ZooOptions& o) {
  ScriptBuilder b("Cnn", o.seed);
  const int64_t h = pooled(pooled(o.input_shape[1])), w = pooled(pooled(o.input_shape[2]));
  ADVTK_CHECK(h >= 1 && w >= 1, "cnn: input ", o.input_shape[1], "x", o.input_shape[2],
              " is too small (at least 4x4)");
  b.conv("conv1", "x", o.input_shape[0], 32, 3, 1, 1);
  b.relu("x");
  b.max_pool2("x");
  b.conv("conv2", "x", 32, 64, 3, 1, 1);
  b.relu("x");
  b.max_pool2("x");
  b.flatten("x");
  b.linear("fc1", "x", 64 * h * w, 128);
  b.relu("x");
  b.linear("fc2", "x", 128, o.num_classes);
  return b.finish("cnn", o.input_shape);
}

torch::jit::Module build_lenet(const ZooOptions& o) {
  ScriptBuilder b("LeNet", o.seed);
  const int64_t h = pooled(pooled(o.input_shape[1]) - 4), w = pooled(pooled(o.input_shape[2]) - 4);
  ADVTK_CHECK(h >= 1 && w >= 1, "lenet: input ", o.input_shape[1], "x", o.input_shape[2],
              " is too small (at least 12x12)");
  b.conv("conv1", "x", o.input_shape[0], 6, 5, 1, 2);
  b.relu("x");
  b.max_pool2("x");
  b.conv("conv2", "x", 6, 16, 5, 1, 0);
  b.relu("x");
  b.max_pool2("x");
  b.flatten("x");
  b.linear("fc1", "x", 16 * h * w, 120);
  b.relu("x");
  b.linear("fc2", "x", 120, 84);
  b.relu("x");
  b.linear("fc3", "x", 84, o.num_classes);
  return b.finish("lenet", o.input_shape);
}

torch::jit::Module build_dlg_lenet(const ZooOptions& o) {
  ScriptBuilder b("DlgLeNet", o.seed);
  b.set_uniform_bound(0.5);
  const auto halved = [](int64_t s) { return (s + 1) / 2; };  // 5×5, padding 2, stride 2
  const int64_t h = halved(halved(o.input_shape[1])), w = halved(halved(o.input_shape[2]));
  b.conv("conv1", "x", o.input_shape[0], 12, 5, 2, 2);
  b.sigmoid("x");
  b.conv("conv2", "x", 12, 12, 5, 2, 2);
  b.sigmoid("x");
  b.conv("conv3", "x", 12, 12, 5, 1, 2);
  b.sigmoid("x");
  b.flatten("x");
  b.linear("fc", "x", 12 * h * w, o.num_classes);
  return b.finish("dlg-lenet", o.input_shape);
}

torch::jit::Module build_resnet(const ZooOptions& o) {
  ADVTK_CHECK(o.resnet_blocks_per_stage >= 1, "resnet: expected at least one block per stage");
  ScriptBuilder b("ResNet", o.seed);
  b.conv("stem", "x", o.input_shape[0], 16, 3, 1, 1, /*he_init_no_bias=*/true);
  b.batch_norm("stem_bn", "x", 16);
  b.relu("x");
  int64_t channels = 16;
  const int64_t widths[] = {16, 32, 64};
  const int64_t strides[] = {1, 2, 2};
  for (int stage = 0; stage < 3; ++stage) {
    for (int64_t block = 0; block < o.resnet_blocks_per_stage; ++block) {
      const std::string n = "s" + std::to_string(stage + 1) + "b" + std::to_string(block + 1);
      const int64_t stride = block == 0 ? strides[stage] : 1;
      const int64_t out = widths[stage];
      b.line("h = x");
      b.conv(n + "_conv1", "h", channels, out, 3, stride, 1, true);
      b.batch_norm(n + "_bn1", "h", out);
      b.relu("h");
      b.conv(n + "_conv2", "h", out, out, 3, 1, 1, true);
      b.batch_norm(n + "_bn2", "h", out);
      if (stride != 1 || channels != out) {
        b.conv(n + "_short", "x", channels, out, 1, stride, 0, true);
        b.batch_norm(n + "_short_bn", "x", out);
      }
      b.line("x = torch.relu(h + x)");
      channels = out;
    }
  }
  b.line("x = torch.mean(x, [2, 3])");
  b.linear("fc", "x", channels, o.num_classes);
  return b.finish("resnet", o.input_shape);
}

}  // namespace

std::vector<std::string> architecture_names() {
  return {"mlp", "cnn", "lenet", "resnet", "dlg-lenet"};
}

std::string architecture_name(Architecture arch) {
  return architecture_names().at(static_cast<size_t>(arch));
}

Architecture parse_architecture(const std::string& name) {
  const auto names = architecture_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Architecture>(i);
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  throw Error("--arch: expected one of " + list + ", got '" + name + "'");
}

torch::jit::Module build_zoo_model(Architecture arch, const ZooOptions& options) {
  ADVTK_CHECK(options.input_shape.size() == 3, "--input-shape: expected C,H,W");
  for (int64_t d : options.input_shape)
    ADVTK_CHECK(d > 0, "--input-shape: expected positive sizes");
  ADVTK_CHECK(options.num_classes >= 2, "--num-classes: expected at least 2, got ",
              options.num_classes);
  switch (arch) {
    case Architecture::Mlp:
      return build_mlp(options);
    case Architecture::Cnn:
      return build_cnn(options);
    case Architecture::LeNet:
      return build_lenet(options);
    case Architecture::ResNet:
      return build_resnet(options);
    case Architecture::DlgLeNet:
      return build_dlg_lenet(options);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown architecture");
}

}  // namespace advtk
