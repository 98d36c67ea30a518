// Save/restore of a vGPU: the core's part (config space, INTx level, contents of direct BARs)
// and the vendor's opaque state, in one self-describing stream.
//
// Layout (little-endian): "XVGPUSV1", u32 format, str vendor, str type, 256 config bytes,
// u8 intx level, u32 direct BAR count, {u32 bar, u64 size, u8 where, bytes if where is 0}*,
// u64 vendor length, vendor bytes, u32 CRC-32 of everything before it. Strings are u32 length +
// bytes. `where` 1: the BAR's contents are pages of the guest's memory, which the hypervisor's
// toolstack saves with the guest (see DirectMemory::saved_with_guest_memory), and the vendor
// reports its own writes to them (ABI 1.3), so they are not stored twice. Format 2 is format 3
// with every BAR's contents stored and no `where`; format 1 snapshots are refused (no xvgpu
// release wrote them outside tests). Restore checks every length against what this vGPU is,
// and the CRC, before applying anything: a snapshot of another format, vendor or type, a
// truncated or a corrupted one is refused with the reason, and the vGPU is left as it was.
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "gpu/vgpu.h"

namespace xvgpu::gpu {

namespace {

constexpr char kMagic[8] = {'X', 'V', 'G', 'P', 'U', 'S', 'V', '1'};
constexpr uint32_t kFormat = 3;
constexpr uint32_t kOldestFormat = 2;
constexpr uint8_t kContentsStored = 0;
constexpr uint8_t kContentsInGuestMemory = 1;
constexpr uint64_t kMaxVendorState = uint64_t{1} << 30;

// CRC-32 (zlib's) of a byte range, continuing from `crc`.
uint32_t crc_of(uint32_t crc, const void* p, size_t n) {
  const auto* b = static_cast<const Bytef*>(p);
  while (n > 0) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(n, 1U << 30));
    crc = static_cast<uint32_t>(crc32(crc, b, chunk));
    b += chunk;
    n -= chunk;
  }
  return crc;
}

class Writer {
 public:
  explicit Writer(std::ostream& out) : out_(out) {}
  void bytes(const void* p, size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!out_) {
      throw Error("writing vGPU snapshot failed");
    }
    crc_ = crc_of(crc_, p, n);
  }
  // The CRC of everything written so far, then itself (not covered).
  void trailer() {
    const uint32_t crc = crc_;
    bytes(&crc, sizeof crc);
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
  uint32_t crc_ = 0;
};

// Reads fields, naming the one that is cut short, and keeps the CRC of what it read.
class Reader {
 public:
  explicit Reader(std::istream& in) : in_(in) {}
  void bytes(void* p, size_t n, const char* what) {
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    const auto got = static_cast<size_t>(in_.gcount());
    offset_ += got;
    if (got != n) {
      throw Error(fmt::format("vGPU snapshot is truncated: {} ends at byte {} ({} of {} bytes)", what,
                              offset_, got, n));
    }
    crc_ = crc_of(crc_, p, n);
  }
  template <typename T>
  T num(const char* what) {
    T v{};
    bytes(&v, sizeof v, what);
    return v;
  }
  // n bytes, taken in bounded pieces: a length field claiming more than the stream holds fails
  // as truncated after reading what is there, not after allocating what it claims.
  std::vector<uint8_t> blob(uint64_t n, const char* what) {
    constexpr uint64_t kPiece = uint64_t{1} << 20;
    std::vector<uint8_t> out;
    while (out.size() < n) {
      const size_t at = out.size();
      const size_t piece = std::min(kPiece, n - at);
      out.resize(at + piece);
      bytes(out.data() + at, piece, what);
    }
    return out;
  }
  std::string str(const char* what) {
    const auto n = num<uint32_t>(what);
    if (n > 4096) {
      throw Error(fmt::format("vGPU snapshot is corrupt: {} of {} bytes", what, n));
    }
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  // Reads the trailer and compares it with the CRC of everything before it.
  void check_trailer() {
    const uint32_t computed = crc_;
    const auto stored = num<uint32_t>("the checksum");
    if (stored != computed) {
      throw Error(fmt::format("vGPU snapshot is corrupt: checksum {:08x}, its contents give {:08x}", stored,
                              computed));
    }
  }

 private:
  std::istream& in_;
  uint64_t offset_ = 0;
  uint32_t crc_ = 0;
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

bool Vgpu::direct_contents_saved_with_guest(const DirectBar& bar) const {
  return bar.region != nullptr && platform_.direct_memory != nullptr &&
         platform_.direct_memory->saved_with_guest_memory();
}

// A plugin older than ABI 1.3 does not report its own writes: its BARs' contents are stored in
// the snapshot, since the guest's memory image may miss what it wrote during a live migration.
bool Vgpu::direct_contents_left_to_guest(const DirectBar& bar) const {
  return pgpu_.vendor().abi_minor() >= 3 && direct_contents_saved_with_guest(bar);
}

size_t Vgpu::snapshot_size_hint() const {
  constexpr size_t kHeaderAndVendorState = size_t{64} << 10;
  size_t n = kHeaderAndVendorState;
  for (const auto& [index, bar] : direct_) {
    if (!direct_contents_left_to_guest(bar)) {
      n += bar.region ? bar.region->host().size() : bar.fallback.size();
    }
  }
  return n;
}

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
    if (direct_contents_left_to_guest(bar)) {
      w.num(kContentsInGuestMemory);
    } else {
      w.num(kContentsStored);
      w.bytes(mem.data(), mem.size());
    }
  }
  w.num<uint64_t>(vendor_state.size());
  w.bytes(vendor_state.data(), vendor_state.size());
  w.trailer();
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
  r.bytes(magic, sizeof magic, "the magic");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    throw Error("not a vGPU snapshot (no XVGPUSV1 magic)");
  }
  const auto format = r.num<uint32_t>("the format");
  if (format < kOldestFormat || format > kFormat) {
    throw Error(fmt::format("vGPU snapshot format {} is not supported (this xvgpu reads formats {} to {})",
                            format, kOldestFormat, kFormat));
  }
  const std::string vendor = r.str("the vendor name");
  const std::string type = r.str("the type name");
  if (vendor != pgpu_.info().vendor || type != type_.name) {
    throw Error(fmt::format("snapshot of a {}/{} vGPU cannot be restored into {} ({}/{})", vendor, type,
                            uuid_, pgpu_.info().vendor, type_.name));
  }
  std::array<uint8_t, pci::kConfigSize> cfg{};
  r.bytes(cfg.data(), cfg.size(), "the config space");
  const auto intx = r.num<uint8_t>("the INTx level");
  if (intx > 1) {
    throw Error(fmt::format("vGPU snapshot is corrupt: INTx level {}", intx));
  }
  const auto n_direct = r.num<uint32_t>("the direct BAR count");
  if (n_direct != direct_.size()) {
    throw Error(fmt::format("vGPU snapshot has {} direct BARs, this vGPU {}", n_direct, direct_.size()));
  }
  // Read into scratch first so a truncated snapshot leaves VRAM untouched.
  std::vector<std::pair<unsigned, std::vector<std::byte>>> contents;
  for (uint32_t i = 0; i < n_direct; ++i) {
    const auto index = r.num<uint32_t>("a direct BAR's index");
    const auto size = r.num<uint64_t>("a direct BAR's size");
    auto it = direct_.find(index);
    if (it == direct_.end() || it->second.host().size() != size) {
      throw Error(
          fmt::format("vGPU snapshot has a direct BAR {} of {} bytes, which this vGPU has not", index, size));
    }
    const auto where = format >= 3 ? r.num<uint8_t>("where a direct BAR's contents are") : kContentsStored;
    if (where == kContentsInGuestMemory) {
      if (!direct_contents_saved_with_guest(it->second)) {
        throw Error(
            fmt::format("vGPU snapshot leaves direct BAR {}'s contents to the guest's saved memory, "
                        "but this vGPU's BAR {} is not in the guest's memory",
                        index, index));
      }
      continue;  // the restored guest's pages hold them
    }
    if (where != kContentsStored) {
      throw Error(fmt::format("vGPU snapshot is corrupt: direct BAR {} contents marker {}", index, where));
    }
    std::vector<std::byte> bytes(size);
    r.bytes(bytes.data(), bytes.size(), "a direct BAR's contents");
    contents.emplace_back(index, std::move(bytes));
  }
  const auto vendor_len = r.num<uint64_t>("the vendor state's length");
  if (vendor_len > kMaxVendorState) {
    throw Error(fmt::format("vGPU snapshot is corrupt: vendor state of {} bytes", vendor_len));
  }
  std::vector<uint8_t> vendor_state = r.blob(vendor_len, "the vendor state");
  r.check_trailer();

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
  xvgpu_irq_state irq{};
  {
    std::lock_guard hw(hw_mu_);
    cfg_.load_bytes(cfg);
    intx_level_ = intx != 0;
    update_intx_locked();
    reconcile_locked();
    irq = irq_state_locked();
  }
  // The vendor learns the restored MSI/INTx set-up as when the guest programs it (reset() does
  // the same): without it, simgpu would go on with INTx although the guest enabled MSI.
  if (ops.irq_changed != nullptr) {
    ops.irq_changed(vendor_data_, &irq);
  }
}

}  // namespace xvgpu::gpu
