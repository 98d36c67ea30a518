// The Bochs DISPI ("VBE") register file of the simgpu display: the registers the Linux bochs
// DRM driver programs to set a mode (ID, XRES, YRES, BPP, ENABLE, BANK, VIRT_WIDTH,
// VIRT_HEIGHT, X_OFFSET, Y_OFFSET, VIDEO_MEMORY_64K). In the MMIO BAR register `index` is the
// 16-bit word at 0x500 + index * 2.
//
// Like the stdvga, values are stored as written while the display is disabled; enabling the
// display, and every write while it is enabled, clamps them to a mode that fits VRAM and the
// type's maximum resolution, so the scan-out geometry derived from them is always in bounds.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace xvgpu::simgpu {

namespace dispi {
inline constexpr uint16_t kIndexId = 0x0;
inline constexpr uint16_t kIndexXres = 0x1;
inline constexpr uint16_t kIndexYres = 0x2;
inline constexpr uint16_t kIndexBpp = 0x3;
inline constexpr uint16_t kIndexEnable = 0x4;
inline constexpr uint16_t kIndexBank = 0x5;
inline constexpr uint16_t kIndexVirtWidth = 0x6;
inline constexpr uint16_t kIndexVirtHeight = 0x7;
inline constexpr uint16_t kIndexXOffset = 0x8;
inline constexpr uint16_t kIndexYOffset = 0x9;
inline constexpr uint16_t kIndexVideoMemory64k = 0xa;
inline constexpr uint16_t kRegisterCount = 0xb;

inline constexpr uint16_t kId0 = 0xB0C0;
inline constexpr uint16_t kId5 = 0xB0C5;  // the newest interface revision; what we report

inline constexpr uint16_t kDisabled = 0x00;
inline constexpr uint16_t kEnabled = 0x01;
inline constexpr uint16_t kGetCaps = 0x02;
inline constexpr uint16_t k8BitDac = 0x20;
inline constexpr uint16_t kLfbEnabled = 0x40;
inline constexpr uint16_t kNoClearMem = 0x80;
}  // namespace dispi

// The geometry the registers describe while the display is enabled.
struct DispiMode {
  uint32_t xres = 0;
  uint32_t yres = 0;
  uint32_t bpp = 0;              // 8, 15, 16, 24 or 32
  uint32_t bytes_per_pixel = 0;  // 1, 2, 2, 3, 4
  uint32_t stride = 0;           // bytes per line: virt_width * bytes_per_pixel
  uint64_t offset = 0;           // start of the visible frame in VRAM
};

class DispiRegisters {
 public:
  // vram_size: bytes of VRAM (a multiple of 64 KiB); max_x/max_y: the type's maximum mode.
  DispiRegisters(uint64_t vram_size, uint32_t max_x, uint32_t max_y);

  [[nodiscard]] uint16_t read(uint16_t index) const;
  // Returns the number of bytes at the start of VRAM the device must clear (enabling without
  // NOCLEARMEM clears the visible frame), 0 otherwise. Unknown indices are ignored.
  uint64_t write(uint16_t index, uint16_t value);

  [[nodiscard]] bool enabled() const { return (regs_[dispi::kIndexEnable] & dispi::kEnabled) != 0; }
  // The current mode, or nullopt while the display is disabled.
  [[nodiscard]] std::optional<DispiMode> mode() const;

  // Raw register values for save/restore; restore() re-applies the clamping rules so a
  // tampered image still yields an in-bounds mode.
  [[nodiscard]] std::array<uint16_t, dispi::kRegisterCount> raw() const { return regs_; }
  [[nodiscard]] bool getcaps() const { return getcaps_; }
  void restore(const std::array<uint16_t, dispi::kRegisterCount>& regs, bool getcaps);
  void reset();

  [[nodiscard]] static uint32_t bytes_per_pixel(uint32_t bpp);

 private:
  void clamp_to_limits();

  uint64_t vram_size_;
  uint32_t max_x_;
  uint32_t max_y_;
  std::array<uint16_t, dispi::kRegisterCount> regs_{};
  bool getcaps_ = false;  // ENABLE was written with GETCAPS: XRES/YRES/BPP read the maxima
};

}  // namespace xvgpu::simgpu
