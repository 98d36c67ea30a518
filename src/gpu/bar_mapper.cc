#include "gpu/bar_mapper.h"

#include <spdlog/spdlog.h>

#include <string>

#include "common/rate_limited_log.h"

namespace xvgpu::gpu {

namespace {

// Moves one window of `bar` from `cur` to `want` (either may be absent). When the hooks refuse
// the new window it stays unmapped and the reason is returned for the caller to log.
std::optional<std::string> move_window(BarMapper::Hooks& hooks, const BarLayout& bar,
                                       std::optional<BarWindow>& cur, const std::optional<BarWindow>& want) {
  if (cur) {
    hooks.unmap_bar(bar, *cur);
    cur.reset();
  }
  if (!want) return std::nullopt;
  try {
    hooks.map_bar(bar, *want);
    cur = want;
    return std::nullopt;
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

std::optional<BarWindow> BarMapper::wanted(const PciConfigSpace& cfg, const BarLayout& bar) {
  const uint16_t cmd = cfg.command();
  if ((cmd & (bar.io ? pci::kCmdIo : pci::kCmdMemory)) == 0) {
    return std::nullopt;
  }
  const auto addr = cfg.bar_address(bar.index);
  if (!addr || *addr == 0) {
    return std::nullopt;
  }
  // The low dword written all ones while sizing is not an address.
  const uint32_t low_mask = bar.io ? (0xfffcu & ~static_cast<uint32_t>(bar.size - 1))
                                   : (static_cast<uint32_t>(~(bar.size - 1)) & 0xfffffff0u);
  if ((static_cast<uint32_t>(*addr) & (bar.io ? 0xfffcu : 0xfffffff0u)) == low_mask) {
    return std::nullopt;
  }
  const uint64_t last = *addr + bar.size - 1;
  if (last < *addr) {
    return std::nullopt;
  }
  if (bar.io && last > 0xffff) {
    return std::nullopt;
  }
  return BarWindow{bar.io ? IoSpace::Port : IoSpace::Mmio, *addr, last};
}

std::optional<BarWindow> BarMapper::wanted_rom(const PciConfigSpace& cfg) {
  const auto addr = cfg.rom_address();
  if (!addr || !cfg.rom_enabled() || (cfg.command() & pci::kCmdMemory) == 0 || *addr == 0) {
    return std::nullopt;
  }
  const uint64_t size = cfg.rom_bar_size();
  // Firmware sizes the ROM BAR by writing all ones: that is not an address.
  if (*addr == (static_cast<uint32_t>(~(size - 1)) & pci::kRomAddressMask)) {
    return std::nullopt;
  }
  return BarWindow{IoSpace::Mmio, *addr, *addr + size - 1};
}

unsigned BarMapper::reconcile(const PciConfigSpace& cfg, bool attached, Hooks& hooks) {
  unsigned refused = 0;
  for (const auto& bar : cfg.layout().bars) {
    std::optional<BarWindow> want = attached ? wanted(cfg, bar) : std::nullopt;
    auto& cur = current_.at(bar.index);
    if (cur == want) {
      continue;
    }
    if (const auto error = move_window(hooks, bar, cur, want)) {
      ++refused;
      static RateLimiter limiter;
      XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "BAR {} at {:#x}..{:#x} left unmapped: {}", bar.index,
                        want->first, want->last, *error);
    }
  }
  if (cfg.rom_bar_size() != 0) {
    const std::optional<BarWindow> want = attached ? wanted_rom(cfg) : std::nullopt;
    auto& cur = current_.at(kRomBar);
    if (cur != want) {
      BarLayout as_bar;
      as_bar.index = kRomBar;
      as_bar.size = cfg.rom_bar_size();
      if (const auto error = move_window(hooks, as_bar, cur, want)) {
        ++refused;
        static RateLimiter limiter;
        XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "expansion ROM at {:#x}..{:#x} left unmapped: {}",
                          want->first, want->last, *error);
      }
    }
  }
  // Legacy ports: fixed addresses, decoded with the I/O space enable (as a VGA's are).
  const auto& legacy = cfg.layout().legacy_io;
  for (size_t i = 0; i < legacy.size() && i < legacy_.size(); ++i) {
    const auto& r = legacy[i];
    std::optional<BarWindow> want;
    if (attached && (cfg.command() & pci::kCmdIo) != 0) {
      want = BarWindow{IoSpace::Port, r.first_port, uint64_t{r.first_port} + r.num_ports - 1};
    }
    auto& cur = legacy_[i];
    if (cur == want) {
      continue;
    }
    BarLayout as_bar;
    as_bar.index = XVGPU_REGION_LEGACY_IO + static_cast<unsigned>(i);
    as_bar.size = r.num_ports;
    as_bar.io = true;
    if (const auto error = move_window(hooks, as_bar, cur, want)) {
      ++refused;
      static RateLimiter limiter;
      XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "legacy ports {:#x}..{:#x} left unclaimed: {}",
                        want->first, want->last, *error);
    }
  }
  return refused;
}

std::optional<BarMapper::Hit> BarMapper::find(IoSpace space, uint64_t addr) const {
  for (unsigned i = 0; i < current_.size(); ++i) {
    const auto& w = current_[i];
    if (w && w->space == space && addr >= w->first && addr <= w->last) {
      return Hit{i, addr - w->first, w->last - w->first + 1};
    }
  }
  for (unsigned i = 0; i < legacy_.size(); ++i) {
    const auto& w = legacy_[i];
    if (w && w->space == space && addr >= w->first && addr <= w->last) {
      return Hit{XVGPU_REGION_LEGACY_IO + i, addr - w->first, w->last - w->first + 1};
    }
  }
  return std::nullopt;
}

}  // namespace xvgpu::gpu
