// xensim::Guest: the guest side of a simulated domain, in-process (against a Host) or across
// processes (against xensimd). Create domains, run PIO/MMIO/PCI-config accesses on a vCPU
// (blocking until the device model answers, as a real vCPU does), touch guest RAM, watch
// the MSIs/INTx a device model raises, and query domain state (crashed, hung vCPUs).
//
// Thread-safe: several threads may run accesses on different vCPUs at once (each call
// borrows its own connection).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/types.h"
#include "common/unique_fd.h"
#include "xensim/protocol.h"
#include "xensim/transport.h"

namespace xensim {

class Host;

struct DomainConfig {
  uint32_t vcpus = 1;
  uint64_t ram_mib = 64;     // RAM occupies gfns [0, ram_mib * 256)
  bool start_paused = true;  // as `xl create -p`: the device model registers first
};

// Who the toolstack says a new domain is (apart from DomainConfig, whose designated
// initializers elsewhere would otherwise miss fields).
struct DomainIdentity {
  // The domain's handle (xen_domain_handle_t, what xc_domain_getinfo reports): xl.cfg's uuid=,
  // or, as xl does without one, a fresh random UUID for every domain created.
  std::optional<std::array<uint8_t, 16>> handle;
  uint16_t domid = 0;  // 0: Xen chooses; else this one (libxl's c_info.domid), EEXIST if taken
  // xl.cfg's name=: written to xenstore as libxl does (/local/domain/N/name, /vm/UUID/name).
  // Empty: "xensim-N".
  std::string name;
};

struct DomainStatus {
  DomainInfo info;
  std::string crash_reason;    // why Xen crashed it (state violation, ...)
  std::vector<HungVcpu> hung;  // vCPUs currently stuck on an unanswered ioreq
  uint64_t hung_reports = 0;   // how many hang reports so far
  uint64_t ioreqs = 0;         // ioreqs sent to servers
  uint64_t unclaimed = 0;      // accesses answered by Xen's null handler
};

// A mapping of guest RAM (shared with the device model's foreign mappings).
class RamMapping {
 public:
  RamMapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  RamMapping(const RamMapping&) = delete;
  RamMapping& operator=(const RamMapping&) = delete;
  ~RamMapping();
  [[nodiscard]] std::span<std::byte> bytes() const { return {static_cast<std::byte*>(addr_), len_}; }

 private:
  void* addr_;
  size_t len_;
};

class Guest {
 public:
  // In-process: against this host.
  explicit Guest(Host& host);
  // Across processes: against the xensimd listening on socket_path (default: $XENSIM_SOCKET
  // or /tmp/xensim-<uid>.sock). Throws xvgpu::SystemError when it is not reachable.
  static Guest connect(const std::string& socket_path = default_socket_path());

  Guest(Guest&&) noexcept;
  Guest& operator=(Guest&&) noexcept;
  ~Guest();

  // ---- domains ----
  xvgpu::Domid create_domain(const DomainConfig& cfg, const DomainIdentity& id = {});
  void destroy_domain(xvgpu::Domid d);
  void pause(xvgpu::Domid d);
  void unpause(xvgpu::Domid d);
  DomainStatus status(xvgpu::Domid d);  // throws SystemError(ESRCH) once destroyed
  std::vector<DomainInfo> list_domains();

  // ---- accesses on a vCPU (block until answered; a paused domain blocks until unpaused) ----
  AccessResult access(xvgpu::Domid d, xvgpu::VcpuId vcpu, const Access& a);
  uint64_t pio_read(xvgpu::Domid d, xvgpu::VcpuId v, uint16_t port, uint32_t size);
  void pio_write(xvgpu::Domid d, xvgpu::VcpuId v, uint16_t port, uint32_t size, uint64_t value);
  uint64_t mmio_read(xvgpu::Domid d, xvgpu::VcpuId v, uint64_t gpa, uint32_t size);
  void mmio_write(xvgpu::Domid d, xvgpu::VcpuId v, uint64_t gpa, uint32_t size, uint64_t value);
  // Writes to ports/addresses below 1 MiB go through the buffered ring when eligible.
  AccessResult buffered_write(xvgpu::Domid d, xvgpu::VcpuId v, Space space, uint64_t addr, uint32_t size,
                              uint64_t value);
  // PCI config through CF8 (latched, 4-byte write) + CFC..CFF, as a real guest does.
  uint32_t pci_cfg_read(xvgpu::Domid d, xvgpu::VcpuId v, xvgpu::Sbdf sbdf, uint16_t reg, uint32_t size);
  void pci_cfg_write(xvgpu::Domid d, xvgpu::VcpuId v, xvgpu::Sbdf sbdf, uint16_t reg, uint32_t size,
                     uint32_t value);
  // TIMEOFFSET to every enabled server's buffered ring; returns how many got it.
  uint32_t time_offset(xvgpu::Domid d, int64_t delta);
  // Removes guest memory (decrease_reservation by the guest on vCPU v): INVALIDATE is
  // broadcast synchronously to every enabled server before this returns.
  AccessStatus remove_memory(xvgpu::Domid d, xvgpu::VcpuId v, xvgpu::Gfn first, uint64_t count);

  // ---- guest RAM ----
  void read_ram(xvgpu::Domid d, uint64_t gpa, std::span<std::byte> out);
  void write_ram(xvgpu::Domid d, uint64_t gpa, std::span<const std::byte> in);  // marks pages dirty
  std::unique_ptr<RamMapping> map_ram(xvgpu::Domid d, xvgpu::Gfn first, uint64_t pages);

  // ---- what the device model raised ----
  std::vector<MsiRecord> msis(xvgpu::Domid d, uint32_t from = 0);
  // true once at least `count` MSIs were injected in total.
  bool wait_msis(xvgpu::Domid d, uint32_t count, std::chrono::milliseconds timeout);
  uint32_t intx_level(xvgpu::Domid d, xvgpu::Sbdf sbdf, unsigned pin);
  // true once the INTx line of (device of sbdf, pin) is at `level`.
  bool wait_intx(xvgpu::Domid d, xvgpu::Sbdf sbdf, unsigned pin, uint32_t level,
                 std::chrono::milliseconds timeout);
  std::vector<uint64_t> modified_pages(xvgpu::Domid d);
  // Log-dirty mode, as the toolstack turns it on for a live migration: only then does
  // xendevicemodel_modified_memory record (and check) anything.
  void set_log_dirty(xvgpu::Domid d, bool on);

  // ---- host control ----
  void inject_failure(const std::string& call, int err, uint64_t nth, bool sticky = false);
  void clear_failures();
  void set_hang_timeout(std::chrono::milliseconds t);
  void shutdown_daemon();

 private:
  explicit Guest(std::function<std::unique_ptr<Transport>()> factory);
  Reply call(Op op, const Writer& w, const char* what);
  std::function<std::unique_ptr<Transport>()> factory_;
  std::unique_ptr<std::mutex> mu_;
  std::vector<std::unique_ptr<Transport>> idle_;
  std::map<uint16_t, xvgpu::UniqueFd> memfds_;
};

}  // namespace xensim
