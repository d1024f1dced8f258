// Parsing of the CLI's number and list syntax: "8/255", "0.1", "0.485,0.456,0.406".
#pragma once

#include <string>
#include <vector>

namespace advtk::cli {

// A finite number, optionally written as a fraction "a/b". Throws advtk::Error naming `option`.
double parse_number(const std::string& text, const std::string& option);

// A comma-separated list of numbers (each may be a fraction).
std::vector<double> parse_number_list(const std::string& text, const std::string& option);

// A comma-separated list of positive integers, e.g. an input shape "3,32,32".
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option);

std::vector<std::string> split(const std::string& text, char separator);

}  // namespace advtk::cli
