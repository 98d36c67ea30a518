#include "gpu/fuzz_entry.h"

#include <cstdlib>
#include <map>
#include <vector>

#include "gpu/access_split.h"
#include "gpu/bar_mapper.h"
#include "gpu/msi_delivery.h"
#include "gpu/pci_config_space.h"

namespace xvgpu::gpu {

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

class Bytes {
 public:
  Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  [[nodiscard]] bool empty() const { return pos_ >= n_; }
  uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{u8()} << (8 * i);
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
    for (const auto& [b, other] : live_) check(b != bar.index);
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
        if (r != MsiResult::Disabled) check(s->enabled && (cfg.command() & pci::kCmdBusMaster) != 0);
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
    if (plan.refused) continue;
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
