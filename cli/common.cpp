#include "cli/common.h"

#include <sched.h>

#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "cli/values.h"
#include "core/error.h"
#include "models/device.h"

namespace advtk::cli {

CLI::Validator at_least(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "expected a number, got '" + text + "'";
        if (v < min) return "expected at least " + concat(min) + ", got " + text;
        return {};
      },
      ">= " + concat(min));
}

void add_common_options(CLI::App& app, CommonOptions& o, int64_t default_batch_size) {
  o.batch_size = default_batch_size;
  app.add_option("--device", o.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  app.add_option("--threads", o.threads,
                 "CPU threads (0: every CPU this process may use, or OMP_NUM_THREADS when set)")
      ->check(at_least(0));
  app.add_option("--seed", o.seed, "seed for every random choice")->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "examples per batch")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_flag("-q,--quiet", o.quiet, "no progress bars, warnings and errors only");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

void add_data_options(CLI::App& app, DataOptions& o, const std::string& default_split) {
  o.split = default_split;
  app.add_option("--data", o.spec,
                 "fashion-mnist | mnist:DIR | idx:IMAGES,LABELS | cifar10:DIR | "
                 "npy:X.npy,Y.npy | pt:FILE | folder:DIR")
      ->capture_default_str();
  app.add_option("--split", o.split, "train or test (for sources with both)")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  app.add_option("--limit", o.limit, "use at most this many examples")->check(at_least(1));
  app.add_option("--offset", o.offset, "skip this many examples first")->check(at_least(0));
  app.add_flag("--shuffle", o.shuffle, "shuffle (with --seed) before --offset/--limit");
}

void add_model_options(CLI::App& app, ModelCliOptions& o) {
  app.add_option("--mean", o.mean,
                 "per-channel mean subtracted inside the model, e.g. 0.4914,0.4822,0.4465");
  app.add_option("--std", o.std, "per-channel std divided inside the model");
  app.add_option("--input-range", o.input_range, "the model's pixel range lo,hi")
      ->capture_default_str();
  app.add_option("--output-index", o.output_index, "which output holds the logits (tuple/list)");
  app.add_option("--output-key", o.output_key, "which output holds the logits (dict)");
  app.add_option("--input-layout", o.input_layout,
                 "how images reach the model: nchw, nhwc, flat ([N, C*H*W]) or auto (the first "
                 "of them its forward accepts)")
      ->capture_default_str();
  app.add_option("--preprocess", o.preprocess,
                 "TorchScript module run on the input before the model (a defense's front end)");
  app.add_flag("--bpda", o.bpda,
               "with --preprocess: backward through the preprocessing as the identity (BPDA, "
               "Athalye et al. 2018)");
}

void apply_common(const CommonOptions& o) {
  auto logger = spdlog::stderr_color_mt("advtk");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(o.quiet && o.log_level == "info" ? spdlog::level::warn
                                                     : spdlog::level::from_str(o.log_level));
  // LibTorch's default counts physical cores through cpuinfo, which on these 2-vCPU machines
  // reports one: every pass ran single-threaded (the CNN floor is 1.6× faster with two). Use
  // every CPU this process may run on, unless the user chose (--threads or OMP_NUM_THREADS).
  int threads = o.threads;
  if (threads <= 0 && std::getenv("OMP_NUM_THREADS") == nullptr) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) threads = CPU_COUNT(&set);
  }
  if (threads > 0) {
    torch::set_num_threads(threads);
    torch::set_num_interop_threads(1);
  }
  // advtk's own draws come from per-example generators; a randomised model draws from torch's
  // global one, which --seed fixes too, so such runs repeat exactly.
  torch::manual_seed(o.seed);
}

Dataset load_data(const DataOptions& o, uint64_t seed) {
  const Dataset all = load_dataset(parse_data_source(o.spec, o.split));
  Selection sel;
  sel.offset = o.offset;
  sel.limit = o.limit;
  sel.shuffle = o.shuffle;
  sel.seed = seed;
  Dataset d = select(all, sel);
  spdlog::debug("loaded {} examples of shape [{},{},{}] from {}", d.size(), d.images.size(1),
                d.images.size(2), d.images.size(3), d.source);
  return d;
}

ModelOptions to_model_options(const ModelCliOptions& o, const std::string& device) {
  ModelOptions m;
  m.device = resolve_device(device);
  if (!o.mean.empty()) m.mean = parse_number_list(o.mean, "--mean");
  if (!o.std.empty()) m.std = parse_number_list(o.std, "--std");
  ADVTK_CHECK(m.mean.size() == m.std.size(),
              "--mean and --std: give both, with one value per channel");
  const auto range = parse_number_list(o.input_range, "--input-range");
  ADVTK_CHECK(range.size() == 2 && range[0] < range[1],
              "--input-range: expected lo,hi with lo < hi, got '", o.input_range, "'");
  m.input_lo = range[0];
  m.input_hi = range[1];
  m.output_index = o.output_index;
  m.output_key = o.output_key;
  for (const InputLayout layout : {InputLayout::Nchw, InputLayout::Nhwc, InputLayout::Flat})
    if (o.input_layout == layout_name(layout)) m.layout = layout;
  ADVTK_CHECK(m.layout || o.input_layout == "auto",
              "--input-layout: expected auto, nchw, nhwc or flat, got '", o.input_layout, "'");
  ADVTK_CHECK(!o.bpda || !o.preprocess.empty(), "--bpda: needs --preprocess PRE.pt");
  if (!o.preprocess.empty()) m.preprocess = Model::load(o.preprocess, {}).module();
  m.bpda = o.bpda;
  return m;
}

Model load_model_for(const std::string& path, const ModelOptions& options, const Dataset& data) {
  Model model = Model::load(path, options);
  const std::vector<int64_t> shape(data.images.sizes().begin() + 1, data.images.sizes().end());
  const ProbeResult probe = model.fit_input_layout(shape, data.num_classes());
  ADVTK_CHECK(data.class_names.empty() ||
                  probe.num_classes == static_cast<int64_t>(data.class_names.size()),
              path, ": the model has ", probe.num_classes, " outputs but ", data.source, " has ",
              data.class_names.size(), " classes");
  return model;
}

namespace {
std::string& new_output_folder() {  // the claimed --out when it did not exist yet
  static std::string path;
  return path;
}
}  // namespace

void claim_output_folder(const std::string& out, const std::string& command, bool force) {
  namespace fs = std::filesystem;
  std::error_code exists_ec;
  if (!fs::exists(out, exists_ec) && !exists_ec) new_output_folder() = out;
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kSignatures = {
      {"train", {"history.json", "checkpoint", "model.pt"}},
      {"attack", {"summary.json", "shard.json", "store"}},
      {"audit", {"report.json", "stages"}},
      {"masking", {"masking.json"}},
      {"backdoor", {"backdoor.json"}},
      {"leak", {"leak.json"}},
      {"poison", {"poison.json"}}};
  std::error_code ec;
  if (force || !fs::is_directory(out, ec)) return;
  const auto holds = [&](const std::vector<std::string>& files) -> std::string {
    for (const std::string& f : files)
      if (fs::exists(fs::path(out) / f, ec)) return f;
    return "";
  };
  for (const auto& [name, files] : kSignatures)
    if (name == command && !holds(files).empty()) return;
  for (const auto& [name, files] : kSignatures) {
    const std::string found = holds(files);
    ADVTK_CHECK(found.empty(), "--out ", out, ": holds advtk ", name, "'s results (", found,
                "); choose another folder, or pass --force to write beside them");
  }
}

void remove_unused_output_folder() {
  namespace fs = std::filesystem;
  const std::string& out = new_output_folder();
  std::error_code ec;
  if (out.empty() || !fs::is_directory(out, ec)) return;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (!it->is_directory(ec)) return;  // a file (a log, a finished batch) stays, and so does it
  if (!ec) fs::remove_all(out, ec);
}

void add_force_flag(CLI::App& app, bool& force) {
  app.add_flag("--force", force,
               "write into an --out folder that holds another advtk command's results");
}

bool show_progress(const CommonOptions& o) { return !o.quiet && isatty(STDERR_FILENO) != 0; }

Model load_surrogate(const std::string& path, const ModelOptions& target, const Dataset& data) {
  ModelOptions options = target;
  options.preprocess.reset();
  options.bpda = false;
  return load_model_for(path, options, data);
}

}  // namespace advtk::cli
