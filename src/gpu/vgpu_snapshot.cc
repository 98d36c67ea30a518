// Save/restore of a vGPU: the core's part (config space, INTx level, contents of direct BARs)
// and the vendor's opaque state, in one self-describing stream.
//
// Layout (little-endian): "XVGPUSV1", u32 format, str vendor, str type, 256 config bytes,
// u8 intx level, u32 direct BAR count, {u32 bar, u64 size, bytes}*, u64 vendor length, vendor
// bytes. Strings are u32 length + bytes. Restore checks every length against what this vGPU
// is before using it: a snapshot of another vendor/type or a truncated one is refused.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "gpu/vgpu.h"

namespace xvgpu::gpu {

namespace {

constexpr char kMagic[8] = {'X', 'V', 'G', 'P', 'U', 'S', 'V', '1'};
constexpr uint32_t kFormat = 1;
constexpr uint64_t kMaxVendorState = uint64_t{1} << 30;

class Writer {
 public:
  explicit Writer(std::ostream& out) : out_(out) {}
  void bytes(const void* p, size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!out_) {
      throw Error("writing vGPU snapshot failed");
    }
  }
  template <typename T>
  void num(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    num(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }

 private:
  std::ostream& out_;
};

class Reader {
 public:
  explicit Reader(std::istream& in) : in_(in) {}
  void bytes(void* p, size_t n) {
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (static_cast<size_t>(in_.gcount()) != n) {
      throw Error("vGPU snapshot is truncated");
    }
  }
  template <typename T>
  T num() {
    T v{};
    bytes(&v, sizeof v);
    return v;
  }
  // n bytes, taken in bounded pieces: a length field claiming more than the stream holds fails
  // as truncated after reading what is there, not after allocating what it claims.
  std::vector<uint8_t> blob(uint64_t n) {
    constexpr uint64_t kPiece = uint64_t{1} << 20;
    std::vector<uint8_t> out;
    while (out.size() < n) {
      const size_t at = out.size();
      const size_t piece = std::min(kPiece, n - at);
      out.resize(at + piece);
      bytes(out.data() + at, piece);
    }
    return out;
  }
  std::string str() {
    const auto n = num<uint32_t>();
    if (n > 4096) {
      throw Error("vGPU snapshot is corrupt (string too long)");
    }
    std::string s(n, '\0');
    bytes(s.data(), n);
    return s;
  }

 private:
  std::istream& in_;
};

struct VecStream {
  std::vector<uint8_t>* buf;
  size_t pos = 0;
};

int vec_write(void* ctx, const void* data, size_t len) {
  auto* s = static_cast<VecStream*>(ctx);
  if (data == nullptr && len != 0) {
    return -EINVAL;
  }
  if (s->buf->size() + len > kMaxVendorState) {
    return -EFBIG;
  }
  const auto* p = static_cast<const uint8_t*>(data);
  s->buf->insert(s->buf->end(), p, p + len);
  return 0;
}

int64_t vec_read(void* ctx, void* data, size_t len) {
  auto* s = static_cast<VecStream*>(ctx);
  if (data == nullptr && len != 0) {
    return -EINVAL;
  }
  const size_t n = std::min(len, s->buf->size() - s->pos);
  if (n != 0) {  // an empty state has no buffer: memcpy from null is undefined even for 0 bytes
    std::memcpy(data, s->buf->data() + s->pos, n);
  }
  s->pos += n;
  return static_cast<int64_t>(n);
}

}  // namespace

void Vgpu::save(std::ostream& out) {
  std::lock_guard lock(mu_);
  (void)transition(VgpuOp::Save);
  const auto& ops = pgpu_.ops();
  if (ops.save_state == nullptr || ops.restore_state == nullptr) {
    throw Error(fmt::format("vendor {} does not support save/restore", pgpu_.info().vendor));
  }
  worker_->drain();
  std::vector<uint8_t> vendor_state;
  VecStream vs{&vendor_state};
  const xvgpu_stream stream{&vs, vec_write, vec_read};
  xvgpu_error err{};
  const int rc = ops.save_state(vendor_data_, &stream, &err);
  if (rc < 0) {
    throw_vendor_error("save", rc, err);
  }

  Writer w(out);
  w.bytes(kMagic, sizeof kMagic);
  w.num(kFormat);
  w.str(pgpu_.info().vendor);
  w.str(type_.name);
  std::array<uint8_t, pci::kConfigSize> cfg{};
  uint8_t intx = 0;
  {
    std::lock_guard hw(hw_mu_);
    cfg = cfg_.bytes();
    intx = intx_level_ ? 1 : 0;
  }
  w.bytes(cfg.data(), cfg.size());
  w.num(intx);
  w.num(static_cast<uint32_t>(direct_.size()));
  for (auto& [index, bar] : direct_) {
    const auto mem = bar.host();
    w.num(static_cast<uint32_t>(index));
    w.num<uint64_t>(mem.size());
    w.bytes(mem.data(), mem.size());
  }
  w.num<uint64_t>(vendor_state.size());
  w.bytes(vendor_state.data(), vendor_state.size());
}

void Vgpu::restore(std::istream& in) {
  std::lock_guard lock(mu_);
  (void)transition(VgpuOp::Restore);
  const auto& ops = pgpu_.ops();
  if (ops.save_state == nullptr || ops.restore_state == nullptr) {
    throw Error(fmt::format("vendor {} does not support save/restore", pgpu_.info().vendor));
  }
  worker_->drain();
  Reader r(in);
  char magic[sizeof kMagic] = {};
  r.bytes(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    throw Error("not a vGPU snapshot");
  }
  const auto format = r.num<uint32_t>();
  if (format != kFormat) {
    throw Error(fmt::format("vGPU snapshot format {} is not supported (want {})", format, kFormat));
  }
  const std::string vendor = r.str();
  const std::string type = r.str();
  if (vendor != pgpu_.info().vendor || type != type_.name) {
    throw Error(fmt::format("snapshot of a {}/{} vGPU cannot be restored into {} ({}/{})", vendor, type,
                            uuid_, pgpu_.info().vendor, type_.name));
  }
  std::array<uint8_t, pci::kConfigSize> cfg{};
  r.bytes(cfg.data(), cfg.size());
  const auto intx = r.num<uint8_t>();
  const auto n_direct = r.num<uint32_t>();
  if (n_direct != direct_.size()) {
    throw Error("vGPU snapshot has a different set of direct BARs");
  }
  // Read into scratch first so a truncated snapshot leaves VRAM untouched.
  std::vector<std::pair<unsigned, std::vector<std::byte>>> contents;
  for (uint32_t i = 0; i < n_direct; ++i) {
    const auto index = r.num<uint32_t>();
    const auto size = r.num<uint64_t>();
    auto it = direct_.find(index);
    if (it == direct_.end() || it->second.host().size() != size) {
      throw Error("vGPU snapshot direct BAR mismatch");
    }
    std::vector<std::byte> bytes(size);
    r.bytes(bytes.data(), bytes.size());
    contents.emplace_back(index, std::move(bytes));
  }
  const auto vendor_len = r.num<uint64_t>();
  if (vendor_len > kMaxVendorState) {
    throw Error("vGPU snapshot is corrupt (vendor state too large)");
  }
  std::vector<uint8_t> vendor_state = r.blob(vendor_len);

  VecStream vs{&vendor_state};
  const xvgpu_stream stream{&vs, vec_write, vec_read};
  xvgpu_error err{};
  const int rc = ops.restore_state(vendor_data_, &stream, &err);
  if (rc < 0) {
    throw_vendor_error("restore", rc, err);
  }
  for (auto& [index, bytes] : contents) {
    auto mem = direct_.at(index).host();
    std::memcpy(mem.data(), bytes.data(), bytes.size());
  }
  std::lock_guard hw(hw_mu_);
  cfg_.load_bytes(cfg);
  intx_level_ = intx != 0;
  update_intx_locked();
  reconcile_locked();
}

}  // namespace xvgpu::gpu
