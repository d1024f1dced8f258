// advtk's error type and the checks that raise it.
//
// advtk::Error is for problems a caller or user can fix (a missing file, a bad option, a wrong
// shape): the CLI prints its message as one line and exits with code 2. Broken invariants are
// bugs and use TORCH_INTERNAL_ASSERT instead.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace advtk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// One line from a LibTorch/TorchScript exception that says what went wrong, without tracebacks.
std::string short_message(const std::exception& e);

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
}  // namespace detail

// The parts streamed into one string, numbers as std::ostream writes them (0.1, 8e-05).
using detail::concat;

}  // namespace advtk

// Throws advtk::Error with the concatenated message parts when `cond` is false.
#define ADVTK_CHECK(cond, ...)                                               \
  do {                                                                       \
    if (!(cond)) throw ::advtk::Error(::advtk::detail::concat(__VA_ARGS__)); \
  } while (false)
