// A whole-model stage's output, from the one rank of a split run that ran it to every rank: its
// report sections, stage seconds and files (it has no per-example records).
#pragma once

#include "audit/audit_stage.h"
#include "distributed/process_group.h"

namespace advtk {

// `out` is the owner's on every rank.
void share_stage_output(StageOutput& out, int owner, const ProcessGroup& group);

}  // namespace advtk
