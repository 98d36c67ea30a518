#include "gpu/pci_config_space.h"

#include <fmt/format.h>

#include <bit>

#include "common/error.h"

namespace xvgpu::gpu {

namespace {
constexpr unsigned align4(unsigned v) {
  return (v + 3u) & ~3u;
}

uint32_t msi_vector_mask(uint32_t vectors) {
  return vectors >= 32 ? 0xffffffffu : (1u << vectors) - 1u;
}
}  // namespace

CapabilityPlacement place_capabilities(const DeviceLayout& layout) {
  CapabilityPlacement p;
  unsigned cursor = pci::kHeaderEnd;
  if (layout.msi_vectors != 0) {
    p.msi = pci::kMsiOffset;
    cursor = pci::kMsiOffset + pci::kMsiSize;
  }
  for (size_t i = 0; i < layout.capabilities.size(); ++i) {
    const auto& cap = layout.capabilities[i];
    const unsigned off = align4(cursor);
    if (off + cap.length > pci::kConfigSize) {
      throw Error(fmt::format("capability {} (id {:#04x}, {} bytes) does not fit below config offset 0x100",
                              i, cap.id, cap.length));
    }
    p.vendor.push_back(off);
    cursor = off + cap.length;
  }
  if (p.msi) {
    p.first = *p.msi;
  } else if (!p.vendor.empty()) {
    p.first = p.vendor.front();
  }
  // Vendor config fields must not overlap the capability list.
  for (const auto& f : layout.config_fields) {
    const unsigned begin = f.offset;
    const unsigned end = f.offset + f.length;
    auto overlaps = [&](unsigned b, unsigned e) { return begin < e && b < end; };
    if (p.msi && overlaps(*p.msi, *p.msi + pci::kMsiSize)) {
      throw Error(fmt::format("config field [{:#x}, {:#x}) overlaps the MSI capability at {:#x}", begin, end,
                              *p.msi));
    }
    for (size_t i = 0; i < p.vendor.size(); ++i) {
      if (overlaps(p.vendor[i], p.vendor[i] + layout.capabilities[i].length)) {
        throw Error(fmt::format("config field [{:#x}, {:#x}) overlaps capability {} placed at {:#x}", begin,
                                end, i, p.vendor[i]));
      }
    }
  }
  return p;
}

PciConfigSpace::PciConfigSpace(const DeviceLayout& layout, uint64_t rom_bar_size)
    : layout_(layout), rom_bar_size_(rom_bar_size), placement_(place_capabilities(layout)) {
  if (rom_bar_size_ != 0 &&
      (!std::has_single_bit(rom_bar_size_) || rom_bar_size_ < 2048 || rom_bar_size_ > (uint64_t{1} << 31))) {
    throw Error(
        fmt::format("expansion ROM BAR size {:#x} is not a power of two from 2 KiB to 2 GiB", rom_bar_size_));
  }
  build();
}

void PciConfigSpace::reset() {
  build();
}

void PciConfigSpace::set16(unsigned off, uint16_t v) {
  bytes_[off] = static_cast<uint8_t>(v);
  bytes_[off + 1] = static_cast<uint8_t>(v >> 8);
}

void PciConfigSpace::set32(unsigned off, uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) {
    bytes_[off + i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void PciConfigSpace::set_mask32(std::array<uint8_t, pci::kConfigSize>& m, unsigned off, uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) {
    m[off + i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void PciConfigSpace::build() {
  bytes_.fill(0);
  wmask_.fill(0);
  w1c_.fill(0);
  vendor_owned_.fill(false);
  const auto& l = layout_;

  set16(pci::kVendorId, l.vendor_id);
  set16(pci::kDeviceId, l.device_id);
  bytes_[pci::kRevision] = l.revision;
  bytes_[pci::kProgIf] = l.prog_if;
  bytes_[pci::kSubclass] = l.subclass;
  bytes_[pci::kClass] = l.class_code;
  set16(pci::kSubsystemVendorId, l.subsystem_vendor_id);
  set16(pci::kSubsystemId, l.subsystem_id);

  bool has_io = false;
  bool has_mem = false;
  for (const auto& b : l.bars) {
    const unsigned off = pci::kBar0 + 4 * b.index;
    if (b.io) {
      has_io = true;
      set32(off, 0x1);
      set_mask32(wmask_, off, 0xfffcu & ~static_cast<uint32_t>(b.size - 1));
    } else {
      has_mem = true;
      const uint32_t flags = (b.is64 ? 0x4u : 0u) | (b.prefetchable ? 0x8u : 0u);
      set32(off, flags);
      const uint64_t addr_mask = ~(b.size - 1);
      set_mask32(wmask_, off, static_cast<uint32_t>(addr_mask) & 0xfffffff0u);
      if (b.is64) {
        set_mask32(wmask_, off + 4, static_cast<uint32_t>(addr_mask >> 32));
      }
    }
  }

  if (rom_bar_size_ != 0) {
    has_mem = true;  // the ROM decodes with the memory space enable
    set_mask32(wmask_, pci::kRomBar,
               (static_cast<uint32_t>(~(rom_bar_size_ - 1)) & pci::kRomAddressMask) | pci::kRomEnable);
  }

  uint16_t cmd_mask = pci::kCmdBusMaster | pci::kCmdParity | pci::kCmdSerr | pci::kCmdIntxDisable;
  if (has_io || !layout_.legacy_io.empty()) {  // legacy ports decode with the I/O enable too
    cmd_mask |= pci::kCmdIo;
  }
  if (has_mem) {
    cmd_mask |= pci::kCmdMemory;
  }
  wmask_[pci::kCommand] = static_cast<uint8_t>(cmd_mask);
  wmask_[pci::kCommand + 1] = static_cast<uint8_t>(cmd_mask >> 8);
  w1c_[pci::kStatus] = static_cast<uint8_t>(pci::kStatusW1cMask);
  w1c_[pci::kStatus + 1] = static_cast<uint8_t>(pci::kStatusW1cMask >> 8);
  wmask_[pci::kCacheLine] = 0xff;
  wmask_[pci::kLatency] = 0xff;
  wmask_[pci::kInterruptLine] = 0xff;
  bytes_[pci::kInterruptPin] = l.intx_pin;

  // Capability list, linked in placement order.
  std::vector<unsigned> chain;
  if (placement_.msi) {
    chain.push_back(*placement_.msi);
  }
  for (unsigned off : placement_.vendor) {
    chain.push_back(off);
  }
  if (!chain.empty()) {
    bytes_[pci::kCapPtr] = static_cast<uint8_t>(placement_.first);
    set16(pci::kStatus, pci::kStatusCapList);
  }
  for (size_t i = 0; i < chain.size(); ++i) {
    bytes_[chain[i] + 1] = static_cast<uint8_t>(i + 1 < chain.size() ? chain[i + 1] : 0);
  }

  if (placement_.msi) {
    const unsigned m = *placement_.msi;
    bytes_[m] = pci::kCapIdMsi;
    const auto mmc = static_cast<uint16_t>(std::countr_zero(l.msi_vectors));
    set16(m + pci::kMsiControl,
          static_cast<uint16_t>(mmc << 1 | pci::kMsiCtrl64Bit | pci::kMsiCtrlPerVectorMask));
    wmask_[m + pci::kMsiControl] = 0x71;  // enable, multiple message enable
    set_mask32(wmask_, m + pci::kMsiAddrLo, 0xfffffffcu);
    set_mask32(wmask_, m + pci::kMsiAddrHi, 0xffffffffu);
    wmask_[m + pci::kMsiData] = 0xff;
    wmask_[m + pci::kMsiData + 1] = 0xff;
    set_mask32(wmask_, m + pci::kMsiMask, msi_vector_mask(l.msi_vectors));
  }

  for (size_t i = 0; i < l.capabilities.size(); ++i) {
    const auto& cap = l.capabilities[i];
    const unsigned off = placement_.vendor[i];
    bytes_[off] = cap.id;
    for (unsigned j = 2; j < cap.length; ++j) {
      bytes_[off + j] = cap.initial[j];
      wmask_[off + j] = cap.writable.empty() ? 0 : cap.writable[j];
      vendor_owned_[off + j] = cap.vendor_handled;
    }
  }
  for (const auto& f : l.config_fields) {
    for (unsigned j = 0; j < f.length; ++j) {
      vendor_owned_[f.offset + j] = true;
    }
  }
}

uint32_t PciConfigSpace::raw_read(unsigned offset, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size && offset + i < pci::kConfigSize; ++i) {
    v |= uint32_t{bytes_[offset + i]} << (8 * i);
  }
  return v;
}

void PciConfigSpace::raw_write(unsigned offset, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size && offset + i < pci::kConfigSize; ++i) {
    bytes_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  }
}

uint32_t PciConfigSpace::read(unsigned offset, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size && offset + i < pci::kConfigSize; ++i) {
    if (!vendor_owned_[offset + i]) {
      v |= uint32_t{bytes_[offset + i]} << (8 * i);
    }
  }
  return v;
}

void PciConfigSpace::write(unsigned offset, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size && offset + i < pci::kConfigSize; ++i) {
    const unsigned o = offset + i;
    if (vendor_owned_[o]) {
      continue;
    }
    const auto b = static_cast<uint8_t>(value >> (8 * i));
    uint8_t n = static_cast<uint8_t>((bytes_[o] & ~wmask_[o]) | (b & wmask_[o]));
    n = static_cast<uint8_t>(n & ~(b & w1c_[o]));
    bytes_[o] = n;
  }
}

std::optional<uint64_t> PciConfigSpace::bar_address(unsigned index) const {
  const BarLayout* b = layout_.bar(index);
  if (b == nullptr) {
    return std::nullopt;
  }
  const unsigned off = pci::kBar0 + 4 * index;
  const uint32_t lo = raw_read(off, 4);
  if (b->io) {
    return uint64_t{lo & ~3u};
  }
  uint64_t addr = lo & ~0xfu;
  if (b->is64) {
    addr |= uint64_t{raw_read(off + 4, 4)} << 32;
  }
  return addr;
}

std::optional<uint64_t> PciConfigSpace::rom_address() const {
  if (rom_bar_size_ == 0) {
    return std::nullopt;
  }
  return uint64_t{raw_read(pci::kRomBar, 4) & pci::kRomAddressMask};
}

bool PciConfigSpace::rom_enabled() const {
  return rom_bar_size_ != 0 && (raw_read(pci::kRomBar, 4) & pci::kRomEnable) != 0;
}

void PciConfigSpace::set_status_bits(uint16_t bits) {
  set16(pci::kStatus, static_cast<uint16_t>(read16(pci::kStatus) | bits));
}

void PciConfigSpace::set_intx_status(bool asserted) {
  uint16_t s = read16(pci::kStatus);
  s = asserted ? static_cast<uint16_t>(s | pci::kStatusIntx) : static_cast<uint16_t>(s & ~pci::kStatusIntx);
  set16(pci::kStatus, s);
}

void PciConfigSpace::load_bytes(const std::array<uint8_t, pci::kConfigSize>& saved) {
  build();
  for (unsigned i = 0; i < pci::kConfigSize; ++i) {
    const uint8_t guest_bits = static_cast<uint8_t>(wmask_[i] | w1c_[i]);
    bytes_[i] = static_cast<uint8_t>((bytes_[i] & ~guest_bits) | (saved[i] & guest_bits));
    // Vendor-handled bytes belong to the vendor's own saved state.
  }
  // Device-set state that is read-only to the guest: MSI pending bits and INTx status.
  if (placement_.msi) {
    const unsigned p = *placement_.msi + pci::kMsiPending;
    uint32_t pending = 0;
    for (unsigned i = 0; i < 4; ++i) {
      pending |= uint32_t{saved[p + i]} << (8 * i);
    }
    set32(p, pending & msi_vector_mask(layout_.msi_vectors));
  }
  set_intx_status((saved[pci::kStatus] & pci::kStatusIntx) != 0);
}

}  // namespace xvgpu::gpu
