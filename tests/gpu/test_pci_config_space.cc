#include "gpu/pci_config_space.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "gpu/bar_mapper.h"
#include "test_layouts.h"

namespace xvgpu::gpu {
namespace {

using test::full_layout;

TEST(PciConfigSpace, IdentityIsReadOnly) {
  PciConfigSpace cfg(full_layout());
  EXPECT_EQ(cfg.read(pci::kVendorId, 4), 0x11111234u);
  EXPECT_EQ(cfg.read(pci::kRevision, 4), 0x03000002u);  // class 03, subclass 00, prog-if 00, rev 2
  EXPECT_EQ(cfg.read(pci::kSubsystemVendorId, 4), 0x11001af4u);
  cfg.write(pci::kVendorId, 4, 0xdeadbeef);
  cfg.write(pci::kRevision, 4, 0xffffffff);
  cfg.write(pci::kSubsystemVendorId, 4, 0);
  cfg.write(pci::kHeaderType, 1, 0x80);
  EXPECT_EQ(cfg.read(pci::kVendorId, 4), 0x11111234u);
  EXPECT_EQ(cfg.read(pci::kRevision, 4), 0x03000002u);
  EXPECT_EQ(cfg.read(pci::kSubsystemVendorId, 4), 0x11001af4u);
  EXPECT_EQ(cfg.read(pci::kHeaderType, 1), 0u);
}

TEST(PciConfigSpace, CommandRegisterMask) {
  PciConfigSpace cfg(full_layout());
  cfg.write(pci::kCommand, 2, 0xffff);
  EXPECT_EQ(cfg.read(pci::kCommand, 2), 0x0547u);  // io, mem, master, parity, serr, intx-disable
  DeviceLayout no_io = full_layout();
  no_io.bars.erase(no_io.bars.begin() + 2);
  PciConfigSpace cfg2(no_io);
  cfg2.write(pci::kCommand, 2, 0xffff);
  EXPECT_EQ(cfg2.read(pci::kCommand, 2), 0x0546u) << "I/O decode is hardwired to 0 without an I/O BAR";
}

TEST(PciConfigSpace, StatusWriteOneToClear) {
  PciConfigSpace cfg(full_layout());
  EXPECT_EQ(cfg.read(pci::kStatus, 2), pci::kStatusCapList);
  cfg.set_status_bits(pci::kStatusMasterAbort);
  EXPECT_EQ(cfg.read(pci::kStatus, 2), pci::kStatusCapList | pci::kStatusMasterAbort);
  cfg.write(pci::kStatus, 2, 0);  // writing 0 leaves it
  EXPECT_EQ(cfg.read(pci::kStatus, 2) & pci::kStatusMasterAbort, pci::kStatusMasterAbort);
  cfg.write(pci::kStatus, 2, 0xffff);  // writing 1 clears W1C bits only; cap-list stays
  EXPECT_EQ(cfg.read(pci::kStatus, 2), pci::kStatusCapList);
  // A dword write to the command register with status bits set clears them too.
  cfg.set_status_bits(pci::kStatusMasterAbort);
  cfg.write(pci::kCommand, 4, 0x20000002);
  EXPECT_EQ(cfg.read(pci::kStatus, 2), pci::kStatusCapList);
  EXPECT_EQ(cfg.read(pci::kCommand, 2), 2u);
}

TEST(PciConfigSpace, Bar64BitMemorySizing) {
  PciConfigSpace cfg(full_layout());
  EXPECT_EQ(cfg.read(pci::kBar0, 4), 0xcu);  // 64-bit prefetchable memory
  cfg.write(pci::kBar0, 4, 0xffffffff);
  cfg.write(pci::kBar0 + 4, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(pci::kBar0, 4), 0xff00000cu);  // 16 MiB
  EXPECT_EQ(cfg.read(pci::kBar0 + 4, 4), 0xffffffffu);
  cfg.write(pci::kBar0, 4, 0xe0000000);
  cfg.write(pci::kBar0 + 4, 4, 0x1);
  EXPECT_EQ(cfg.bar_address(0), 0x1e0000000u);
  // Address bits below the size are read-only zero.
  cfg.write(pci::kBar0, 4, 0xe0123456);
  EXPECT_EQ(cfg.read(pci::kBar0, 4), 0xe000000cu);
}

TEST(PciConfigSpace, Bar32BitAndIoSizing) {
  PciConfigSpace cfg(full_layout());
  cfg.write(pci::kBar0 + 8, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(pci::kBar0 + 8, 4), 0xfffff000u);  // 4 KiB 32-bit, not prefetchable
  cfg.write(pci::kBar0 + 12, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(pci::kBar0 + 12, 4), 0x0000ffe1u);  // 32 ports, I/O, upper 16 bits zero
  cfg.write(pci::kBar0 + 12, 4, 0xc040);
  EXPECT_EQ(cfg.bar_address(3), 0xc040u);
  EXPECT_EQ(cfg.read(pci::kBar0 + 4, 4), 0u) << "untouched upper half";
  // Unimplemented BAR slots (1 is the upper half of BAR0; 5 is the upper half of BAR4) and ROM.
  cfg.write(pci::kRomBar, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0u);
  EXPECT_FALSE(cfg.bar_address(1).has_value());
  EXPECT_FALSE(cfg.bar_address(5).has_value());
}

TEST(PciConfigSpace, ByteAndWordAccessesToBars) {
  PciConfigSpace cfg(full_layout());
  cfg.write(pci::kBar0 + 8 + 2, 2, 0xfebf);
  cfg.write(pci::kBar0 + 8 + 1, 1, 0xff);
  EXPECT_EQ(cfg.read(pci::kBar0 + 8, 4), 0xfebff000u);
  EXPECT_EQ(cfg.read(pci::kBar0 + 8 + 1, 1), 0xf0u);
}

TEST(PciConfigSpace, CapabilityListWithMsiBelow0x100) {
  PciConfigSpace cfg(full_layout());
  EXPECT_EQ(cfg.read(pci::kCapPtr, 1), 0x40u);
  EXPECT_EQ(cfg.read(0x40, 1), pci::kCapIdMsi);
  const unsigned next = cfg.read(0x41, 1);
  EXPECT_EQ(next, 0x58u);
  EXPECT_EQ(cfg.read(next, 1), 0x09u);
  EXPECT_EQ(cfg.read(next + 1, 1), 0u) << "end of list";
  EXPECT_EQ(cfg.read(next + 2, 4), 0x33221108u) << "vendor capability contents";
  cfg.write(next + 2, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(next + 2, 4), 0x3322ff08u) << "only the declared writable byte changes";
  // MSI control: 64-bit, per-vector masking, MMC = 4 vectors (2), disabled.
  EXPECT_EQ(cfg.read(0x42, 2), 0x0184u);
  cfg.write(0x42, 2, 0xffff);
  EXPECT_EQ(cfg.read(0x42, 2), 0x01f5u) << "enable + MME writable, rest read-only";
  cfg.write(0x44, 4, 0xfee00003);
  EXPECT_EQ(cfg.read(0x44, 4), 0xfee00000u) << "address is dword aligned";
  cfg.write(0x50, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(0x50, 4), 0xfu) << "one mask bit per implemented vector";
  cfg.write(0x54, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(0x54, 4), 0u) << "pending bits are read-only";
}

TEST(PciConfigSpace, InterruptLineAndPin) {
  PciConfigSpace cfg(full_layout());
  EXPECT_EQ(cfg.read(pci::kInterruptPin, 1), 1u);
  cfg.write(pci::kInterruptLine, 2, 0x040b);
  EXPECT_EQ(cfg.read(pci::kInterruptLine, 2), 0x010bu);
}

TEST(PciConfigSpace, NoCapabilitiesMeansNoList) {
  DeviceLayout l;
  l.bars = {BarLayout{0, 4096}};
  PciConfigSpace cfg(l);
  EXPECT_EQ(cfg.read(pci::kStatus, 2) & pci::kStatusCapList, 0u);
  EXPECT_EQ(cfg.read(pci::kCapPtr, 1), 0u);
}

TEST(PciConfigSpace, CapabilitiesThatDoNotFitAreRefused) {
  DeviceLayout l = full_layout();
  CapabilityLayout big;
  big.id = 0x09;
  big.length = 64;
  big.initial.assign(64, 0);
  for (int i = 0; i < 3; ++i) l.capabilities.push_back(big);
  EXPECT_THROW(PciConfigSpace{l}, Error);
}

TEST(PciConfigSpace, VendorOwnedFieldsAreMarked) {
  DeviceLayout l = full_layout();
  l.config_fields.push_back({0x80, 8});
  PciConfigSpace cfg(l);
  EXPECT_EQ(cfg.owner(0x80), ConfigOwner::Vendor);
  EXPECT_EQ(cfg.owner(0x87), ConfigOwner::Vendor);
  EXPECT_EQ(cfg.owner(0x88), ConfigOwner::Core);
  l.config_fields = {{0x44, 4}};
  EXPECT_THROW(PciConfigSpace{l}, Error) << "a field over the MSI capability";
}

TEST(PciConfigSpace, ResetRestoresPowerOnState) {
  PciConfigSpace cfg(full_layout());
  cfg.write(pci::kCommand, 2, 0x7);
  cfg.write(pci::kBar0 + 8, 4, 0xfeb00000);
  cfg.write(0x42, 2, 1);
  cfg.reset();
  EXPECT_EQ(cfg.read(pci::kCommand, 2), 0u);
  EXPECT_EQ(cfg.read(pci::kBar0 + 8, 4), 0u);
  EXPECT_EQ(cfg.read(0x42, 2), 0x0184u);
}

TEST(PciConfigSpace, LoadBytesKeepsIdentity) {
  PciConfigSpace cfg(full_layout());
  auto saved = cfg.bytes();
  saved[0] = 0xaa;           // identity: must not change
  saved[pci::kCommand] = 2;  // guest-writable: restored
  saved[pci::kBar0 + 8 + 3] = 0xfe;
  cfg.load_bytes(saved);
  EXPECT_EQ(cfg.read(pci::kVendorId, 2), 0x1234u);
  EXPECT_EQ(cfg.read(pci::kCommand, 2), 2u);
  EXPECT_EQ(cfg.bar_address(2), 0xfe000000u);
}

// ---- BAR windows from decode and addresses

TEST(BarMapper, WindowsFollowDecodeAndAddress) {
  PciConfigSpace cfg(full_layout());
  const BarLayout& mmio = *cfg.layout().bar(2);
  const BarLayout& io = *cfg.layout().bar(3);
  cfg.write(pci::kBar0 + 8, 4, 0xfeb00000);
  cfg.write(pci::kBar0 + 12, 4, 0xc000);
  EXPECT_FALSE(BarMapper::wanted(cfg, mmio)) << "decode off";
  cfg.write(pci::kCommand, 2, pci::kCmdMemory);
  EXPECT_EQ(BarMapper::wanted(cfg, mmio), (BarWindow{IoSpace::Mmio, 0xfeb00000, 0xfeb00fff}));
  EXPECT_FALSE(BarMapper::wanted(cfg, io)) << "I/O decode still off";
  cfg.write(pci::kCommand, 2, pci::kCmdMemory | pci::kCmdIo);
  EXPECT_EQ(BarMapper::wanted(cfg, io), (BarWindow{IoSpace::Port, 0xc000, 0xc01f}));
  cfg.write(pci::kBar0 + 8, 4, 0xffffffff);
  EXPECT_FALSE(BarMapper::wanted(cfg, mmio)) << "sizing pattern is not an address";
  cfg.write(pci::kBar0 + 8, 4, 0);
  EXPECT_FALSE(BarMapper::wanted(cfg, mmio)) << "address 0 is unassigned";
}

TEST(PciConfigSpace, RomBarSizesEnablesAndKeepsItsAddress) {
  PciConfigSpace none(full_layout());
  none.write(pci::kRomBar, 4, 0xffffffff);
  EXPECT_EQ(none.read(pci::kRomBar, 4), 0u) << "no ROM: the register is hardwired to 0";
  EXPECT_FALSE(none.rom_address());

  PciConfigSpace cfg(full_layout(), 0x8000);
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0u);
  cfg.write(pci::kRomBar, 4, 0xfffff800);  // sizing as firmware does it: enable bit clear
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0xffff8000u) << "32 KiB";
  EXPECT_FALSE(cfg.rom_enabled());
  cfg.write(pci::kRomBar, 4, 0xffffffff);
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0xffff8001u) << "bits 10..1 are reserved zero";
  cfg.write(pci::kRomBar, 4, 0xfebc1235);  // address bits below the size are dropped
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0xfebc0001u);
  EXPECT_EQ(cfg.rom_address(), 0xfebc0000u);
  EXPECT_TRUE(cfg.rom_enabled());
  cfg.write(pci::kRomBar, 1, 0x00);
  EXPECT_FALSE(cfg.rom_enabled()) << "a byte write reaches the enable bit alone";
  EXPECT_EQ(cfg.rom_address(), 0xfebc0000u);
  cfg.reset();
  EXPECT_EQ(cfg.read(pci::kRomBar, 4), 0u);

  DeviceLayout io_only = full_layout();
  io_only.bars = {io_only.bars[2]};  // the I/O BAR alone
  PciConfigSpace rom_only(io_only, 0x800);
  rom_only.write(pci::kCommand, 2, 0xffff);
  EXPECT_NE(rom_only.read(pci::kCommand, 2) & pci::kCmdMemory, 0u)
      << "the ROM decodes with the memory enable";
  EXPECT_THROW(PciConfigSpace(full_layout(), 0x3000), Error) << "not a power of two";
  EXPECT_THROW(PciConfigSpace(full_layout(), 0x400), Error) << "below 2 KiB";
}

TEST(PciConfigSpace, RomWindowNeedsEnableMemoryDecodeAndAnAddress) {
  PciConfigSpace cfg(full_layout(), 0x8000);
  cfg.write(pci::kRomBar, 4, 0xfebc0001);
  EXPECT_FALSE(BarMapper::wanted_rom(cfg)) << "memory decode off";
  cfg.write(pci::kCommand, 2, pci::kCmdMemory);
  const auto w = BarMapper::wanted_rom(cfg);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->first, 0xfebc0000u);
  EXPECT_EQ(w->last, 0xfebc7fffu);
  cfg.write(pci::kRomBar, 4, 0xfebc0000);
  EXPECT_FALSE(BarMapper::wanted_rom(cfg)) << "enable bit clear";
  cfg.write(pci::kRomBar, 4, 0xffffffff);
  EXPECT_FALSE(BarMapper::wanted_rom(cfg)) << "the sizing pattern with enable set is no address";
  cfg.write(pci::kRomBar, 4, 0x1);
  EXPECT_FALSE(BarMapper::wanted_rom(cfg)) << "address 0";
}

}  // namespace
}  // namespace xvgpu::gpu
