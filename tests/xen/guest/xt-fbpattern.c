// xt-fbpattern: draws xt_pattern() into a framebuffer device (the bochs DRM driver's fbdev emulation) and prints
// "mode=WxH bpp=B stride=S draw_ns=T" for dom0, which compares the vGPU's screenshot with the same pattern.
//   xt-fbpattern [/dev/fb0]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "xt_pattern.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  const char* dev = argc > 1 ? argv[1] : "/dev/fb0";
  int fd = open(dev, O_RDWR);
  if (fd < 0) {
    fprintf(stderr, "xt-fbpattern: %s: %s\n", dev, strerror(errno));
    return 1;
  }
  struct fb_var_screeninfo var;
  struct fb_fix_screeninfo fix;
  if (ioctl(fd, FBIOGET_VSCREENINFO, &var) != 0 || ioctl(fd, FBIOGET_FSCREENINFO, &fix) != 0) {
    fprintf(stderr, "xt-fbpattern: %s: screen info: %s\n", dev, strerror(errno));
    return 1;
  }
  if (var.bits_per_pixel != 32) {
    fprintf(stderr, "xt-fbpattern: %u bits per pixel, want 32\n", var.bits_per_pixel);
    return 1;
  }
  size_t len = (size_t)fix.line_length * var.yres;
  uint8_t* fb = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (fb == MAP_FAILED) {
    fprintf(stderr, "xt-fbpattern: mmap: %s\n", strerror(errno));
    return 1;
  }
  uint64_t t0 = now_ns();
  for (uint32_t y = 0; y < var.yres; y++) {
    uint32_t* row = (uint32_t*)(fb + (size_t)y * fix.line_length);
    for (uint32_t x = 0; x < var.xres; x++) row[x] = xt_pattern(x, y);
  }
  msync(fb, len, MS_SYNC);
  uint64_t t1 = now_ns();
  printf("mode=%ux%u bpp=%u stride=%u draw_ns=%" PRIu64 "\n", var.xres, var.yres, var.bits_per_pixel,
         fix.line_length, t1 - t0);
  return 0;
}
