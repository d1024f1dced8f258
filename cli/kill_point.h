// A test-only hook for the kill-and-resume tests (tests/cli/kill_resume_test.cpp): with
// ADVTK_KILL_AT=KIND:VALUE (or KIND) in the environment, the command ends itself with SIGKILL —
// as a crash or an operator would — when it reaches that point. advtk audit: save:N (the N-th
// save to its resumable store), after:NAME (the save named NAME: a stage, or an attack stage's
// batch such as attack-pgd/batch-2), report (between writing report.json and report.md).
// advtk train: in-epoch:N (inside epoch N, at its first progress report), epoch:N (after epoch
// N's checkpoint). advtk attack: batch:N (after its N-th batch; a rank of a distributed run
// counts its own). With ADVTK_KILL_WITH=error too, the command fails there with advtk::Error
// instead, as a full disk would make it fail.
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace advtk::cli {

class KillPoint {
 public:
  static KillPoint from_environment() {
    KillPoint k;
    const char* v = std::getenv("ADVTK_KILL_AT");
    if (v == nullptr) return k;
    const std::string s(v);
    const auto colon = s.find(':');
    k.kind_ = s.substr(0, colon);
    if (colon != std::string::npos) k.value_ = s.substr(colon + 1);
    const char* with = std::getenv("ADVTK_KILL_WITH");
    k.with_error_ = with != nullptr && std::string(with) == "error";
    return k;
  }

  void check(const std::string& kind, const std::string& value = "") const {
    if (kind_.empty() || kind != kind_ || value != value_) return;
    if (with_error_) throw Error("ADVTK_KILL_AT=" + kind + ":" + value + ": the test's failure");
    std::fflush(nullptr);
    std::raise(SIGKILL);
    std::abort();
  }

 private:
  std::string kind_, value_;
  bool with_error_ = false;
};

}  // namespace advtk::cli
