// xt-hostile: a misbehaving guest for scenario 6 and the value-checking probes of issue 13. Run as root in
// the guest before any driver binds the vGPU (simgpu: 1234:1111, BAR0 VRAM, BAR2 display registers, BAR4
// engine).
//   xt-hostile BDF
// Prints one line per probe, "NAME=ok expected=... got=..." or "NAME=bad expected=... got=...", and at the
// end "hostile-done failures=N"; exit status 0 if every probe got what it expected. Every probe compares
// values: a device model that answers wrongly, refuses a request Xen may send, or hangs (dom0's time limit)
// fails it.
//   config-ro      read-only config fields (IDs, revision/class, header type, subsystem, capability pointer)
//   hold
//                  their known values after junk writes
//   read-sizes     1/2/4/8-byte reads at every alignment over the DISPI registers (loaded with known values)
//   and the
//                  QEMU extended registers: the device's little-endian answer, piece by piece as
//                  src/gpu/access_split.h cuts it (aligned pieces of at most 4 bytes; a piece outside an
//                  implemented window reads all ones)
//   past-end       what lies past the implemented registers reads all ones: BAR2 0x516-0x5ff and its last 8
//   bytes,
//                  BAR4 past the last engine register, a byte read of BAR4 (the engine takes 32-bit accesses
//                  only); writes there change nothing
//   rep-stos-up    `rep stosw` of 4 words into DISPI VIRT_WIDTH..Y_OFFSET (stored as written while the
//   display is
//                  off): each reads back the value; BANK below is untouched
//   rep-stos-down  the same with DF set (`std; rep stosw; cld`) from Y_OFFSET down to VIRT_WIDTH
//   rep-movs       `rep movsw` RAM -> those 4 registers -> RAM, upwards and with DF set: what comes back
//   equals
//                  what went in, and each register read singly holds its word
//   rep-across     `rep movsl` across the end of BAR2 (through /dev/mem) returns what single reads of the
//   same
//                  addresses return (BAR2's last dwords all ones); a `rep stosb` across the end leaves the
//                  DISPI ID
//   bar-sizing     with memory decode off, all ones written to each BAR read back as its size mask and type
//   bits
//                  (64-bit BARs: the upper half all ones); the BARs are restored
//   decode-off     command register bit 1 cleared: BAR2, BAR4 and BAR0 (VRAM, mapped directly) read all ones;
//                  with decode back on they answer their values again
//   bar-move       BAR2 and BAR0 moved by the guest (decode off, new address, decode on): the old addresses
//   read all
//                  ones, the new ones answer (DISPI ID, the VRAM words written before the move); then moved
//                  back, the original addresses answer again
//   engine-junk    a ring of random descriptors and an invalid ring are rejected (error count grows)
//   alive          afterwards the DISPI and engine ID registers still read their constants
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// The simgpu's registers (src/vendor/simgpu/display_registers.h, dispi_registers.h, engine_interface.h).
enum {
  kDispi = 0x500,  // DISPI register i at 0x500 + 2 * i
  kDispiEnd = 0x516,
  kQext = 0x600,  // 0x600: size of the block (8), 0x604: 0x1e1e1e1e (little-endian framebuffer)
  kQextEnd = 0x608,
  kDispiIdValue = 0xb0c5,
  kEngineIdValue = 0x31454753,  // "SGE1"
  kEngineLastRegister = 0x48,
  kBarPage = 4096,
};
enum {
  ID,
  XRES,
  YRES,
  BPP,
  ENABLE,
  BANK,
  VIRT_WIDTH,
  VIRT_HEIGHT,
  X_OFFSET,
  Y_OFFSET,
  VIDEO_MEMORY_64K,
  NREGS
};
#define DISPI_OFF(i) (kDispi + 2 * (i))

static int failures;

// One verdict line; ok is the comparison of what the probe expected with what it got.
static void verdict(const char* name, int ok, const char* fmt, ...) {
  char detail[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("%s=%s %s\n", name, ok ? "ok" : "bad", detail);
  fflush(stdout);
  if (!ok) failures++;
}

// Appends to a bounded text buffer.
static void addf(char* buf, size_t cap, const char* fmt, ...) {
  size_t n = strlen(buf);
  if (n + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, cap - n, fmt, ap);
  va_end(ap);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint64_t ones(unsigned size) {
  return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

// ---- the device as the guest finds it ----

static const char* g_bdf;
static int g_cfg = -1;  // sysfs config
static volatile uint8_t* g_bar[6];
static size_t g_bar_size[6];

static volatile uint8_t* map_resource(unsigned bar, size_t* size) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", g_bdf, bar);
  int fd = open(path, O_RDWR | O_SYNC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  void* p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  *size = (size_t)st.st_size;
  return (volatile uint8_t*)p;
}

static uint32_t cfg_read(off_t off, unsigned size) {
  uint32_t v = 0;
  if (pread(g_cfg, &v, size, off) != (ssize_t)size) return 0xdeadbeef;
  return v;
}

static void cfg_write(off_t off, unsigned size, uint32_t v) {
  if (pwrite(g_cfg, &v, size, off) != (ssize_t)size) { /* checked by the read-back */
  }
}

static uint16_t rd16(volatile uint8_t* b, unsigned off) {
  return *(volatile uint16_t*)(b + off);
}
static void wr16(volatile uint8_t* b, unsigned off, uint16_t v) {
  *(volatile uint16_t*)(b + off) = v;
}
static uint32_t rd32(volatile uint8_t* b, unsigned off) {
  return *(volatile uint32_t*)(b + off);
}
static void wr32(volatile uint8_t* b, unsigned off, uint32_t v) {
  *(volatile uint32_t*)(b + off) = v;
}

// One guest access of exactly `size` bytes (a single mov, unaligned if off is).
static uint64_t read_sized(volatile uint8_t* b, unsigned off, unsigned size) {
  switch (size) {
    case 1:
      return *(volatile uint8_t*)(b + off);
    case 2:
      return *(volatile uint16_t*)(b + off);
    case 4:
      return *(volatile uint32_t*)(b + off);
    default:
      return *(volatile uint64_t*)(b + off);
  }
}

// A window of guest-physical memory through /dev/mem (uncached), for addresses Linux does not know as a BAR.
static volatile uint8_t* map_phys(uint64_t pa, size_t len) {
  int fd = open("/dev/mem", O_RDWR | O_SYNC);
  if (fd < 0) return NULL;
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pa);
  close(fd);
  return p == MAP_FAILED ? NULL : (volatile uint8_t*)p;
}

// ---- config-ro ----

static void config_ro(void) {
  // Known values of the simgpu layout (src/vendor/simgpu/physical_gpu.cc): 1234:1111, revision 2, class
  // 03/00/00, header type 0, subsystem 1234:1111. The capability pointer is whatever it is, but must not
  // move.
  struct {
    off_t off;
    unsigned size;
    uint32_t expect;
    int known;
  } f[] = {{0x00, 2, 0x1234, 1}, {0x02, 2, 0x1111, 1}, {0x00, 4, 0x11111234, 1}, {0x08, 4, 0x03000002, 1},
           {0x09, 1, 0x00, 1},   {0x0a, 2, 0x0300, 1}, {0x0e, 1, 0x00, 1},       {0x2c, 2, 0x1234, 1},
           {0x2e, 2, 0x1111, 1}, {0x34, 1, 0, 0}};
  char exp[512] = "", got[512] = "";
  int ok = 1;
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    uint32_t before = cfg_read(f[i].off, f[i].size);
    uint32_t want = f[i].known ? f[i].expect : before;
    cfg_write(f[i].off, f[i].size, 0xa5c3e187u);
    uint32_t after = cfg_read(f[i].off, f[i].size);
    if (after != want || before != want || (!f[i].known && before == 0)) ok = 0;
    addf(exp, sizeof exp, "%02x/%u:%x ", (unsigned)f[i].off, f[i].size, want);
    addf(got, sizeof got, "%02x/%u:%x->%x ", (unsigned)f[i].off, f[i].size, before, after);
  }
  verdict("config-ro", ok, "expected=[%s] got(before->after junk write)=[%s]", exp, got);
}

// ---- the register model for read-sizes / past-end ----

static uint16_t g_regs[NREGS];  // what the DISPI registers hold (loaded by load_known_registers)

static int model_byte(unsigned off, uint8_t* out) {
  if (off >= kDispi && off < kDispiEnd) {
    unsigned rel = off - kDispi;
    *out = (uint8_t)(g_regs[rel / 2] >> (8 * (rel % 2)));
    return 1;
  }
  if (off >= kQext && off < kQextEnd) {
    unsigned rel = off - kQext;
    uint32_t reg = rel < 4 ? 8u : 0x1e1e1e1eu;
    *out = (uint8_t)(reg >> (8 * (rel % 4)));
    return 1;
  }
  return 0;
}

// The answer to a BAR2 read: the access is cut into naturally aligned pieces of at most 4 bytes, ascending
// (src/gpu/access_split.h); a piece wholly inside an implemented window reads its bytes little endian, any
// other piece all ones.
static uint64_t model_read(unsigned off, unsigned size) {
  uint64_t v = 0;
  unsigned cur = off, left = size;
  while (left != 0) {
    unsigned piece = 4;
    while (piece > left || cur % piece != 0) piece >>= 1;
    uint64_t pv = 0;
    int mapped = 1;
    for (unsigned i = 0; i < piece; i++) {
      uint8_t byte = 0;
      if (!model_byte(cur + i, &byte)) mapped = 0;
      pv |= (uint64_t)byte << (8 * i);
    }
    if (!mapped) pv = ones(piece);
    v |= pv << (8 * (cur - off));
    cur += piece;
    left -= piece;
  }
  return v;
}

// Known, pairwise distinct bytes in every DISPI register (all store what is written while ENABLE is 0, except
// ID, which takes only known revisions, and VIDEO_MEMORY_64K, read-only: VRAM size / 64 KiB).
static void load_known_registers(volatile uint8_t* bar2) {
  static const uint16_t v[NREGS] = {kDispiIdValue, 0x1201, 0x3403, 0x5605, 0, 0x7807,
                                    0x9a09,        0xbc0b, 0xde0d, 0xf00f, 0};
  // The display off first: the firmware's VGA ROM may have left a mode on, and while ENABLE is
  // set the device clamps the mode registers to VRAM and the type's maximum.
  wr16(bar2, DISPI_OFF(ENABLE), 0);
  for (unsigned i = 0; i < NREGS; i++) {
    if (i == VIDEO_MEMORY_64K) continue;
    wr16(bar2, DISPI_OFF(i), v[i]);
    g_regs[i] = v[i];
  }
  g_regs[VIDEO_MEMORY_64K] = (uint16_t)(g_bar_size[0] >> 16);
}

static void read_sizes(volatile uint8_t* bar2) {
  load_known_registers(bar2);
  static const unsigned sizes[] = {1, 2, 4, 8};
  static const unsigned spans[][2] = {{0x4f8, 0x520}, {0x5f8, 0x610}};
  unsigned n = 0, bad = 0;
  char detail[1024] = "";
  for (unsigned s = 0; s < 2; s++) {
    for (unsigned off = spans[s][0]; off < spans[s][1]; off++) {
      for (unsigned k = 0; k < 4; k++) {
        unsigned size = sizes[k];
        if (off + size > spans[s][1]) continue;
        uint64_t want = model_read(off, size);
        uint64_t got = read_sized(bar2, off, size);
        n++;
        if (got != want) {
          if (bad < 8)
            addf(detail, sizeof detail, " [0x%x/%u expected=%" PRIx64 " got=%" PRIx64 "]", off, size, want,
                 got);
          bad++;
        }
      }
    }
  }
  // Four samples with their values, whatever the outcome: the little-endian split and the all-ones pieces.
  char sample[512] = "";
  static const unsigned probe[][2] = {{0x501, 2}, {0x503, 4}, {0x50d, 8}, {0x512, 8}};
  for (unsigned i = 0; i < 4; i++) {
    addf(sample, sizeof sample, " 0x%x/%u:%" PRIx64 "=%" PRIx64, probe[i][0], probe[i][1],
         model_read(probe[i][0], probe[i][1]), read_sized(bar2, probe[i][0], probe[i][1]));
  }
  verdict("read-sizes", bad == 0,
          "expected=%u-reads-as-modelled got=%u-right,%u-wrong samples(expected=got):%s%s", n, n - bad, bad,
          sample, detail);
}

// ---- past-end ----

static void past_end(volatile uint8_t* bar2, volatile uint8_t* bar4) {
  char exp[256] = "", got[512] = "";
  int ok = 1;
  // BAR2: the hole after the DISPI registers, a write there, and the last 8 bytes of the BAR.
  uint64_t a = read_sized(bar2, 0x516, 2), b = read_sized(bar2, 0x5fc, 4);
  wr16(bar2, 0x516, 0x1234);
  uint64_t c = read_sized(bar2, 0x516, 2), d = read_sized(bar2, kBarPage - 8, 8);
  // BAR4: past the last engine register, its end, and a byte read of the ID register (32-bit accesses only).
  uint64_t e = read_sized(bar4, kEngineLastRegister + 4, 4), f = read_sized(bar4, kBarPage - 4, 4);
  uint64_t g = read_sized(bar4, 0, 1), h = read_sized(bar4, 0, 4);
  ok = a == 0xffff && b == 0xffffffff && c == 0xffff && d == ~0ull && e == 0xffffffff && f == 0xffffffff &&
       g == 0xff && h == kEngineIdValue;
  addf(exp, sizeof exp,
       "bar2[516/2]=ffff [5fc/4]=ffffffff after-write[516/2]=ffff [ff8/8]=ffffffffffffffff "
       "bar4[4c/4]=ffffffff [ffc/4]=ffffffff [0/1]=ff [0/4]=%x",
       kEngineIdValue);
  addf(got, sizeof got,
       "%" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64, a, b,
       c, d, e, f, g, h);
  verdict("past-end", ok, "expected=[%s] got=[%s]", exp, got);
}

// ---- rep-stos / rep-movs into VIRT_WIDTH..Y_OFFSET ----

static void set_scratch(volatile uint8_t* bar2, const uint16_t v[4]) {
  for (unsigned i = 0; i < 4; i++) wr16(bar2, DISPI_OFF(VIRT_WIDTH + i), v[i]);
}

// Reads BANK, VIRT_WIDTH..Y_OFFSET one by one; compares with want[5] (BANK first).
static int check_regs(volatile uint8_t* bar2, const uint16_t want[5], char* exp, char* got, size_t cap) {
  int ok = 1;
  for (unsigned i = 0; i < 5; i++) {
    uint16_t g = rd16(bar2, DISPI_OFF(BANK + i));
    addf(exp, cap, "%04x ", want[i]);
    addf(got, cap, "%04x ", g);
    if (g != want[i]) ok = 0;
  }
  return ok;
}

static void rep_stos(volatile uint8_t* bar2, int down) {
  static const uint16_t before[4] = {0x1111, 0x2222, 0x3333, 0x4444};
  const uint16_t value = down ? 0x5ac3 : 0xa53c;
  const uint16_t bank = (uint16_t)(down ? 0x0003 : 0x0002);
  wr16(bar2, DISPI_OFF(BANK), bank);
  set_scratch(bar2, before);
  void* dst = (void*)(bar2 + DISPI_OFF(down ? Y_OFFSET : VIRT_WIDTH));
  unsigned long cnt = 4;
  if (down) {
    __asm__ volatile("std; rep stosw; cld" : "+D"(dst), "+c"(cnt) : "a"(value) : "memory", "cc");
  } else {
    __asm__ volatile("cld; rep stosw" : "+D"(dst), "+c"(cnt) : "a"(value) : "memory", "cc");
  }
  const uint16_t want[5] = {bank, value, value, value, value};
  char exp[128] = "", got[128] = "";
  int ok = check_regs(bar2, want, exp, got, sizeof exp);
  verdict(down ? "rep-stos-down" : "rep-stos-up", ok && cnt == 0,
          "rep stosw x4 of %04x (DF=%d) into BANK+1..BANK+4, read back BANK..: expected=[%s] got=[%s] "
          "(before: 1111 "
          "2222 3333 4444)",
          value, down, exp, got);
}

static void rep_movs(volatile uint8_t* bar2) {
  // Both buffers in one page of the guest's RAM (Xen's rep with a RAM side clips at page boundaries).
  uint16_t* page = aligned_alloc(4096, 4096);
  if (page == NULL) {
    verdict("rep-movs", 0, "expected=buffer got=no-memory");
    return;
  }
  memset(page, 0, 4096);
  mlock(page, 4096);
  char exp[256] = "", got[256] = "";
  int ok = 1;
  for (int down = 0; down < 2; down++) {
    uint16_t* in = page + 16 * down;
    uint16_t* out = page + 64 + 16 * down;
    static const uint16_t words[2][4] = {{0x0123, 0x4567, 0x89ab, 0xcdef}, {0xfedc, 0xba98, 0x7654, 0x3210}};
    memcpy(in, words[down], sizeof words[down]);
    memset(out, 0, 8);
    static const uint16_t zero[4] = {0, 0, 0, 0};
    set_scratch(bar2, zero);
    unsigned long cnt = 4;
    void *src, *dst;
    if (!down) {
      src = in;
      dst = (void*)(bar2 + DISPI_OFF(VIRT_WIDTH));
      __asm__ volatile("cld; rep movsw" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
    } else {
      src = in + 3;
      dst = (void*)(bar2 + DISPI_OFF(Y_OFFSET));
      __asm__ volatile("std; rep movsw; cld" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
    }
    uint16_t single[4];
    for (unsigned i = 0; i < 4; i++) single[i] = rd16(bar2, DISPI_OFF(VIRT_WIDTH + i));
    cnt = 4;
    if (!down) {
      src = (void*)(bar2 + DISPI_OFF(VIRT_WIDTH));
      dst = out;
      __asm__ volatile("cld; rep movsw" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
    } else {
      src = (void*)(bar2 + DISPI_OFF(Y_OFFSET));
      dst = out + 3;
      __asm__ volatile("std; rep movsw; cld" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
    }
    addf(exp, sizeof exp, "DF=%d in=%04x,%04x,%04x,%04x ", down, in[0], in[1], in[2], in[3]);
    addf(got, sizeof got, "DF=%d regs=%04x,%04x,%04x,%04x out=%04x,%04x,%04x,%04x ", down, single[0],
         single[1], single[2], single[3], out[0], out[1], out[2], out[3]);
    if (memcmp(single, in, 8) != 0 || memcmp(out, in, 8) != 0) ok = 0;
  }
  verdict("rep-movs", ok, "RAM -> 4 registers -> RAM, rep movsw: expected=[%s] got=[%s]", exp, got);
  munlock(page, 4096);
  free(page);
}

// ---- BAR addresses ----

static uint64_t bar_address(unsigned bar) {
  uint32_t lo = cfg_read(0x10 + 4 * bar, 4);
  uint64_t a = lo & ~0xfull;
  if (lo & 0x4) a |= (uint64_t)cfg_read(0x10 + 4 * bar + 4, 4) << 32;
  return a;
}

static void set_bar_address(unsigned bar, uint64_t addr) {
  uint32_t lo = cfg_read(0x10 + 4 * bar, 4);
  cfg_write(0x10 + 4 * bar, 4, (uint32_t)(addr & ~0xfull) | (lo & 0xf));
  if (lo & 0x4) cfg_write(0x10 + 4 * bar + 4, 4, (uint32_t)(addr >> 32));
}

static void set_decode(int on) {
  uint16_t cmd = (uint16_t)cfg_read(0x04, 2);
  cmd = (uint16_t)(on ? (cmd | 0x2) : (cmd & ~0x2));
  cfg_write(0x04, 2, cmd);
}

// ---- rep-across ----

static void rep_across(void) {
  uint64_t base = bar_address(2);
  volatile uint8_t* win = base ? map_phys(base, 2 * kBarPage) : NULL;
  if (win == NULL) {
    verdict("rep-across", 0, "expected=a /dev/mem window at BAR2 got=%s (BAR2 at 0x%" PRIx64 ")",
            strerror(errno), base);
    return;
  }
  // What single 32-bit reads see from 8 bytes before BAR2's end over the next page (another BAR or nothing).
  uint32_t single[16];
  for (unsigned i = 0; i < 16; i++) single[i] = rd32(win, kBarPage - 8 + 4 * i);
  uint32_t up[16], down[8];
  memset(up, 0, sizeof up);
  memset(down, 0, sizeof down);
  void* src = (void*)(win + kBarPage - 8);
  void* dst = up;
  unsigned long cnt = 16;
  __asm__ volatile("cld; rep movsl" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
  // Backwards (DF=1) from 4 bytes past the end: BAR2+0x1004 down to BAR2+0xfe8.
  src = (void*)(win + kBarPage + 4);
  dst = &down[7];
  cnt = 8;
  __asm__ volatile("std; rep movsl; cld" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory", "cc");
  uint32_t down_single[8];
  for (unsigned i = 0; i < 8; i++) down_single[i] = rd32(win, kBarPage + 4 - 4 * (7 - i));
  // A byte store string over the edge: BAR2's hole and whatever follows must leave the DISPI ID alone.
  dst = (void*)(win + kBarPage - 6);
  cnt = 12;
  __asm__ volatile("cld; rep stosb" : "+D"(dst), "+c"(cnt) : "a"(0x5a) : "memory", "cc");
  uint16_t id = rd16(win, DISPI_OFF(ID));
  int ok = memcmp(up, single, sizeof up) == 0 && memcmp(down, down_single, sizeof down) == 0 &&
           single[0] == 0xffffffffu && single[1] == 0xffffffffu && id == g_regs[ID];
  verdict("rep-across", ok,
          "expected=[rep-up=single-reads %08x %08x|%08x %08x; rep-down=single %08x %08x|%08x %08x; dispi-id "
          "%04x] "
          "got=[%08x %08x|%08x %08x; %08x %08x|%08x %08x; %04x] (BAR2 at 0x%" PRIx64 ")",
          single[0], single[1], single[2], single[3], down_single[4], down_single[5], down_single[6],
          down_single[7], g_regs[ID], up[0], up[1], up[2], up[3], down[4], down[5], down[6], down[7], id,
          base);
  munmap((void*)win, 2 * kBarPage);
}

// ---- bar-sizing ----

static void bar_sizing(void) {
  static const unsigned bars[] = {0, 2, 4};
  uint16_t cmd = (uint16_t)cfg_read(0x04, 2);
  cfg_write(0x04, 2, (uint16_t)(cmd & ~0x3));
  char exp[256] = "", got[256] = "";
  int ok = 1;
  for (unsigned k = 0; k < 3; k++) {
    unsigned bar = bars[k];
    off_t off = 0x10 + 4 * bar;
    uint32_t lo = cfg_read(off, 4);
    int is64 = (lo & 0x6) == 0x4;
    uint32_t hi = is64 ? cfg_read(off + 4, 4) : 0;
    cfg_write(off, 4, 0xffffffffu);
    if (is64) cfg_write(off + 4, 4, 0xffffffffu);
    uint32_t mlo = cfg_read(off, 4);
    uint32_t mhi = is64 ? cfg_read(off + 4, 4) : 0;
    cfg_write(off, 4, lo);
    if (is64) cfg_write(off + 4, 4, hi);
    uint64_t size = g_bar_size[bar];
    uint32_t want_lo = (uint32_t)(~(size - 1) & 0xfffffff0u) | (lo & 0xf);
    uint32_t want_hi = is64 ? (uint32_t)(~(size - 1) >> 32) : 0;
    uint32_t back_lo = cfg_read(off, 4), back_hi = is64 ? cfg_read(off + 4, 4) : 0;
    if (mlo != want_lo || mhi != want_hi || back_lo != lo || back_hi != hi || size == 0) ok = 0;
    addf(exp, sizeof exp, "BAR%u(size %#" PRIx64 "):%08x%s", bar, size, want_lo, is64 ? "" : " ");
    if (is64) addf(exp, sizeof exp, "/%08x ", want_hi);
    addf(got, sizeof got, "BAR%u:%08x%s", bar, mlo, is64 ? "" : " ");
    if (is64) addf(got, sizeof got, "/%08x ", mhi);
    if (back_lo != lo || back_hi != hi) addf(got, sizeof got, "(not-restored:%08x) ", back_lo);
  }
  cfg_write(0x04, 2, cmd);
  verdict("bar-sizing", ok, "expected=[%s] got=[%s]", exp, got);
}

// ---- decode-off ----

static void decode_off(volatile uint8_t* bar0, volatile uint8_t* bar2, volatile uint8_t* bar4) {
  const unsigned vram_off = 0x100000;  // away from the first frame
  wr32(bar0, vram_off, 0x600dcafe);
  uint32_t v_on = rd32(bar0, vram_off);
  set_decode(0);
  uint16_t id_off = rd16(bar2, DISPI_OFF(ID));
  uint32_t eng_off = rd32(bar4, 0);
  uint32_t vram_off_v = rd32(bar0, vram_off);
  set_decode(1);
  uint16_t id_on = rd16(bar2, DISPI_OFF(ID));
  uint32_t eng_on = rd32(bar4, 0);
  uint32_t vram_on_v = rd32(bar0, vram_off);
  int ok = v_on == 0x600dcafe && id_off == 0xffff && eng_off == 0xffffffffu && vram_off_v == 0xffffffffu &&
           id_on == g_regs[ID] && eng_on == kEngineIdValue && vram_on_v == 0x600dcafe;
  verdict(
      "decode-off", ok,
      "expected=[off: dispi-id ffff engine-id ffffffff vram ffffffff; on: %04x %08x 600dcafe] got=[off: %04x "
      "%08x %08x; on: %04x %08x %08x]",
      g_regs[ID], kEngineIdValue, id_off, eng_off, vram_off_v, id_on, eng_on, vram_on_v);
}

// ---- bar-move ----

struct range {
  uint64_t start, end;  // inclusive
};

// A free, size-aligned guest-physical range below 0xfc000000 (hvmloader's reserved area and the magic pages
// start there) and above 3 GiB that overlaps nothing in /proc/iomem (the PCI host bridge windows are
// containers, not users), searched downwards so that it lies near the BARs.
static uint64_t free_range(uint64_t size, uint64_t avoid_a, uint64_t avoid_b) {
  FILE* f = fopen("/proc/iomem", "r");
  if (f == NULL) return 0;
  struct range used[256];
  unsigned n = 0;
  char line[256];
  while (n < 256 && fgets(line, sizeof line, f) != NULL) {
    unsigned long long s, e;
    char name[128] = "";
    if (sscanf(line, " %llx-%llx : %127[^\n]", &s, &e, name) < 2) continue;
    if (strncmp(name, "PCI Bus", 7) == 0) continue;
    used[n].start = s;
    used[n].end = e;
    n++;
  }
  fclose(f);
  for (uint64_t a = 0xfc000000ull - size; a >= 0xc0000000ull; a -= size) {
    int clash = a == avoid_a || a == avoid_b;
    for (unsigned i = 0; i < n && !clash; i++) {
      if (used[i].start <= a + size - 1 && a <= used[i].end) clash = 1;
    }
    if (!clash) return a;
  }
  return 0;
}

static void bar_move(volatile uint8_t* bar0) {
  uint64_t old2 = bar_address(2), old0 = bar_address(0);
  uint64_t new2 = free_range(kBarPage, old2, 0);
  uint64_t size0 = g_bar_size[0];
  uint64_t new0 = free_range(size0, old0, new2 & ~(size0 - 1));
  if (old2 == 0 || old0 == 0 || new2 == 0 || new0 == 0) {
    verdict("bar-move", 0,
            "expected=free ranges got=BAR2 %#" PRIx64 "->%#" PRIx64 " BAR0 %#" PRIx64 "->%#" PRIx64, old2,
            new2, old0, new0);
    return;
  }
  // Words in VRAM that must follow the BAR: at its start and in its last page.
  const unsigned w1 = 0x2000, w2 = (unsigned)(size0 - 16);
  wr32(bar0, w1, 0x11c0ffee);
  wr32(bar0, w2, 0x22beef00);
  volatile uint8_t* o2 = map_phys(old2, kBarPage);
  volatile uint8_t* n2 = map_phys(new2, kBarPage);
  volatile uint8_t* o0 = map_phys(old0 + w1, kBarPage);
  volatile uint8_t* n0a = map_phys(new0 + w1, kBarPage);
  volatile uint8_t* n0b = map_phys(new0 + (w2 & ~(kBarPage - 1u)), kBarPage);
  if (!o2 || !n2 || !o0 || !n0a || !n0b) {
    verdict("bar-move", 0, "expected=/dev/mem windows got=%s", strerror(errno));
    return;
  }
  set_decode(0);
  set_bar_address(2, new2);
  set_bar_address(0, new0);
  set_decode(1);
  sleep_ms(100);
  uint16_t old_id = rd16(o2, DISPI_OFF(ID)), new_id = rd16(n2, DISPI_OFF(ID));
  uint32_t old_w1 = rd32(o0, 0), new_w1 = rd32(n0a, 0), new_w2 = rd32(n0b, w2 % kBarPage);
  // Written at the new place, seen at the old place once the BAR is back.
  wr32(n0a, 4, 0x33d00d33);
  set_decode(0);
  set_bar_address(2, old2);
  set_bar_address(0, old0);
  set_decode(1);
  sleep_ms(100);
  uint16_t back_id = rd16(g_bar[2], DISPI_OFF(ID));
  uint16_t left_id = rd16(n2, DISPI_OFF(ID));
  uint32_t back_w = rd32(bar0, w1 + 4);
  int ok = old_id == 0xffff && new_id == g_regs[ID] && old_w1 == 0xffffffffu && new_w1 == 0x11c0ffee &&
           new_w2 == 0x22beef00 && back_id == g_regs[ID] && left_id == 0xffff && back_w == 0x33d00d33 &&
           bar_address(2) == old2 && bar_address(0) == old0;
  verdict("bar-move", ok,
          "BAR2 %#" PRIx64 "->%#" PRIx64 ", BAR0 %#" PRIx64 "->%#" PRIx64
          ": expected=[old dispi-id ffff, new %04x; old vram ffffffff, new 11c0ffee 22beef00; moved back: id "
          "%04x, "
          "vacated ffff, vram 33d00d33] got=[%04x %04x; %08x %08x %08x; %04x %04x %08x]",
          old2, new2, old0, new0, g_regs[ID], g_regs[ID], old_id, new_id, old_w1, new_w1, new_w2, back_id,
          left_id, back_w);
  munmap((void*)o2, kBarPage);
  munmap((void*)n2, kBarPage);
  munmap((void*)o0, kBarPage);
  munmap((void*)n0a, kBarPage);
  munmap((void*)n0b, kBarPage);
}

// ---- engine-junk ----

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

static void engine_junk(volatile uint8_t* bar4) {
  enum {
    CONTROL = 0x0c,
    BASE_LO = 0x10,
    BASE_HI = 0x14,
    SIZE = 0x18,
    DOORBELL = 0x24,
    STATUS = 0x2c,
    ERRCOUNT = 0x34
  };
  uint32_t errs0 = rd32(bar4, ERRCOUNT);
  // An invalid ring: not a power of two, outside guest RAM.
  wr32(bar4, CONTROL, 2);
  wr32(bar4, BASE_LO, 0xfffff000u);
  wr32(bar4, BASE_HI, 0x7fffu);
  wr32(bar4, SIZE, 3);
  wr32(bar4, CONTROL, 1);
  wr32(bar4, DOORBELL, 2);
  sleep_ms(200);
  uint32_t st1 = rd32(bar4, STATUS);
  // A ring of random descriptors in guest memory.
  uint8_t* ring = aligned_alloc(4096, 4096);
  if (ring == NULL) {
    verdict("engine-junk", 0, "expected=ring got=no-memory");
    return;
  }
  srand(7);
  for (int i = 0; i < 4096; i++) ring[i] = (uint8_t)rand();
  mlock(ring, 4096);
  uint64_t pa = phys_of(ring);
  wr32(bar4, CONTROL, 2);
  wr32(bar4, BASE_LO, (uint32_t)pa);
  wr32(bar4, BASE_HI, (uint32_t)(pa >> 32));
  wr32(bar4, SIZE, 64);
  wr32(bar4, CONTROL, 1);
  wr32(bar4, DOORBELL, 63);
  for (int i = 0; i < 50 && (rd32(bar4, STATUS) & 1u); i++) sleep_ms(100);
  uint32_t st2 = rd32(bar4, STATUS);
  uint32_t errs = rd32(bar4, ERRCOUNT) - errs0;
  wr32(bar4, CONTROL, 2);
  verdict("engine-junk", pa != 0 && errs > 0 && !(st2 & 1u),
          "expected=[rejected>0, not busy] got=[invalid ring status=0x%x; random ring at 0x%" PRIx64
          " status=0x%x rejected=%u]",
          st1, pa, st2, errs);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: xt-hostile BDF\n");
    return 2;
  }
  g_bdf = argv[1];
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/enable", g_bdf);
  int en = open(path, O_WRONLY);
  if (en >= 0) {
    if (write(en, "1", 1) < 0) { /* already enabled */
    }
    close(en);
  }
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", g_bdf);
  g_cfg = open(path, O_RDWR);
  static const unsigned bars[] = {0, 2, 4};
  for (unsigned k = 0; k < 3; k++) g_bar[bars[k]] = map_resource(bars[k], &g_bar_size[bars[k]]);
  if (g_cfg < 0 || g_bar[0] == NULL || g_bar[2] == NULL || g_bar[4] == NULL) {
    verdict("map", 0, "expected=config and BARs 0/2/4 mapped got=%s", strerror(errno));
    printf("hostile-done failures=%d\n", failures);
    return 1;
  }
  volatile uint8_t *bar0 = g_bar[0], *bar2 = g_bar[2], *bar4 = g_bar[4];
  uint16_t dispi_id = rd16(bar2, DISPI_OFF(ID));
  config_ro();
  read_sizes(bar2);  // loads the known register values the later probes expect
  past_end(bar2, bar4);
  rep_stos(bar2, 0);
  rep_stos(bar2, 1);
  rep_movs(bar2);
  rep_across();
  bar_sizing();
  decode_off(bar0, bar2, bar4);
  bar_move(bar0);
  engine_junk(bar4);
  // Back to the reset values for the drivers that follow.
  for (unsigned i = XRES; i <= Y_OFFSET; i++) wr16(bar2, DISPI_OFF(i), 0);
  uint16_t id_after = rd16(bar2, DISPI_OFF(ID));
  uint32_t eng_id = rd32(bar4, 0);
  verdict("alive", id_after == kDispiIdValue && dispi_id == kDispiIdValue && eng_id == kEngineIdValue,
          "expected=[dispi id %x before and after, engine id %x] got=[%x before, %x after, %x]",
          kDispiIdValue, kEngineIdValue, dispi_id, id_after, eng_id);
  printf("hostile-done failures=%d\n", failures);
  return failures == 0 ? 0 : 1;
}
