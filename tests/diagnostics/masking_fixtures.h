// Defenses that only mask gradients, built in C++ as TorchScript front ends and wrappers around
// a zoo CNN, for the masking detector's tests. Each is the textbook example of one failure
// (Athalye, Carlini & Wagner 2018).
#pragma once

#include <string>

#include "core/torch.h"
#include "models/model.h"

namespace advtk::test {

inline torch::jit::Module script(const std::string& name, const std::string& forward) {
  torch::jit::Module m(name);
  m.define(forward);
  m.eval();
  return m;
}

// Input quantisation to 16 levels by round(): zero gradient almost everywhere.
inline torch::jit::Module quantise_front_end() {
  return script("Quantise", "def forward(self, x):\n  return torch.round(x * 15.0) / 15.0\n");
}

// Thermometer encoding decoded back to an image (Buckman et al. 2018): comparisons cut the graph.
inline torch::jit::Module thermometer_front_end() {
  return script("Thermometer",
                "def forward(self, x):\n"
                "  out = torch.zeros_like(x)\n"
                "  for k in range(1, 16):\n"
                "    out = out + (x > k / 16.0).float()\n"
                "  return out / 15.0\n");
}

// x + a·sin(ωx) with a tiny a and a large aω: the output barely moves, the gradient swings.
inline torch::jit::Module shattering_front_end() {
  return script("Shatter", "def forward(self, x):\n  return x + 0.02 * torch.sin(2000.0 * x)\n");
}

// Gaussian noise on every pass.
inline torch::jit::Module noise_front_end(double sigma) {
  return script("Noise", "def forward(self, x):\n  return x + " + std::to_string(sigma) +
                             " * torch.randn_like(x)\n");
}

// The model's logits times 1000: the softmax saturates and cross-entropy gradients vanish.
inline torch::jit::Module temperature_wrapper(const torch::jit::Module& inner) {
  torch::jit::Module m("Temperature");
  m.register_module("inner", inner);
  m.define("def forward(self, x):\n  return self.inner.forward(x) * 1000.0\n");
  m.eval();
  return m;
}

}  // namespace advtk::test
