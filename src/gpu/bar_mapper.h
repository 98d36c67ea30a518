// Turns the guest's BAR programming into mapped windows.
//
// A BAR is mapped while the device is attached to its guest, the command register decodes its
// space (I/O or memory), and its address is usable: not 0, not the all-ones sizing pattern of
// its low dword, not wrapping, and within 16 bits for I/O. reconcile() compares that wish with
// what is mapped now and unmaps / maps the difference, so a moved BAR is released at its old
// place and claimed at the new one, and decode off releases everything. The expansion ROM
// (config offset 0x30) is mapped as "BAR" kRomBar while memory decode and its own enable bit
// are on; the hooks see it as a memory BarLayout with that index.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "gpu/pci_config_space.h"
#include "gpu/platform.h"
#include "xvgpu/vendor.h"

namespace xvgpu::gpu {

struct BarWindow {
  IoSpace space = IoSpace::Mmio;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  constexpr bool operator==(const BarWindow&) const = default;
};

class BarMapper {
 public:
  class Hooks {
   public:
    virtual ~Hooks() = default;
    // May throw when the platform refuses; the BAR then stays unmapped.
    virtual void map_bar(const BarLayout& bar, const BarWindow& window) = 0;
    virtual void unmap_bar(const BarLayout& bar, const BarWindow& window) noexcept = 0;
  };

  static constexpr unsigned kRomBar = 6;  // the index PCI firmware gives the ROM BAR

  static std::optional<BarWindow> wanted(const PciConfigSpace& cfg, const BarLayout& bar);
  static std::optional<BarWindow> wanted_rom(const PciConfigSpace& cfg);

  // Returns how many BARs could not be mapped (refused by the hooks).
  unsigned reconcile(const PciConfigSpace& cfg, bool attached, Hooks& hooks);

  [[nodiscard]] const std::optional<BarWindow>& current(unsigned bar) const { return current_.at(bar); }
  // The BAR whose window contains addr, with the offset inside it. Legacy I/O range i of the
  // layout (fixed ports, mapped while attached with I/O decoding on) is "bar"
  // XVGPU_REGION_LEGACY_IO + i; the hooks see it as an I/O BarLayout with that index.
  struct Hit {
    unsigned bar = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  [[nodiscard]] std::optional<Hit> find(IoSpace space, uint64_t addr) const;
  static constexpr size_t kMaxLegacyRanges = 8;

 private:
  std::array<std::optional<BarWindow>, 7> current_{};  // BARs 0..5 and the ROM
  std::array<std::optional<BarWindow>, kMaxLegacyRanges> legacy_{};
};

}  // namespace xvgpu::gpu
