// The masking check's adaptive retry ladder (Athalye, Carlini & Wagner 2018; Tramèr, Carlini,
// Brendel & Madry 2020, "On Adaptive Attacks"): the attacks that work where a defense starves
// plain PGD of a useful gradient — a changed loss, EOT, BPDA, smoothed gradients, more steps and
// restarts, more queries, transfer. Each rung is self-contained (it owns what it needs), so the
// audit can run the rungs that broke points at every budget and on every example.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "diagnostics/masking.h"
#include "diagnostics/masking_support.h"

namespace advtk {

struct Rung {
  std::string step;    // "R1", ...
  std::string attack;  // what runs, e.g. "pgd --loss margin"
  // The model the attack is crafted on (a BPDA view, a surrogate); null: the model itself. The
  // points are always judged on the model.
  std::shared_ptr<const Model> crafted_on;
  MakeAttack make;
  bool changed_loss = false;  // R1: the margin, DLR or targeted-DLR loss instead of CE
};

struct SkippedRung {
  std::string step, attack, reason;
};

struct Ladder {
  std::vector<Rung> rungs;
  std::vector<SkippedRung> skipped;
  std::string bpda_blocked;  // why there is no BPDA rung, when there is none
};

// At or above this fraction of points with an all-zero gradient the gradient rungs are skipped.
constexpr double kZeroGradientSkip = 0.99;

Ladder build_ladder(const Model& model, const MaskingOptions& options, const LadderFacts& facts);

}  // namespace advtk
