// The test pattern the guest draws and dom0 expects in the screenshot: distinct per pixel up to 1024x1024, so a
// wrong stride, offset, size or byte order shows up as mismatches.
#ifndef XT_PATTERN_H
#define XT_PATTERN_H
#include <stdint.h>

// 0x00RRGGBB
static inline uint32_t xt_pattern(uint32_t x, uint32_t y) {
  uint32_t r = x & 0xffu;
  uint32_t g = y & 0xffu;
  uint32_t b = ((((x >> 8) & 3u) | (((y >> 8) & 3u) << 2)) << 4) | ((x + y) & 0xfu);
  return (r << 16) | (g << 8) | b;
}

// The migration test's frames: the pattern with every pixel's colour changed by `stamp` (0: the pattern itself).
// The guest's engine driver (kmod/xt_engine.c) restates it.
static inline uint32_t xt_stamped(uint32_t x, uint32_t y, uint32_t stamp) {
  return xt_pattern(x, y) ^ ((stamp * 0x9e3779b1u) & 0xffffffu);
}
#endif
