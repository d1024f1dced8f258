// One function per subcommand: it adds the subcommand to the app, binds its options and sets the
// callback that runs it. `exit_code` receives the command's exit status (0, or 3 for a failed
// gate).
#pragma once

#include <CLI/CLI.hpp>

namespace advtk::cli {

void setup_attack_command(CLI::App& app, int& exit_code);
void setup_audit_command(CLI::App& app, int& exit_code);
void setup_backdoor_command(CLI::App& app, int& exit_code);
void setup_bench_command(CLI::App& app, int& exit_code);
void setup_data_command(CLI::App& app, int& exit_code);
void setup_info_command(CLI::App& app, int& exit_code);
void setup_leak_command(CLI::App& app, int& exit_code);
void setup_masking_command(CLI::App& app, int& exit_code);
void setup_merge_command(CLI::App& app, int& exit_code);
void setup_poison_command(CLI::App& app, int& exit_code);
void setup_eval_command(CLI::App& app, int& exit_code);
void setup_train_command(CLI::App& app, int& exit_code);

}  // namespace advtk::cli
