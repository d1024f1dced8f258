#include "data/npy.h"

#include <cstring>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"

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

namespace {

struct NpyHeader {
  const DtypeCode* dtype = nullptr;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // where the data starts
  size_t data_size = 0;    // bytes the shape needs
};

// The header of a .npy file of `file_size` bytes from its first `n` bytes; the data must fill the
// rest of the file exactly.
NpyHeader parse_npy_header(const char* bytes, size_t n, size_t file_size, const std::string& path) {
  ADVTK_CHECK(n >= 10 && std::memcmp(bytes, kMagic, 6) == 0, path,
              ": not a .npy file (bad magic number)");
  const int major = static_cast<unsigned char>(bytes[6]);
  ADVTK_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy format version ", major);
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    ADVTK_CHECK(n >= 12, path, ": truncated .npy header");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  }
  ADVTK_CHECK(n >= offset + header_len, path, ": truncated .npy header");
  const std::string header(bytes + offset, header_len);
  offset += header_len;

  NpyHeader h;
  std::smatch m;
  ADVTK_CHECK(std::regex_search(header, m, kDescr), path,
              ": .npy header has no readable 'descr' (structured arrays are not supported)");
  const std::string order = m[1], code = m[2];
  ADVTK_CHECK(order != ">", path, ": big-endian .npy data is not supported");
  for (const auto& d : kDtypes)
    if (code == d.code) h.dtype = &d;
  ADVTK_CHECK(h.dtype != nullptr, path, ": .npy element type '", code, "'", dtype_kind(code),
              " is not supported (expected u1, i1-i8, f2, f4, f8 or b1)");
  ADVTK_CHECK(std::regex_search(header, m, kFortranOrder), path,
              ": .npy header has no 'fortran_order'");
  ADVTK_CHECK(m[1] == "False", path, ": Fortran-ordered .npy arrays are not supported");
  ADVTK_CHECK(std::regex_search(header, m, kShape), path, ": .npy header has no 'shape'");
  const std::string dims = m[1];
  for (std::sregex_iterator it(dims.begin(), dims.end(), kNumber), end; it != end; ++it) {
    ADVTK_CHECK(it->str().size() <= 12, path, ": .npy dimension ", it->str().substr(0, 20),
                " is larger than any file");
    h.shape.push_back(std::stoll(it->str()));
  }
  // The element count, checked as it grows (a crafted shape overflows a 64-bit count).
  const size_t payload = file_size - offset;
  size_t count = 1;
  for (int64_t s : h.shape) {
    ADVTK_CHECK(s == 0 || count <= (size_t{1} << 58) / static_cast<size_t>(s), path, ": shape ",
                torch::IntArrayRef(h.shape), " needs more data than any file");
    count *= static_cast<size_t>(s);
  }
  h.data_offset = offset;
  h.data_size = count * h.dtype->size;
  ADVTK_CHECK(payload == h.data_size, path, ": shape ", torch::IntArrayRef(h.shape), " needs ",
              h.data_size, " bytes of data, file holds ", payload,
              payload < h.data_size ? " (truncated)" : "");
  return h;
}

const DtypeCode& dtype_of(torch::ScalarType type, const std::string& path) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d;
  throw Error(concat(path, ": cannot write dtype ", type, " as .npy"));
}

// Magic, version 1.0, the header padded so that the data starts at a multiple of 64.
std::vector<char> npy_header(const DtypeCode& dtype, const std::vector<int64_t>& sizes) {
  std::string shape = "(";
  for (size_t i = 0; i < sizes.size(); ++i)
    shape += std::to_string(sizes[i]) + (sizes.size() == 1      ? ","
                                         : i + 1 < sizes.size() ? ", "
                                                                : "");
  shape += ")";
  const std::string order = dtype.size == 1 ? "|" : "<";
  std::string header =
      "{'descr': '" + order + dtype.code + "', 'fortran_order': False, 'shape': " + shape + ", }";
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
  return bytes;
}

}  // namespace

torch::Tensor parse_npy(const std::vector<char>& bytes, const std::string& path) {
  const NpyHeader h = parse_npy_header(bytes.data(), bytes.size(), bytes.size(), path);
  torch::Tensor out = torch::empty(h.shape, h.dtype->type);
  if (h.data_size > 0)  // empty: null
    std::memcpy(out.data_ptr(), bytes.data() + h.data_offset, h.data_size);
  return out;
}

torch::Tensor read_npy(const std::string& path) { return parse_npy(read_file_bytes(path), path); }

torch::Tensor map_npy(const std::string& path) {
  const MappedFile file = map_file(path);
  // Not mapped (its message is read_npy's), or gzipped: read instead.
  if (!file.data || looks_gzipped(file.bytes())) return read_npy(path);
  const NpyHeader h = parse_npy_header(file.data.get(), file.size, file.size, path);
  const auto options = torch::TensorOptions().dtype(h.dtype->type);
  if (h.data_size == 0) return torch::empty(h.shape, options);
  if (h.data_offset % h.dtype->size != 0)
    return torch::from_blob(file.data.get() + h.data_offset, h.shape, options).clone();
  const at::Storage storage(at::Storage::use_byte_size_t(), h.data_size,
                            file.data_ptr(h.data_offset), /*allocator=*/nullptr,
                            /*resizable=*/false);
  return torch::empty({0}, options).set_(storage).view(h.shape);
}

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  NpyWriter out(path, t.scalar_type(), t.sizes().vec());
  out.append(t);
  out.finish();
}

NpyWriter::NpyWriter(const std::string& path, torch::ScalarType type, std::vector<int64_t> shape)
    : file_(path), type_(type), shape_(std::move(shape)) {
  const std::vector<char> header = npy_header(dtype_of(type, path), shape_);
  file_.write(header.data(), header.size());
}

void NpyWriter::append(const torch::Tensor& rows) {
  const torch::Tensor t = rows.detach().to(torch::kCPU).contiguous();
  const bool scalar = shape_.empty();  // written whole, as one row
  ADVTK_CHECK(t.scalar_type() == type_ &&
                  (scalar ? t.dim() == 0 && written_ == 0
                          : t.dim() == static_cast<int64_t>(shape_.size()) &&
                                t.sizes().slice(1) == torch::IntArrayRef(shape_).slice(1) &&
                                written_ + t.size(0) <= shape_[0]),
              file_.path(), ": rows of ", t.scalar_type(), " ", t.sizes(), " do not continue a ",
              type_, " array of shape ", torch::IntArrayRef(shape_), " at row ", written_);
  file_.write(t.data_ptr(), t.numel() * t.element_size());
  written_ += scalar ? 1 : t.size(0);
}

void NpyWriter::finish() {
  const int64_t rows = shape_.empty() ? 1 : shape_[0];
  ADVTK_CHECK(written_ == rows, file_.path(), ": ", written_, " of ", rows, " rows written");
  file_.commit();
}

NpyRowReader::NpyRowReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  ADVTK_CHECK(in_.good(), path, ": cannot open file");
  in_.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in_.tellg());
  // A header is at most 12 + 4 GiB by the format, but never more than this in practice.
  std::vector<char> head(std::min<size_t>(size, 1 << 16));
  in_.seekg(0);
  in_.read(head.data(), static_cast<std::streamsize>(head.size()));
  ADVTK_CHECK(in_.good(), path, ": read failed");
  const NpyHeader h = parse_npy_header(head.data(), head.size(), size, path);
  ADVTK_CHECK(!h.shape.empty(), path, ": a .npy array without rows");
  type_ = h.dtype->type;
  shape_ = h.shape;
  in_.seekg(static_cast<std::streamoff>(h.data_offset));
}

torch::Tensor NpyRowReader::next(int64_t rows) {
  ADVTK_CHECK(rows >= 0 && read_ + rows <= shape_[0], path_, ": rows ", read_, " to ", read_ + rows,
              " asked of ", shape_[0]);
  std::vector<int64_t> sizes = shape_;
  sizes[0] = rows;
  torch::Tensor out = torch::empty(sizes, type_);
  const auto n = static_cast<std::streamsize>(out.numel() * out.element_size());
  if (n > 0) in_.read(static_cast<char*>(out.data_ptr()), n);
  ADVTK_CHECK(in_.good() || n == 0, path_, ": read failed at row ", read_);
  read_ += rows;
  return out;
}

}  // namespace advtk
