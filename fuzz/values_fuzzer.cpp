// The number and list parsers behind --eps, --mean/--std, --input-range and the like on arbitrary
// text ("8/255", "0.05,0.1", "1e308"): they may refuse it (advtk::Error), never crash or throw
// anything else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/values.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& parse : {+[](const std::string& t) { advtk::cli::parse_number(t, "--x"); },
                            +[](const std::string& t) { advtk::cli::parse_number_list(t, "--x"); },
                            +[](const std::string& t) { advtk::cli::parse_int_list(t, "--x"); }}) {
    try {
      parse(text);
    } catch (const advtk::Error&) {
    }
  }
  return 0;
}
