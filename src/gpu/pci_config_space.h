// The 256-byte PCI configuration space of one vGPU function (type 0 header).
//
// Xen 4.17 forwards only CF8/CFC accesses, so everything lives below 0x100. Each byte has a
// guest-writable mask and a write-1-to-clear mask; BAR sizing falls out of the masks (the
// address bits below the BAR size are read-only zero). The MSI capability (64-bit address,
// per-vector masking) sits at kMsiOffset; the vendor's extra capabilities follow it, dword
// aligned. Bytes the vendor owns (its config fields, vendor-handled capability bodies) are
// marked so the caller routes them to the vendor instead.
//
// Not thread-safe: the owning vGPU serialises access. Pure data: decode changes and BAR moves
// are derived from the state by the caller (bar_mapper.h), not pushed as events.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "gpu/vendor_model.h"

namespace xvgpu::gpu {

namespace pci {
inline constexpr unsigned kConfigSize = 256;
inline constexpr unsigned kVendorId = 0x00;
inline constexpr unsigned kDeviceId = 0x02;
inline constexpr unsigned kCommand = 0x04;
inline constexpr unsigned kStatus = 0x06;
inline constexpr unsigned kRevision = 0x08;
inline constexpr unsigned kProgIf = 0x09;
inline constexpr unsigned kSubclass = 0x0a;
inline constexpr unsigned kClass = 0x0b;
inline constexpr unsigned kCacheLine = 0x0c;
inline constexpr unsigned kLatency = 0x0d;
inline constexpr unsigned kHeaderType = 0x0e;
inline constexpr unsigned kBar0 = 0x10;
inline constexpr unsigned kSubsystemVendorId = 0x2c;
inline constexpr unsigned kSubsystemId = 0x2e;
inline constexpr unsigned kRomBar = 0x30;
inline constexpr uint32_t kRomEnable = 1u << 0;
inline constexpr uint32_t kRomAddressMask = 0xfffff800u;
inline constexpr unsigned kCapPtr = 0x34;
inline constexpr unsigned kInterruptLine = 0x3c;
inline constexpr unsigned kInterruptPin = 0x3d;
inline constexpr unsigned kHeaderEnd = 0x40;

inline constexpr uint16_t kCmdIo = 1u << 0;
inline constexpr uint16_t kCmdMemory = 1u << 1;
inline constexpr uint16_t kCmdBusMaster = 1u << 2;
inline constexpr uint16_t kCmdParity = 1u << 6;
inline constexpr uint16_t kCmdSerr = 1u << 8;
inline constexpr uint16_t kCmdIntxDisable = 1u << 10;

inline constexpr uint16_t kStatusIntx = 1u << 3;
inline constexpr uint16_t kStatusCapList = 1u << 4;
inline constexpr uint16_t kStatusMasterAbort = 1u << 13;
// Parity error, signalled SERR, received master/target abort, signalled target abort, master
// data parity error: the write-1-to-clear status bits.
inline constexpr uint16_t kStatusW1cMask = 0xf900;

inline constexpr uint8_t kCapIdMsi = 0x05;
// MSI capability with 64-bit address and per-vector masking (24 bytes).
inline constexpr unsigned kMsiOffset = 0x40;
inline constexpr unsigned kMsiSize = 0x18;
inline constexpr unsigned kMsiControl = 0x02;
inline constexpr unsigned kMsiAddrLo = 0x04;
inline constexpr unsigned kMsiAddrHi = 0x08;
inline constexpr unsigned kMsiData = 0x0c;
inline constexpr unsigned kMsiMask = 0x10;
inline constexpr unsigned kMsiPending = 0x14;
inline constexpr uint16_t kMsiCtrlEnable = 1u << 0;
inline constexpr uint16_t kMsiCtrl64Bit = 1u << 7;
inline constexpr uint16_t kMsiCtrlPerVectorMask = 1u << 8;
}  // namespace pci

// Where the MSI capability and each vendor capability land. Throws Error when they do not fit
// below 0x100 or collide with a vendor config field.
struct CapabilityPlacement {
  std::optional<unsigned> msi;   // offset of the MSI capability
  std::vector<unsigned> vendor;  // offset of each layout capability, in layout order
  unsigned first = 0;            // capability pointer (0 = no list)
};
CapabilityPlacement place_capabilities(const DeviceLayout& layout);

// Who answers a config-space byte.
enum class ConfigOwner : uint8_t { Core, Vendor };

class PciConfigSpace {
 public:
  // rom_bar_size: the expansion ROM BAR's size (a power of two >= 2 KiB), 0 = no ROM (the
  // register reads 0 and ignores writes).
  explicit PciConfigSpace(const DeviceLayout& layout, uint64_t rom_bar_size = 0);

  // Back to the power-on state (device reset): command 0, BARs 0, MSI off.
  void reset();

  // Core-emulated access. `offset + size` must be <= 256 and size 1, 2 or 4; bytes owned by
  // the vendor read as 0 and ignore writes here (the caller routes them, see owner()).
  [[nodiscard]] uint32_t read(unsigned offset, unsigned size) const;
  void write(unsigned offset, unsigned size, uint32_t value);

  [[nodiscard]] ConfigOwner owner(unsigned offset) const {
    return vendor_owned_[offset] ? ConfigOwner::Vendor : ConfigOwner::Core;
  }

  [[nodiscard]] uint16_t command() const { return read16(pci::kCommand); }
  // The BAR's programmed base address (I/O or memory), or nullopt if the BAR is not present.
  [[nodiscard]] std::optional<uint64_t> bar_address(unsigned index) const;
  [[nodiscard]] uint64_t rom_bar_size() const { return rom_bar_size_; }
  // The ROM BAR's address and enable bit as programmed (nullopt: no ROM).
  [[nodiscard]] std::optional<uint64_t> rom_address() const;
  [[nodiscard]] bool rom_enabled() const;
  // Status bits the device itself sets (e.g. received master abort on a failed DMA).
  void set_status_bits(uint16_t bits);
  // Reflects the INTx line in the status register (read-only for the guest).
  void set_intx_status(bool asserted);

  [[nodiscard]] const CapabilityPlacement& placement() const { return placement_; }
  [[nodiscard]] const DeviceLayout& layout() const { return layout_; }

  // Raw access for the MSI logic and save/restore (no masks applied).
  [[nodiscard]] uint32_t raw_read(unsigned offset, unsigned size) const;
  void raw_write(unsigned offset, unsigned size, uint32_t value);
  [[nodiscard]] const std::array<uint8_t, pci::kConfigSize>& bytes() const { return bytes_; }
  // Restores saved bytes; read-only identity bytes are re-imposed from the layout so a saved
  // image cannot change what the device is.
  void load_bytes(const std::array<uint8_t, pci::kConfigSize>& saved);

 private:
  [[nodiscard]] uint16_t read16(unsigned off) const {
    return static_cast<uint16_t>(bytes_[off] | bytes_[off + 1] << 8);
  }
  void set16(unsigned off, uint16_t v);
  void set32(unsigned off, uint32_t v);
  void set_mask32(std::array<uint8_t, pci::kConfigSize>& m, unsigned off, uint32_t v);
  void build();

  DeviceLayout layout_;
  uint64_t rom_bar_size_ = 0;
  CapabilityPlacement placement_;
  std::array<uint8_t, pci::kConfigSize> bytes_{};
  std::array<uint8_t, pci::kConfigSize> wmask_{};
  std::array<uint8_t, pci::kConfigSize> w1c_{};
  std::array<bool, pci::kConfigSize> vendor_owned_{};
};

}  // namespace xvgpu::gpu
