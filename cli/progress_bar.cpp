#include "cli/progress_bar.h"

#include <cstdio>

namespace advtk::cli {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && drawn_) std::fputs("\n", stderr);
}

void ProgressBar::reset(std::string label, int64_t total) {
  if (enabled_ && drawn_) std::fputs("\n", stderr);
  label_ = std::move(label);
  total_ = total;
  drawn_ = false;
  start_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done, const std::string& stats) {
  last_done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, stats);
}

void ProgressBar::finish(const std::string& stats) {
  if (!enabled_) return;
  draw(last_done_ > 0 ? last_done_ : total_, stats);
  std::fputs("\n", stderr);
  drawn_ = false;
}

void ProgressBar::draw(int64_t done, const std::string& stats) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ > 0 ? static_cast<double>(done) / total_ : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth + 0.5);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : -1;
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %.0f/s ETA %s %s", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), rate,
               format_duration(eta).c_str(), stats.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace advtk::cli
