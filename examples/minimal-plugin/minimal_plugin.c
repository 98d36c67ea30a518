/*
 * A minimal xvgpu vendor plugin, in plain C11: one physical GPU ("minimal0") offering two vGPU
 * types. Each vGPU has
 *   BAR0  4 KiB trapped MMIO registers:
 *         0x00 ID (read-only, 0x4d494e31 "MIN1")   0x04 SCRATCH (read/write)
 *         0x08 DOORBELL (write: a worker job copies SCRATCH's value into guest memory at
 *              DMA_ADDR, then raises MSI vector 0)   0x10 DMA_ADDR (64-bit, read/write)
 *         0x18 DISPLAY (1 = scan out a 64x64 XRGB8888 surface from VRAM offset 0)
 *   BAR2  64 KiB VRAM, 64-bit prefetchable, reached directly by the guest (no traps)
 *   one MSI vector and INTA.
 * Counters: reads, writes, doorbells. Knobs: weight (1..100, at creation and run time),
 * priority (background/foreground, run time). Save/restore of its registers.
 *
 * docs/vendor-guide.md walks through this file. Build it against include/xvgpu/vendor.h:
 *   cc -std=c11 -shared -fPIC -I<xvgpu>/include minimal_plugin.c -o minimal.so
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xvgpu/vendor.h>

#define REG_ID 0x00
#define REG_SCRATCH 0x04
#define REG_DOORBELL 0x08
#define REG_DMA_ADDR 0x10
#define REG_DISPLAY 0x18
#define MINIMAL_ID 0x4d494e31u

static const struct xvgpu_host_api* host;

/* ---- what the guest sees ---- */

static const struct xvgpu_bar_desc bar_regs = {
    XVGPU_INIT(xvgpu_bar_desc), 0, 4096, 0, 4, 8, {0, 0}}; /* 32/64-bit registers only */
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
    .vendor_id = 0x1af4, /* example IDs */
    .device_id = 0x10f0,
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

/* ---- knobs and counters ---- */

static const char* const priority_choices[] = {"background", "foreground"};
static const struct xvgpu_knob_desc knob_weight = {
    .struct_size = XVGPU_INIT(xvgpu_knob_desc),
    .type = XVGPU_KNOB_INT,
    .flags = XVGPU_KNOB_AT_CREATE | XVGPU_KNOB_RUNTIME,
    .name = "weight",
    .description = "share of the engine relative to other vGPUs of the same physical GPU",
    .min = 1,
    .max = 100,
    .default_value = 1,
};
static const struct xvgpu_knob_desc knob_priority = {
    .struct_size = XVGPU_INIT(xvgpu_knob_desc),
    .type = XVGPU_KNOB_ENUM,
    .flags = XVGPU_KNOB_RUNTIME,
    .num_choices = 2,
    .name = "priority",
    .description = "foreground vGPUs are scheduled first",
    .default_value = 0,
    .choices = priority_choices,
};
static const struct xvgpu_knob_desc* const knobs[] = {&knob_weight, &knob_priority};
static const char* const stat_names[] = {"reads", "writes", "doorbells"};

/* ---- types and the physical GPU ---- */

static const struct xvgpu_resource slots = {XVGPU_INIT(xvgpu_resource), 0, "slots", 4};
static const struct xvgpu_resource* const resources[] = {&slots};
static const uint64_t small_cost[] = {1};
static const uint64_t large_cost[] = {2};

static const struct xvgpu_type_desc type_small = {
    .struct_size = XVGPU_INIT(xvgpu_type_desc),
    .name = "minimal-1",
    .description = "one slot, 64 KiB VRAM",
    .vram_bytes = 64 * 1024,
    .heads = 1,
    .max_width = 64,
    .max_height = 64,
    .costs = small_cost,
    .layout = &layout,
    .num_stats = 3,
    .num_knobs = 2,
    .stat_names = stat_names,
    .knobs = knobs,
};
static const struct xvgpu_type_desc type_large = {
    .struct_size = XVGPU_INIT(xvgpu_type_desc),
    .name = "minimal-2",
    .description = "two slots, 64 KiB VRAM",
    .vram_bytes = 64 * 1024,
    .heads = 1,
    .max_width = 64,
    .max_height = 64,
    .max_instances = 1,
    .costs = large_cost,
    .layout = &layout,
    .num_stats = 3,
    .num_knobs = 2,
    .stat_names = stat_names,
    .knobs = knobs,
};
static const struct xvgpu_type_desc* const types[] = {&type_small, &type_large};

static const struct xvgpu_pgpu_desc pgpu = {
    .struct_size = XVGPU_INIT(xvgpu_pgpu_desc),
    .vendor_id = 0x1af4,
    .device_id = 0x10f0,
    .name = "minimal0",
    .description = "software example GPU",
    .num_types = 2,
    .num_resources = 1,
    .types = types,
    .resources = resources,
};

/* ---- one vGPU ---- */

struct minimal_vgpu {
  struct xvgpu_instance* inst;
  uint32_t scratch;
  uint64_t dma_addr;
  uint32_t display;
  int64_t weight;
  int64_t priority;
  uint64_t stats[3];
  int running;
};

static int available_instances(void* pgpu_data, uint32_t type_index, uint32_t* count) {
  (void)pgpu_data;
  (void)type_index;
  *count = 4; /* the core's host-wide accounting of "slots" is the real limit */
  return 0;
}

static int create(void* pgpu_data, struct xvgpu_instance* inst, const struct xvgpu_create_info* info,
                  void** vgpu_data, struct xvgpu_error* err) {
  (void)pgpu_data;
  struct minimal_vgpu* v = calloc(1, sizeof *v);
  if (v == NULL) return xvgpu_set_error(err, -ENOMEM, "out of memory");
  v->inst = inst;
  v->weight = knob_weight.default_value;
  for (uint32_t i = 0; i < info->num_params; ++i) {
    if (info->params[i].knob == 0) v->weight = info->params[i].integer;
  }
  *vgpu_data = v;
  return 0;
}

static int destroy(void* vgpu_data, struct xvgpu_error* err) {
  (void)err;
  free(vgpu_data);
  return 0;
}

static int start(void* vgpu_data, const struct xvgpu_domain_info* domain, struct xvgpu_error* err) {
  struct minimal_vgpu* v = vgpu_data;
  if (domain->domid == 0) return xvgpu_set_error(err, -EINVAL, "minimal vGPUs do not serve dom0");
  /* The VM, not the domid, is what a license or a per-VM policy would be keyed on: the domid
   * changes at every boot, the VM's UUID and name do not ("" when the core does not know them). */
  if (domain->struct_size >= offsetof(struct xvgpu_domain_info, vm_name) + sizeof domain->vm_name) {
    char line[400];
    snprintf(line, sizeof line, "vGPU %s serves domain %u: VM %s '%s'", domain->vgpu_uuid, domain->domid,
             domain->vm_uuid[0] != '\0' ? domain->vm_uuid : "(unknown)", domain->vm_name ? domain->vm_name : "");
    host->log(v->inst, XVGPU_LOG_INFO, line);
  }
  v->running = 1;
  return 0;
}

static int shutdown_(void* vgpu_data, struct xvgpu_error* err) {
  (void)err;
  ((struct minimal_vgpu*)vgpu_data)->running = 0;
  return 0;
}

static int reset(void* vgpu_data, struct xvgpu_error* err) {
  struct minimal_vgpu* v = vgpu_data;
  (void)err;
  v->scratch = 0;
  v->dma_addr = 0;
  v->display = 0;
  return 0;
}

static int read_reg(void* vgpu_data, const struct xvgpu_access* a, uint64_t* value) {
  struct minimal_vgpu* v = vgpu_data;
  v->stats[0]++;
  if (a->region != 0) return -EINVAL;
  switch (a->offset) {
    case REG_ID:
      *value = MINIMAL_ID;
      return 0;
    case REG_SCRATCH:
      *value = v->scratch;
      return 0;
    case REG_DMA_ADDR:
      *value = a->size == 8 ? v->dma_addr : (uint32_t)v->dma_addr;
      return 0;
    case REG_DMA_ADDR + 4:
      *value = v->dma_addr >> 32;
      return 0;
    case REG_DISPLAY:
      *value = v->display;
      return 0;
    default:
      *value = 0;
      return 0; /* unimplemented registers read as zero */
  }
}

/* The doorbell's work, off the vCPU's path, on the instance's worker thread. It gets a copy of
 * the registers it needs: jobs run concurrently with register accesses. */
struct doorbell {
  struct xvgpu_instance* inst;
  uint64_t addr;
  uint32_t value;
};

static void doorbell_job(void* arg) {
  struct doorbell* d = arg;
  if (host->guest_write(d->inst, d->addr, &d->value, sizeof d->value) == 0) (void)host->raise_msi(d->inst, 0);
  free(d);
}

static int ring_doorbell(struct minimal_vgpu* v) {
  struct doorbell* d = malloc(sizeof *d);
  if (d == NULL) return -ENOMEM;
  d->inst = v->inst;
  d->addr = v->dma_addr;
  d->value = v->scratch;
  const int rc = host->queue_work(v->inst, doorbell_job, d);
  if (rc < 0) free(d);
  return rc;
}

static int write_reg(void* vgpu_data, const struct xvgpu_access* a, uint64_t value) {
  struct minimal_vgpu* v = vgpu_data;
  v->stats[1]++;
  if (a->region != 0) return -EINVAL;
  switch (a->offset) {
    case REG_SCRATCH:
      v->scratch = (uint32_t)value;
      return 0;
    case REG_DOORBELL:
      v->stats[2]++;
      return ring_doorbell(v);
    case REG_DMA_ADDR:
      v->dma_addr = a->size == 8 ? value : (v->dma_addr & ~(uint64_t)0xffffffffu) | (uint32_t)value;
      return 0;
    case REG_DMA_ADDR + 4:
      v->dma_addr = (v->dma_addr & 0xffffffffu) | (value << 32);
      return 0;
    case REG_DISPLAY:
      v->display = (uint32_t)value & 1;
      return 0;
    default:
      return -EINVAL; /* counted by the core as a vendor error */
  }
}

static int read_stats(void* vgpu_data, uint64_t* values, uint32_t count) {
  struct minimal_vgpu* v = vgpu_data;
  for (uint32_t i = 0; i < count && i < 3; ++i) values[i] = v->stats[i];
  return 0;
}

static int knob_get(void* vgpu_data, uint32_t knob, int64_t* integer, char* text, size_t text_len) {
  struct minimal_vgpu* v = vgpu_data;
  (void)text;
  (void)text_len;
  if (knob == 0)
    *integer = v->weight;
  else if (knob == 1)
    *integer = v->priority;
  else
    return -EINVAL;
  return 0;
}

static int knob_set(void* vgpu_data, const struct xvgpu_knob_value* value, struct xvgpu_error* err) {
  struct minimal_vgpu* v = vgpu_data;
  if (value->knob == 0) {
    if (value->integer == 42) return xvgpu_set_error(err, -EPERM, "weight 42 is reserved");
    v->weight = value->integer;
  } else if (value->knob == 1) {
    v->priority = value->integer;
  } else {
    return xvgpu_set_error(err, -EINVAL, "no such knob");
  }
  return 0;
}

static int display_surface(void* vgpu_data, uint32_t head, struct xvgpu_display_surface* out) {
  struct minimal_vgpu* v = vgpu_data;
  if (head != 0) return -EINVAL;
  out->enabled = v->display;
  out->fourcc = XVGPU_FOURCC_XRGB8888;
  out->width = 64;
  out->height = 64;
  out->stride = 64 * 4;
  out->bar = 2;
  out->offset = 0;
  return 0;
}

/* Saved state: scratch, dma_addr, display, weight, priority, stats. VRAM is saved by the core. */
static int save_state(void* vgpu_data, const struct xvgpu_stream* out, struct xvgpu_error* err) {
  struct minimal_vgpu* v = vgpu_data;
  const uint32_t version = 1;
  if (out->write(out->ctx, &version, sizeof version) < 0 ||
      out->write(out->ctx, &v->scratch, sizeof v->scratch) < 0 ||
      out->write(out->ctx, &v->dma_addr, sizeof v->dma_addr) < 0 ||
      out->write(out->ctx, &v->display, sizeof v->display) < 0 ||
      out->write(out->ctx, &v->weight, sizeof v->weight) < 0 ||
      out->write(out->ctx, &v->priority, sizeof v->priority) < 0 ||
      out->write(out->ctx, v->stats, sizeof v->stats) < 0) {
    return xvgpu_set_error(err, -EIO, "cannot write state");
  }
  return 0;
}

static int restore_state(void* vgpu_data, const struct xvgpu_stream* in, struct xvgpu_error* err) {
  struct minimal_vgpu* v = vgpu_data;
  struct minimal_vgpu tmp = *v;
  uint32_t version = 0;
  if (in->read(in->ctx, &version, sizeof version) != sizeof version || version != 1) {
    return xvgpu_set_error(err, -EINVAL, "unknown state version %u", version);
  }
  if (in->read(in->ctx, &tmp.scratch, sizeof tmp.scratch) != sizeof tmp.scratch ||
      in->read(in->ctx, &tmp.dma_addr, sizeof tmp.dma_addr) != sizeof tmp.dma_addr ||
      in->read(in->ctx, &tmp.display, sizeof tmp.display) != sizeof tmp.display ||
      in->read(in->ctx, &tmp.weight, sizeof tmp.weight) != sizeof tmp.weight ||
      in->read(in->ctx, &tmp.priority, sizeof tmp.priority) != sizeof tmp.priority ||
      in->read(in->ctx, tmp.stats, sizeof tmp.stats) != sizeof tmp.stats) {
    return xvgpu_set_error(err, -EINVAL, "state is truncated");
  }
  if (tmp.weight < knob_weight.min || tmp.weight > knob_weight.max || tmp.priority < 0 || tmp.priority > 1) {
    return xvgpu_set_error(err, -EINVAL, "state has out-of-range knobs");
  }
  *v = tmp;
  return 0;
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
    .save_state = save_state,
    .restore_state = restore_state,
};

static int init(const struct xvgpu_host_api* h, struct xvgpu_registrar* reg, struct xvgpu_error* err) {
  host = h;
  return h->register_pgpu(reg, &pgpu, &ops, NULL, err);
}

static const struct xvgpu_vendor vendor = {
    .struct_size = XVGPU_INIT(xvgpu_vendor),
    .abi_major = XVGPU_VENDOR_ABI_MAJOR,
    .abi_minor = XVGPU_VENDOR_ABI_MINOR,
    .name = "minimal",
    .version = "1.0",
    .init = init,
};

XVGPU_EXPORT const struct xvgpu_vendor* xvgpu_vendor_entry(void) {
  return &vendor;
}
