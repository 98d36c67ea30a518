// The VGA I/O registers 0x3c0..0x3df as the simgpu's MMIO BAR mirrors them at 0x400..0x41f.
//
// simgpu is a linear-framebuffer device: the legacy registers exist so that a driver's
// blank/unblank sequence behaves (the attribute controller's flip-flop and its palette
// address source bit, which blanks the screen when clear) and so that 8 bpp modes have a DAC
// palette. Sequencer, graphics and CRTC registers are plain storage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace xvgpu::simgpu {

namespace vga {
inline constexpr uint16_t kFirstPort = 0x3c0;
inline constexpr uint16_t kLastPort = 0x3df;
inline constexpr uint16_t kAttrAddressData = 0x3c0;
inline constexpr uint16_t kAttrDataRead = 0x3c1;
inline constexpr uint16_t kMiscWrite = 0x3c2;
inline constexpr uint16_t kSeqIndex = 0x3c4;
inline constexpr uint16_t kSeqData = 0x3c5;
inline constexpr uint16_t kDacMask = 0x3c6;
inline constexpr uint16_t kDacReadIndex = 0x3c7;  // write: read index; read: DAC state
inline constexpr uint16_t kDacWriteIndex = 0x3c8;
inline constexpr uint16_t kDacData = 0x3c9;
inline constexpr uint16_t kMiscRead = 0x3cc;
inline constexpr uint16_t kGfxIndex = 0x3ce;
inline constexpr uint16_t kGfxData = 0x3cf;
inline constexpr uint16_t kCrtcIndex = 0x3d4;
inline constexpr uint16_t kCrtcData = 0x3d5;
inline constexpr uint16_t kInputStatus1 = 0x3da;  // colour mode address

inline constexpr uint8_t kMiscColor = 0x01;
inline constexpr uint8_t kAttrPaletteAddressSource = 0x20;
}  // namespace vga

struct VgaState {
  uint8_t misc = vga::kMiscColor;
  bool attr_flip_flop = false;  // false: next 0x3c0 write is an index
  uint8_t attr_index = vga::kAttrPaletteAddressSource;
  std::array<uint8_t, 0x20> attr{};
  uint8_t seq_index = 0;
  std::array<uint8_t, 8> seq{};
  uint8_t gfx_index = 0;
  std::array<uint8_t, 16> gfx{};
  uint8_t crtc_index = 0;
  std::array<uint8_t, 0x40> crtc{};
  uint8_t dac_mask = 0xff;
  uint8_t dac_read_index = 0;
  uint8_t dac_write_index = 0;
  uint8_t dac_component = 0;  // 0..2: R, G, B of the entry being accessed
  bool dac_reading = false;
  std::array<uint8_t, std::size_t{256} * 3> palette{};
  uint8_t retrace_phase = 0;
};

class VgaRegisterMirror {
 public:
  VgaRegisterMirror() = default;

  // port: 0x3c0..0x3df; others read 0xff / are ignored.
  uint8_t read(uint16_t port);
  void write(uint16_t port, uint8_t value);

  // The attribute controller's palette address source bit clear means the screen is blank.
  [[nodiscard]] bool blanked() const { return (state_.attr_index & vga::kAttrPaletteAddressSource) == 0; }
  // Palette entry as 8-bit RGB. dac_8bit: the DAC holds 8-bit components (DISPI 8BIT_DAC).
  [[nodiscard]] std::array<uint8_t, 3> palette_rgb(uint8_t entry, bool dac_8bit) const;

  [[nodiscard]] const VgaState& state() const { return state_; }
  void restore(const VgaState& s);
  void reset() { state_ = VgaState{}; }

 private:
  VgaState state_;
};

}  // namespace xvgpu::simgpu
