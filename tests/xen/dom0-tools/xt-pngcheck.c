// xt-pngcheck: compares a screenshot PNG with xt_pattern(), pixel for pixel. Runs in dom0 (libpng comes with
// xvgpu-dm's libraries).
//   xt-pngcheck FILE.png WIDTH HEIGHT   prints "pixels=N mismatches=M first_bad=(x,y) got=.. want=.."; exit 0 if M=0
//   xt-pngcheck FILE.png WIDTH HEIGHT ROWS S0,S1,...   band i (rows i*ROWS..) is xt_stamped(x, y, Si), rows below
//                                       the listed bands the pattern itself
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "xt_pattern.h"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    fprintf(stderr, "usage: xt-pngcheck FILE.png WIDTH HEIGHT [BAND_ROWS STAMP0,STAMP1,...]\n");
    return 2;
  }
  enum { kMaxBands = 64 };
  uint32_t stamps[kMaxBands] = {0};
  unsigned long band_rows = 0, bands = 0;
  if (argc == 6) {
    band_rows = strtoul(argv[4], NULL, 0);
    for (char *p = argv[5], *end; *p != '\0' && bands < kMaxBands; p = *end == ',' ? end + 1 : end) {
      stamps[bands++] = (uint32_t)strtoul(p, &end, 0);
      if (end == p) {
        fprintf(stderr, "xt-pngcheck: bad stamp list '%s'\n", argv[5]);
        return 2;
      }
    }
    if (band_rows == 0) {
      fprintf(stderr, "xt-pngcheck: band rows must be positive\n");
      return 2;
    }
  }
  png_image img = {0};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, argv[1])) {
    fprintf(stderr, "xt-pngcheck: %s: %s\n", argv[1], img.message);
    return 1;
  }
  img.format = PNG_FORMAT_RGB;
  png_bytep buf = malloc(PNG_IMAGE_SIZE(img));
  if (buf == NULL || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    fprintf(stderr, "xt-pngcheck: %s: %s\n", argv[1], img.message);
    return 1;
  }
  unsigned long want_w = strtoul(argv[2], NULL, 0);
  unsigned long want_h = strtoul(argv[3], NULL, 0);
  if (img.width != want_w || img.height != want_h) {
    printf("size=%ux%u want=%lux%lu\n", img.width, img.height, want_w, want_h);
    return 1;
  }
  unsigned long bad = 0;
  for (uint32_t y = 0; y < img.height; y++) {
    for (uint32_t x = 0; x < img.width; x++) {
      const png_byte* p = buf + ((size_t)y * img.width + x) * 3;
      uint32_t got = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
      const unsigned long band = band_rows != 0 ? y / band_rows : bands;
      uint32_t want = band < bands ? xt_stamped(x, y, stamps[band]) : xt_pattern(x, y);
      if (got != want && bad++ == 0) printf("first_bad=(%u,%u) got=%06x want=%06x\n", x, y, got, want);
    }
  }
  printf("pixels=%lu mismatches=%lu\n", (unsigned long)img.width * img.height, bad);
  free(buf);
  return bad == 0 ? 0 : 1;
}
