// One Xen ioreq server for one domain: creation, the shared pages, the event channels,
// enabling; and the reverse on destruction (ports unbound, server disabled, pages unmapped,
// server destroyed), whatever state the domain is in.
//
// Set-up order (xen-ioreq-facts.md): create_ioreq_server (buffered ring atomic or off) ->
// map the pages as a resource (XENMEM_resource_ioreq_server; on EOPNOTSUPP the legacy
// get_ioreq_server_info gfns + xenforeignmemory_map) -> get the buffered port -> enable ->
// bind every vCPU's vp_eport and the buffered port. The handles must already be restricted.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
}
// clang-format on

#include "common/types.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

inline constexpr size_t kXenPageSize = 4096;
// Xen 4.17 has one ioreq page: one 32-byte slot per vCPU.
inline constexpr unsigned kMaxVcpus = kXenPageSize / sizeof(ioreq_t);

class IoreqServer {
 public:
  // Throws SystemError naming the failing call; anything already done is undone.
  IoreqServer(xendevicemodel_handle* dm, ForeignMemoryHandle fmem, xenevtchn_handle* xce, Domid domid,
              unsigned nr_vcpus, bool buffered);
  ~IoreqServer();
  IoreqServer(const IoreqServer&) = delete;
  IoreqServer& operator=(const IoreqServer&) = delete;

  [[nodiscard]] ioservid_t id() const { return id_; }
  [[nodiscard]] Domid domid() const { return domid_; }
  [[nodiscard]] unsigned nr_vcpus() const { return static_cast<unsigned>(vcpu_ports_.size()); }
  [[nodiscard]] ioreq_t* slot(unsigned vcpu) const { return &ioreq_page_->vcpu_ioreq[vcpu]; }
  [[nodiscard]] buffered_iopage_t* buffered_page() const { return buffered_page_; }
  // Our local port for vCPU `vcpu` (what we notify after answering).
  [[nodiscard]] evtchn_port_t vcpu_port(unsigned vcpu) const { return vcpu_ports_[vcpu].local(); }
  [[nodiscard]] std::optional<evtchn_port_t> buffered_port() const {
    return buffered_port_.bound() ? std::optional(buffered_port_.local()) : std::nullopt;
  }
  // Whether the pages came from the legacy (gfn) interface rather than resource mapping.
  [[nodiscard]] bool legacy_mapping() const { return legacy_; }
  // False once Xen no longer knows our server (domain destroyed or dying): the death check.
  [[nodiscard]] bool alive() const;

 private:
  void teardown() noexcept;
  void map_pages(bool buffered);
  void map_pages_legacy(bool buffered);

  xendevicemodel_handle* dm_;
  ForeignMemoryHandle fmem_;
  xenevtchn_handle* xce_;
  Domid domid_;
  ioservid_t id_ = 0;
  bool created_ = false;
  bool enabled_ = false;
  bool legacy_ = false;
  // Destroyed in reverse order of declaration after ~IoreqServer's own steps.
  ResourceMapping resource_;
  ForeignMapping legacy_ioreq_;
  ForeignMapping legacy_buffered_;
  shared_iopage_t* ioreq_page_ = nullptr;
  buffered_iopage_t* buffered_page_ = nullptr;
  std::vector<BoundPort> vcpu_ports_;
  BoundPort buffered_port_;
};

}  // namespace xvgpu::ioreq
