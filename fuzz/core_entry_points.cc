#include "core_entry_points.h"

#include <map>

#include "echo_vendor.h"
#include "fuzz_input.h"
#include "gpu/access_split.h"
#include "gpu/bar_mapper.h"
#include "gpu/msi_delivery.h"
#include "gpu/pci_config_space.h"
#include "resettable_vgpu.h"
#include "support/fake_platform.h"

namespace xvgpu::fuzz {

using namespace xvgpu::gpu;

namespace {

void check(bool ok) {
  if (!ok) violation("core invariant (see the stack)");
}

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

// A direct BAR sits naturally aligned, like every BAR.
void check_direct_placement(const test::FakeDirectMemory& direct) {
  for (auto* r : direct.regions()) {
    const auto at = r->placed();
    if (at && *at % r->host().size() != 0) violation("direct BAR placed unaligned");
  }
}

}  // namespace

void fuzz_config_space(const uint8_t* data, size_t size) {
  static const DeviceLayout layout = fuzz_layout();
  PciConfigSpace cfg(layout, 0x8000);  // with a 32 KiB expansion ROM BAR
  BarMapper mapper;
  CheckingHooks hooks;
  test::FakeInterruptSink sink;
  FuzzInput in(data, size);
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
        const size_t before = sink.msi_count();
        const unsigned sent = deliver_unmasked_pending(cfg, sink);
        check(sink.msi_count() == before + sent);
        mapper.reconcile(cfg, true, hooks);
        break;
      }
      case 2: {
        const auto s = read_msi_state(cfg);
        const size_t before = sink.msi_count();
        const auto r = raise_msi(cfg, in.u8() & 7, sink);
        check(s.has_value());
        check((r == MsiResult::Delivered) == (sink.msi_count() == before + 1));
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
    // The ROM BAR: address bits below 32 KiB and the reserved bits 10..1 always read 0.
    check((cfg.read(pci::kRomBar, 4) & 0x7ffe) == 0);
  }
  mapper.reconcile(cfg, false, hooks);
  check(hooks.live() == 0);
}

void fuzz_bar_dispatch(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
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

size_t fuzz_vgpu_io(const uint8_t* data, size_t size) {
  const Sbdf slot{0, 0, 4, 0};
  static ResettableVgpu device("fuzz-echo/echo", Domid{7}, slot, "f0220000-0000-4000-8000-000000000000",
                               uint64_t{1} << 16, true);
  device.power_cycle();
  (void)take_echo_accesses();
  {
    gpu::Vgpu* v = &device.vgpu();
    IoHandler& bus = device.bus();
    FuzzInput in(data, size);
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
      check_direct_placement(device.platform().direct);
    }
  }
  if (device.platform().claims.violations() != 0) violation("unbalanced or overlapping claims");
  return take_echo_accesses();
}

}  // namespace xvgpu::fuzz
