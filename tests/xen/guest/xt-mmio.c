// xt-mmio: guest-side access to a PCI device's memory BARs through sysfs, for the real-Xen tests.
// Built static (the guest initramfs has no C library of its own).
//
//   xt-mmio read  BDF BAR OFFSET SIZE           prints the value (hex)
//   xt-mmio write BDF BAR OFFSET SIZE VALUE
//   xt-mmio bench BDF BAR OFFSET SIZE COUNT     COUNT reads; prints "reads=N total_ns=T ns_per_read=X"
//   xt-mmio fill  BDF BAR BYTES SEED            writes BYTES with 32-bit stores, reads them back; prints the time
//                                               and "mismatches=N"
//
// BDF is "0000:00:05.0"; SIZE is 1, 2, 4 or 8. The device is enabled (sysfs "enable") before the BAR is mapped:
// without a firmware (PVH) nothing else turns its memory decoding on.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char* what) {
  fprintf(stderr, "xt-mmio: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t num(const char* s) {
  char* end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno != 0 || end == s || *end != '\0') {
    fprintf(stderr, "xt-mmio: not a number: %s\n", s);
    exit(2);
  }
  return (uint64_t)v;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct bar {
  volatile uint8_t* base;
  size_t size;
};

static struct bar map_bar(const char* bdf, unsigned index) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/enable", bdf);
  int en = open(path, O_WRONLY);
  if (en >= 0) {
    // Already enabled answers nothing or EIO, and a bound driver (bochs-drm) EBUSY: decoding is on either way.
    if (write(en, "1", 1) < 0 && errno != EIO && errno != EBUSY) die(path);
    close(en);
  }
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", bdf, index);
  int fd = open(path, O_RDWR | O_SYNC);
  if (fd < 0) die(path);
  struct stat st;
  if (fstat(fd, &st) != 0) die("fstat");
  void* p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  close(fd);
  struct bar b = {(volatile uint8_t*)p, (size_t)st.st_size};
  return b;
}

static uint64_t rd(volatile uint8_t* p, unsigned size) {
  switch (size) {
    case 1: return *(volatile uint8_t*)p;
    case 2: return *(volatile uint16_t*)p;
    case 4: return *(volatile uint32_t*)p;
    case 8: return *(volatile uint64_t*)p;
  }
  fprintf(stderr, "xt-mmio: size must be 1, 2, 4 or 8\n");
  exit(2);
}

static void wr(volatile uint8_t* p, unsigned size, uint64_t v) {
  switch (size) {
    case 1: *(volatile uint8_t*)p = (uint8_t)v; return;
    case 2: *(volatile uint16_t*)p = (uint16_t)v; return;
    case 4: *(volatile uint32_t*)p = (uint32_t)v; return;
    case 8: *(volatile uint64_t*)p = v; return;
  }
  fprintf(stderr, "xt-mmio: size must be 1, 2, 4 or 8\n");
  exit(2);
}

static void check_range(const struct bar* b, uint64_t off, uint64_t len) {
  if (off > b->size || len > b->size - off) {
    fprintf(stderr, "xt-mmio: 0x%" PRIx64 "+%" PRIu64 " is outside the BAR (%zu bytes)\n", off, len, b->size);
    exit(2);
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: xt-mmio read|write|bench|fill BDF BAR ...\n");
    return 2;
  }
  const char* cmd = argv[1];
  struct bar b = map_bar(argv[2], (unsigned)num(argv[3]));
  if (strcmp(cmd, "read") == 0 && argc == 6) {
    uint64_t off = num(argv[4]);
    unsigned size = (unsigned)num(argv[5]);
    check_range(&b, off, size);
    printf("0x%" PRIx64 "\n", rd(b.base + off, size));
  } else if (strcmp(cmd, "write") == 0 && argc == 7) {
    uint64_t off = num(argv[4]);
    unsigned size = (unsigned)num(argv[5]);
    check_range(&b, off, size);
    wr(b.base + off, size, num(argv[6]));
  } else if (strcmp(cmd, "bench") == 0 && argc == 7) {
    uint64_t off = num(argv[4]);
    unsigned size = (unsigned)num(argv[5]);
    uint64_t count = num(argv[6]);
    check_range(&b, off, size);
    uint64_t sink = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) sink += rd(b.base + off, size);
    uint64_t t1 = now_ns();
    printf("reads=%" PRIu64 " total_ns=%" PRIu64 " ns_per_read=%" PRIu64 " last=0x%" PRIx64 "\n", count, t1 - t0,
           count ? (t1 - t0) / count : 0, count ? sink / count : 0);
  } else if (strcmp(cmd, "fill") == 0 && argc == 6) {
    uint64_t bytes = num(argv[4]) & ~(uint64_t)3;
    uint32_t seed = (uint32_t)num(argv[5]);
    check_range(&b, 0, bytes);
    volatile uint32_t* w = (volatile uint32_t*)b.base;
    uint64_t n = bytes / 4;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) w[i] = seed ^ (uint32_t)(i * 2654435761u);
    uint64_t t1 = now_ns();
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) bad += w[i] != (seed ^ (uint32_t)(i * 2654435761u));
    uint64_t t2 = now_ns();
    printf("bytes=%" PRIu64 " fill_ns=%" PRIu64 " readback_ns=%" PRIu64 " mismatches=%" PRIu64 "\n", bytes, t1 - t0,
           t2 - t1, bad);
  } else {
    fprintf(stderr, "xt-mmio: bad arguments for %s\n", cmd);
    return 2;
  }
  return 0;
}
