// xt-textshot: reads the text of a screenshot PNG drawn with a VGA BIOS's 8x16 font, cell by cell, with the
// font taken from the option ROM image itself. Runs in dom0.
//   xt-textshot FILE.png ROM.bin ROWS   prints "row N: TEXT" for the first ROWS rows of 8x16 cells ('?' = a
//   cell that is
//                                      no glyph of the font); exit 0 when the image and the font were read
// A pixel is ink when it is not black. The font is found in the ROM by the glyph of 'A' of the standard VGA
// 8x16 font (the character generator every VGA BIOS carries), so nothing here depends on where a ROM build
// puts it.
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t kGlyphA[16] = {0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                                    0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00};

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: xt-textshot FILE.png ROM.bin ROWS\n");
    return 2;
  }
  FILE* f = fopen(argv[2], "rb");
  static uint8_t rom[1 << 20];
  size_t rom_len = f ? fread(rom, 1, sizeof rom, f) : 0;
  if (f) fclose(f);
  const uint8_t* font = NULL;
  for (size_t i = 0x41 * 16; i + 16 <= rom_len; i++) {
    if (memcmp(rom + i, kGlyphA, 16) == 0 && i - 0x41 * 16 + 256 * 16 <= rom_len) {
      font = rom + i - 0x41 * 16;
      break;
    }
  }
  if (font == NULL) {
    fprintf(stderr, "xt-textshot: %s: no VGA 8x16 font found\n", argv[2]);
    return 1;
  }
  png_image img = {0};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, argv[1])) {
    fprintf(stderr, "xt-textshot: %s: %s\n", argv[1], img.message);
    return 1;
  }
  img.format = PNG_FORMAT_RGB;
  png_bytep buf = malloc(PNG_IMAGE_SIZE(img));
  if (buf == NULL || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    fprintf(stderr, "xt-textshot: %s: %s\n", argv[1], img.message);
    return 1;
  }
  unsigned rows = (unsigned)strtoul(argv[3], NULL, 0);
  unsigned cols = img.width / 8;
  if (rows > img.height / 16) rows = img.height / 16;
  char* line = malloc(cols + 1);
  printf("size=%ux%u\n", img.width, img.height);
  for (unsigned r = 0; r < rows; r++) {
    for (unsigned c = 0; c < cols; c++) {
      uint8_t cell[16];
      for (unsigned y = 0; y < 16; y++) {
        cell[y] = 0;
        for (unsigned x = 0; x < 8; x++) {
          const png_byte* p = buf + ((size_t)(r * 16 + y) * img.width + c * 8 + x) * 3;
          if (p[0] | p[1] | p[2]) cell[y] |= (uint8_t)(0x80 >> x);
        }
      }
      char ch = '?';
      for (unsigned g = 32; g < 127; g++) {
        if (memcmp(cell, font + g * 16, 16) == 0) {
          ch = (char)g;
          break;
        }
      }
      line[c] = ch;
    }
    unsigned n = cols;
    while (n > 0 && line[n - 1] == ' ') n--;
    line[n] = 0;
    printf("row %u: %s\n", r, line);
  }
  free(line);
  free(buf);
  return 0;
}
