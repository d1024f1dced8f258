// Saved zoo models and tensor files load in Python's torch. Skipped where Python's torch is absent
// (the suite never needs Python); run where Debian's python3-torch is installed.
#include <gtest/gtest.h>

#include "data/tensor_file.h"
#include "models/model.h"
#include "models/zoo.h"
#include "test_util.h"

namespace advtk {
namespace {

bool python_torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") == 0;
}

TEST(PythonInterop, ZooModelsAndTensorFilesLoadInPythonWithTheSameOutputs) {
  if (!python_torch_available()) GTEST_SKIP() << "Python's torch is not installed";
  test::TempDir dir;
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  for (const std::string& name : architecture_names()) {
    ZooOptions o;
    o.input_shape = {3, 32, 32};
    Model model = Model::wrap(build_zoo_model(parse_architecture(name), o), {}, name);
    model.save(dir.file(name + ".pt"));
    torch::NoGradGuard no_grad;
    save_tensor_dict(dir.file(name + "_io.pt"), {{"x", x}, {"logits", model.logits(x)}});
    const std::string script =
        "import torch\n"
        "m = torch.jit.load('" +
        dir.file(name + ".pt") +
        "')\n"
        "io = torch.load('" +
        dir.file(name + "_io.pt") +
        "')\n"
        "assert m.advtk_arch == '" +
        name +
        "'\n"
        "assert torch.allclose(m(io['x']), io['logits'], atol=1e-5)\n";
    test::write_bytes(dir.file("check.py"), {script.begin(), script.end()});
    EXPECT_EQ(std::system(("/usr/bin/python3 '" + dir.file("check.py") + "'").c_str()), 0) << name;
  }
}

}  // namespace
}  // namespace advtk
