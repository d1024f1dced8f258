// A one-line progress display on stderr: done/total, a bar, rate, ETA and free-form stats.
// Silent when disabled (not a terminal, or --quiet); redraws at most ten times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace advtk::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();
  void update(int64_t done, const std::string& stats = "");
  // Draws the final state and moves to a new line.
  void finish(const std::string& stats = "");
  void reset(std::string label, int64_t total);

 private:
  void draw(int64_t done, const std::string& stats);

  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  int64_t last_done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace advtk::cli
