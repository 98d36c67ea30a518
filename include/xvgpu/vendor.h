/*
 * xvgpu vendor ABI: the C interface a GPU vendor implements to offer virtual GPUs through xvgpu.
 *
 * A vendor ships either a shared object that xvgpu loads with dlopen (from a path or a plugin
 * directory), or a library linked into the xvgpu binary ("built-in vendor", see the end of this
 * file). Both go through the same entry point and the same version checks.
 *
 * This header is plain C11 and C++ compatible. It includes only <stddef.h>, <stdint.h>,
 * <stdarg.h> and <stdio.h>. docs/vendor-guide.md walks through a complete plugin
 * (examples/minimal-plugin/).
 *
 * ============================================================================================
 * ABI RULES (versioning)
 * ============================================================================================
 * - XVGPU_VENDOR_ABI_MAJOR changes only when an existing field or callback changes meaning,
 *   type or position. A plugin whose major differs from xvgpu's is refused with an error that
 *   names both versions.
 * - XVGPU_VENDOR_ABI_MINOR grows when fields or callbacks are appended to the END of a struct.
 *   A plugin built against an older minor keeps loading: xvgpu reads only the `struct_size`
 *   bytes the plugin declares and treats every field beyond them as absent (NULL / 0), i.e.
 *   the feature is "not supported by this vendor". A plugin built against a NEWER minor than
 *   xvgpu provides is refused with a clear error (it may depend on host services this xvgpu
 *   does not have): rebuild it against the installed header or upgrade xvgpu.
 * - Every versioned struct starts with `uint32_t struct_size`, set to sizeof(struct) by whoever
 *   fills the struct in (use XVGPU_INIT(type) below). A struct smaller than its ABI-1.0 minimum
 *   (XVGPU_*_MIN_SIZE) is refused as corrupt, as is a struct larger than the xvgpu build knows
 *   for a plugin that claims a minor xvgpu knows.
 * - Structs the CORE fills in and hands to the vendor (struct xvgpu_host_api,
 *   struct xvgpu_domain_info, struct xvgpu_access, ...) also carry struct_size: a vendor built
 *   against a newer header checks XVGPU_HAS_FIELD() before reading a newer field.
 * - Out-structs the vendor fills for the core (struct xvgpu_display_surface) come zeroed with
 *   struct_size set by the core; the vendor writes only fields for which XVGPU_HAS_FIELD() holds.
 * - Arrays of versioned structs are always arrays of POINTERS, so each element carries its own
 *   size and no stride has to be agreed on.
 * - Strings are NUL-terminated UTF-8. Pointers handed over in descriptors must stay valid until
 *   the plugin's fini() (descriptors) or the instance's destroy() (per-instance data).
 * - Callbacks return 0 on success or a negative errno value (e.g. -EINVAL, -ENOSPC, -EBUSY) on
 *   failure. Callbacks that can refuse an operator request also receive a struct xvgpu_error to
 *   fill with a human-readable reason (xvgpu_set_error()); xvgpu shows it to the operator as is.
 * - Callbacks never unwind (no C++ exception, no longjmp) across this interface.
 *
 * Why the interface looks as it does (the 2016 vGPU review's questions and their answers):
 * docs/design.md.
 */
#ifndef XVGPU_VENDOR_H
#define XVGPU_VENDOR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versioning                                                                                */
/* ---------------------------------------------------------------------------------------- */

#define XVGPU_VENDOR_ABI_MAJOR 1u
/* 1.1: fixed legacy I/O port ranges (struct xvgpu_legacy_io_desc)
 * 1.2: display changes reported to the core (host->display_damage, struct xvgpu_display_damage)
 * 1.3: the vendor's own writes into DIRECT BARs reported to the core (host->direct_bar_written) */
#define XVGPU_VENDOR_ABI_MINOR 3u

#ifdef __cplusplus
#define XVGPU_U32(x) static_cast<uint32_t>(x)
#define XVGPU_FIELD_SIZE(type, field) sizeof(type::field)
#else
#define XVGPU_U32(x) ((uint32_t)(x))
#define XVGPU_FIELD_SIZE(type, field) sizeof(((struct type*)0)->field)
#endif

/* Sets struct_size of a versioned struct literal: struct xvgpu_bar_desc b = {XVGPU_INIT(xvgpu_bar_desc),
 * ...}; */
#define XVGPU_INIT(type) XVGPU_U32(sizeof(struct type))

/* True when the struct at `ptr` (with its struct_size) contains `field` entirely. */
#define XVGPU_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(struct type, field) + XVGPU_FIELD_SIZE(type, field))

/* Exported by every plugin, with C linkage. */
#define XVGPU_VENDOR_ENTRY_SYMBOL "xvgpu_vendor_entry"

#if defined(__GNUC__)
#define XVGPU_EXPORT __attribute__((visibility("default")))
#else
#define XVGPU_EXPORT
#endif

/* ---------------------------------------------------------------------------------------- */
/* Errors and logging                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* Filled by a callback that refuses an operation. Fixed layout forever (not versioned). */
struct xvgpu_error {
  int32_t code;      /* negative errno, same as the callback's return value */
  char message[256]; /* human-readable reason, NUL-terminated */
};

static inline int xvgpu_set_error(struct xvgpu_error* err, int code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline int xvgpu_set_error(struct xvgpu_error* err, int code, const char* fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
  }
  return code;
}

enum xvgpu_log_level {
  XVGPU_LOG_ERROR = 0,
  XVGPU_LOG_WARN = 1,
  XVGPU_LOG_INFO = 2,
  XVGPU_LOG_DEBUG = 3,
};

/* Opaque handle of one vGPU instance, owned by the core. Passed to create(); the vendor hands
 * it back to every host service so the core knows which vGPU (and domain) is meant. */
struct xvgpu_instance;
/* Opaque handle of a registration in progress (only valid during the plugin's init()). */
struct xvgpu_registrar;
/* Opaque handle of a scatter-gather mapping of guest memory. */
struct xvgpu_sg_mapping;

/* ---------------------------------------------------------------------------------------- */
/* Device description (what the guest sees), declared per vGPU type                          */
/* ---------------------------------------------------------------------------------------- */

/* Region numbers in struct xvgpu_access: 0..5 are BARs. */
#define XVGPU_REGION_CONFIG 0xffu /* a vendor-owned config-space field or capability */
/* ABI 1.1: accesses to legacy I/O range i of the layout arrive with region
 * XVGPU_REGION_LEGACY_IO + i, the offset counted from the range's first port. */
#define XVGPU_REGION_LEGACY_IO 0x100u

enum xvgpu_bar_flags {
  XVGPU_BAR_IO = 1u << 0,           /* I/O port BAR (else memory) */
  XVGPU_BAR_64BIT = 1u << 1,        /* 64-bit memory BAR; uses the next BAR slot too */
  XVGPU_BAR_PREFETCHABLE = 1u << 2, /* memory BAR may be marked prefetchable */
  /* Memory the guest reaches directly (VRAM): no trap, no read()/write() call. The core
   * allocates it (through the hypervisor layer when it can map memory into the guest, in host
   * memory served by trapping otherwise) and places it wherever the guest puts the BAR. The
   * vendor reaches the same bytes through host->direct_bar(). Memory BARs only. */
  XVGPU_BAR_DIRECT = 1u << 3,
};

/*
 * One BAR. Size is a power of two (memory: >= 4096 for DIRECT, >= 16 otherwise; I/O: 4..256).
 *
 * Access rule for TRAPPED BARs (answers "straddling accesses"): the core dispatches only
 * naturally aligned accesses whose size lies in [access_min, access_max] (each 1, 2, 4 or 8;
 * 0 means 1 and 8 respectively). A guest access that is misaligned or larger than access_max is
 * split into the largest naturally aligned pieces (ascending addresses), each dispatched on its
 * own, and a read is reassembled little-endian. If any piece would be smaller than
 * access_min, or the access runs past the BAR end, the WHOLE access is refused: reads return all
 * ones, writes are dropped, the event is counted (core.bad_accesses) - never partially applied.
 */
struct xvgpu_bar_desc {
  uint32_t struct_size;
  uint32_t index; /* 0..5; a 64-bit BAR also occupies index+1 */
  uint64_t size;
  uint32_t flags; /* enum xvgpu_bar_flags */
  uint8_t access_min;
  uint8_t access_max;
  uint8_t reserved[2];
};
#define XVGPU_BAR_DESC_MIN_SIZE XVGPU_U32(offsetof(struct xvgpu_bar_desc, reserved))

enum xvgpu_capability_flags {
  /* Config accesses to the capability body (beyond its 2-byte id/next header) go to the
   * vendor's config_read()/config_write() instead of the core's mask-based emulation. */
  XVGPU_CAP_VENDOR_HANDLED = 1u << 0,
};

/*
 * An extra PCI capability (e.g. vendor-specific 0x09, power management 0x01). The core links it
 * into the capability list after its own MSI capability, at the next dword-aligned offset; the
 * placed offset is reported by host->capability_offset(). Everything stays below 0x100 (Xen
 * 4.17 delivers only CF8/CFC config accesses): a layout that does not fit is refused.
 */
struct xvgpu_capability_desc {
  uint32_t struct_size;
  uint8_t cap_id;
  uint8_t length;          /* bytes including the 2-byte id/next header; 4..64 */
  uint16_t flags;          /* enum xvgpu_capability_flags */
  const uint8_t* initial;  /* `length` bytes of initial contents (bytes 0..1 are ignored) */
  const uint8_t* writable; /* `length` bytes: guest-writable bit mask; NULL = read-only */
};
#define XVGPU_CAPABILITY_DESC_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_capability_desc))

/* A range of config space the vendor emulates itself (device-specific registers, 0x40..0xff,
 * not overlapping a capability). Accesses go to config_read()/config_write(); an access that
 * straddles the border between vendor-owned and core-owned bytes is refused (all ones/dropped). */
struct xvgpu_config_field {
  uint32_t struct_size;
  uint16_t offset;
  uint16_t length;
};
#define XVGPU_CONFIG_FIELD_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_config_field))

/* ABI 1.1: a FIXED legacy I/O port range that the device decodes besides its BARs, e.g. VGA
 * ports 0x3c0-0x3df or the Bochs VBE index/data ports 0x1ce-0x1d0. The core claims it from
 * the hypervisor while the vGPU is attached and the guest enables I/O decoding (command
 * register bit 0), and routes accesses to read()/write() (region XVGPU_REGION_LEGACY_IO + i).
 * Legacy ports are not shareable: if another device of the same guest already decodes one
 * of them, the range stays unclaimed (counted in core.unmapped_bars and logged). */
enum xvgpu_legacy_io_flags {
  /* Deliver accesses as the guest made them, even at an odd port (x86 port I/O need not be
   * aligned, e.g. a 16-bit OUT to the VBE data port 0x1cf); otherwise they are split as for
   * BARs. Accesses must still lie inside the range and within access_min..access_max. */
  XVGPU_LEGACY_IO_UNALIGNED = 1u << 0,
};

struct xvgpu_legacy_io_desc {
  uint32_t struct_size;
  uint16_t first_port;
  uint16_t num_ports; /* 1..256; first_port + num_ports <= 0x10000 */
  uint8_t access_min; /* 1, 2 or 4 (0 = 1) */
  uint8_t access_max; /* 1, 2 or 4 (0 = 4) */
  uint16_t reserved;
  uint32_t flags; /* enum xvgpu_legacy_io_flags */
};
#define XVGPU_LEGACY_IO_DESC_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_legacy_io_desc))

struct xvgpu_device_layout {
  uint32_t struct_size;
  /* PCI identity the guest sees. */
  uint16_t vendor_id;
  uint16_t device_id;
  uint16_t subsystem_vendor_id;
  uint16_t subsystem_id;
  uint8_t revision;
  uint8_t class_code; /* base class, e.g. 0x03 display */
  uint8_t subclass;   /* e.g. 0x00 VGA-compatible, 0x80 other */
  uint8_t prog_if;
  /* Interrupts: number of MSI vectors (0, 1, 2, 4, 8, 16 or 32; 0 = no MSI capability) and the
   * INTx pin (0 = none, 1 = INTA .. 4 = INTD). */
  uint32_t msi_vectors;
  uint8_t intx_pin;
  uint8_t reserved0[3];
  uint32_t num_bars;
  const struct xvgpu_bar_desc* const* bars;
  uint32_t num_capabilities;
  const struct xvgpu_capability_desc* const* capabilities;
  uint32_t num_config_fields;
  const struct xvgpu_config_field* const* config_fields;
  /* ABI 1.1: fixed legacy I/O port ranges (absent for a 1.0 plugin). */
  uint32_t num_legacy_io;
  const struct xvgpu_legacy_io_desc* const* legacy_io;
};
/* The ABI 1.0 size: the core accepts a layout that ends before num_legacy_io. */
#define XVGPU_DEVICE_LAYOUT_MIN_SIZE XVGPU_U32(offsetof(struct xvgpu_device_layout, num_legacy_io))

/* ---------------------------------------------------------------------------------------- */
/* Knobs and counters                                                                        */
/* ---------------------------------------------------------------------------------------- */

enum xvgpu_knob_type {
  XVGPU_KNOB_BOOL = 0,   /* integer value 0 or 1; text "0"/"1"/"true"/"false"/"on"/"off" */
  XVGPU_KNOB_INT = 1,    /* integer value in [min, max] */
  XVGPU_KNOB_ENUM = 2,   /* integer value = index into choices; text = a choice name */
  XVGPU_KNOB_STRING = 3, /* text value of at most max bytes (max 0 = 255) */
};

enum xvgpu_knob_flags {
  XVGPU_KNOB_AT_CREATE = 1u << 0, /* may be given as a creation parameter */
  XVGPU_KNOB_RUNTIME = 1u << 1,   /* may be set while the instance exists (any state) */
};

/* A typed vendor control (the Q5/Q8 answer), e.g. {"weight", INT, 1..100} or
 * {"priority", ENUM, {"background","foreground"}}. */
struct xvgpu_knob_desc {
  uint32_t struct_size;
  uint32_t type;  /* enum xvgpu_knob_type */
  uint32_t flags; /* enum xvgpu_knob_flags */
  uint32_t num_choices;
  const char* name; /* [a-z0-9_.-]+ */
  const char* description;
  int64_t min;
  int64_t max;
  int64_t default_value;      /* BOOL/INT/ENUM */
  const char* default_text;   /* STRING */
  const char* const* choices; /* ENUM: num_choices names */
};
#define XVGPU_KNOB_DESC_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_knob_desc))

/* A knob value after the core parsed and validated it. */
struct xvgpu_knob_value {
  uint32_t knob; /* index into the type's knobs */
  uint32_t reserved;
  int64_t integer;  /* BOOL/INT/ENUM */
  const char* text; /* STRING (NULL for others) */
};

/* ---------------------------------------------------------------------------------------- */
/* Physical GPUs and types                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A capacity of a physical GPU that instances consume (e.g. "vram" bytes, "engine" slots).
 * The core accounts for it across every xvgpu process of the host. */
struct xvgpu_resource {
  uint32_t struct_size;
  uint32_t reserved;
  const char* name;
  uint64_t capacity;
};
#define XVGPU_RESOURCE_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_resource))

struct xvgpu_type_desc {
  uint32_t struct_size;
  uint32_t reserved0;
  const char* name;        /* unique within the vendor, e.g. "simgpu-64" */
  const char* description; /* one line for humans */
  /* Attributes shown to the operator. */
  uint64_t vram_bytes;
  uint32_t heads;
  uint32_t max_width;
  uint32_t max_height;
  /* Static upper bound of instances of this type per physical GPU (0 = none). */
  uint32_t max_instances;
  /* costs[i] is what one instance consumes of the pGPU's resources[i]; NULL = nothing. */
  const uint64_t* costs;
  const struct xvgpu_device_layout* layout;
  uint32_t num_stats;
  uint32_t num_knobs;
  const char* const* stat_names;              /* names of the vendor's counters, [a-z0-9_.]+ */
  const struct xvgpu_knob_desc* const* knobs; /* typed controls */
};
#define XVGPU_TYPE_DESC_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_type_desc))

struct xvgpu_pgpu_desc {
  uint32_t struct_size;
  /* Identity of the physical GPU (informational). */
  uint16_t vendor_id;
  uint16_t device_id;
  /* Stable, host-wide unique name of this physical GPU, e.g. its host PCI address
   * "0000:03:00.0" or "simgpu0": host-wide accounting is keyed on vendor name + this name. */
  const char* name;
  const char* description;
  uint32_t num_types;
  uint32_t num_resources;
  const struct xvgpu_type_desc* const* types;
  const struct xvgpu_resource* const* resources;
};
#define XVGPU_PGPU_DESC_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_pgpu_desc))

/* ---------------------------------------------------------------------------------------- */
/* What the core passes to the vendor                                                         */
/* ---------------------------------------------------------------------------------------- */

/* Parameters of create(). */
struct xvgpu_create_info {
  uint32_t struct_size;
  uint32_t type_index; /* index into the pGPU's types */
  char uuid[37];       /* the vGPU's UUID, canonical lower-case text */
  uint8_t reserved[3];
  uint32_t num_params;
  const struct xvgpu_knob_value* params; /* creation-time knob values, validated by the core */
};

/* The VM a vGPU serves (given to start()). */
struct xvgpu_domain_info {
  uint32_t struct_size;
  uint16_t domid;       /* the hypervisor's domain id, valid while this run lasts */
  uint16_t pci_segment; /* the vGPU's address in the guest */
  uint8_t pci_bus;
  uint8_t pci_devfn; /* dev << 3 | fn */
  uint8_t reserved[2];
  char vm_uuid[37]; /* the VM's UUID from the toolstack, "" when unknown */
  char vgpu_uuid[37];
  uint8_t reserved1[2];
  const char* vm_name; /* the VM's name, "" when unknown */
};

/* One guest access to a trapped region. */
struct xvgpu_access {
  uint32_t struct_size;
  uint32_t region; /* BAR index 0..5, XVGPU_REGION_CONFIG, or XVGPU_REGION_LEGACY_IO + i (ABI 1.1) */
  uint64_t offset; /* relative to the region start (config space: the register offset) */
  uint32_t size;   /* 1, 2, 4 or 8 */
  uint32_t vcpu;   /* the vCPU that made the access */
};

/* MSI/INTx state, as the guest programmed it (for the optional irq_changed()). */
struct xvgpu_irq_state {
  uint32_t struct_size;
  uint8_t msi_enabled;
  uint8_t intx_disabled; /* command register bit 10 */
  uint8_t reserved[2];
  uint32_t msi_vectors_enabled; /* vectors the guest enabled (Multiple Message Enable) */
};

/* A display head as the vendor currently scans it out. The core zeroes it and sets
 * struct_size before calling display_surface(). */
struct xvgpu_display_surface {
  uint32_t struct_size;
  uint32_t enabled; /* 0 = head off (nothing to show) */
  uint32_t fourcc;  /* DRM fourcc, e.g. XVGPU_FOURCC_XRGB8888 */
  uint32_t width;
  uint32_t height;
  uint32_t stride; /* bytes per line */
  uint32_t bar;    /* the DIRECT BAR holding the pixels */
  uint32_t reserved;
  uint64_t offset; /* byte offset of the first pixel in that BAR */
};
/* ABI 1.2: one rectangle of a head, in pixels of its current surface. */
struct xvgpu_rect {
  uint32_t x;
  uint32_t y;
  uint32_t width;
  uint32_t height;
};

/* ABI 1.2: what changed on a head, reported by the vendor with host->display_damage(). Guest
 * stores into a direct BAR are tracked by the core itself (the hypervisor's dirty log); the
 * vendor reports what the guest's mapping does not see: its own writes to the pixels (engine
 * blits, DMA into VRAM) as rectangles, and changes of what display_surface() returns (format,
 * size, stride, offset, on/off) as XVGPU_DAMAGE_SURFACE_CHANGED, after which the core queries
 * display_surface() again and redraws the whole head. The core copies the rectangles, clips
 * them to the surface, and merges more than it keeps into one bounding rectangle. */
struct xvgpu_display_damage {
  uint32_t struct_size;
  uint32_t head;
  uint32_t flags;     /* XVGPU_DAMAGE_* */
  uint32_t num_rects; /* <= XVGPU_DAMAGE_MAX_RECTS */
  const struct xvgpu_rect* rects;
};
#define XVGPU_DAMAGE_SURFACE_CHANGED 0x1u
#define XVGPU_DAMAGE_MAX_RECTS 1024u
#define XVGPU_DISPLAY_DAMAGE_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_display_damage))

#define XVGPU_FOURCC(a, b, c, d) \
  (XVGPU_U32(a) | (XVGPU_U32(b) << 8) | (XVGPU_U32(c) << 16) | (XVGPU_U32(d) << 24))
#define XVGPU_FOURCC_XRGB8888 XVGPU_FOURCC('X', 'R', '2', '4')
#define XVGPU_FOURCC_RGB565 XVGPU_FOURCC('R', 'G', '1', '6')
#define XVGPU_FOURCC_RGB888 XVGPU_FOURCC('R', 'G', '2', '4')

/* A byte stream for save/restore; the core provides it. write returns 0 or -errno; read
 * returns bytes read (0 at the end) or -errno. */
struct xvgpu_stream {
  void* ctx;
  int (*write)(void* ctx, const void* data, size_t len);
  int64_t (*read)(void* ctx, void* data, size_t len);
};

/* ---------------------------------------------------------------------------------------- */
/* The vendor's callbacks                                                                     */
/* ---------------------------------------------------------------------------------------- */

/*
 * Threading: the core never runs two callbacks of the same instance at once (it holds the
 * instance's lock around each), except that worker jobs (host->queue_work) run concurrently
 * with them: protect state shared with jobs yourself. Callbacks of different instances may run
 * concurrently. Access callbacks run on the vCPU's request path: return quickly, push long work
 * to the worker.
 *
 * Life cycle (the core enforces the order; a vendor never sees a wrong transition):
 *   create -> [start -> (reset)* -> shutdown]* -> destroy
 *   create:   allocate resources for a vGPU of a type; not yet attached to any VM.
 *   start:    the VM described by xvgpu_domain_info is about to run with this vGPU.
 *   reset:    guest-visible device reset (the core resets config space itself).
 *   shutdown: the VM stopped or detached the vGPU; quiesce; state may be kept for a restart.
 *   destroy:  free everything; the core has drained worker jobs and released mappings.
 */
struct xvgpu_device_ops {
  uint32_t struct_size;

  /* How many more instances of type `type_index` this pGPU can take now, from the vendor's
   * view (the core also applies max_instances and the host-wide resource accounting). */
  int (*available_instances)(void* pgpu_data, uint32_t type_index, uint32_t* count);

  int (*create)(void* pgpu_data, struct xvgpu_instance* inst, const struct xvgpu_create_info* info,
                void** vgpu_data, struct xvgpu_error* err);
  /* Refusing leaves the instance as it was (e.g. -EBUSY). At process exit the core calls it
   * once more and ignores a refusal. */
  int (*destroy)(void* vgpu_data, struct xvgpu_error* err);
  int (*start)(void* vgpu_data, const struct xvgpu_domain_info* domain, struct xvgpu_error* err);
  int (*shutdown)(void* vgpu_data, struct xvgpu_error* err);
  int (*reset)(void* vgpu_data, struct xvgpu_error* err);

  /* Trapped BAR accesses (see the splitting rule at struct xvgpu_bar_desc). A negative return
   * means "guest error": the core answers all ones / drops the write and counts it. */
  int (*read)(void* vgpu_data, const struct xvgpu_access* access, uint64_t* value);
  int (*write)(void* vgpu_data, const struct xvgpu_access* access, uint64_t value);

  /* ---- optional from here on (NULL or beyond struct_size = not supported) ---- */

  /* Vendor-owned config fields and XVGPU_CAP_VENDOR_HANDLED capability bodies;
   * access->region is XVGPU_REGION_CONFIG and access->offset the config register offset. */
  int (*config_read)(void* vgpu_data, const struct xvgpu_access* access, uint64_t* value);
  int (*config_write)(void* vgpu_data, const struct xvgpu_access* access, uint64_t value);

  void (*irq_changed)(void* vgpu_data, const struct xvgpu_irq_state* state);

  /* Fills values[0..count) in the order of the type's stat_names. */
  int (*read_stats)(void* vgpu_data, uint64_t* values, uint32_t count);

  /* Knob get: integer knobs write *integer; STRING knobs write a NUL-terminated text. */
  int (*knob_get)(void* vgpu_data, uint32_t knob, int64_t* integer, char* text, size_t text_len);
  /* Knob set: the value is already validated against the declared type and range; the vendor
   * may still refuse (e.g. "weight cannot change while a job runs"). */
  int (*knob_set)(void* vgpu_data, const struct xvgpu_knob_value* value, struct xvgpu_error* err);

  int (*display_surface)(void* vgpu_data, uint32_t head, struct xvgpu_display_surface* out);

  /* The vendor's own device state (registers, engine). The core saves config space and the
   * contents of DIRECT BARs itself (for a plugin built against ABI 1.3 or later, whose writes the
   * core hears of through direct_bar_written, the contents travel with the guest's memory where
   * the hypervisor saves that memory). restore() runs on a freshly created instance of the same
   * type, before start. */
  int (*save_state)(void* vgpu_data, const struct xvgpu_stream* out, struct xvgpu_error* err);
  int (*restore_state)(void* vgpu_data, const struct xvgpu_stream* in, struct xvgpu_error* err);
};
/* The mandatory part: through write(). */
#define XVGPU_DEVICE_OPS_MIN_SIZE \
  XVGPU_U32(offsetof(struct xvgpu_device_ops, write) + XVGPU_FIELD_SIZE(xvgpu_device_ops, write))

/* ---------------------------------------------------------------------------------------- */
/* Services the core gives the vendor                                                         */
/* ---------------------------------------------------------------------------------------- */

/* One guest-physical range of a scatter-gather list, and its host view once mapped. */
struct xvgpu_sg_entry {
  uint64_t gpa;
  uint64_t len;
};
struct xvgpu_host_segment {
  void* host;
  uint64_t len;
};

enum xvgpu_msi_result {
  XVGPU_MSI_DELIVERED = 0,
  XVGPU_MSI_PENDING = 1,  /* vector masked by the guest: pending bit set, sent on unmask */
  XVGPU_MSI_DISABLED = 2, /* MSI off or vector beyond what the guest enabled: dropped */
};

/*
 * Every service is thread-safe and may be called from callbacks and worker jobs, never after
 * destroy() returned for that instance. Guest addresses are guest-controlled: the core bounds
 * them and returns -EFAULT rather than touch anything else.
 */
struct xvgpu_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t reserved;

  /* Only inside init(): registers one physical GPU with its ops. Returns 0 or -errno and fills
   * err (e.g. a malformed type or layout is named in the message). `ops` and `desc` must stay
   * valid until fini(). */
  int (*register_pgpu)(struct xvgpu_registrar* reg, const struct xvgpu_pgpu_desc* desc,
                       const struct xvgpu_device_ops* ops, void* pgpu_data, struct xvgpu_error* err);

  /* inst may be NULL for vendor-wide messages. Guest-triggered messages are rate limited. */
  void (*log)(struct xvgpu_instance* inst, int level, const char* message);

  /* Copies between guest memory and the vendor (DMA). Writes are reported dirty for migration. */
  int (*guest_read)(struct xvgpu_instance* inst, uint64_t gpa, void* buf, uint64_t len);
  int (*guest_write)(struct xvgpu_instance* inst, uint64_t gpa, const void* buf, uint64_t len);

  /* Maps `count` guest ranges (count <= 1024) for direct access; out[i] receives entry i's host
   * view. The mapping stays valid (even if the guest remaps its memory) until sg_release. */
  int (*sg_map)(struct xvgpu_instance* inst, const struct xvgpu_sg_entry* entries, uint32_t count,
                int writable, struct xvgpu_host_segment* out, struct xvgpu_sg_mapping** mapping);
  void (*sg_release)(struct xvgpu_instance* inst, struct xvgpu_sg_mapping* mapping);

  /* Raises MSI vector `vector`. Returns enum xvgpu_msi_result, or -EINVAL. */
  int (*raise_msi)(struct xvgpu_instance* inst, uint32_t vector);
  /* Drives the INTx line (level-triggered); ignored while the guest disables INTx. */
  int (*set_intx)(struct xvgpu_instance* inst, int asserted);

  /* The host view of a DIRECT BAR (stable from create() until destroy()). */
  int (*direct_bar)(struct xvgpu_instance* inst, uint32_t bar, void** host, uint64_t* size);
  /* Pages of a DIRECT BAR the guest wrote since the last call; bit i of bitmap = page i.
   * `words` = number of uint64_t in bitmap (>= pages / 64 rounded up). */
  int (*direct_bar_dirty)(struct xvgpu_instance* inst, uint32_t bar, uint64_t* bitmap, uint64_t words);

  /* Runs fn(arg) on the instance's worker thread, in submission order, off the guest's request
   * path. The core waits for queued jobs before reset/shutdown/save/destroy. */
  int (*queue_work)(struct xvgpu_instance* inst, void (*fn)(void* arg), void* arg);

  /* The VM this instance serves (valid between start() and shutdown(); -ENODEV otherwise). */
  int (*domain_info)(struct xvgpu_instance* inst, struct xvgpu_domain_info* out);

  /* Config-space offset where the core placed capability `index` of the layout (0 if none). */
  uint32_t (*capability_offset)(struct xvgpu_instance* inst, uint32_t index);

  /* ---- ABI 1.2 (check XVGPU_HAS_FIELD(host, xvgpu_host_api, display_damage)) ---- */

  /* Tells the core what changed on a head (struct xvgpu_display_damage above): from any
   * thread, inside callbacks or worker jobs; it never calls back into the vendor. Returns 0,
   * or -EINVAL for a malformed report (nothing recorded). */
  int (*display_damage)(struct xvgpu_instance* inst, const struct xvgpu_display_damage* damage);

  /* ---- ABI 1.3 (check XVGPU_HAS_FIELD(host, xvgpu_host_api, direct_bar_written)) ---- */

  /* The vendor wrote bytes [offset, offset + len) of DIRECT BAR `bar` itself (engine, DMA,
   * clearing), not the guest. A plugin built against ABI 1.3 or later must report every such
   * write, from any thread, after the bytes are in place: the core tells the hypervisor's dirty
   * log, so a live migration sends them again, and saves the BAR's contents with the guest's
   * memory instead of in the device state. It does not replace display_damage. Returns 0, or
   * -EINVAL for a BAR that is not DIRECT or a range outside it (nothing reported). */
  int (*direct_bar_written)(struct xvgpu_instance* inst, uint32_t bar, uint64_t offset, uint64_t len);
};
/* The host API of ABI 1.2. */
#define XVGPU_HOST_API_SIZE_1_2                               \
  XVGPU_U32(offsetof(struct xvgpu_host_api, display_damage) + \
            XVGPU_FIELD_SIZE(xvgpu_host_api, display_damage))
/* The host API of ABI 1.1, for vendors that check what they were given. */
#define XVGPU_HOST_API_SIZE_1_1                                  \
  XVGPU_U32(offsetof(struct xvgpu_host_api, capability_offset) + \
            XVGPU_FIELD_SIZE(xvgpu_host_api, capability_offset))

/* ---------------------------------------------------------------------------------------- */
/* The plugin                                                                                 */
/* ---------------------------------------------------------------------------------------- */

struct xvgpu_vendor {
  /* These three fields never move, in any ABI version. */
  uint32_t struct_size;
  uint32_t abi_major; /* XVGPU_VENDOR_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor; /* XVGPU_VENDOR_ABI_MINOR the plugin was built against */
  uint32_t reserved;
  const char* name;    /* vendor name, [a-z0-9_-]+, unique per host, e.g. "simgpu" */
  const char* version; /* free text */
  /* Discovers the physical GPUs and registers each with host->register_pgpu(reg, ...).
   * Keep `host` for later. A negative return refuses loading with err's message. */
  int (*init)(const struct xvgpu_host_api* host, struct xvgpu_registrar* reg, struct xvgpu_error* err);
  /* Called once after every instance was destroyed, before dlclose. May be NULL. */
  void (*fini)(void);
};
#define XVGPU_VENDOR_MIN_SIZE XVGPU_U32(sizeof(struct xvgpu_vendor))

/* The entry point every plugin exports (symbol XVGPU_VENDOR_ENTRY_SYMBOL):
 *
 *   XVGPU_EXPORT const struct xvgpu_vendor* xvgpu_vendor_entry(void);
 *
 * It must not do work beyond returning a pointer to a static struct: the core checks the
 * versions before calling anything else. */
typedef const struct xvgpu_vendor* (*xvgpu_vendor_entry_fn)(void);

/* Built-in vendors: a vendor library linked into an xvgpu binary calls this (from C or C++)
 * before the binary loads vendors (for instance from a registration function that main()
 * calls). The entry goes through exactly the same checks as a dlopen'ed plugin. Defined by the
 * xvgpu core (src/gpu); returns 0 or -EEXIST when the same entry is already registered. */
int xvgpu_register_builtin_vendor(xvgpu_vendor_entry_fn entry);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XVGPU_VENDOR_H */
