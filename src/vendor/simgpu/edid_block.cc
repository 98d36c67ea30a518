#include "vendor/simgpu/edid_block.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>

namespace xvgpu::simgpu {

namespace {

constexpr std::array<uint8_t, 8> kHeader = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
constexpr uint32_t kMaxTimingField = 4095;
constexpr uint32_t kRefreshHz = 60;
constexpr double kPixelPitchMm = 0.25;

struct Timing {
  uint32_t hactive, hblank, hfront, hsync;
  uint32_t vactive, vblank, vfront, vsync;
  uint32_t clock_10khz;
};

// Reduced-blanking style timing at 60 Hz: a fixed 160-pixel horizontal blank and enough
// lines of vertical blank for ~460 us, as flat panels use.
Timing timing_for(uint32_t w, uint32_t h) {
  Timing t{};
  t.hactive = w;
  t.hblank = 160;
  t.hfront = 48;
  t.hsync = 32;
  t.vactive = h;
  t.vblank = std::max<uint32_t>(10, h * 460 / 16207 + 1);
  t.vfront = 3;
  t.vsync = 6;
  const uint64_t clock_hz = uint64_t{w + t.hblank} * (h + t.vblank) * kRefreshHz;
  t.clock_10khz = static_cast<uint32_t>(std::min<uint64_t>((clock_hz + 9999) / 10000, 0xffff));
  return t;
}

void put_detailed_timing(std::span<uint8_t, 18> d, const Timing& t) {
  const auto lo = [](uint32_t v) { return static_cast<uint8_t>(v & 0xff); };
  const auto hi4 = [](uint32_t v) { return static_cast<uint8_t>((v >> 8) & 0x0f); };
  const auto hmm = static_cast<uint32_t>(std::lround(t.hactive * kPixelPitchMm));
  const auto vmm = static_cast<uint32_t>(std::lround(t.vactive * kPixelPitchMm));
  d[0] = lo(t.clock_10khz);
  d[1] = lo(t.clock_10khz >> 8);
  d[2] = lo(t.hactive);
  d[3] = lo(t.hblank);
  d[4] = static_cast<uint8_t>(hi4(t.hactive) << 4 | hi4(t.hblank));
  d[5] = lo(t.vactive);
  d[6] = lo(t.vblank);
  d[7] = static_cast<uint8_t>(hi4(t.vactive) << 4 | hi4(t.vblank));
  d[8] = lo(t.hfront);
  d[9] = lo(t.hsync);
  d[10] = static_cast<uint8_t>((t.vfront & 0x0f) << 4 | (t.vsync & 0x0f));
  d[11] = static_cast<uint8_t>(((t.hfront >> 8) & 3) << 6 | ((t.hsync >> 8) & 3) << 4 |
                               ((t.vfront >> 4) & 3) << 2 | ((t.vsync >> 4) & 3));
  d[12] = lo(hmm);
  d[13] = lo(vmm);
  d[14] = static_cast<uint8_t>(hi4(hmm) << 4 | hi4(vmm));
  d[15] = 0;
  d[16] = 0;
  d[17] = 0x1a;  // digital separate sync, hsync positive, vsync negative
}

void put_text_descriptor(std::span<uint8_t, 18> d, uint8_t tag, const std::string& text) {
  std::fill(d.begin(), d.end(), uint8_t{0});
  d[3] = tag;
  std::fill(d.begin() + 5, d.end(), uint8_t{0x20});
  const size_t n = std::min<size_t>(text.size(), 13);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    d[5 + i] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (n < 13) d[5 + n] = 0x0a;
}

void put_range_limits(std::span<uint8_t, 18> d, const Timing& max) {
  std::fill(d.begin(), d.end(), uint8_t{0});
  d[3] = 0xfd;
  d[5] = 50;  // vertical Hz min/max
  d[6] = 75;
  d[7] = 30;  // horizontal kHz min/max
  const uint64_t line_khz = uint64_t{max.clock_10khz} * 10 / (max.hactive + max.hblank) + 1;
  d[8] = static_cast<uint8_t>(std::clamp<uint64_t>(line_khz * 75 / 60, 31, 255));
  d[9] =
      static_cast<uint8_t>(std::clamp<uint64_t>((uint64_t{max.clock_10khz} * 75 / 60 + 999) / 1000, 1, 255));
  d[10] = 0x01;  // range limits only, no timing formula
  d[11] = 0x0a;
  std::fill(d.begin() + 12, d.end(), uint8_t{0x20});
}

struct StandardMode {
  uint32_t w, h;
  uint8_t aspect;  // EDID 1.4 code: 0 16:10, 1 4:3, 2 5:4, 3 16:9
};
constexpr std::array<StandardMode, 8> kStandardModes = {{{1280, 720, 3},
                                                         {1280, 800, 0},
                                                         {1280, 1024, 2},
                                                         {1440, 900, 0},
                                                         {1600, 900, 3},
                                                         {1680, 1050, 0},
                                                         {1920, 1080, 3},
                                                         {1920, 1200, 0}}};

}  // namespace

EdidBlock make_edid(const EdidParams& p) {
  const uint32_t max_w = std::clamp<uint32_t>(p.max_width, 640, kMaxTimingField);
  const uint32_t max_h = std::clamp<uint32_t>(p.max_height, 480, kMaxTimingField);
  const uint32_t pref_w = std::clamp<uint32_t>(p.preferred_width, 1, max_w);
  const uint32_t pref_h = std::clamp<uint32_t>(p.preferred_height, 1, max_h);

  EdidBlock e{};
  std::copy(kHeader.begin(), kHeader.end(), e.begin());
  // Manufacturer "XVG": three 5-bit letters, big endian.
  const uint16_t mfg = static_cast<uint16_t>(('X' - '@') << 10 | ('V' - '@') << 5 | ('G' - '@'));
  e[8] = static_cast<uint8_t>(mfg >> 8);
  e[9] = static_cast<uint8_t>(mfg & 0xff);
  e[10] = 0x11;  // product code 0x1111, like the PCI device
  e[11] = 0x11;
  for (unsigned i = 0; i < 4; ++i) e[12 + i] = static_cast<uint8_t>(p.serial >> (8 * i));
  e[16] = 1;            // week
  e[17] = 2026 - 1990;  // year of manufacture
  e[18] = 1;            // EDID 1.4
  e[19] = 4;
  e[20] = 0xa0;  // digital input, 8 bits per colour
  e[21] = static_cast<uint8_t>(std::min<long>(std::lround(pref_w * kPixelPitchMm / 10), 255));
  e[22] = static_cast<uint8_t>(std::min<long>(std::lround(pref_h * kPixelPitchMm / 10), 255));
  e[23] = 120;   // gamma 2.2
  e[24] = 0x06;  // sRGB default colour space, preferred timing is native
  // sRGB chromaticity, 10-bit fractions.
  const std::array<double, 8> xy = {0.640, 0.330, 0.300, 0.600, 0.150, 0.060, 0.3127, 0.3290};
  std::array<uint32_t, 8> v{};
  for (size_t i = 0; i < xy.size(); ++i) v[i] = static_cast<uint32_t>(std::lround(xy[i] * 1024));
  e[25] = static_cast<uint8_t>((v[0] & 3) << 6 | (v[1] & 3) << 4 | (v[2] & 3) << 2 | (v[3] & 3));
  e[26] = static_cast<uint8_t>((v[4] & 3) << 6 | (v[5] & 3) << 4 | (v[6] & 3) << 2 | (v[7] & 3));
  for (size_t i = 0; i < v.size(); ++i) e[27 + i] = static_cast<uint8_t>(v[i] >> 2);
  // Established timings that fit.
  if (max_w >= 640 && max_h >= 480) e[35] |= 0x20;
  if (max_w >= 800 && max_h >= 600) e[35] |= 0x01;
  if (max_w >= 1024 && max_h >= 768) e[36] |= 0x08;
  // Standard timings that fit; unused slots are 0x01 0x01.
  size_t slot = 0;
  for (const auto& m : kStandardModes) {
    if (m.w > max_w || m.h > max_h) continue;
    e[38 + 2 * slot] = static_cast<uint8_t>(m.w / 8 - 31);
    e[39 + 2 * slot] = static_cast<uint8_t>(m.aspect << 6 | (kRefreshHz - 60));
    ++slot;
  }
  for (; slot < 8; ++slot) {
    e[38 + 2 * slot] = 0x01;
    e[39 + 2 * slot] = 0x01;
  }
  const Timing max_timing = timing_for(max_w, max_h);
  put_detailed_timing(std::span<uint8_t, 18>(e.data() + 54, 18), timing_for(pref_w, pref_h));
  put_range_limits(std::span<uint8_t, 18>(e.data() + 72, 18), max_timing);
  put_text_descriptor(std::span<uint8_t, 18>(e.data() + 90, 18), 0xfc, p.monitor_name);
  if (pref_w != max_w || pref_h != max_h) {
    put_detailed_timing(std::span<uint8_t, 18>(e.data() + 108, 18), max_timing);
  } else {
    e[108 + 3] = 0x10;  // dummy descriptor
  }
  e[126] = 0;  // no extension blocks
  const unsigned sum = std::accumulate(e.begin(), e.end() - 1, 0u);
  e[127] = static_cast<uint8_t>((256 - sum % 256) % 256);
  return e;
}

bool edid_block_valid(const EdidBlock& block) {
  if (!std::equal(kHeader.begin(), kHeader.end(), block.begin())) return false;
  return std::accumulate(block.begin(), block.end(), 0u) % 256 == 0;
}

}  // namespace xvgpu::simgpu
