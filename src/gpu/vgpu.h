// One vGPU instance: its PCI function, its vendor instance, and its life cycle.
//
// Ties together the config space (pci_config_space.h), BAR mapping (bar_mapper.h), MSI/INTx
// delivery (msi_delivery.h), access dispatch to the vendor (access_split.h), the host-wide
// reservation (host_accounting.h) and the worker (worker.h). The life cycle is the state
// machine of vgpu_state.h; operator-facing methods throw Error with context, guest-facing
// methods (trapped_read/trapped_write) never throw.
//
// Files: vgpu.cc (life cycle), vgpu_trapped_access.cc (guest accesses the frontend traps),
// host_services.cc (services the vendor calls), vgpu_operator_queries.cc (stats, knobs,
// display), vgpu_snapshot.cc (save/restore).
//
// Locking: mu_ serialises life cycle, guest accesses and every vendor callback of this
// instance; hw_mu_ (a leaf, never held across a vendor callback) guards the config-space bytes,
// interrupt state and domain info, so vendor code may raise interrupts from anywhere.
#pragma once

#include <xvgpu/vendor.h>

#include <atomic>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/zeroed_memory.h"
#include "gpu/access_split.h"
#include "gpu/bar_mapper.h"
#include "gpu/dirty_page_fanout.h"
#include "gpu/display_damage.h"
#include "gpu/expansion_rom.h"
#include "gpu/host_accounting.h"
#include "gpu/host_services.h"
#include "gpu/io_handler.h"
#include "gpu/knob_value.h"
#include "gpu/pci_config_space.h"
#include "gpu/platform.h"
#include "gpu/vendor_plugin.h"
#include "gpu/vgpu_state.h"
#include "gpu/worker.h"

namespace xvgpu::gpu {

class DeviceBus;

struct VgpuConfig {
  std::string uuid;  // canonical or upper case; stored lower case
  std::string type;  // "type" or "vendor/type"
  std::string pgpu;  // optional: "name" or "vendor/name"; empty = first with room
  std::vector<std::pair<std::string, std::string>> params;  // creation-time knob values
  Sbdf sbdf{0, 0, 5, 0};                                    // where the guest sees it
  std::string vm_uuid;                                      // the VM's identity for the vendor (optional)
  std::string vm_name;
  // Restored from the VM's previous domain's saved state (xl restore, a migration's receiver):
  // it may share that domain's reservation while the domain still exists (host_accounting.h).
  bool incoming = false;
  // The expansion ROM the guest sees at config offset 0x30 (nullptr: none). Its PCI IDs must
  // be the type's, or no BIOS would run it.
  std::shared_ptr<const ExpansionRom> rom;
};

struct Counter {
  std::string name;
  uint64_t value = 0;
};

struct DisplaySurface {
  uint32_t fourcc = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t stride = 0;
  uint32_t bytes_per_pixel = 0;
  unsigned bar = 0;
  uint64_t offset = 0;
  std::span<const std::byte> pixels;  // stride * height bytes of live VRAM
};

// What changed on a head since the console last asked (Vgpu::display_update).
struct DisplayUpdate {
  std::optional<DisplaySurface> surface;  // nullopt: head off
  bool surface_changed = false;           // the vendor said so (the caller also compares surfaces)
  std::vector<Rect> damage;               // clipped to the surface: guest stores and vendor damage
};

// Counters the core keeps for every vGPU (reported as core.<name>).
struct CoreCounters {
  std::atomic<uint64_t> config_reads{0};
  std::atomic<uint64_t> config_writes{0};
  std::atomic<uint64_t> bar_reads{0};
  std::atomic<uint64_t> bar_writes{0};
  std::atomic<uint64_t> bad_accesses{0};   // refused by the dispatch rules
  std::atomic<uint64_t> vendor_errors{0};  // vendor access callback returned an error
  std::atomic<uint64_t> msi_delivered{0};
  std::atomic<uint64_t> msi_pended{0};
  std::atomic<uint64_t> msi_dropped{0};
  std::atomic<uint64_t> dma_errors{0};
  std::atomic<uint64_t> unmapped_bars{0};  // BAR placements the platform refused
  std::atomic<uint64_t> rom_reads{0};      // reads of the expansion ROM (firmware copying it)
};

class Vgpu : public std::enable_shared_from_this<Vgpu> {
 public:
  // Defined state: validates the config (uuid, parameters) and builds the config space.
  Vgpu(const VgpuConfig& config, PhysicalGpu& pgpu, uint32_t type_index, const Platform& platform,
       DeviceBus& bus, HostAccounting& accounting);
  Vgpu(const Vgpu&) = delete;
  Vgpu& operator=(const Vgpu&) = delete;
  // Best effort: stops and destroys what is left.
  ~Vgpu();

  [[nodiscard]] const std::string& uuid() const { return uuid_; }
  [[nodiscard]] VgpuState state() const;
  [[nodiscard]] Sbdf sbdf() const { return sbdf_; }
  [[nodiscard]] Domid domid() const { return platform_.domid; }
  [[nodiscard]] const TypeInfo& type() const { return type_; }
  [[nodiscard]] const PhysicalGpu& pgpu() const { return pgpu_; }
  // The VM it serves, as given in VgpuConfig ("" when unknown).
  [[nodiscard]] const std::string& vm_uuid() const { return vm_uuid_; }
  [[nodiscard]] const std::string& vm_name() const { return vm_name_; }
  // The expansion ROM (nullptr: none).
  [[nodiscard]] const std::shared_ptr<const ExpansionRom>& rom() const { return rom_; }

  // ---- life cycle (vgpu.cc) ----
  void create();
  void start();
  void stop();
  void reset();
  void destroy();
  // Last resort at teardown when the vendor refused stop/destroy: releases everything the core
  // holds (claims, reservation, memory) without calling the vendor again; the vendor's
  // instance data is leaked rather than used after its plugin is unloaded.
  void abandon() noexcept;
  // Blocks until every vendor job queued so far (svc_queue_work) has run, including jobs those
  // jobs queue. Not from a vendor job.
  void wait_for_queued_work();

  // ---- operator queries (vgpu_operator_queries.cc) ----
  [[nodiscard]] std::vector<Counter> stats();
  [[nodiscard]] std::string knob_get(const std::string& name);
  void knob_set(const std::string& name, const std::string& value);
  // nullopt when the head is off. Throws when the vendor has no display or reports nonsense.
  [[nodiscard]] std::optional<DisplaySurface> display_surface(uint32_t head = 0);
  // For the console: the surface plus what changed on it since the last call (the platform's
  // dirty pages of the surface's BAR, as rows, merged with the vendor's damage reports). Throws
  // like display_surface().
  [[nodiscard]] DisplayUpdate display_update(uint32_t head = 0);
  // ---- save/restore (vgpu_snapshot.cc) ----
  // The caller pauses the guest for a consistent image of a running vGPU.
  void save(std::ostream& out);
  // Bytes save() will write, near enough to reserve a buffer up front (the VRAM dominates).
  [[nodiscard]] size_t snapshot_size_hint() const;
  void restore(std::istream& in);

  // ---- the trap path (vgpu_trapped_access.cc) ----
  // Guest accesses routed by the DeviceBus. Never throw.
  uint64_t trapped_read(const IoAccess& access) noexcept;
  void trapped_write(const IoAccess& access, uint64_t value) noexcept;
  // Config space as the guest sees it (for tests and diagnostics).
  uint32_t config_read(unsigned offset, unsigned size, VcpuId vcpu = VcpuId{0}) noexcept;
  void config_write(unsigned offset, unsigned size, uint32_t value, VcpuId vcpu = VcpuId{0}) noexcept;

  // ---- host services for the vendor (host_services.cc) ----
  // The device reaching out: svc_guest_read/svc_guest_write copy guest memory for the vendor
  // (DMA), the opposite direction to trapped_read/trapped_write.
  int svc_guest_read(uint64_t gpa, void* buf, uint64_t len) noexcept;
  int svc_guest_write(uint64_t gpa, const void* buf, uint64_t len) noexcept;
  int svc_sg_map(const xvgpu_sg_entry* entries, uint32_t count, bool writable, xvgpu_host_segment* out,
                 xvgpu_sg_mapping** mapping) noexcept;
  void svc_sg_release(xvgpu_sg_mapping* mapping) noexcept;
  int svc_raise_msi(uint32_t vector) noexcept;
  int svc_set_intx(bool asserted) noexcept;
  int svc_direct_bar(uint32_t bar, void** host, uint64_t* size) noexcept;
  int svc_direct_bar_dirty(uint32_t bar, uint64_t* bitmap, uint64_t words) noexcept;
  int svc_queue_work(void (*fn)(void*), void* arg) noexcept;
  int svc_domain_info(xvgpu_domain_info* out) noexcept;
  uint32_t svc_capability_offset(uint32_t index) noexcept;
  void svc_log(int level, const char* message) noexcept;
  int svc_display_damage(const xvgpu_display_damage* damage) noexcept;
  int svc_direct_bar_written(uint32_t bar, uint64_t offset, uint64_t len) noexcept;

 private:
  class MapHooks;
  struct DirectBar {
    std::unique_ptr<DirectRegion> region;  // platform-backed (guest reaches it without traps)
    ZeroedMemory fallback;                 // host memory served by trapping when no DirectMemory
    std::unique_ptr<DirtyPageFanout> dirty = std::make_unique<DirtyPageFanout>();
    [[nodiscard]] std::span<std::byte> host() { return region ? region->host() : fallback.bytes(); }
  };

  // The BAR's memory is the guest's own, saved with it by the hypervisor's toolstack.
  [[nodiscard]] bool direct_contents_saved_with_guest(const DirectBar& bar) const;
  // ... and the vendor reports its own writes to it (ABI 1.3): the snapshot leaves it out.
  [[nodiscard]] bool direct_contents_left_to_guest(const DirectBar& bar) const;
  VgpuState transition(VgpuOp op) const;  // throws VgpuStateError
  void attach_locked();
  // touch_bus=false from the destructor, when the bus itself may be going away.
  void detach_locked(bool touch_bus) noexcept;
  void reconcile_locked();                                              // hw_mu_ held
  void update_intx_locked();                                            // hw_mu_ held
  [[nodiscard]] xvgpu_irq_state irq_state_locked() const;               // hw_mu_ held
  std::optional<DisplaySurface> display_surface_locked(uint32_t head);  // mu_ held
  void release_resources_locked() noexcept;
  void count_bad(const char* what, uint64_t addr, unsigned size) noexcept;
  // A refused DMA access: counted, Master Abort latched, logged (rate-limited). Returns -EFAULT.
  int dma_fault(const char* what, uint64_t gpa, uint64_t len, const char* why) noexcept;
  uint64_t bar_access(IoSpace space, uint64_t addr, unsigned size, VcpuId vcpu, bool is_write,
                      uint64_t value) noexcept;
  // Legacy I/O range access (mu_ held).
  uint64_t legacy_access_locked(const BarMapper::Hit& hit, uint64_t addr, unsigned size, VcpuId vcpu,
                                bool is_write, uint64_t value) noexcept;
  // Hands the pieces of one guest access to the vendor (mu_ held).
  uint64_t dispatch_locked(unsigned region, const AccessPlan& plan, VcpuId vcpu, bool is_write,
                           uint64_t value) noexcept;
  uint64_t vendor_config_access(unsigned offset, unsigned size, VcpuId vcpu, bool is_write,
                                uint64_t value) noexcept;
  [[noreturn]] void throw_vendor_error(const char* what, int rc, const xvgpu_error& err) const;

  std::string uuid_;
  PhysicalGpu& pgpu_;
  uint32_t type_index_;
  TypeInfo type_;
  Platform platform_;
  DeviceBus& bus_;
  HostAccounting& accounting_;
  Sbdf sbdf_;
  std::string vm_uuid_;
  bool incoming_ = false;
  std::string vm_name_;
  std::shared_ptr<const ExpansionRom> rom_;
  std::vector<xvgpu_knob_value> create_params_;
  std::vector<std::string> param_texts_;  // storage behind create_params_[i].text

  mutable std::mutex mu_;
  VgpuState state_ = VgpuState::Defined;
  xvgpu_instance handle_{this};
  void* vendor_data_ = nullptr;
  std::unique_ptr<Reservation> reservation_;
  std::map<unsigned, DirectBar> direct_;
  BarMapper mapper_;
  bool attached_ = false;
  std::unique_ptr<Worker> worker_;

  mutable std::mutex hw_mu_;
  PciConfigSpace cfg_;
  bool intx_level_ = false;
  bool intx_out_ = false;
  std::optional<xvgpu_domain_info> domain_;

  std::mutex sg_mu_;
  std::map<xvgpu_sg_mapping*, std::unique_ptr<xvgpu_sg_mapping>> sg_maps_;

  DisplayDamage display_damage_;
  CoreCounters counters_;
  RateLimiter guest_log_{10};
  RateLimiter vendor_log_{50};
};

}  // namespace xvgpu::gpu
