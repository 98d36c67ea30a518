// RAII owners of the Xen library handles (xenctrl's lives in xen_direct_memory.cc, its only user), foreign
// mappings and event-channel bindings the frontend uses. Every owner releases in its destructor and ignores
// failures there (the domain may already be gone); opening functions throw SystemError naming the call.
#pragma once

// clang-format off
extern "C" {
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
}
// clang-format on

#include <cstddef>
#include <memory>
#include <utility>

#include "common/error.h"

namespace xvgpu::ioreq {

struct DevicemodelCloser {
  void operator()(xendevicemodel_handle* h) const noexcept { xendevicemodel_close(h); }
};
struct EvtchnCloser {
  void operator()(xenevtchn_handle* h) const noexcept { xenevtchn_close(h); }
};

using EvtchnHandle = std::unique_ptr<xenevtchn_handle, EvtchnCloser>;
// Shared: a mapping handed to a device (gpu::GuestMapping) keeps the foreign-memory handle (to
// unmap) and the devicemodel handle (to report dirty pages) alive even if it outlives the
// frontend, so its release never touches a closed handle.
using ForeignMemoryHandle = std::shared_ptr<xenforeignmemory_handle>;
using DevicemodelHandle = std::shared_ptr<xendevicemodel_handle>;

DevicemodelHandle open_devicemodel();
EvtchnHandle open_evtchn();
ForeignMemoryHandle open_foreign_memory();

// Pages of another domain mapped with xenforeignmemory_map; unmapped on destruction.
class ForeignMapping {
 public:
  ForeignMapping() = default;
  ForeignMapping(ForeignMemoryHandle fmem, void* addr, size_t pages)
      : fmem_(std::move(fmem)), addr_(addr), pages_(pages) {}
  ForeignMapping(ForeignMapping&& o) noexcept
      : fmem_(std::move(o.fmem_)),
        addr_(std::exchange(o.addr_, nullptr)),
        pages_(std::exchange(o.pages_, 0)) {}
  ForeignMapping& operator=(ForeignMapping&& o) noexcept {
    if (this != &o) {
      reset();
      fmem_ = std::move(o.fmem_);
      addr_ = std::exchange(o.addr_, nullptr);
      pages_ = std::exchange(o.pages_, 0);
    }
    return *this;
  }
  ForeignMapping(const ForeignMapping&) = delete;
  ForeignMapping& operator=(const ForeignMapping&) = delete;
  ~ForeignMapping() { reset(); }

  [[nodiscard]] void* get() const { return addr_; }
  [[nodiscard]] size_t pages() const { return pages_; }
  void reset() noexcept {
    if (addr_ != nullptr) {
      xenforeignmemory_unmap(fmem_.get(), addr_, pages_);
    }
    addr_ = nullptr;
    pages_ = 0;
    fmem_.reset();
  }

 private:
  ForeignMemoryHandle fmem_;
  void* addr_ = nullptr;
  size_t pages_ = 0;
};

// A resource (ioreq server pages) mapped with xenforeignmemory_map_resource.
class ResourceMapping {
 public:
  ResourceMapping() = default;
  ResourceMapping(ForeignMemoryHandle fmem, xenforeignmemory_resource_handle* res, void* addr)
      : fmem_(std::move(fmem)), res_(res), addr_(addr) {}
  ResourceMapping(ResourceMapping&& o) noexcept
      : fmem_(std::move(o.fmem_)),
        res_(std::exchange(o.res_, nullptr)),
        addr_(std::exchange(o.addr_, nullptr)) {}
  ResourceMapping& operator=(ResourceMapping&& o) noexcept {
    if (this != &o) {
      reset();
      fmem_ = std::move(o.fmem_);
      res_ = std::exchange(o.res_, nullptr);
      addr_ = std::exchange(o.addr_, nullptr);
    }
    return *this;
  }
  ResourceMapping(const ResourceMapping&) = delete;
  ResourceMapping& operator=(const ResourceMapping&) = delete;
  ~ResourceMapping() { reset(); }

  [[nodiscard]] void* get() const { return addr_; }
  void reset() noexcept {
    if (res_ != nullptr) {
      xenforeignmemory_unmap_resource(fmem_.get(), res_);
    }
    res_ = nullptr;
    addr_ = nullptr;
    fmem_.reset();
  }

 private:
  ForeignMemoryHandle fmem_;
  xenforeignmemory_resource_handle* res_ = nullptr;
  void* addr_ = nullptr;
};

// A local event-channel port bound to a remote port of the guest; unbound on destruction.
class BoundPort {
 public:
  BoundPort() = default;
  BoundPort(xenevtchn_handle* xce, evtchn_port_t local) : xce_(xce), local_(local) {}
  BoundPort(BoundPort&& o) noexcept : xce_(std::exchange(o.xce_, nullptr)), local_(o.local_) {}
  BoundPort& operator=(BoundPort&& o) noexcept {
    if (this != &o) {
      reset();
      xce_ = std::exchange(o.xce_, nullptr);
      local_ = o.local_;
    }
    return *this;
  }
  BoundPort(const BoundPort&) = delete;
  BoundPort& operator=(const BoundPort&) = delete;
  ~BoundPort() { reset(); }

  [[nodiscard]] evtchn_port_t local() const { return local_; }
  [[nodiscard]] bool bound() const { return xce_ != nullptr; }
  void reset() noexcept {
    if (xce_ != nullptr) {
      xenevtchn_unbind(xce_, local_);
    }
    xce_ = nullptr;
  }

 private:
  xenevtchn_handle* xce_ = nullptr;
  evtchn_port_t local_ = 0;
};

// Binds a local port to `remote` of `domid`.
BoundPort bind_interdomain(xenevtchn_handle* xce, uint32_t domid, evtchn_port_t remote);

}  // namespace xvgpu::ioreq
