#include "gpu/msi_delivery.h"

#include <algorithm>

namespace xvgpu::gpu {

std::optional<MsiState> read_msi_state(const PciConfigSpace& cfg) {
  const auto& placement = cfg.placement();
  if (!placement.msi) {
    return std::nullopt;
  }
  const unsigned m = *placement.msi;
  const auto ctrl = static_cast<uint16_t>(cfg.raw_read(m + pci::kMsiControl, 2));
  MsiState s;
  s.enabled = (ctrl & pci::kMsiCtrlEnable) != 0;
  const unsigned mmc = (ctrl >> 1) & 7u;
  const unsigned mme = (ctrl >> 4) & 7u;
  s.vectors_enabled = 1u << std::min(mmc, mme);
  s.address = uint64_t{cfg.raw_read(m + pci::kMsiAddrLo, 4)} | uint64_t{cfg.raw_read(m + pci::kMsiAddrHi, 4)}
                                                                   << 32;
  s.data = static_cast<uint16_t>(cfg.raw_read(m + pci::kMsiData, 2));
  s.mask = cfg.raw_read(m + pci::kMsiMask, 4);
  s.pending = cfg.raw_read(m + pci::kMsiPending, 4);
  return s;
}

namespace {
bool can_send(const PciConfigSpace& cfg, const MsiState& s) {
  return s.enabled && (cfg.command() & pci::kCmdBusMaster) != 0;
}

void send(const MsiState& s, uint32_t vector, InterruptSink& sink) {
  const uint32_t low = s.vectors_enabled - 1;
  const uint32_t data = (uint32_t{s.data} & ~low) | (vector & low);
  sink.inject_msi(s.address, data);
}

void set_pending(PciConfigSpace& cfg, uint32_t pending) {
  cfg.raw_write(*cfg.placement().msi + pci::kMsiPending, 4, pending);
}
}  // namespace

MsiResult raise_msi(PciConfigSpace& cfg, uint32_t vector, InterruptSink& sink) {
  const auto s = read_msi_state(cfg);
  if (!s || vector >= s->vectors_enabled || !can_send(cfg, *s)) {
    return MsiResult::Disabled;
  }
  const uint32_t bit = 1u << vector;
  if ((s->mask & bit) != 0) {
    set_pending(cfg, s->pending | bit);
    return MsiResult::Pending;
  }
  send(*s, vector, sink);
  return MsiResult::Delivered;
}

unsigned deliver_unmasked_pending(PciConfigSpace& cfg, InterruptSink& sink) {
  const auto s = read_msi_state(cfg);
  if (!s || s->pending == 0 || !can_send(cfg, *s)) {
    return 0;
  }
  uint32_t pending = s->pending;
  unsigned sent = 0;
  for (uint32_t v = 0; v < s->vectors_enabled && v < 32; ++v) {
    const uint32_t bit = 1u << v;
    if ((pending & bit) != 0 && (s->mask & bit) == 0) {
      pending &= ~bit;
      send(*s, v, sink);
      ++sent;
    }
  }
  set_pending(cfg, pending);
  return sent;
}

}  // namespace xvgpu::gpu
