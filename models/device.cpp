#include "models/device.h"

#include "core/error.h"

namespace advtk {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (spec == "auto") return cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    ADVTK_CHECK(cuda, "--device ", spec, ": CUDA is not available (this LibTorch ",
                "has no CUDA support or no GPU is visible); use --device cpu or auto");
    int64_t index = 0;
    if (spec.size() > 5) {
      const std::string digits = spec.substr(5);
      ADVTK_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                  "--device ", spec, ": expected cuda:N with N a GPU index");
      index = std::stoll(digits);
    }
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    ADVTK_CHECK(index < count, "--device ", spec, ": only ", count, " CUDA device(s) visible");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("--device: expected cpu, cuda, cuda:N or auto, got '" + spec + "'");
}

}  // namespace advtk
