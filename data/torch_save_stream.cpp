#include "data/torch_save_stream.h"

#include <zlib.h>

#include "core/error.h"

namespace advtk {
namespace {

constexpr uint32_t kLocalSignature = 0x04034b50, kCentralSignature = 0x02014b50,
                   kEndSignature = 0x06054b50, kZip64EndSignature = 0x06064b50,
                   kZip64LocatorSignature = 0x07064b50;
constexpr uint64_t kLocalSize = 30;
constexpr uint16_t kDosDate = (1 << 5) | 1;  // 1980-01-01, the format's first day
constexpr uint64_t kAlignment = 64;          // as PyTorch aligns record data
const std::string kFolder = "archive/";

struct Bytes {
  std::string b;
  void u16(uint64_t v) {
    for (int i = 0; i < 2; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u32(uint64_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
};

const char* storage_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "FloatStorage";
    case torch::kDouble:
      return "DoubleStorage";
    case torch::kHalf:
      return "HalfStorage";
    case torch::kBFloat16:
      return "BFloat16Storage";
    case torch::kLong:
      return "LongStorage";
    case torch::kInt:
      return "IntStorage";
    case torch::kShort:
      return "ShortStorage";
    case torch::kChar:
      return "CharStorage";
    case torch::kByte:
      return "ByteStorage";
    case torch::kBool:
      return "BoolStorage";
    default:
      return nullptr;
  }
}

// Protocol-2 pickle opcodes, written without the memo (a valid pickle; torch.save memoises).
struct Pickle {
  std::string& p;
  void text(const std::string& s) {
    Bytes n;
    n.u32(s.size());
    p += 'X' + n.b + s;  // BINUNICODE
  }
  void global(const std::string& module, const std::string& name) {
    p += 'c' + module + '\n' + name + '\n';
  }
  void integer(int64_t v) {
    Bytes n;
    if (v >= 0 && v < 256) {
      n.b.push_back(static_cast<char>(v));
      p += 'K' + n.b;  // BININT1
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      n.u32(static_cast<uint32_t>(v));
      p += 'J' + n.b;  // BININT
    } else {
      n.u64(static_cast<uint64_t>(v));
      p += std::string("\x8a\x08", 2) + n.b;  // LONG1, 8 bytes two's complement
    }
  }
  void tuple(const std::vector<int64_t>& v) {
    p += '(';  // MARK
    for (int64_t x : v) integer(x);
    p += 't';  // TUPLE
  }
};

}  // namespace

TorchSaveStream::TorchSaveStream(const std::string& path, uint64_t zip64_from)
    : file_(path), zip64_from_(zip64_from) {}

void TorchSaveStream::start_record(const std::string& name, uint64_t size) {
  Entry e;
  e.name = kFolder + name;
  e.header_offset = file_.size();
  e.size = size;
  const bool zip64 = size >= zip64_from_;
  Bytes h;
  h.u32(kLocalSignature);
  h.u16(zip64 ? 45 : 20);  // version needed: 4.5 for ZIP64
  h.u16(0);                // flags
  h.u16(0);                // stored
  h.u16(0);
  h.u16(kDosDate);
  h.u32(0);  // CRC-32, written once the data is
  h.u32(zip64 ? 0xFFFFFFFF : size);
  h.u32(zip64 ? 0xFFFFFFFF : size);
  Bytes extra;
  if (zip64) {
    extra.u16(1);
    extra.u16(16);
    extra.u64(size);
    extra.u64(size);
  }
  const uint64_t unpadded = e.header_offset + kLocalSize + e.name.size() + extra.b.size() + 4;
  const uint64_t pad = (kAlignment - unpadded % kAlignment) % kAlignment;
  extra.u16(0x4246);  // "FB": padding, as PyTorch's writer pads
  extra.u16(pad);
  extra.b.append(pad, 'Z');
  h.u16(e.name.size());
  h.u16(extra.b.size());
  h.b += e.name + extra.b;
  file_.write(h.b.data(), h.b.size());
  e.data_offset = file_.size();
  e.crc = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
  records_.push_back(e);
}

void TorchSaveStream::end_record() {
  Entry& e = records_.back();
  ADVTK_CHECK(e.written == e.size, file_.path(), ": ", e.name, " holds ", e.written, " of its ",
              e.size, " bytes");
  Bytes crc;
  crc.u32(e.crc);
  file_.overwrite(e.header_offset + 14, crc.b.data(), 4);
}

void TorchSaveStream::record(const std::string& name, const std::string& bytes) {
  start_record(name, bytes.size());
  Entry& e = records_.back();
  file_.write(bytes.data(), bytes.size());
  e.crc = static_cast<uint32_t>(
      crc32(e.crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  e.written = bytes.size();
  end_record();
}

void TorchSaveStream::begin_tensor(const std::string& name, torch::ScalarType type,
                                   std::vector<int64_t> shape) {
  close_tensor();
  const char* storage = storage_type(type);
  ADVTK_CHECK(storage != nullptr, file_.path(), ": cannot write a ", type, " tensor");
  int64_t numel = 1;
  for (int64_t s : shape) {
    ADVTK_CHECK(s >= 0, file_.path(), ": negative size in ", torch::IntArrayRef(shape));
    numel *= s;
  }
  const std::string key = std::to_string(tensors_++);
  // The dict item: name -> _rebuild_tensor_v2(storage, 0, sizes, strides, False, OrderedDict()).
  Pickle p{pickle_};
  p.text(name);
  p.global("torch._utils", "_rebuild_tensor_v2");
  pickle_ += "((";
  p.text("storage");
  p.global("torch", storage);
  p.text(key);
  p.text("cpu");
  p.integer(numel);
  pickle_ += "tQ";  // TUPLE, BINPERSID
  p.integer(0);
  p.tuple(shape);
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * std::max<int64_t>(shape[i + 1], 1);
  p.tuple(strides);
  pickle_ += '\x89';  // NEWFALSE: requires_grad
  p.global("collections", "OrderedDict");
  pickle_ += ")Rt";  // EMPTY_TUPLE, REDUCE (the hooks), TUPLE (the arguments)
  pickle_ += 'R';    // REDUCE

  start_record("data/" + key, static_cast<uint64_t>(numel) * c10::elementSize(type));
  in_tensor_ = true;
  type_ = type;
  shape_ = std::move(shape);
  rows_ = 0;
}

void TorchSaveStream::append(const torch::Tensor& rows) {
  ADVTK_CHECK(in_tensor_, file_.path(), ": rows appended with no tensor begun");
  const torch::Tensor t = rows.detach().to(torch::kCPU).contiguous();
  const bool scalar = shape_.empty();
  ADVTK_CHECK(t.scalar_type() == type_ &&
                  (scalar ? t.dim() == 0 && rows_ == 0
                          : t.dim() == static_cast<int64_t>(shape_.size()) &&
                                t.sizes().slice(1) == torch::IntArrayRef(shape_).slice(1) &&
                                rows_ + t.size(0) <= shape_[0]),
              file_.path(), ": rows of ", t.scalar_type(), " ", t.sizes(), " do not continue a ",
              type_, " tensor of shape ", torch::IntArrayRef(shape_), " at row ", rows_);
  Entry& e = records_.back();
  const auto* data = static_cast<const char*>(t.data_ptr());
  const uint64_t n = static_cast<uint64_t>(t.numel()) * t.element_size();
  file_.write(data, n);
  for (uint64_t done = 0; done < n;) {  // zlib takes 32-bit lengths
    const auto chunk = static_cast<uInt>(std::min<uint64_t>(n - done, 1u << 30));
    e.crc = static_cast<uint32_t>(crc32(e.crc, reinterpret_cast<const Bytef*>(data + done), chunk));
    done += chunk;
  }
  e.written += n;
  rows_ += scalar ? 1 : t.size(0);
}

void TorchSaveStream::close_tensor() {
  if (!in_tensor_) return;
  in_tensor_ = false;
  const int64_t expected = shape_.empty() ? 1 : shape_[0];
  ADVTK_CHECK(rows_ == expected, file_.path(), ": ", rows_, " of ", expected, " rows written");
  end_record();
}

void TorchSaveStream::put(const std::string& name, const torch::Tensor& tensor) {
  begin_tensor(name, tensor.scalar_type(), tensor.sizes().vec());
  append(tensor);
  close_tensor();
}

void TorchSaveStream::put(const std::string& name, const std::string& text) {
  close_tensor();
  Pickle p{pickle_};
  p.text(name);
  p.text(text);
}

void TorchSaveStream::finish() {
  close_tensor();
  record("data.pkl", std::string("\x80\x02}(", 4) + pickle_ + "u.");  // PROTO 2 ... SETITEMS STOP
  record("version", "3\n");

  const uint64_t directory_offset = file_.size();
  for (const Entry& e : records_) {
    const bool big = e.size >= zip64_from_, far = e.header_offset >= zip64_from_;
    Bytes extra;
    if (big || far) {
      extra.u16(1);
      extra.u16((big ? 16 : 0) + (far ? 8 : 0));
      if (big) {
        extra.u64(e.size);
        extra.u64(e.size);
      }
      if (far) extra.u64(e.header_offset);
    }
    Bytes c;
    c.u32(kCentralSignature);
    c.u16(45);  // made by: 4.5
    c.u16(big || far ? 45 : 20);
    c.u16(0);
    c.u16(0);
    c.u16(0);
    c.u16(kDosDate);
    c.u32(e.crc);
    c.u32(big ? 0xFFFFFFFF : e.size);
    c.u32(big ? 0xFFFFFFFF : e.size);
    c.u16(e.name.size());
    c.u16(extra.b.size());
    c.u16(0);  // comment
    c.u16(0);  // disk
    c.u16(0);  // internal attributes
    c.u32(0);  // external attributes
    c.u32(far ? 0xFFFFFFFF : e.header_offset);
    c.b += e.name + extra.b;
    file_.write(c.b.data(), c.b.size());
  }
  const uint64_t directory_size = file_.size() - directory_offset;
  const uint64_t entries = records_.size();
  const bool zip64 =
      entries >= 0xFFFF || directory_size >= zip64_from_ || directory_offset >= zip64_from_;
  Bytes end;
  if (zip64) {
    const uint64_t at = file_.size();
    end.u32(kZip64EndSignature);
    end.u64(44);  // the record's size after this field
    end.u16(45);
    end.u16(45);
    end.u32(0);
    end.u32(0);
    end.u64(entries);
    end.u64(entries);
    end.u64(directory_size);
    end.u64(directory_offset);
    end.u32(kZip64LocatorSignature);
    end.u32(0);
    end.u64(at);
    end.u32(1);
  }
  end.u32(kEndSignature);
  end.u16(0);
  end.u16(0);
  end.u16(zip64 ? 0xFFFF : entries);
  end.u16(zip64 ? 0xFFFF : entries);
  end.u32(zip64 ? 0xFFFFFFFF : directory_size);
  end.u32(zip64 ? 0xFFFFFFFF : directory_offset);
  end.u16(0);
  file_.write(end.b.data(), end.b.size());
  file_.commit();
}

}  // namespace advtk
