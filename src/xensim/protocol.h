// The xensim request/reply protocol: one message format for the in-process host and for
// xensimd across a UNIX socket, so both forms run exactly the same host code.
//
// Request: RequestHeader + payload. Reply: ReplyHeader + payload, with fds (memfds, event
// pipes) passed as SCM_RIGHTS. Payloads are packed PODs written by Writer, read by Reader;
// Reader bound-checks every read (a short or corrupt message throws ProtocolError).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/unique_fd.h"

namespace xensim {

// One op per Xen library function that reaches the host (named after it, so failure
// injection can address each one), plus the guest-side and control ops.
#define XENSIM_OPS(X)                                \
  X(hello)                                           \
  X(xendevicemodel_restrict)                         \
  X(xenforeignmemory_restrict)                       \
  X(xenevtchn_restrict)                              \
  X(xendevicemodel_create_ioreq_server)              \
  X(xendevicemodel_get_ioreq_server_info)            \
  X(xendevicemodel_map_io_range_to_ioreq_server)     \
  X(xendevicemodel_unmap_io_range_from_ioreq_server) \
  X(xendevicemodel_map_mem_type_to_ioreq_server)     \
  X(xendevicemodel_map_pcidev_to_ioreq_server)       \
  X(xendevicemodel_unmap_pcidev_from_ioreq_server)   \
  X(xendevicemodel_destroy_ioreq_server)             \
  X(xendevicemodel_set_ioreq_server_state)           \
  X(xendevicemodel_set_pci_intx_level)               \
  X(xendevicemodel_set_isa_irq_level)                \
  X(xendevicemodel_set_irq_level)                    \
  X(xendevicemodel_set_pci_link_route)               \
  X(xendevicemodel_inject_msi)                       \
  X(xendevicemodel_track_dirty_vram)                 \
  X(xendevicemodel_modified_memory)                  \
  X(xendevicemodel_modified_memory_bulk)             \
  X(xendevicemodel_set_mem_type)                     \
  X(xendevicemodel_inject_event)                     \
  X(xendevicemodel_shutdown)                         \
  X(xendevicemodel_relocate_memory)                  \
  X(xendevicemodel_pin_memory_cacheattr)             \
  X(xendevicemodel_nr_vcpus)                         \
  X(xenforeignmemory_map)                            \
  X(xenforeignmemory_map2)                           \
  X(xenforeignmemory_map_resource)                   \
  X(xenforeignmemory_resource_size)                  \
  X(xenforeignmemory_unmap)                          \
  X(xenforeignmemory_unmap_resource)                 \
  X(xenevtchn_notify)                                \
  X(xenevtchn_bind_unbound_port)                     \
  X(xenevtchn_bind_interdomain)                      \
  X(xenevtchn_bind_virq)                             \
  X(xenevtchn_unbind)                                \
  X(xenevtchn_unmask)                                \
  X(xc_domain_getinfo)                               \
  X(xc_domain_getinfolist)                           \
  X(xc_domain_pause)                                 \
  X(xc_domain_unpause)                               \
  X(xc_domain_destroy)                               \
  X(xc_domain_shutdown)                              \
  X(xc_domain_max_vcpus)                             \
  X(xc_domain_setmaxmem)                             \
  X(xc_domain_populate_physmap_exact)                \
  X(xc_domain_decrease_reservation_exact)            \
  X(xc_domain_remove_from_physmap)                   \
  X(xc_hvm_param_get)                                \
  X(xc_hvm_param_set)                                \
  X(xs_read)                                         \
  X(xs_write)                                        \
  X(xs_mkdir)                                        \
  X(xs_rm)                                           \
  X(xs_directory)                                    \
  X(xs_watch)                                        \
  X(xs_unwatch)                                      \
  X(guest_create_domain)                             \
  X(guest_destroy_domain)                            \
  X(guest_pause)                                     \
  X(guest_unpause)                                   \
  X(guest_access)                                    \
  X(guest_time_offset)                               \
  X(guest_remove_memory)                             \
  X(guest_read_ram)                                  \
  X(guest_write_ram)                                 \
  X(guest_map_ram)                                   \
  X(guest_status)                                    \
  X(guest_list_domains)                              \
  X(guest_msis)                                      \
  X(guest_wait_msis)                                 \
  X(guest_intx)                                      \
  X(guest_wait_intx)                                 \
  X(guest_modified_pages)                            \
  X(guest_set_log_dirty)                             \
  X(control_inject_failure)                          \
  X(control_clear_failures)                          \
  X(control_set_hang_timeout)                        \
  X(control_shutdown_daemon)

enum class Op : uint32_t {
#define XENSIM_OP_ENUM(name) name,
  XENSIM_OPS(XENSIM_OP_ENUM)
#undef XENSIM_OP_ENUM
      count_
};

std::string_view op_name(Op op);
// The op with that name, or Op::count_.
Op op_from_name(std::string_view name);

// What kind of library handle a session stands for (decides what hello returns).
enum class SessionKind : uint32_t { devicemodel, foreignmemory, evtchn, ctrl, store, guest };

struct RequestHeader {
  uint32_t op;
  uint32_t len;
};
struct ReplyHeader {
  int32_t rc;
  int32_t err;
  uint32_t len;
  uint32_t nfds;
};
inline constexpr uint32_t kMaxMessage = 64u << 20;  // guest RAM reads/writes are chunked below it
inline constexpr unsigned kMaxFdsPerReply = 4;

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Writer {
 public:
  template <typename T>
  Writer& put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    append(&v, sizeof(T));
    return *this;
  }
  Writer& bytes(std::span<const uint8_t> b) {
    put(static_cast<uint32_t>(b.size()));
    append(b.data(), b.size());
    return *this;
  }
  Writer& str(std::string_view s) { return bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }
  [[nodiscard]] const std::vector<uint8_t>& data() const { return buf_; }
  std::vector<uint8_t>& data() { return buf_; }

 private:
  void append(const void* p, size_t n) {
    if (n == 0) {
      return;
    }
    const size_t old = buf_.size();
    buf_.resize(old + n);
    std::memcpy(buf_.data() + old, p, n);
  }
  std::vector<uint8_t> buf_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const uint8_t> bytes() {
    const auto n = get<uint32_t>();
    need(n);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::string str() {
    auto s = bytes();
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }
  [[nodiscard]] size_t remaining() const { return b_.size() - pos_; }

 private:
  void need(size_t n) const {
    if (n > b_.size() - pos_) {
      throw ProtocolError("xensim: truncated message");
    }
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

// A reply: rc/err follow the Xen library convention of the op (rc < 0 => err is the errno).
struct Reply {
  int32_t rc = 0;
  int32_t err = 0;
  std::vector<uint8_t> data;
  std::vector<xvgpu::UniqueFd> fds;

  static Reply error(int e) {
    Reply r;
    r.rc = -1;
    r.err = e;
    return r;
  }
};

// ---- POD payloads shared by host and clients ----

enum class Space : uint8_t { pio = 0, mmio = 1 };

// One guest instruction's access as the vCPU issues it (before Xen splits it into ioreqs).
struct Access {
  Space space = Space::mmio;
  uint8_t dir = 0;          // IOREQ_READ (1) / IOREQ_WRITE (0)
  uint8_t df = 0;           // rep walks downwards
  uint8_t data_is_ptr = 0;  // data is the gpa of a buffer of `count` items (rep ins/outs/movs)
  uint8_t buffered = 0;     // eligible writes go through the buffered ring (as stdvga does)
  uint8_t pad[3] = {};
  uint32_t size = 4;   // 1, 2, 4, 8
  uint32_t count = 1;  // rep count (the guest's rcx); Xen splits it
  uint64_t addr = 0;   // port or guest-physical address
  uint64_t data = 0;   // value written, or buffer gpa when data_is_ptr
};

enum class AccessStatus : uint32_t {
  ok = 0,         // answered by an ioreq server
  unclaimed = 1,  // no server claimed it: reads all ones, writes dropped (Xen's null handler)
  ram = 2,        // MMIO that hit guest RAM: a plain memory access, no ioreq
  buffered = 3,   // posted to the buffered ring (no answer is awaited)
  crashed = 4,    // the domain crashed (state violation) or shut down
  destroyed = 5,  // the domain is gone
  invalid = 6,    // malformed access (size/count/vcpu)
};

struct AccessResult {
  AccessStatus status = AccessStatus::ok;
  uint32_t ioreqs = 0;  // how many ioreqs the access was split into
  uint64_t data = 0;    // value read (single, non-pointer reads)
};

enum class DomainState : uint32_t { paused = 0, running = 1, crashed = 2, shutdown = 3, dying = 4, gone = 5 };

// Per domain, what xc_domain_getinfo* and the guest side report.
struct DomainInfo {
  uint32_t domid = 0;
  DomainState state = DomainState::gone;
  uint32_t shutdown_reason = 0;
  uint32_t nr_vcpus = 0;
  uint64_t tot_pages = 0;
  uint64_t max_pages = 0;
  uint64_t mappings = 0;    // foreign/resource mappings dom0 holds (a dying domain waits for 0)
  uint8_t handle[16] = {};  // xen_domain_handle_t: the toolstack's UUID of this domain instance
};

struct HungVcpu {
  uint32_t vcpu = 0;
  uint32_t server = 0;
  uint8_t type = 0;
  uint8_t pad[7] = {};
  uint64_t addr = 0;
  uint64_t waited_ms = 0;
};

struct MsiRecord {
  uint64_t addr = 0;
  uint32_t data = 0;
  uint32_t pad = 0;
};

}  // namespace xensim
