#include "core/error.h"

#include <c10/util/Exception.h>

namespace advtk {

// The line of a LibTorch or TorchScript error that says what went wrong: TorchScript puts it
// last, after the traceback; c10 errors put it first.
std::string short_message(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string msg = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (msg.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    msg = msg.substr(msg.rfind('\n') + 1);
  } else if (const auto nl = msg.find('\n'); nl != std::string::npos) {
    msg.resize(nl);
  }
  return msg.size() > 300 ? msg.substr(0, 300) + "..." : msg;
}

}  // namespace advtk
