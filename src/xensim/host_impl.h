// Internal state of xensim::Host. Not part of the API: other code uses host.h / guest.h.
//
// One mutex (mu_) guards all host state; vCPUs waiting for an ioreq answer sleep on their
// own condition variable with mu_ released. The shared pages (guest RAM, ioreq pages) are
// written by device models without that lock, so the host reads them with atomics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.h"
#include "xensim/failure_injector.h"
#include "xensim/host.h"
#include "xensim/protocol.h"
#include "xensim/rangeset.h"
#include "xensim/xen_headers.h"
#include "xensim/xenstore_tree.h"

namespace xensim {

inline constexpr uint64_t kPage = 4096;
inline constexpr unsigned kMaxIoreqServers = 8;       // MAX_NR_IOREQ_SERVERS
inline constexpr unsigned kMaxVcpus = 128;            // one ioreq page
inline constexpr uint64_t kLegacyGfnBase = 0xfeff0;   // where get_ioreq_server_info's gfns live
inline constexpr uint32_t kMaxAccessReps = 1u << 20;  // per guest-API access
inline constexpr uint64_t kVgaHoleFirst = 0xa0, kVgaHoleLast = 0xbf;  // gfns of 0xa0000-0xbffff
inline constexpr uint64_t kSlackPages = 262144;  // memfd room beyond RAM for populate/ioreq pages

enum class PageMode : uint8_t { none, resource, legacy };

struct IoreqServer {
  uint16_t id = 0;
  int bufioreq_handling = 0;  // HVM_IOREQSRV_BUFIOREQ_*
  bool enabled = false;
  bool dead = false;
  PageMode mode = PageMode::none;
  uint64_t buf_page = 0;            // memfd page index of the buffered page (if any)
  uint64_t ioreq_page = 0;          // memfd page index of the per-vCPU page
  RangeSet ranges[3];               // XEN_DMOP_IO_RANGE_PORT/MEMORY/PCI
  std::vector<uint32_t> vcpu_port;  // guest-side event channel per vCPU
  uint32_t buf_port = 0;
};

struct Vcpu {
  std::condition_variable cv;
  uint64_t notify_seq = 0;
  bool busy = false;
};

struct DirtyVram {
  uint64_t begin = 0, nr = 0;
  std::vector<bool> dirty;
};

struct Domain {
  uint16_t id = 0;
  std::array<uint8_t, 16> handle{};  // xen_domain_handle_t, as the toolstack gave it
  std::string vm_path;               // /vm/UUID, written by the toolstack at creation
  DomainState state = DomainState::paused;
  uint32_t shutdown_reason = 0;
  std::string crash_reason;
  uint32_t nr_vcpus = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  std::condition_variable state_cv;  // paused -> running wakes vCPU accesses

  // Guest RAM and every page Xen gives this domain live in one memfd.
  xvgpu::UniqueFd memfd;
  uint8_t* base = nullptr;
  uint64_t capacity_pages = 0;
  uint64_t next_page = 0;                      // bump allocator; pages are never reused
  std::unordered_map<uint64_t, uint64_t> p2m;  // gfn -> memfd page
  uint64_t max_pages = 0;
  uint64_t tot_pages = 0;

  std::map<uint16_t, std::shared_ptr<IoreqServer>> servers;
  uint32_t next_port = 1;
  uint32_t pci_cf8 = 0;
  bool mapcache_invalidate = false;

  std::vector<MsiRecord> msis;
  std::condition_variable msi_cv;
  std::map<uint64_t, uint32_t> intx;  // (sbdf << 8 | pin) -> level
  std::map<uint32_t, uint32_t> isa_irq;
  std::map<uint32_t, uint64_t> hvm_params;
  std::set<uint64_t> modified;  // gfns reported by xendevicemodel_modified_memory
  bool log_dirty = false;       // the toolstack's log-dirty mode (on during a live migration)
  // The highest gfn ever mapped (Xen's p2m max_mapped_pfn: it never goes down).
  uint64_t max_mapped_gfn = 0;
  void note_mapped(uint64_t gfn) { max_mapped_gfn = std::max(max_mapped_gfn, gfn); }
  DirtyVram vram;
  std::map<uint32_t, HungVcpu> hung;  // vCPUs currently stuck on an ioreq
  uint64_t hung_reports = 0;
  uint64_t ioreqs = 0;
  uint64_t unclaimed = 0;
  // Foreign and resource mappings held by dom0 clients: a dying domain stays (a zombie)
  // until the last one is released, as Xen keeps it while its pages have references.
  uint64_t mappings = 0;

  ~Domain();
  [[nodiscard]] bool alive() const { return state == DomainState::paused || state == DomainState::running; }
  // Destroyed by the toolstack: dying (zombie) or gone.
  [[nodiscard]] bool killed() const { return state == DomainState::dying || state == DomainState::gone; }
  [[nodiscard]] uint8_t* page_ptr(uint64_t page) const { return base + page * kPage; }
  [[nodiscard]] ioreq_t* slot(const IoreqServer& s, uint32_t vcpu) const {
    return reinterpret_cast<ioreq_t*>(page_ptr(s.ioreq_page)) + vcpu;
  }
};

// An event channel endpoint. dom0 ports belong to a xenevtchn session; guest-side ports
// of ioreq servers are consumed by Xen itself (they wake the vCPU).
struct Port {
  enum class Kind : uint8_t { unbound, interdomain, virq, xen };
  Kind kind = Kind::unbound;
  uint16_t remote_dom = 0;
  uint32_t remote_port = 0;  // 0 = not connected
  Session* owner = nullptr;  // dom0 ports
  bool enabled = true;       // Linux evtchn driver masks a port once delivered
  bool pending = false;
  // kind == xen:
  uint16_t server = 0;
  int32_t vcpu = -1;  // -1: buffered-ring port
};

struct SessionState {
  SessionKind kind = SessionKind::guest;
  std::optional<uint16_t> restricted;
  bool dead = false;         // closed by xentoolcore_restrict_all (dup2 /dev/null)
  xvgpu::UniqueFd event_wr;  // evtchn: pending ports; xenstore: watch events
  std::set<uint32_t> ports;
  std::map<uint16_t, uint64_t> mappings;  // domid -> foreign/resource mappings held
};

class HostImpl {
 public:
  explicit HostImpl(HostOptions o) : opts_(o) {}
  ~HostImpl();

  Reply dispatch(Session& s, Op op, std::span<const uint8_t> payload);
  void close_session(Session* s);
  void open_session(Session* s);

  void stop();

  FailureInjector failures;
  std::atomic<bool> shutdown{false};
  void set_hang_timeout(std::chrono::milliseconds t) {
    std::lock_guard lk(mu_);
    opts_.hang_timeout = t;
  }

 private:
  using Lock = std::unique_lock<std::mutex>;

  Reply do_op(Session& s, SessionState& ss, Op op, Reader& in);
  Reply op_dm(SessionState& ss, Op op, Reader& in);
  Reply op_foreign(SessionState& ss, Op op, Reader& in);
  Reply op_evtchn(Session& s, SessionState& ss, Op op, Reader& in);
  Reply op_ctrl(Lock& lk, Op op, Reader& in);
  Reply op_store(Session& s, SessionState& ss, Op op, Reader& in);
  Reply op_guest(Lock& lk, Op op, Reader& in);

  // domains and memory
  std::shared_ptr<Domain> find(uint16_t domid) const;
  // XEN_DOMCTL_createdomain: want_domid 0 lets Xen choose (EEXIST if a wanted one is taken,
  // dying domains included); the handle is stored as given. The toolstack's xenstore keys
  // (write_domain_keys) are written with it.
  int create_domain(uint32_t vcpus, uint64_t ram_mib, bool paused, uint16_t want_domid,
                    const std::array<uint8_t, 16>& handle, const std::string& name, uint16_t* out);
  // What libxl writes for a new domain: /local/domain/N/{name,vm,domid}, /vm/UUID/{uuid,name}.
  void write_domain_keys(const Domain& d, const std::string& name);
  // What a destroy leaves in xenstore: libxl removes those keys, and xenstored fires
  // @releaseDomain once the domain is dying (or shut down).
  void release_domain_keys(const Domain& d);
  // domain_kill: servers, event channels and blocked vCPUs go at once; the domain stays
  // dying while mappings of its memory remain, then is destroyed (finalize_domain).
  void destroy_domain(const std::shared_ptr<Domain>& d);
  void finalize_domain(const std::shared_ptr<Domain>& d);
  void release_mappings(SessionState& ss, uint16_t domid, uint64_t n);
  void crash(Domain& d, const std::string& why);
  // SCHEDOP_shutdown / XEN_DMOP_remote_shutdown: a live domain stops with `reason`
  // (SHUTDOWN_crash crashes it, recording `who` asked).
  void shut_down(Domain& d, uint32_t reason, const std::string& who);
  int alloc_page(Domain& d, uint64_t* page);
  int populate(Domain& d, uint64_t gfn);
  void remove_gfn(Domain& d, uint64_t gfn);
  bool copy_from_guest(const Domain& d, uint64_t gpa, uint8_t* out, uint64_t len) const;
  bool copy_to_guest(Domain& d, uint64_t gpa, const uint8_t* in, uint64_t len);
  void mark_dirty(Domain& d, uint64_t gfn);
  DomainInfo info_of(const Domain& d) const;

  // ioreq servers
  int server_lookup(SessionState& ss, uint16_t domid, uint16_t id, std::shared_ptr<Domain>* d,
                    std::shared_ptr<IoreqServer>* s, bool check_restrict = true);
  void set_legacy_gfns(Domain& d, IoreqServer& s, bool present);
  void destroy_server(Domain& d, const std::shared_ptr<IoreqServer>& s);

  // the vCPU side (vcpu_io.cc)
  AccessResult access(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, Access a);
  AccessResult access_mmio_single(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, const Access& a);
  AccessStatus send_item(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, ioreq_t p, bool buffered,
                         AccessResult& res, uint64_t* answer);
  AccessStatus send_sync(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu,
                         std::span<const std::shared_ptr<IoreqServer>> servers, ioreq_t p, uint64_t* data);
  bool send_buffered(Domain& d, IoreqServer& s, const ioreq_t& p);
  std::shared_ptr<IoreqServer> select(Domain& d, ioreq_t& p);
  AccessStatus invalidate_broadcast(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu);
  AccessStatus wait_for_io(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, IoreqServer& s,
                           uint64_t* data);

  // event channels (event_channels.cc)
  uint32_t alloc_guest_port(Domain& d, Port p);
  void notify_from_xen(uint16_t domid, uint32_t port);  // Xen raises a guest-side ioreq port
  void deliver_local(uint32_t port);                    // to a dom0 xenevtchn handle
  void close_local_port(uint32_t port);
  void close_guest_port(uint16_t domid, uint32_t port);

  HostOptions opts_;
  mutable std::mutex mu_;
  std::map<uint16_t, std::shared_ptr<Domain>> domains_;
  uint16_t next_domid_ = 1;
  std::map<std::pair<uint16_t, uint32_t>, Port> ports_;  // (domid, port)
  uint32_t next_local_port_ = 1;
  std::map<Session*, SessionState> sessions_;
  XenstoreTree xenstore_;
};

}  // namespace xensim
