/*
 * A test plugin built several times with -DVARIANT=n to check the ABI rules of
 * include/xvgpu/vendor.h: an older plugin (smaller struct sizes) keeps loading with its newer
 * features absent; newer or incompatible ones are refused with a clear error.
 */
#include <errno.h>
#include <stdlib.h>
#include <xvgpu/vendor.h>

#define VARIANT_OLD_OPS 1     /* ops struct_size = ABI 1.0 mandatory part only */
#define VARIANT_NEWER_MINOR 2 /* built for a newer minor than the core */
#define VARIANT_OTHER_MAJOR 3 /* built for another major */
#define VARIANT_TINY_VENDOR 4 /* struct xvgpu_vendor truncated */
#define VARIANT_BAD_BAR 5     /* BAR size not a power of two */
#define VARIANT_INIT_FAILS 6  /* init() refuses with a message */
#define VARIANT_NO_ENTRY 7    /* no entry symbol */
#define VARIANT_BIG_TYPE 8    /* type struct larger than this ABI minor defines */
#define VARIANT_MINOR_1 9     /* built for ABI 1.1 (before display damage) */
#define VARIANT_MINOR_2 10    /* built for ABI 1.2 (before direct_bar_written), VRAM and save/restore */

#ifndef VARIANT
#error "define VARIANT"
#endif

static const struct xvgpu_host_api* host;

static const struct xvgpu_bar_desc bar0 = {XVGPU_INIT(xvgpu_bar_desc),
                                           0,
                                           VARIANT == VARIANT_BAD_BAR ? 3000 : 4096,
                                           VARIANT == VARIANT_MINOR_2 ? XVGPU_BAR_DIRECT : 0,
                                           0,
                                           0,
                                           {0, 0}};
static const struct xvgpu_bar_desc* const bars[] = {&bar0};
static const struct xvgpu_device_layout layout = {
    .struct_size = XVGPU_INIT(xvgpu_device_layout),
    .vendor_id = 0x1af4,
    .device_id = 0x10f1,
    .class_code = 0x03,
    .msi_vectors = 1,
    .num_bars = 1,
    .bars = bars,
};
static const char* const stat_names[] = {"ticks"};
static const struct xvgpu_knob_desc knob = {
    .struct_size = XVGPU_INIT(xvgpu_knob_desc),
    .type = XVGPU_KNOB_BOOL,
    .flags = XVGPU_KNOB_RUNTIME,
    .name = "turbo",
};
static const struct xvgpu_knob_desc* const knobs[] = {&knob};

/* A type struct with room after it, so VARIANT_BIG_TYPE can claim a larger size. */
static const struct {
  struct xvgpu_type_desc t;
  uint64_t future_field;
} type = {{
              .struct_size = XVGPU_INIT(xvgpu_type_desc) + (VARIANT == VARIANT_BIG_TYPE ? 8 : 0),
              .name = "variant-1",
              .description = "ABI test type",
              .max_instances = 2,
              .layout = &layout,
              .num_stats = 1,
              .num_knobs = 1,
              .stat_names = stat_names,
              .knobs = knobs,
          },
          0};
static const struct xvgpu_type_desc* const types[] = {&type.t};
static const struct xvgpu_pgpu_desc pgpu = {
    .struct_size = XVGPU_INIT(xvgpu_pgpu_desc),
    .name = "variant0",
    .num_types = 1,
    .types = types,
};

static int available(void* p, uint32_t t, uint32_t* n) {
  (void)p;
  (void)t;
  *n = 8;
  return 0;
}
static int create(void* p, struct xvgpu_instance* i, const struct xvgpu_create_info* info, void** d,
                  struct xvgpu_error* e) {
  (void)p;
  (void)info;
  (void)e;
  *d = i;
  return 0;
}
static int simple(void* d, struct xvgpu_error* e) {
  (void)d;
  (void)e;
  return 0;
}
static int start(void* d, const struct xvgpu_domain_info* dom, struct xvgpu_error* e) {
  (void)d;
  (void)dom;
  (void)e;
  return 0;
}
static int rd(void* d, const struct xvgpu_access* a, uint64_t* v) {
  (void)d;
  *v = a->offset;
  return 0;
}
static int wr(void* d, const struct xvgpu_access* a, uint64_t v) {
  (void)d;
  (void)a;
  (void)v;
  return 0;
}
/* Present in memory in every variant; an OLD_OPS plugin's struct_size hides them. */
static int stats(void* d, uint64_t* values, uint32_t n) {
  (void)d;
  for (uint32_t i = 0; i < n; ++i) values[i] = 77;
  return 0;
}
static int kget(void* d, uint32_t k, int64_t* i, char* t, size_t l) {
  (void)d;
  (void)k;
  (void)t;
  (void)l;
  *i = 1;
  return 0;
}

/* A device state of one byte. */
static int save(void* d, const struct xvgpu_stream* out, struct xvgpu_error* e) {
  (void)d;
  (void)e;
  const uint8_t b = 0x5a;
  return out->write(out->ctx, &b, 1);
}
static int restore(void* d, const struct xvgpu_stream* in, struct xvgpu_error* e) {
  (void)d;
  uint8_t b = 0;
  return in->read(in->ctx, &b, 1) == 1 && b == 0x5a ? 0 : xvgpu_set_error(e, -EINVAL, "bad state");
}

static const struct xvgpu_device_ops ops = {
    .struct_size = VARIANT == VARIANT_OLD_OPS ? XVGPU_DEVICE_OPS_MIN_SIZE : XVGPU_INIT(xvgpu_device_ops),
    .available_instances = available,
    .create = create,
    .destroy = simple,
    .start = start,
    .shutdown = simple,
    .reset = simple,
    .read = rd,
    .write = wr,
    .read_stats = stats,
    .knob_get = kget,
    .save_state = VARIANT == VARIANT_MINOR_2 ? save : NULL,
    .restore_state = VARIANT == VARIANT_MINOR_2 ? restore : NULL,
};

static int init(const struct xvgpu_host_api* h, struct xvgpu_registrar* reg, struct xvgpu_error* err) {
  host = h;
  if (VARIANT == VARIANT_INIT_FAILS) return xvgpu_set_error(err, -ENODEV, "no hardware found on this host");
  return h->register_pgpu(reg, &pgpu, &ops, NULL, err);
}

static const struct xvgpu_vendor vendor = {
    .struct_size = VARIANT == VARIANT_TINY_VENDOR ? 12 : XVGPU_INIT(xvgpu_vendor),
    .abi_major = XVGPU_VENDOR_ABI_MAJOR + (VARIANT == VARIANT_OTHER_MAJOR ? 1 : 0),
    .abi_minor = VARIANT == VARIANT_MINOR_1 ? 1
                 : VARIANT == VARIANT_MINOR_2
                     ? 2
                     : XVGPU_VENDOR_ABI_MINOR + (VARIANT == VARIANT_NEWER_MINOR ? 1 : 0),
    .name = "abi-variant",
    .version = "test",
    .init = init,
};

#if VARIANT != VARIANT_NO_ENTRY
XVGPU_EXPORT const struct xvgpu_vendor* xvgpu_vendor_entry(void) {
  return &vendor;
}
#else
XVGPU_EXPORT const struct xvgpu_vendor* some_other_symbol(void) {
  return &vendor;
}
#endif
