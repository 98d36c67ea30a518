// xt-hostile: a misbehaving guest for scenario 6. Run as root in the guest before any driver binds the vGPU.
//   xt-hostile BDF
// Prints one "name=ok|bad detail" line per probe and "hostile-done failures=N"; exit status 0 if all ok. "ok" means
// the guest got an answer Xen allows and the device kept its contract; a crashed or hung device model shows up as
// this program hanging (dom0's time limit) or as the final sanity reads failing.
//   config-ro     writes to read-only config fields (IDs, class, header type, capability pointer) change nothing
//   odd-sizes     1/2/4/8-byte accesses at every alignment over the DISPI registers complete
//   rep-across    rep movs/stos that run across the end of BAR2 complete (through /dev/mem, 8 KiB window)
//   engine-junk   a ring of random descriptors and an invalid ring are rejected (error count grows)
//   alive         afterwards the DISPI and engine ID registers still read their constants
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

static int failures;

static void result(const char* name, int ok, const char* detail) {
  printf("%s=%s %s\n", name, ok ? "ok" : "bad", detail);
  fflush(stdout);
  if (!ok) failures++;
}

static volatile uint8_t* map_resource(const char* bdf, unsigned bar, size_t* size) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/enable", bdf);
  int en = open(path, O_WRONLY);
  if (en >= 0) {
    if (write(en, "1", 1) < 0) { /* already enabled */ }
    close(en);
  }
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", bdf, bar);
  int fd = open(path, O_RDWR | O_SYNC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  off_t len = st.st_size;
  void* p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  *size = (size_t)len;
  return (volatile uint8_t*)p;
}

static uint64_t bar_address(const char* bdf, unsigned bar) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource", bdf);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  unsigned long long start = 0, end = 0, flags = 0;
  for (unsigned i = 0; i <= bar; i++) {
    if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3) start = 0;
  }
  fclose(f);
  return start;
}

static uint32_t cfg_read(int fd, off_t off, unsigned size) {
  uint32_t v = 0;
  if (pread(fd, &v, size, off) != (ssize_t)size) return 0xdeadbeef;
  return v;
}

static void config_ro(const char* bdf) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    result("config-ro", 0, "cannot open config");
    return;
  }
  static const struct { off_t off; unsigned size; } fields[] = {
      {0x00, 4}, {0x00, 2}, {0x02, 2}, {0x08, 4}, {0x09, 1}, {0x0a, 2}, {0x0e, 1}, {0x34, 1}};
  char detail[512] = "";
  int ok = 1;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    uint32_t before = cfg_read(fd, fields[i].off, fields[i].size);
    uint32_t junk = 0xa5c3e187u;
    if (pwrite(fd, &junk, fields[i].size, fields[i].off) < 0) { /* the kernel may refuse: also fine */ }
    uint32_t after = cfg_read(fd, fields[i].off, fields[i].size);
    if (before != after) {
      ok = 0;
      size_t n = strlen(detail);
      snprintf(detail + n, sizeof detail - n, "0x%02x/%u:%x->%x ", (unsigned)fields[i].off, fields[i].size, before,
               after);
    }
  }
  close(fd);
  result("config-ro", ok, ok ? "IDs, class, header type, capability pointer unchanged" : detail);
}

static void odd_sizes(volatile uint8_t* bar2) {
  uint64_t sink = 0;
  unsigned n = 0;
  for (unsigned off = 0x500; off < 0x520; off++) {
    sink += *(volatile uint8_t*)(bar2 + off);
    sink += *(volatile uint16_t*)(bar2 + off);
    sink += *(volatile uint32_t*)(bar2 + off);
    sink += *(volatile uint64_t*)(bar2 + off);
    n += 4;
  }
  // Misaligned and odd-size writes to the EDID area (read-only for the guest) and past the last register.
  for (unsigned off = 0x7f0; off < 0x800; off += 3) {
    *(volatile uint16_t*)(bar2 + off + 1) = 0xffff;
    *(volatile uint32_t*)(bar2 + off) = 0xffffffff;
    n += 2;
  }
  char detail[96];
  snprintf(detail, sizeof detail, "%u accesses completed (sum 0x%" PRIx64 ")", n, sink);
  result("odd-sizes", 1, detail);
}

static void rep_across(const char* bdf, size_t bar2_size) {
  uint64_t base = bar_address(bdf, 2);
  int fd = open("/dev/mem", O_RDWR | O_SYNC);
  if (fd < 0 || base == 0) {
    result("rep-across", 0, "no /dev/mem or BAR2 address");
    return;
  }
  volatile uint8_t* win = mmap(NULL, bar2_size * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
  close(fd);
  if (win == MAP_FAILED) {
    char d[64];
    snprintf(d, sizeof d, "mmap /dev/mem: %s", strerror(errno));
    result("rep-across", 0, d);
    return;
  }
  uint32_t buf[16];
  memset(buf, 0, sizeof buf);
  // 16 dwords from 8 bytes before BAR2's end: Xen splits the string at the end of the server's range.
  void* src = (void*)(win + bar2_size - 8);
  void* dst = buf;
  unsigned long cnt = 16;
  __asm__ volatile("cld; rep movsl" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory");
  // And backwards (DF=1) across the same edge, then a rep stos over it.
  src = (void*)(win + bar2_size + 4);
  dst = &buf[15];
  cnt = 8;
  __asm__ volatile("std; rep movsl; cld" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory");
  dst = (void*)(win + bar2_size - 6);
  cnt = 12;
  __asm__ volatile("cld; rep stosb" : "+D"(dst), "+c"(cnt) : "a"(0x5a) : "memory");
  char detail[128];
  snprintf(detail, sizeof detail, "completed; last dwords of BAR2 %08x %08x, next %08x %08x", buf[0], buf[1], buf[2],
           buf[3]);
  result("rep-across", 1, detail);
  munmap((void*)win, bar2_size * 2);
}

static uint64_t phys_of(void* p) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return 0;
  uint64_t e = 0;
  off_t off = (off_t)((uintptr_t)p / 4096 * 8);
  if (pread(fd, &e, 8, off) != 8) e = 0;
  close(fd);
  if (!(e & (1ull << 63))) return 0;
  return (e & ((1ull << 55) - 1)) * 4096;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void engine_junk(volatile uint8_t* bar4) {
  volatile uint32_t* r = (volatile uint32_t*)bar4;
  enum { ID = 0x00 / 4, CONTROL = 0x0c / 4, BASE_LO = 0x10 / 4, BASE_HI = 0x14 / 4, SIZE = 0x18 / 4,
         DOORBELL = 0x24 / 4, STATUS = 0x2c / 4, ERRCOUNT = 0x34 / 4 };
  uint32_t errs0 = r[ERRCOUNT];
  // An invalid ring: not a power of two, outside guest RAM.
  r[CONTROL] = 2;
  r[BASE_LO] = 0xfffff000u;
  r[BASE_HI] = 0x7fffu;
  r[SIZE] = 3;
  r[CONTROL] = 1;
  r[DOORBELL] = 2;
  sleep_ms(200);
  uint32_t st1 = r[STATUS];
  // A ring of random descriptors in guest memory.
  uint8_t* ring = aligned_alloc(4096, 4096);
  if (ring == NULL) {
    result("engine-junk", 0, "no memory");
    return;
  }
  srand(7);
  for (int i = 0; i < 4096; i++) ring[i] = (uint8_t)rand();
  mlock(ring, 4096);
  uint64_t pa = phys_of(ring);
  r[CONTROL] = 2;
  r[BASE_LO] = (uint32_t)pa;
  r[BASE_HI] = (uint32_t)(pa >> 32);
  r[SIZE] = 64;
  r[CONTROL] = 1;
  r[DOORBELL] = 63;
  for (int i = 0; i < 50 && (r[STATUS] & 1u); i++) sleep_ms(100);
  uint32_t st2 = r[STATUS];
  uint32_t errs = r[ERRCOUNT] - errs0;
  r[CONTROL] = 2;
  char detail[160];
  snprintf(detail, sizeof detail, "invalid ring status=0x%x; random ring at 0x%" PRIx64 " status=0x%x rejected=%u", st1,
           pa, st2, errs);
  result("engine-junk", pa != 0 && errs > 0 && !(st2 & 1u), detail);
  (void)ID;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: xt-hostile BDF\n");
    return 2;
  }
  const char* bdf = argv[1];
  size_t s2 = 0, s4 = 0;
  volatile uint8_t* bar2 = map_resource(bdf, 2, &s2);
  volatile uint8_t* bar4 = map_resource(bdf, 4, &s4);
  if (bar2 == NULL || bar4 == NULL) {
    char detail[160];
    snprintf(detail, sizeof detail, "cannot map BAR%u: %s", bar2 == NULL ? 2u : 4u, strerror(errno));
    result("map", 0, detail);
    return 1;
  }
  uint16_t dispi_id = *(volatile uint16_t*)(bar2 + 0x500);
  config_ro(bdf);
  odd_sizes(bar2);
  rep_across(bdf, s2);
  engine_junk(bar4);
  uint16_t id_after = *(volatile uint16_t*)(bar2 + 0x500);
  uint32_t eng_id = *(volatile uint32_t*)(bar4 + 0);
  char detail[96];
  snprintf(detail, sizeof detail, "dispi id 0x%x (before 0x%x), engine id 0x%x", id_after, dispi_id, eng_id);
  result("alive", id_after == dispi_id && (dispi_id & 0xfff0) == 0xb0c0 && eng_id == 0x31454753u, detail);
  printf("hostile-done failures=%d\n", failures);
  return failures == 0 ? 0 : 1;
}
