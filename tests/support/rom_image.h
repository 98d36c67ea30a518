// Option ROM images for tests: a well-formed one (signature, length, PCI data structure, zero
// checksum) for given PCI IDs, which a test may then damage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace xvgpu::test {

inline constexpr size_t kRomPcirOffset = 0x40;

// Makes the bytes of the declared length sum to 0 again (through the last byte).
inline void fix_rom_checksum(std::vector<uint8_t>& r) {
  const size_t n = size_t{r[2]} * 512;
  r[n - 1] = 0;
  const auto sum = static_cast<uint8_t>(std::accumulate(r.begin(), r.begin() + static_cast<long>(n), 0u));
  r[n - 1] = static_cast<uint8_t>(0x100 - sum);
}

// `blocks` 512-byte blocks; byte i of the body is (i * 7) & 0xff so reads are recognisable.
inline std::vector<uint8_t> make_rom_image(uint16_t vendor, uint16_t device, uint8_t blocks = 3) {
  std::vector<uint8_t> r(size_t{blocks} * 512);
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<uint8_t>(i * 7);
  r[0] = 0x55;
  r[1] = 0xaa;
  r[2] = blocks;
  r[0x18] = static_cast<uint8_t>(kRomPcirOffset);
  r[0x19] = 0;
  const uint8_t pcir[] = {'P',
                          'C',
                          'I',
                          'R',
                          static_cast<uint8_t>(vendor),
                          static_cast<uint8_t>(vendor >> 8),
                          static_cast<uint8_t>(device),
                          static_cast<uint8_t>(device >> 8)};
  std::copy(std::begin(pcir), std::end(pcir), r.begin() + kRomPcirOffset);
  fix_rom_checksum(r);
  return r;
}

}  // namespace xvgpu::test
