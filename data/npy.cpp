#include "data/npy.h"

#include <cstring>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {
namespace {

const char kMagic[] = "\x93NUMPY";
// Compiled once: building them took most of a small file's read time.
const std::regex kDescr(R"('descr'\s*:\s*'([<>|=])([A-Za-z]\d*)')");
const std::regex kFortranOrder(R"('fortran_order'\s*:\s*(True|False))");
const std::regex kShape(R"('shape'\s*:\s*\(([^)]*)\))");
const std::regex kNumber(R"(\d+)");

struct DtypeCode {
  const char* code;  // without byte-order character
  torch::ScalarType type;
  size_t size;
};

const DtypeCode kDtypes[] = {
    {"b1", torch::kBool, 1},  {"u1", torch::kByte, 1},  {"i1", torch::kChar, 1},
    {"i2", torch::kShort, 2}, {"i4", torch::kInt, 4},   {"i8", torch::kLong, 8},
    {"f2", torch::kHalf, 2},  {"f4", torch::kFloat, 4}, {"f8", torch::kDouble, 8},
};

// What a NumPy type code holds, for the message refusing it.
std::string dtype_kind(const std::string& code) {
  switch (code.empty() ? ' ' : code[0]) {
    case 'U':
      return " (unicode strings)";
    case 'S':
    case 'a':
      return " (byte strings)";
    case 'O':
      return " (Python objects)";
    case 'c':
      return " (complex numbers)";
    case 'M':
    case 'm':
      return " (dates or times)";
    case 'V':
      return " (raw bytes)";
    default:
      return "";
  }
}

}  // namespace

torch::Tensor parse_npy(const std::vector<char>& bytes, const std::string& path) {
  ADVTK_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), kMagic, 6) == 0, path,
              ": not a .npy file (bad magic number)");
  const int major = static_cast<unsigned char>(bytes[6]);
  ADVTK_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy format version ", major);
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    ADVTK_CHECK(bytes.size() >= 12, path, ": truncated .npy header");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  }
  ADVTK_CHECK(bytes.size() >= offset + header_len, path, ": truncated .npy header");
  const std::string header(bytes.data() + offset, header_len);
  offset += header_len;

  std::smatch m;
  ADVTK_CHECK(std::regex_search(header, m, kDescr), path,
              ": .npy header has no readable 'descr' (structured arrays are not supported)");
  const std::string order = m[1], code = m[2];
  ADVTK_CHECK(order != ">", path, ": big-endian .npy data is not supported");
  const DtypeCode* dtype = nullptr;
  for (const auto& d : kDtypes)
    if (code == d.code) dtype = &d;
  ADVTK_CHECK(dtype != nullptr, path, ": .npy element type '", code, "'", dtype_kind(code),
              " is not supported (expected u1, i1-i8, f2, f4, f8 or b1)");
  ADVTK_CHECK(std::regex_search(header, m, kFortranOrder), path,
              ": .npy header has no 'fortran_order'");
  ADVTK_CHECK(m[1] == "False", path, ": Fortran-ordered .npy arrays are not supported");
  ADVTK_CHECK(std::regex_search(header, m, kShape), path, ": .npy header has no 'shape'");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  for (std::sregex_iterator it(dims.begin(), dims.end(), kNumber), end; it != end; ++it) {
    ADVTK_CHECK(it->str().size() <= 12, path, ": .npy dimension ", it->str().substr(0, 20),
                " is larger than any file");
    shape.push_back(std::stoll(it->str()));
  }
  // The element count, checked as it grows (a crafted shape overflows a 64-bit count).
  const size_t payload = bytes.size() - offset;
  size_t count = 1;
  for (int64_t s : shape) {
    ADVTK_CHECK(s == 0 || count <= (size_t{1} << 58) / static_cast<size_t>(s), path, ": shape ",
                torch::IntArrayRef(shape), " needs more data than any file");
    count *= static_cast<size_t>(s);
  }
  const size_t expected = count * dtype->size;
  ADVTK_CHECK(payload == expected, path, ": shape ", torch::IntArrayRef(shape), " needs ", expected,
              " bytes of data, file holds ", payload, payload < expected ? " (truncated)" : "");
  torch::Tensor out = torch::empty(shape, dtype->type);
  if (payload > 0) std::memcpy(out.data_ptr(), bytes.data() + offset, payload);  // empty: null
  return out;
}

torch::Tensor read_npy(const std::string& path) { return parse_npy(read_file_bytes(path), path); }

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  const DtypeCode* dtype = nullptr;
  for (const auto& d : kDtypes)
    if (d.type == t.scalar_type()) dtype = &d;
  ADVTK_CHECK(dtype != nullptr, path, ": cannot write dtype ", t.scalar_type(), " as .npy");
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i)
    shape += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : i + 1 < t.dim() ? ", " : "");
  shape += ")";
  const std::string order = dtype->size == 1 ? "|" : "<";
  std::string header =
      "{'descr': '" + order + dtype->code + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic(6) + version(2) + length(2) + header + '\n' is a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::vector<char> bytes(kMagic, kMagic + 6);
  bytes.push_back(1);
  bytes.push_back(0);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes.insert(bytes.end(), header.begin(), header.end());
  const char* data = static_cast<const char*>(t.data_ptr());
  bytes.insert(bytes.end(), data, data + t.numel() * t.element_size());
  write_file_atomic(path, bytes);
}

}  // namespace advtk
