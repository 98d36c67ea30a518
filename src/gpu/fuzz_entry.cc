#include "gpu/fuzz_entry.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "common/temp_dir.h"
#include "gpu/access_split.h"
#include "gpu/bar_mapper.h"
#include "gpu/msi_delivery.h"
#include "gpu/pci_config_space.h"
#include "gpu/vgpu_manager.h"

namespace xvgpu::gpu {

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

class Bytes {
 public:
  Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  [[nodiscard]] bool empty() const { return pos_ >= n_; }
  uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= uint32_t{u8()} << (8 * i);
    }
    return v;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

DeviceLayout fuzz_layout() {
  DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x1111;
  l.class_code = 0x03;
  l.msi_vectors = 4;
  l.intx_pin = 1;
  l.bars = {BarLayout{0, 16u << 20, false, false, true, true, 1, 8},
            BarLayout{2, 4096, false, true, false, false, 4, 4},
            BarLayout{4, 32, true, false, false, false, 1, 4}};
  CapabilityLayout cap;
  cap.id = 0x09;
  cap.length = 8;
  cap.initial.assign(8, 0xab);
  cap.writable = {0, 0, 0xff, 0xff, 0, 0, 0, 0};
  l.capabilities.push_back(cap);
  return l;
}

// Records claims and checks they are balanced and never overlap.
class CheckingHooks : public BarMapper::Hooks {
 public:
  void map_bar(const BarLayout& bar, const BarWindow& w) override {
    check(w.last >= w.first && w.last - w.first + 1 == bar.size);
    for (const auto& [b, other] : live_) {
      check(b != bar.index);
    }
    live_[bar.index] = w;
  }
  void unmap_bar(const BarLayout& bar, const BarWindow& w) noexcept override {
    auto it = live_.find(bar.index);
    check(it != live_.end() && it->second == w);
    live_.erase(it);
  }
  [[nodiscard]] size_t live() const { return live_.size(); }

 private:
  std::map<unsigned, BarWindow> live_;
};

class CountingSink : public InterruptSink {
 public:
  void inject_msi(uint64_t, uint32_t) override { ++msis; }
  void set_intx_level(Sbdf, unsigned, bool) override {}
  unsigned msis = 0;
};

}  // namespace

void fuzz_config_space(const uint8_t* data, size_t size) {
  static const DeviceLayout layout = fuzz_layout();
  PciConfigSpace cfg(layout);
  BarMapper mapper;
  CheckingHooks hooks;
  CountingSink sink;
  Bytes in(data, size);
  const auto identity = cfg.raw_read(0, 4);
  while (!in.empty()) {
    const uint8_t op = in.u8();
    const unsigned size_sel = 1u << (op & 3);
    const unsigned access = size_sel > 4 ? 4 : size_sel;
    const unsigned offset = in.u8() & ~(access - 1);
    switch ((op >> 2) & 3) {
      case 0:
        (void)cfg.read(offset, access);
        break;
      case 1: {
        cfg.write(offset, access, in.u32());
        const unsigned before = sink.msis;
        const unsigned sent = deliver_unmasked_pending(cfg, sink);
        check(sink.msis == before + sent);
        mapper.reconcile(cfg, true, hooks);
        break;
      }
      case 2: {
        const auto s = read_msi_state(cfg);
        const unsigned before = sink.msis;
        const auto r = raise_msi(cfg, in.u8() & 7, sink);
        check(s.has_value());
        check((r == MsiResult::Delivered) == (sink.msis == before + 1));
        if (r != MsiResult::Disabled) {
          check(s->enabled && (cfg.command() & pci::kCmdBusMaster) != 0);
        }
        break;
      }
      default:
        mapper.reconcile(cfg, (op & 0x10) != 0, hooks);
        break;
    }
    check(cfg.raw_read(0, 4) == identity);
    // BAR 2 (4 KiB, 64-bit): the low 12 address bits always read back as the type bits.
    check((cfg.read(pci::kBar0 + 8, 4) & 0xfff) == 0x4);
  }
  mapper.reconcile(cfg, false, hooks);
  check(hooks.live() == 0);
}

void fuzz_bar_dispatch(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  while (!in.empty()) {
    const uint8_t sel = in.u8();
    const uint64_t region = uint64_t{16} << (sel & 7);
    const uint64_t offset = in.u32() % (region + 16);
    const unsigned access = 1u << (in.u8() & 3);
    const unsigned mn = 1u << ((sel >> 3) & 3);
    const unsigned mx = 1u << ((sel >> 5) & 3);
    const AccessPlan plan = plan_access(offset, access, region, mn, mx);
    if (plan.refused) {
      continue;
    }
    check(mn <= mx && offset + access <= region);
    uint64_t cur = offset;
    for (unsigned i = 0; i < plan.count; ++i) {
      const auto& p = plan.pieces[i];
      check(p.offset == cur && p.size >= mn && p.size <= mx && p.offset % p.size == 0);
      check(p.shift == 8 * (p.offset - offset));
      cur += p.size;
    }
    check(cur == offset + access);
  }
}

}  // namespace xvgpu::gpu

// ---------------------------------------------------------------------------------------------
// Whole-vGPU fuzzing

namespace xvgpu::gpu {

namespace {

// A device whose registers echo what was written, with 4 MSI vectors it raises on demand.
struct EchoDevice {
  xvgpu_instance* inst = nullptr;
  uint64_t regs[512] = {};
};
const xvgpu_host_api* g_fuzz_host = nullptr;
size_t g_vendor_accesses = 0;

int echo_available(void*, uint32_t, uint32_t* n) {
  *n = 1u << 20;
  return 0;
}
int echo_create(void*, xvgpu_instance* inst, const xvgpu_create_info*, void** data, xvgpu_error*) {
  auto d = std::make_unique<EchoDevice>();
  d->inst = inst;
  *data = d.release();  // owned through the C ABI until echo_destroy
  return 0;
}
int echo_destroy(void* data, xvgpu_error*) {
  std::unique_ptr<EchoDevice> owned(static_cast<EchoDevice*>(data));
  return 0;
}
int echo_start(void*, const xvgpu_domain_info*, xvgpu_error*) {
  return 0;
}
int echo_noop(void*, xvgpu_error*) {
  return 0;
}
int echo_read(void* data, const xvgpu_access* a, uint64_t* v) {
  auto* d = static_cast<EchoDevice*>(data);
  ++g_vendor_accesses;
  check(a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8);
  check(a->offset % a->size == 0);
  *v = d->regs[(a->offset / 8) % 512];
  return 0;
}
int echo_write(void* data, const xvgpu_access* a, uint64_t v) {
  auto* d = static_cast<EchoDevice*>(data);
  ++g_vendor_accesses;
  check(a->offset % a->size == 0);
  d->regs[(a->offset / 8) % 512] = v;
  if (a->offset == 0x40) {
    (void)g_fuzz_host->raise_msi(d->inst, static_cast<uint32_t>(v & 3));
  }
  return 0;
}

const xvgpu_bar_desc kFuzzBar0 = {sizeof(xvgpu_bar_desc),
                                  0,
                                  64 << 10,
                                  XVGPU_BAR_64BIT | XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT,
                                  0,
                                  0,
                                  {}};
const xvgpu_bar_desc kFuzzBar2 = {sizeof(xvgpu_bar_desc), 2, 4096, 0, 4, 8, {}};
const xvgpu_bar_desc kFuzzBar3 = {sizeof(xvgpu_bar_desc), 3, 32, XVGPU_BAR_IO, 1, 4, {}};
const xvgpu_bar_desc* const kFuzzBars[] = {&kFuzzBar0, &kFuzzBar2, &kFuzzBar3};
const xvgpu_device_layout kFuzzLayout = {sizeof(xvgpu_device_layout),
                                         0x1234,
                                         0x1111,
                                         0,
                                         0,
                                         0,
                                         3,
                                         0,
                                         0,
                                         4,
                                         1,
                                         {},
                                         3,
                                         kFuzzBars,
                                         0,
                                         nullptr,
                                         0,
                                         nullptr,
                                         0,
                                         nullptr};
const xvgpu_type_desc kFuzzType = {
    sizeof(xvgpu_type_desc), 0, "echo", "fuzz", 0, 1, 0, 0, 0, nullptr, &kFuzzLayout, 0, 0, nullptr, nullptr};
const xvgpu_type_desc* const kFuzzTypes[] = {&kFuzzType};
const xvgpu_pgpu_desc kFuzzPgpu = {sizeof(xvgpu_pgpu_desc), 0, 0, "echo0", "", 1, 0, kFuzzTypes, nullptr};
const xvgpu_device_ops kFuzzOps = {sizeof(xvgpu_device_ops),
                                   echo_available,
                                   echo_create,
                                   echo_destroy,
                                   echo_start,
                                   echo_noop,
                                   echo_noop,
                                   echo_read,
                                   echo_write,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr};
int echo_init(const xvgpu_host_api* host, xvgpu_registrar* reg, xvgpu_error* err) {
  g_fuzz_host = host;
  return host->register_pgpu(reg, &kFuzzPgpu, &kFuzzOps, nullptr, err);
}
const xvgpu_vendor kFuzzVendor = {sizeof(xvgpu_vendor),
                                  XVGPU_VENDOR_ABI_MAJOR,
                                  XVGPU_VENDOR_ABI_MINOR,
                                  0,
                                  "fuzz-echo",
                                  "1",
                                  echo_init,
                                  nullptr};
const xvgpu_vendor* fuzz_entry_point() {
  return &kFuzzVendor;
}

class FuzzMemory : public GuestMemory {
 public:
  void read(uint64_t gpa, std::span<std::byte> out) override {
    if (gpa >= ram_.size() || out.size() > ram_.size() - gpa) {
      throw GuestMemoryError(gpa, "outside RAM");
    }
    std::copy_n(ram_.begin() + static_cast<std::ptrdiff_t>(gpa), out.size(), out.begin());
  }
  void write(uint64_t gpa, std::span<const std::byte> in) override {
    if (gpa >= ram_.size() || in.size() > ram_.size() - gpa) {
      throw GuestMemoryError(gpa, "outside RAM");
    }
    std::copy(in.begin(), in.end(), ram_.begin() + static_cast<std::ptrdiff_t>(gpa));
  }
  std::unique_ptr<GuestMapping> map(uint64_t gpa, uint64_t, bool) override {
    throw GuestMemoryError(gpa, "no maps");
  }

 private:
  std::vector<std::byte> ram_ = std::vector<std::byte>(1 << 16);
};

class FuzzClaims : public RangeClaims {
 public:
  void claim_pci(Sbdf s) override { check(pci_.insert(s).second); }
  void release_pci(Sbdf s) override { check(pci_.erase(s) == 1); }
  void claim_range(IoSpace space, uint64_t first, uint64_t last) override {
    check(first <= last);
    if (space == IoSpace::Port) {
      check(last <= 0xffff);
    }
    for (const auto& [sp, f, l] : ranges_) {
      check(sp != space || last < f || l < first);
    }
    ranges_.insert({space, first, last});
  }
  void release_range(IoSpace space, uint64_t first, uint64_t last) override {
    check(ranges_.erase({space, first, last}) == 1);
  }
  [[nodiscard]] bool empty() const { return pci_.empty() && ranges_.empty(); }

 private:
  std::set<Sbdf> pci_;
  std::set<std::tuple<IoSpace, uint64_t, uint64_t>> ranges_;
};

class FuzzRegion : public DirectRegion {
 public:
  explicit FuzzRegion(uint64_t size) : mem_(size) {}
  std::span<std::byte> host() override { return mem_; }
  void place(uint64_t gpa) override { check(gpa % kPageSize == 0 && gpa % mem_.size() == 0); }
  void unplace() override {}
  void collect_dirty(std::vector<uint64_t>& bitmap) override { bitmap.assign(1, ~uint64_t{0}); }

 private:
  std::vector<std::byte> mem_;
};

class FuzzDirect : public DirectMemory {
 public:
  std::unique_ptr<DirectRegion> allocate(uint64_t size) override {
    return std::make_unique<FuzzRegion>(size);
  }
};

// Made once per fuzzer process, removed at its exit.
std::filesystem::path fuzz_state_dir() {
  static const TempDir dir("xvgpu-fuzz-");
  return dir.path();
}

}  // namespace

size_t fuzz_vgpu_io(const uint8_t* data, size_t size) {
  g_vendor_accesses = 0;
  static const int registered = xvgpu_register_builtin_vendor(fuzz_entry_point);
  (void)registered;
  FuzzMemory memory;
  CountingSink sink;
  FuzzClaims claims;
  FuzzDirect direct;
  Platform platform{Domid{7}, &memory, &sink, &claims, &direct};
  const Sbdf slot{0, 0, 4, 0};
  {
    VgpuManager m(ManagerOptions{fuzz_state_dir()});
    m.load_builtin_vendors();
    VgpuConfig c;
    c.uuid = "f0220000-0000-4000-8000-000000000000";
    c.type = "fuzz-echo/echo";
    c.sbdf = slot;
    auto v = m.create_vgpu(c, platform);
    v->start();
    IoHandler& bus = m.bus(Domid{7});
    Bytes in(data, size);
    while (!in.empty()) {
      const uint8_t op = in.u8();
      const auto sz = static_cast<uint8_t>(1u << (op & 3));
      IoAccess a;
      a.size = sz;
      a.vcpu = VcpuId{static_cast<uint32_t>(op >> 6)};
      switch ((op >> 2) & 7) {
        case 0:  // config read
          a.space = AddressSpace::PciConfig;
          a.sbdf = slot;
          a.addr = in.u8();
          (void)bus.read(a);
          break;
        case 1:  // config write (also to other functions)
          a.space = AddressSpace::PciConfig;
          a.sbdf = (op & 0x20) != 0 ? Sbdf{0, 0, 5, 0} : slot;
          a.addr = in.u8();
          bus.write(a, in.u32());
          break;
        case 2:
        case 3: {  // MMIO read/write near where BARs usually live, or anywhere
          a.space = AddressSpace::Mmio;
          a.addr = (op & 0x20) != 0 ? uint64_t{in.u32()} << 12 | in.u8() : 0xfe000000u + (in.u32() & 0xfffff);
          if (((op >> 2) & 7) == 2) {
            (void)bus.read(a);
          } else {
            bus.write(a, uint64_t{in.u32()} << 32 | in.u32());
          }
          break;
        }
        case 4:  // port access
          a.space = AddressSpace::Port;
          a.size = static_cast<uint8_t>(sz > 4 ? 4 : sz);
          a.addr = in.u32() & 0xffff;
          if ((op & 0x20) != 0) {
            bus.write(a, in.u32());
          } else {
            (void)bus.read(a);
          }
          break;
        case 5:
          (void)v->svc_raise_msi(in.u8() & 7);
          break;
        case 6:
          if ((op & 0x20) != 0) {
            v->reset();
          } else {
            v->stop();
            v->start();
          }
          break;
        default: {  // garbage sizes and spaces
          a.space = static_cast<AddressSpace>(in.u8() % 4);
          a.size = in.u8();
          a.addr = uint64_t{in.u32()} << 32 | in.u32();
          (void)bus.read(a);
          bus.write(a, 0);
          break;
        }
      }
    }
    m.destroy_vgpu(c.uuid);
  }
  check(claims.empty());
  return g_vendor_accesses;
}

}  // namespace xvgpu::gpu
