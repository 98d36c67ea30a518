#include "vendor/simgpu/dispi_registers.h"

#include <algorithm>

namespace xvgpu::simgpu {

DispiRegisters::DispiRegisters(uint64_t vram_size, uint32_t max_x, uint32_t max_y)
    : vram_size_(vram_size),
      max_x_(std::min<uint32_t>(max_x, 0xffff)),
      max_y_(std::min<uint32_t>(max_y, 0xffff)) {
  reset();
}

void DispiRegisters::reset() {
  regs_.fill(0);
  regs_[dispi::kIndexId] = dispi::kId5;
  regs_[dispi::kIndexVideoMemory64k] = static_cast<uint16_t>(std::min<uint64_t>(vram_size_ >> 16, 0xffff));
  getcaps_ = false;
}

uint32_t DispiRegisters::bytes_per_pixel(uint32_t bpp) {
  switch (bpp) {
    case 8:
      return 1;
    case 15:
    case 16:
      return 2;
    case 24:
      return 3;
    case 32:
      return 4;
    default:
      return 0;
  }
}

uint16_t DispiRegisters::read(uint16_t index) const {
  if (index >= dispi::kRegisterCount) return 0;
  if (getcaps_) {
    if (index == dispi::kIndexXres) return static_cast<uint16_t>(max_x_);
    if (index == dispi::kIndexYres) return static_cast<uint16_t>(max_y_);
    if (index == dispi::kIndexBpp) return 32;
  }
  return regs_[index];
}

uint64_t DispiRegisters::write(uint16_t index, uint16_t value) {
  switch (index) {
    case dispi::kIndexId:
      // The driver may write the revision it speaks; only known revisions stick.
      if (value >= dispi::kId0 && value <= dispi::kId5) regs_[index] = value;
      return 0;
    case dispi::kIndexVideoMemory64k:
      return 0;  // read-only
    case dispi::kIndexEnable: {
      const bool was_enabled = enabled();
      getcaps_ = (value & dispi::kGetCaps) != 0;
      regs_[index] = value & (dispi::kEnabled | dispi::k8BitDac | dispi::kLfbEnabled | dispi::kNoClearMem);
      if (!enabled()) return 0;
      clamp_to_limits();
      if (was_enabled || (value & dispi::kNoClearMem) != 0) return 0;
      const auto m = mode();
      return m ? uint64_t{m->stride} * m->yres : 0;
    }
    case dispi::kIndexXres:
    case dispi::kIndexYres:
    case dispi::kIndexBpp:
    case dispi::kIndexBank:
    case dispi::kIndexVirtWidth:
    case dispi::kIndexVirtHeight:
    case dispi::kIndexXOffset:
    case dispi::kIndexYOffset:
      regs_[index] = value;
      if (enabled()) clamp_to_limits();
      return 0;
    default:
      return 0;
  }
}

void DispiRegisters::clamp_to_limits() {
  auto& r = regs_;
  if (bytes_per_pixel(r[dispi::kIndexBpp]) == 0) r[dispi::kIndexBpp] = 8;
  const uint64_t bpp_bytes = bytes_per_pixel(r[dispi::kIndexBpp]);

  uint64_t xres = std::clamp<uint64_t>(r[dispi::kIndexXres], 1, max_x_);
  uint64_t yres = std::clamp<uint64_t>(r[dispi::kIndexYres], 1, max_y_);
  // A single line must fit; then the visible frame must fit.
  xres = std::min<uint64_t>(xres, vram_size_ / bpp_bytes);
  uint64_t virt_width = std::max<uint64_t>(r[dispi::kIndexVirtWidth], xres);
  if (virt_width * bpp_bytes * yres > vram_size_) virt_width = xres;
  const uint64_t stride = virt_width * bpp_bytes;
  const uint64_t max_lines = std::min<uint64_t>(vram_size_ / stride, 0xffff);
  yres = std::min(yres, max_lines);
  const uint64_t virt_height = std::clamp<uint64_t>(r[dispi::kIndexVirtHeight], yres, max_lines);
  const uint64_t x_offset = std::min<uint64_t>(r[dispi::kIndexXOffset], virt_width - xres);
  const uint64_t y_offset = std::min<uint64_t>(r[dispi::kIndexYOffset], virt_height - yres);
  const uint64_t banks = vram_size_ >> 16;
  if (r[dispi::kIndexBank] >= banks) r[dispi::kIndexBank] = 0;

  r[dispi::kIndexXres] = static_cast<uint16_t>(xres);
  r[dispi::kIndexYres] = static_cast<uint16_t>(yres);
  r[dispi::kIndexVirtWidth] = static_cast<uint16_t>(virt_width);
  r[dispi::kIndexVirtHeight] = static_cast<uint16_t>(virt_height);
  r[dispi::kIndexXOffset] = static_cast<uint16_t>(x_offset);
  r[dispi::kIndexYOffset] = static_cast<uint16_t>(y_offset);
}

std::optional<DispiMode> DispiRegisters::mode() const {
  if (!enabled()) return std::nullopt;
  DispiMode m;
  m.xres = regs_[dispi::kIndexXres];
  m.yres = regs_[dispi::kIndexYres];
  m.bpp = regs_[dispi::kIndexBpp];
  m.bytes_per_pixel = bytes_per_pixel(m.bpp);
  m.stride = uint32_t{regs_[dispi::kIndexVirtWidth]} * m.bytes_per_pixel;
  m.offset = uint64_t{regs_[dispi::kIndexYOffset]} * m.stride +
             uint64_t{regs_[dispi::kIndexXOffset]} * m.bytes_per_pixel;
  return m;
}

void DispiRegisters::restore(const std::array<uint16_t, dispi::kRegisterCount>& regs, bool getcaps) {
  reset();
  for (uint16_t i = 0; i < dispi::kRegisterCount; ++i) {
    if (i == dispi::kIndexVideoMemory64k) continue;
    if (i == dispi::kIndexId) {
      write(i, regs[i]);
      continue;
    }
    regs_[i] = regs[i];
  }
  regs_[dispi::kIndexEnable] &= dispi::kEnabled | dispi::k8BitDac | dispi::kLfbEnabled | dispi::kNoClearMem;
  getcaps_ = getcaps;
  if (enabled()) clamp_to_limits();
}

}  // namespace xvgpu::simgpu
