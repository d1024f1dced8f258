// advtk: adversarial-robustness testing from the command line. This file only wires the
// subcommands and turns errors into one line and the documented exit code:
// 0 done, 2 bad input or usage, 3 a gate failed, 1 internal error.
#include <spdlog/spdlog.h>

#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/ranks.h"
#include "cli/version.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/torch.h"

int main(int argc, char** argv) {
  CLI::App app{"advtk: adversarial-robustness testing for TorchScript models", "advtk"};
  app.require_subcommand(1);
  app.set_version_flag("--version", advtk::cli::version_text());
  app.footer(
      "Examples:\n"
      "  advtk train --arch cnn --data fashion-mnist --epochs 2 --out runs/cnn\n"
      "  advtk eval runs/cnn/model.pt --data fashion-mnist\n"
      "  advtk attack runs/cnn/model.pt --attack pgd --eps 0.1 --limit 1000 --out runs/pgd\n"
      "  advtk info runs/cnn/model.pt\n"
      "  advtk data --data cifar10:DIR --split train\n"
      "Exit codes: 0 done, 2 bad input or usage, 3 a gate failed, 1 internal error.");
  int exit_code = 0;
  advtk::cli::setup_attack_command(app, exit_code);
  advtk::cli::setup_audit_command(app, exit_code);
  advtk::cli::setup_backdoor_command(app, exit_code);
  advtk::cli::setup_bench_command(app, exit_code);
  advtk::cli::setup_data_command(app, exit_code);
  advtk::cli::setup_info_command(app, exit_code);
  advtk::cli::setup_leak_command(app, exit_code);
  advtk::cli::setup_masking_command(app, exit_code);
  advtk::cli::setup_merge_command(app, exit_code);
  advtk::cli::setup_poison_command(app, exit_code);
  advtk::cli::setup_eval_command(app, exit_code);
  advtk::cli::setup_train_command(app, exit_code);
  // "attack " when the error is in a subcommand's arguments: where its --help is.
  const auto help_target = [](const CLI::App& a) {
    const auto given = a.get_subcommands();
    return given.empty() ? std::string() : given.front()->get_name() + " ";
  };
  try {
    // Under a launcher's processes only the commands that share their work may start.
    const advtk::LaunchEnvironment launch = advtk::read_launch_environment();
    const std::string command = argc > 1 ? argv[1] : "";
    if (launch.distributed() && !command.empty() && command[0] != '-' &&
        !advtk::cli::runs_over_ranks(command))
      throw advtk::Error("advtk " + command + " runs as one process, but " + launch.launcher +
                         " started " + std::to_string(launch.world_size) +
                         " (attack, audit, eval, masking and train share their work over them)");
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // One line, as for every other bad input (CLI11 would add "Run with --help ...").
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "error: " << e.what() << " (see advtk " << help_target(app) << "--help)\n";
    return 2;
  } catch (const advtk::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    advtk::cli::remove_unused_output_folder();
    return 2;
  } catch (const advtk::PeerFailure& e) {
    std::cerr << "error: " << e.what() << "\n";
    advtk::cli::remove_unused_output_folder();
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << advtk::short_message(e) << "\n";
    advtk::cli::remove_unused_output_folder();
    return 1;
  }
  // Bytes rewritten in place under a mapped data file showed through its mapping: the numbers
  // may rest on a mix of old and new data (a file cut short ends the run at once,
  // core/mapped_file).
  for (const std::string& path : advtk::mapped_files_changed()) {
    std::cerr << "error: " << path
              << ": the file changed while advtk read it (rewritten in place), so what this run "
                 "wrote may mix its old and new bytes: write a new file and rename it over the "
                 "old, then run again\n";
    exit_code = 2;
  }
  return exit_code;
}
