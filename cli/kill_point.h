// A test-only hook for the kill-and-resume tests (tests/cli/kill_resume_test.cpp): with
// ADVTK_KILL_AT=KIND:VALUE (or KIND) in the environment, the command ends itself with SIGKILL —
// as a crash or an operator would — when it reaches that point. advtk audit: save:N (the N-th
// save to its resumable store), after:NAME (the save named NAME: a stage, or an attack stage's
// batch such as attack-pgd/batch-2), report (between writing report.json and report.md).
// advtk train: in-epoch:N (inside epoch N, at its first progress report), epoch:N (after epoch
// N's checkpoint). advtk attack: batch:N (after its N-th batch; a rank of a distributed run
// counts its own).
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

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
    return k;
  }

  void check(const std::string& kind, const std::string& value = "") const {
    if (kind_.empty() || kind != kind_ || value != value_) return;
    std::fflush(nullptr);
    std::raise(SIGKILL);
    std::abort();
  }

 private:
  std::string kind_, value_;
};

}  // namespace advtk::cli
