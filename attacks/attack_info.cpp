#include "attacks/attack_info.h"

#include <limits>

namespace advtk {

OptionSpec steps_option(int64_t default_steps) {
  return integer_option("steps", default_steps, 1, "iterations");
}

OptionSpec restarts_option() {
  return integer_option("restarts", 1, 1, "runs from fresh random starts; the strongest is kept");
}

OptionSpec loss_option(const std::string& default_loss, std::vector<std::string> choices) {
  return choice_option("loss", default_loss, std::move(choices),
                       "the loss maximised: ce, margin (cw), dlr or kl");
}

OptionSpec confidence_option(std::optional<double> default_confidence) {
  OptionSpec s =
      real_option("confidence", default_confidence, 0, std::numeric_limits<double>::infinity(),
                  "kappa: the margin the loss stops rewarding");
  if (!default_confidence) s.auto_default = "none";
  return s;
}

OptionSpec eot_option() {
  return integer_option("eot", 1, 1,
                        "average the gradient over this many passes (randomised models)");
}

OptionSpec early_stop_option() {
  return flag_option(
      "early-stop", true,
      "stop an example at its first success, which leaves robust accuracy unchanged (cw: end "
      "its search over c at its first successful run); --no-early-stop attacks every example "
      "for every step (maximum-loss examples; cw: every c of the bisection, for slightly smaller "
      "distances)");
}

OptionSpec target_classes_option() {
  return integer_option("target-classes", 9, 1,
                        "how many of the most likely other classes to target in turn");
}

LossSpec loss_of(const OptionValues& values) {
  LossSpec spec;
  spec.kind = parse_loss(values.choice("loss"));
  spec.confidence =
      values.maybe_real("confidence").value_or(std::numeric_limits<double>::infinity());
  return spec;
}

}  // namespace advtk
