/*
 * A vendor plugin that misbehaves on purpose, for the fault tests (tests/faults/plugin_faults_test.cc).
 * One physical GPU "faulty0", types:
 *   faulty           works, except where the registers below say otherwise
 *   faulty-badstart  start() fails with -EIO and a message
 * BAR0, 4 KiB of trapped 32-bit registers:
 *   0x00 ID (0x464c5459 "FLTY")
 *   0x04 SLOW: a read sleeps SLEEP_MS milliseconds on the request path, then returns 0x510e
 *   0x08 ERR: reads and writes fail with -EIO
 *   0x0c DOORBELL: a write queues a worker job that sleeps SLEEP_MS, then raises MSI vector 0
 *   0x10 SLEEP_MS (read/write, at most 10000)
 *   0x14 FORBIDDEN: what a compromised device model would try, for the seccomp tests. Write 1:
 *        socket(AF_INET), 2: ioctl(TIOCGWINSZ) on stderr, 3: execve("/bin/true"); a read returns the
 *        errno of the last attempt (0 if it succeeded)
 * BAR2, 64 KiB VRAM (direct). Knob "weight": setting it at run time always fails. Stats fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xvgpu/vendor.h>

#define REG_ID 0x00
#define REG_SLOW 0x04
#define REG_ERR 0x08
#define REG_DOORBELL 0x0c
#define REG_SLEEP_MS 0x10
#define REG_FORBIDDEN 0x14
#define FAULTY_ID 0x464c5459u

static const struct xvgpu_host_api* host;

static const struct xvgpu_bar_desc bar_regs = {XVGPU_INIT(xvgpu_bar_desc), 0, 4096, 0, 4, 4, {0, 0}};
static const struct xvgpu_bar_desc bar_vram = {XVGPU_INIT(xvgpu_bar_desc),
                                               2,
                                               64 * 1024,
                                               XVGPU_BAR_64BIT | XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT,
                                               0,
                                               0,
                                               {0, 0}};
static const struct xvgpu_bar_desc* const bars[] = {&bar_regs, &bar_vram};

static const struct xvgpu_device_layout layout = {
    .struct_size = XVGPU_INIT(xvgpu_device_layout),
    .vendor_id = 0x1af4,
    .device_id = 0x10fa,
    .subsystem_vendor_id = 0x1af4,
    .subsystem_id = 0x0001,
    .revision = 1,
    .class_code = 0x03,
    .subclass = 0x80,
    .msi_vectors = 1,
    .intx_pin = 1,
    .num_bars = 2,
    .bars = bars,
};

static const struct xvgpu_knob_desc knob_weight = {
    .struct_size = XVGPU_INIT(xvgpu_knob_desc),
    .type = XVGPU_KNOB_INT,
    .flags = XVGPU_KNOB_AT_CREATE | XVGPU_KNOB_RUNTIME,
    .name = "weight",
    .description = "accepted at creation, always refused at run time",
    .min = 1,
    .max = 100,
    .default_value = 1,
};
static const struct xvgpu_knob_desc* const knobs[] = {&knob_weight};
static const char* const stat_names[] = {"reads"};

static const struct xvgpu_resource slots = {XVGPU_INIT(xvgpu_resource), 0, "slots", 4};
static const struct xvgpu_resource* const resources[] = {&slots};
static const uint64_t cost[] = {1};

/* The two types differ in name only: create() picks the behaviour by the type. */
#define FAULTY_TYPE(type_name, type_description)                                                        \
  {                                                                                                     \
    .struct_size = XVGPU_INIT(xvgpu_type_desc), .name = (type_name), .description = (type_description), \
    .vram_bytes = 64 * 1024, .heads = 1, .max_width = 64, .max_height = 64, .costs = cost,              \
    .layout = &layout, .num_stats = 1, .num_knobs = 1, .stat_names = stat_names, .knobs = knobs,        \
  }
static const struct xvgpu_type_desc type_ok = FAULTY_TYPE("faulty", "misbehaving registers");
static const struct xvgpu_type_desc type_badstart = FAULTY_TYPE("faulty-badstart", "start() fails");
#undef FAULTY_TYPE
static const struct xvgpu_type_desc* const types[] = {&type_ok, &type_badstart};

static const struct xvgpu_pgpu_desc pgpu = {
    .struct_size = XVGPU_INIT(xvgpu_pgpu_desc),
    .vendor_id = 0x1af4,
    .device_id = 0x10fa,
    .name = "faulty0",
    .description = "a GPU that fails on purpose",
    .num_types = 2,
    .num_resources = 1,
    .types = types,
    .resources = resources,
};

struct faulty_vgpu {
  struct xvgpu_instance* inst;
  uint32_t type;
  uint32_t sleep_ms;
  uint32_t forbidden_errno;
};

static void sleep_ms(uint32_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int try_forbidden(uint64_t what) {
  errno = 0;
  if (what == 1) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
  } else if (what == 2) {
    struct winsize ws;
    (void)ioctl(2, TIOCGWINSZ, &ws);
  } else if (what == 3) {
    char* const argv[] = {(char*)"/bin/true", NULL};
    execve("/bin/true", argv, NULL);
  }
  return errno;
}

static int available_instances(void* pgpu_data, uint32_t type_index, uint32_t* count) {
  (void)pgpu_data;
  (void)type_index;
  *count = 4;
  return 0;
}

static int create(void* pgpu_data, struct xvgpu_instance* inst, const struct xvgpu_create_info* info,
                  void** vgpu_data, struct xvgpu_error* err) {
  (void)pgpu_data;
  struct faulty_vgpu* v = calloc(1, sizeof *v);
  if (v == NULL) return xvgpu_set_error(err, -ENOMEM, "out of memory");
  v->inst = inst;
  v->type = info->type_index;
  v->sleep_ms = 500;
  *vgpu_data = v;
  return 0;
}

static int destroy(void* vgpu_data, struct xvgpu_error* err) {
  (void)err;
  free(vgpu_data);
  return 0;
}

static int start(void* vgpu_data, const struct xvgpu_domain_info* domain, struct xvgpu_error* err) {
  const struct faulty_vgpu* v = vgpu_data;
  (void)domain;
  if (v->type == 1) return xvgpu_set_error(err, -EIO, "faulty: start refused on purpose");
  return 0;
}

static int shutdown_(void* vgpu_data, struct xvgpu_error* err) {
  (void)vgpu_data;
  (void)err;
  return 0;
}

static int reset(void* vgpu_data, struct xvgpu_error* err) {
  (void)err;
  ((struct faulty_vgpu*)vgpu_data)->sleep_ms = 500;
  return 0;
}

static int read_reg(void* vgpu_data, const struct xvgpu_access* a, uint64_t* value) {
  const struct faulty_vgpu* v = vgpu_data;
  if (a->region != 0) return -EINVAL;
  switch (a->offset) {
    case REG_ID:
      *value = FAULTY_ID;
      return 0;
    case REG_SLOW:
      sleep_ms(v->sleep_ms);
      *value = 0x510e;
      return 0;
    case REG_ERR:
      return -EIO;
    case REG_SLEEP_MS:
      *value = v->sleep_ms;
      return 0;
    case REG_FORBIDDEN:
      *value = v->forbidden_errno;
      return 0;
    default:
      *value = 0;
      return 0;
  }
}

struct job {
  struct xvgpu_instance* inst;
  uint32_t ms;
};

static void slow_job(void* arg) {
  struct job* j = arg;
  sleep_ms(j->ms);
  (void)host->raise_msi(j->inst, 0);
  free(j);
}

static int write_reg(void* vgpu_data, const struct xvgpu_access* a, uint64_t value) {
  struct faulty_vgpu* v = vgpu_data;
  if (a->region != 0) return -EINVAL;
  switch (a->offset) {
    case REG_ERR:
      return -EIO;
    case REG_SLEEP_MS:
      v->sleep_ms = value > 10000 ? 10000 : (uint32_t)value;
      return 0;
    case REG_FORBIDDEN:
      v->forbidden_errno = (uint32_t)try_forbidden(value);
      return 0;
    case REG_DOORBELL: {
      struct job* j = malloc(sizeof *j);
      if (j == NULL) return -ENOMEM;
      j->inst = v->inst;
      j->ms = v->sleep_ms;
      const int rc = host->queue_work(v->inst, slow_job, j);
      if (rc < 0) free(j);
      return rc;
    }
    default:
      return 0;
  }
}

static int read_stats(void* vgpu_data, uint64_t* values, uint32_t count) {
  (void)vgpu_data;
  (void)values;
  (void)count;
  return -EIO;
}

static int knob_get(void* vgpu_data, uint32_t knob, int64_t* integer, char* text, size_t text_len) {
  (void)vgpu_data;
  (void)text;
  (void)text_len;
  if (knob != 0) return -EINVAL;
  *integer = 1;
  return 0;
}

static int knob_set(void* vgpu_data, const struct xvgpu_knob_value* value, struct xvgpu_error* err) {
  (void)vgpu_data;
  (void)value;
  return xvgpu_set_error(err, -EIO, "faulty: knob refused on purpose");
}

static int display_surface(void* vgpu_data, uint32_t head, struct xvgpu_display_surface* out) {
  (void)vgpu_data;
  (void)head;
  (void)out;
  return -EIO;
}

static const struct xvgpu_device_ops ops = {
    .struct_size = XVGPU_INIT(xvgpu_device_ops),
    .available_instances = available_instances,
    .create = create,
    .destroy = destroy,
    .start = start,
    .shutdown = shutdown_,
    .reset = reset,
    .read = read_reg,
    .write = write_reg,
    .read_stats = read_stats,
    .knob_get = knob_get,
    .knob_set = knob_set,
    .display_surface = display_surface,
};

static int init(const struct xvgpu_host_api* h, struct xvgpu_registrar* reg, struct xvgpu_error* err) {
  host = h;
  return h->register_pgpu(reg, &pgpu, &ops, NULL, err);
}

static const struct xvgpu_vendor vendor = {
    .struct_size = XVGPU_INIT(xvgpu_vendor),
    .abi_major = XVGPU_VENDOR_ABI_MAJOR,
    .abi_minor = XVGPU_VENDOR_ABI_MINOR,
    .name = "faulty",
    .version = "1.0",
    .init = init,
};

XVGPU_EXPORT const struct xvgpu_vendor* xvgpu_vendor_entry(void) {
  return &vendor;
}
