#include "ioreq/ioreq_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/rate_limited_log.h"

namespace xvgpu::ioreq {

IoreqServer::IoreqServer(xendevicemodel_handle* dm, ForeignMemoryHandle fmem, xenevtchn_handle* xce,
                         Domid domid, unsigned nr_vcpus, bool buffered)
    : dm_(dm), fmem_(std::move(fmem)), xce_(xce), domid_(domid) {
  const auto ctx = [&](const char* what) { return fmt::format("dom{}: {}", domid_.value, what); };
  if (nr_vcpus == 0 || nr_vcpus > kMaxVcpus) {
    throw Error(
        fmt::format("dom{}: {} vCPUs: an ioreq server serves 1 to {}", domid_.value, nr_vcpus, kMaxVcpus));
  }
  try {
    check_errno(
        xendevicemodel_create_ioreq_server(
            dm_, domid_.value, buffered ? HVM_IOREQSRV_BUFIOREQ_ATOMIC : HVM_IOREQSRV_BUFIOREQ_OFF, &id_),
        ctx("xendevicemodel_create_ioreq_server"));
    created_ = true;
    map_pages(buffered);
    evtchn_port_t buf_remote = 0;
    if (buffered) {
      check_errno(xendevicemodel_get_ioreq_server_info(dm_, domid_.value, id_, nullptr, nullptr, &buf_remote),
                  ctx("xendevicemodel_get_ioreq_server_info (buffered port)"));
    }
    check_errno(xendevicemodel_set_ioreq_server_state(dm_, domid_.value, id_, 1),
                ctx("xendevicemodel_set_ioreq_server_state(enable)"));
    enabled_ = true;
    // Xen fills in each vCPU's port when the server is created; read each once.
    vcpu_ports_.reserve(nr_vcpus);
    for (unsigned v = 0; v < nr_vcpus; ++v) {
      const uint32_t remote = std::atomic_ref<uint32_t>(slot(v)->vp_eport).load(std::memory_order_acquire);
      vcpu_ports_.push_back(bind_interdomain(xce_, domid_.value, remote));
    }
    if (buffered) {
      buffered_port_ = bind_interdomain(xce_, domid_.value, buf_remote);
    }
  } catch (...) {
    teardown();
    throw;
  }
}

IoreqServer::~IoreqServer() {
  teardown();
}

void IoreqServer::teardown() noexcept {
  buffered_port_.reset();
  vcpu_ports_.clear();  // unbinds, in order
  if (enabled_) {
    if (xendevicemodel_set_ioreq_server_state(dm_, domid_.value, id_, 0) != 0) {
      spdlog::debug("dom{}: disabling ioreq server {}: {}", domid_.value, id_, std::strerror(errno));
    }
    enabled_ = false;
  }
  resource_.reset();
  legacy_buffered_.reset();
  legacy_ioreq_.reset();
  ioreq_page_ = nullptr;
  buffered_page_ = nullptr;
  if (created_) {
    if (xendevicemodel_destroy_ioreq_server(dm_, domid_.value, id_) != 0) {
      spdlog::debug("dom{}: destroying ioreq server {}: {}", domid_.value, id_, std::strerror(errno));
    }
    created_ = false;
  }
}

void IoreqServer::map_pages(bool buffered) {
  // Frame 0 is the buffered page, frame 1 the per-vCPU page: map both at once when buffered.
  void* addr = nullptr;
  const unsigned long first =
      buffered ? XENMEM_resource_ioreq_server_frame_bufioreq : XENMEM_resource_ioreq_server_frame_ioreq(0);
  const unsigned long count = buffered ? 2 : 1;
  xenforeignmemory_resource_handle* res =
      xenforeignmemory_map_resource(fmem_.get(), domid_.value, XENMEM_resource_ioreq_server, id_, first,
                                    count, &addr, PROT_READ | PROT_WRITE, 0);
  if (res == nullptr) {
    if (errno == EOPNOTSUPP) {
      spdlog::info("dom{}: resource mapping not supported, using the legacy ioreq pages", domid_.value);
      map_pages_legacy(buffered);
      return;
    }
    throw SystemError(
        errno, fmt::format("dom{}: xenforeignmemory_map_resource(ioreq server {})", domid_.value, id_));
  }
  resource_ = ResourceMapping(fmem_, res, addr);
  auto* base = static_cast<std::byte*>(addr);
  if (buffered) {
    buffered_page_ = reinterpret_cast<buffered_iopage_t*>(base);
    ioreq_page_ = reinterpret_cast<shared_iopage_t*>(base + kXenPageSize);
  } else {
    ioreq_page_ = reinterpret_cast<shared_iopage_t*>(base);
  }
}

void IoreqServer::map_pages_legacy(bool buffered) {
  legacy_ = true;
  xen_pfn_t ioreq_gfn = 0;
  xen_pfn_t buf_gfn = 0;
  check_errno(xendevicemodel_get_ioreq_server_info(dm_, domid_.value, id_, &ioreq_gfn,
                                                   buffered ? &buf_gfn : nullptr, nullptr),
              fmt::format("dom{}: xendevicemodel_get_ioreq_server_info (legacy pages)", domid_.value));
  const auto map_one = [&](xen_pfn_t gfn, const char* what) {
    int err = 0;
    void* p = xenforeignmemory_map(fmem_.get(), domid_.value, PROT_READ | PROT_WRITE, 1, &gfn, &err);
    if (p == nullptr || err != 0) {
      const int e = p == nullptr ? errno : err;
      if (p != nullptr) {
        xenforeignmemory_unmap(fmem_.get(), p, 1);
      }
      throw SystemError(
          e, fmt::format("dom{}: xenforeignmemory_map of the {} page (gfn {:#x})", domid_.value, what, gfn));
    }
    return ForeignMapping(fmem_, p, 1);
  };
  legacy_ioreq_ = map_one(ioreq_gfn, "ioreq");
  ioreq_page_ = static_cast<shared_iopage_t*>(legacy_ioreq_.get());
  if (buffered) {
    legacy_buffered_ = map_one(buf_gfn, "buffered ioreq");
    buffered_page_ = static_cast<buffered_iopage_t*>(legacy_buffered_.get());
  }
}

bool IoreqServer::alive() const {
  if (xendevicemodel_get_ioreq_server_info(dm_, domid_.value, id_, nullptr, nullptr, nullptr) == 0) {
    return true;
  }
  // Only "no such domain" or "no such server" (destroyed with a dying domain) mean gone; any
  // other failure is the check failing, and a live guest must not lose its device over it.
  const int e = errno;
  if (e == ESRCH || e == ENOENT) {
    return false;
  }
  static RateLimiter log_limit;
  XVGPU_LOG_LIMITED(
      log_limit, spdlog::level::warn,
      "dom{}: xendevicemodel_get_ioreq_server_info (domain check): {}; assuming the domain lives",
      domid_.value, std::strerror(e));
  return true;
}

}  // namespace xvgpu::ioreq
