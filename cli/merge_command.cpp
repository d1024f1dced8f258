// advtk merge DIR... --out OUT: joins the parts of advtk attack --shard i/n into the outputs of
// the whole run (cli/attack_shard.h).
#include <memory>
#include <string>
#include <vector>

#include "cli/attack_outputs.h"
#include "cli/attack_shard.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace advtk::cli {
namespace {

struct MergeOptions {
  std::vector<std::string> parts;
  std::string out = "runs/attack";
  bool force = false;
  CommonOptions common;
};

void run_merge(const MergeOptions& o) {
  apply_common(o.common);
  claim_output_folder(o.out, "attack", o.force);
  MergedAttack m = merge_attack_shards(o.parts);
  m.outputs.out = o.out;
  write_attack_outputs(m.outputs, {m.run}, m.data,
                       [&](const AttackRun&) { return m.x_adv_rows(); });
}

}  // namespace

void setup_merge_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Join the parts of advtk attack --shard i/n into the whole run's outputs");
  cmd->add_option("parts", o->parts, "the parts' folders (every i of n once)")->required();
  cmd->add_option("--out", o->out, "output directory")->capture_default_str();
  add_force_flag(*cmd, o->force);
  cmd->add_flag("--quiet", o->common.quiet, "warnings and errors only");
  cmd->footer(
      "Example:\n  for i in 0 1 2; do advtk attack model.pt --attack autoattack --eps 8/255 "
      "--shard $i/3 --out runs/part-$i; done\n  advtk merge runs/part-0 runs/part-1 runs/part-2 "
      "--out runs/autoattack");
  cmd->callback([o, &exit_code] {
    run_merge(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
