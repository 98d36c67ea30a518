#include "vendor/simgpu/vga_register_mirror.h"

namespace xvgpu::simgpu {

uint8_t VgaRegisterMirror::read(uint16_t port) {
  auto& s = state_;
  switch (port) {
    case vga::kAttrAddressData:
      return s.attr_index;
    case vga::kAttrDataRead:
      return s.attr[s.attr_index & 0x1f];
    case vga::kMiscRead:
      return s.misc;
    case vga::kSeqIndex:
      return s.seq_index;
    case vga::kSeqData:
      return s.seq[s.seq_index % s.seq.size()];
    case vga::kDacMask:
      return s.dac_mask;
    case vga::kDacReadIndex:
      return s.dac_reading ? 0x03 : 0x00;
    case vga::kDacWriteIndex:
      return s.dac_write_index;
    case vga::kDacData: {
      const uint8_t v = s.palette[s.dac_read_index * 3u + s.dac_component];
      if (++s.dac_component == 3) {
        s.dac_component = 0;
        ++s.dac_read_index;
      }
      return v;
    }
    case vga::kGfxIndex:
      return s.gfx_index;
    case vga::kGfxData:
      return s.gfx[s.gfx_index % s.gfx.size()];
    case vga::kCrtcIndex:
      return (s.misc & vga::kMiscColor) != 0 ? s.crtc_index : 0xff;
    case vga::kCrtcData:
      return (s.misc & vga::kMiscColor) != 0 ? s.crtc[s.crtc_index % s.crtc.size()] : 0xff;
    case vga::kInputStatus1:
      if ((s.misc & vga::kMiscColor) == 0) return 0xff;  // decoded at 0x3ba in mono mode
      // Reading input status 1 resets the attribute flip-flop; retrace and display-enable
      // bits toggle so polling loops terminate.
      s.attr_flip_flop = false;
      s.retrace_phase ^= 1;
      return s.retrace_phase != 0 ? 0x09 : 0x00;
    default:
      return 0xff;
  }
}

void VgaRegisterMirror::write(uint16_t port, uint8_t value) {
  auto& s = state_;
  switch (port) {
    case vga::kAttrAddressData:
      if (!s.attr_flip_flop) {
        s.attr_index = value & 0x3f;
      } else {
        s.attr[s.attr_index & 0x1f] = value;
      }
      s.attr_flip_flop = !s.attr_flip_flop;
      return;
    case vga::kMiscWrite:
      s.misc = value;
      return;
    case vga::kSeqIndex:
      s.seq_index = value;
      return;
    case vga::kSeqData:
      s.seq[s.seq_index % s.seq.size()] = value;
      return;
    case vga::kDacMask:
      s.dac_mask = value;
      return;
    case vga::kDacReadIndex:
      s.dac_read_index = value;
      s.dac_component = 0;
      s.dac_reading = true;
      return;
    case vga::kDacWriteIndex:
      s.dac_write_index = value;
      s.dac_component = 0;
      s.dac_reading = false;
      return;
    case vga::kDacData:
      s.palette[s.dac_write_index * 3u + s.dac_component] = value;
      if (++s.dac_component == 3) {
        s.dac_component = 0;
        ++s.dac_write_index;
      }
      return;
    case vga::kGfxIndex:
      s.gfx_index = value;
      return;
    case vga::kGfxData:
      s.gfx[s.gfx_index % s.gfx.size()] = value;
      return;
    case vga::kCrtcIndex:
      if ((s.misc & vga::kMiscColor) != 0) s.crtc_index = value;
      return;
    case vga::kCrtcData:
      if ((s.misc & vga::kMiscColor) != 0) s.crtc[s.crtc_index % s.crtc.size()] = value;
      return;
    default:
      return;
  }
}

std::array<uint8_t, 3> VgaRegisterMirror::palette_rgb(uint8_t entry, bool dac_8bit) const {
  const auto masked = static_cast<uint8_t>(entry & state_.dac_mask);
  std::array<uint8_t, 3> rgb{};
  for (unsigned c = 0; c < 3; ++c) {
    const uint8_t v = state_.palette[masked * 3u + c];
    rgb[c] = dac_8bit ? v : static_cast<uint8_t>((v & 0x3f) << 2 | (v & 0x3f) >> 4);
  }
  return rgb;
}

void VgaRegisterMirror::restore(const VgaState& s) {
  state_ = s;
  state_.dac_component %= 3;  // the only field whose range indexing relies on
}

}  // namespace xvgpu::simgpu
