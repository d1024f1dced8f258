// Options shared by the subcommands, how they bind to CLI11, and their conversion to the
// library's typed options. Strings stop here: everything below cli/ takes typed values.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "data/data_source.h"
#include "data/dataset.h"
#include "models/model.h"

namespace advtk::cli {

struct CommonOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: LibTorch's default
  uint64_t seed = 0;
  int64_t batch_size = 128;
  bool quiet = false;
  std::string log_level = "info";
};

struct DataOptions {
  std::string spec = "fashion-mnist";
  std::string split = "test";
  int64_t limit = -1;
  int64_t offset = 0;
  bool shuffle = false;
};

struct ModelCliOptions {
  std::string mean, std;  // comma-separated, may be empty
  std::string input_range = "0,1";
  std::optional<int64_t> output_index;
  std::optional<std::string> output_key;
  std::string input_layout = "auto";  // auto, nchw, nhwc or flat
  std::string preprocess;             // TorchScript front end run before the model
  bool bpda = false;
};

// A bound on a number option, said in words ("--limit: expected at least 1, got 0"); CLI11's own
// range checks print the double's maximum in full.
CLI::Validator at_least(double min);

void add_common_options(CLI::App& app, CommonOptions& options, int64_t default_batch_size);
void add_data_options(CLI::App& app, DataOptions& options, const std::string& default_split);
void add_model_options(CLI::App& app, ModelCliOptions& options);

// Sets threads and logging for the process; called once per command, before any work.
void apply_common(const CommonOptions& options);

// Loads the source and applies --offset/--limit/--shuffle.
Dataset load_data(const DataOptions& options, uint64_t seed);

ModelOptions to_model_options(const ModelCliOptions& options, const std::string& device);

// Loads a TorchScript model and probes it with the data's example shape and class count.
Model load_model_for(const std::string& path, const ModelOptions& options, const Dataset& data);

// A surrogate for transfer attacks: the target's device and input range, without its defense
// front end (no --preprocess, no BPDA).
Model load_surrogate(const std::string& path, const ModelOptions& target, const Dataset& data);

// Refuses (advtk::Error, one line) an --out folder that holds another advtk command's results —
// known by each command's signature files (train: history.json, checkpoint/, model.pt; attack:
// summary.json; audit: report.json, stages/; masking, backdoor, leak, poison: their .json) —
// unless `force`. A folder with the command's own results is its own to overwrite or resume.
// Called before any work, so that a refusal costs nothing.
void claim_output_folder(const std::string& out, const std::string& command, bool force);
void add_force_flag(CLI::App& app, bool& force);
// A command that fails (main's error exits) removes the --out folder it claimed when that did
// not exist before and still holds no file: a refused command leaves no empty folder behind.
void remove_unused_output_folder();

// Whether progress bars should be drawn (stderr is a terminal and not --quiet).
bool show_progress(const CommonOptions& options);

}  // namespace advtk::cli
