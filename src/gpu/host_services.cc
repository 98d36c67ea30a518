// The host services a vendor calls (struct xvgpu_host_api of include/xvgpu/vendor.h): the C
// entry points, and behind them the Vgpu::svc_* bodies. Called by vendor code from any thread;
// they never throw, and every pointer, size and count from the vendor is checked.
#include "gpu/host_services.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gpu/msi_delivery.h"
#include "gpu/vendor_descriptor.h"
#include "gpu/vendor_plugin.h"
#include "gpu/vgpu.h"

namespace xvgpu::gpu {

namespace {

constexpr uint64_t kMaxDmaCopy = uint64_t{1} << 30;
constexpr uint64_t kMaxSgEntryLen = uint64_t{256} << 20;
constexpr uint32_t kMaxSgEntries = 1024;
constexpr size_t kMaxLiveSgMappings = 4096;

Vgpu* vgpu_of(xvgpu_instance* inst) {
  return inst == nullptr ? nullptr : inst->vgpu;
}

int register_pgpu(xvgpu_registrar* reg, const xvgpu_pgpu_desc* desc, const xvgpu_device_ops* ops, void* data,
                  xvgpu_error* err) {
  if (reg == nullptr || reg->plugin == nullptr) {
    return xvgpu_set_error(err, -EPERM, "register_pgpu is only valid inside init()");
  }
  try {
    const xvgpu_device_ops o = import_ops(ops);
    PgpuInfo info = import_pgpu(desc, reg->plugin->name());
    reg->plugin->add_pgpu(std::make_unique<PhysicalGpu>(*reg->plugin, std::move(info), o, data));
    return 0;
  } catch (const std::exception& e) {
    if (reg->error.empty()) {
      reg->error = e.what();
    }
    return xvgpu_set_error(err, -EINVAL, "%s", e.what());
  }
}

void log(xvgpu_instance* inst, int level, const char* message) {
  if (Vgpu* v = vgpu_of(inst)) {
    v->svc_log(level, message);
    return;
  }
  if (message == nullptr) {
    return;
  }
  const std::string_view msg(message, ::strnlen(message, 1024));
  spdlog::log(level <= XVGPU_LOG_ERROR  ? spdlog::level::err
              : level == XVGPU_LOG_WARN ? spdlog::level::warn
              : level == XVGPU_LOG_INFO ? spdlog::level::info
                                        : spdlog::level::debug,
              "vendor: {}", msg);
}

int guest_read(xvgpu_instance* inst, uint64_t gpa, void* buf, uint64_t len) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_guest_read(gpa, buf, len);
}
int guest_write(xvgpu_instance* inst, uint64_t gpa, const void* buf, uint64_t len) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_guest_write(gpa, buf, len);
}
int sg_map(xvgpu_instance* inst, const xvgpu_sg_entry* entries, uint32_t count, int writable,
           xvgpu_host_segment* out, xvgpu_sg_mapping** mapping) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_sg_map(entries, count, writable != 0, out, mapping);
}
void sg_release(xvgpu_instance* inst, xvgpu_sg_mapping* mapping) {
  if (Vgpu* v = vgpu_of(inst)) {
    v->svc_sg_release(mapping);
  }
}
int raise_msi(xvgpu_instance* inst, uint32_t vector) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_raise_msi(vector);
}
int set_intx(xvgpu_instance* inst, int asserted) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_set_intx(asserted != 0);
}
int direct_bar(xvgpu_instance* inst, uint32_t bar, void** host, uint64_t* size) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_direct_bar(bar, host, size);
}
int direct_bar_dirty(xvgpu_instance* inst, uint32_t bar, uint64_t* bitmap, uint64_t words) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_direct_bar_dirty(bar, bitmap, words);
}
int queue_work(xvgpu_instance* inst, void (*fn)(void*), void* arg) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_queue_work(fn, arg);
}
int domain_info(xvgpu_instance* inst, xvgpu_domain_info* out) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_domain_info(out);
}
uint32_t capability_offset(xvgpu_instance* inst, uint32_t index) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? 0 : v->svc_capability_offset(index);
}

int display_damage(xvgpu_instance* inst, const xvgpu_display_damage* damage) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_display_damage(damage);
}

int direct_bar_written(xvgpu_instance* inst, uint32_t bar, uint64_t offset, uint64_t len) {
  Vgpu* v = vgpu_of(inst);
  return v == nullptr ? -EINVAL : v->svc_direct_bar_written(bar, offset, len);
}

const xvgpu_host_api kHostApi = {
    .struct_size = sizeof(xvgpu_host_api),
    .abi_major = XVGPU_VENDOR_ABI_MAJOR,
    .abi_minor = XVGPU_VENDOR_ABI_MINOR,
    .reserved = 0,
    .register_pgpu = register_pgpu,
    .log = log,
    .guest_read = guest_read,
    .guest_write = guest_write,
    .sg_map = sg_map,
    .sg_release = sg_release,
    .raise_msi = raise_msi,
    .set_intx = set_intx,
    .direct_bar = direct_bar,
    .direct_bar_dirty = direct_bar_dirty,
    .queue_work = queue_work,
    .domain_info = domain_info,
    .capability_offset = capability_offset,
    .display_damage = display_damage,
    .direct_bar_written = direct_bar_written,
};

}  // namespace

const xvgpu_host_api* host_api() {
  return &kHostApi;
}

// Host services (called by vendor code, from any thread)

int Vgpu::svc_guest_read(uint64_t gpa, void* buf, uint64_t len) noexcept {
  if (len == 0) {
    return 0;
  }
  if (buf == nullptr || len > kMaxDmaCopy) {
    return -EINVAL;
  }
  if (!platform_.memory->may_hold(gpa, len)) {
    return dma_fault("read", gpa, len, "not guest memory");
  }
  try {
    platform_.memory->read(gpa, std::span<std::byte>(static_cast<std::byte*>(buf), len));
    return 0;
  } catch (const std::exception& e) {
    return dma_fault("read", gpa, len, e.what());
  }
}

int Vgpu::svc_guest_write(uint64_t gpa, const void* buf, uint64_t len) noexcept {
  if (len == 0) {
    return 0;
  }
  if (buf == nullptr || len > kMaxDmaCopy) {
    return -EINVAL;
  }
  if (!platform_.memory->may_hold(gpa, len)) {
    return dma_fault("write", gpa, len, "not guest memory");
  }
  try {
    platform_.memory->write(gpa, std::span<const std::byte>(static_cast<const std::byte*>(buf), len));
    return 0;
  } catch (const std::exception& e) {
    return dma_fault("write", gpa, len, e.what());
  }
}

int Vgpu::dma_fault(const char* what, uint64_t gpa, uint64_t len, const char* why) noexcept {
  ++counters_.dma_errors;
  {
    std::lock_guard hw(hw_mu_);
    cfg_.set_status_bits(pci::kStatusMasterAbort);
  }
  XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: DMA {} at {:#x}+{:#x}: {}", uuid_, what, gpa,
                    len, why);
  return -EFAULT;
}

int Vgpu::svc_sg_map(const xvgpu_sg_entry* entries, uint32_t count, bool writable, xvgpu_host_segment* out,
                     xvgpu_sg_mapping** mapping) noexcept {
  if (entries == nullptr || out == nullptr || mapping == nullptr || count == 0 || count > kMaxSgEntries) {
    return -EINVAL;
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (entries[i].len == 0 || entries[i].len > kMaxSgEntryLen) {
      return -EINVAL;
    }
  }
  try {
    auto m = std::make_unique<xvgpu_sg_mapping>();
    for (uint32_t i = 0; i < count; ++i) {
      m->maps.push_back(platform_.memory->map(entries[i].gpa, entries[i].len, writable));
      auto bytes = m->maps.back()->bytes();
      if (bytes.size() < entries[i].len) {
        return -EFAULT;
      }
      out[i] = xvgpu_host_segment{bytes.data(), entries[i].len};
    }
    std::lock_guard sg(sg_mu_);
    if (sg_maps_.size() >= kMaxLiveSgMappings) {
      return -ENOSPC;
    }
    *mapping = m.get();
    sg_maps_.emplace(m.get(), std::move(m));
    return 0;
  } catch (const std::exception& e) {
    ++counters_.dma_errors;
    XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: DMA map: {}", uuid_, e.what());
    return -EFAULT;
  }
}

void Vgpu::svc_sg_release(xvgpu_sg_mapping* mapping) noexcept {
  std::unique_ptr<xvgpu_sg_mapping> victim;
  {
    std::lock_guard sg(sg_mu_);
    auto it = sg_maps_.find(mapping);
    if (it == sg_maps_.end()) {
      return;
    }
    victim = std::move(it->second);
    sg_maps_.erase(it);
  }
}

int Vgpu::svc_raise_msi(uint32_t vector) noexcept {
  if (vector >= type_.layout.msi_vectors) {
    return -EINVAL;
  }
  std::lock_guard hw(hw_mu_);
  if (!attached_) {
    ++counters_.msi_dropped;
    return XVGPU_MSI_DISABLED;
  }
  try {
    switch (raise_msi(cfg_, vector, *platform_.interrupts)) {
      case MsiResult::Delivered:
        ++counters_.msi_delivered;
        return XVGPU_MSI_DELIVERED;
      case MsiResult::Pending:
        ++counters_.msi_pended;
        return XVGPU_MSI_PENDING;
      case MsiResult::Disabled:
        ++counters_.msi_dropped;
        return XVGPU_MSI_DISABLED;
    }
  } catch (const std::exception& e) {
    XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: MSI injection: {}", uuid_, e.what());
  }
  return -EIO;
}

int Vgpu::svc_set_intx(bool asserted) noexcept {
  if (type_.layout.intx_pin == 0) {
    return -EINVAL;
  }
  std::lock_guard hw(hw_mu_);
  intx_level_ = asserted;
  update_intx_locked();
  return 0;
}

int Vgpu::svc_direct_bar(uint32_t bar, void** host, uint64_t* size) noexcept {
  auto it = direct_.find(bar);
  if (it == direct_.end() || host == nullptr || size == nullptr) {
    return -EINVAL;
  }
  auto mem = it->second.host();
  *host = mem.data();
  *size = mem.size();
  return 0;
}

int Vgpu::svc_direct_bar_dirty(uint32_t bar, uint64_t* bitmap, uint64_t words) noexcept {
  auto it = direct_.find(bar);
  if (it == direct_.end() || bitmap == nullptr) {
    return -EINVAL;
  }
  const uint64_t pages = it->second.host().size() / kPageSize;
  const uint64_t need = (pages + 63) / 64;
  if (words < need) {
    return -ENOSPC;
  }
  std::fill(bitmap, bitmap + need, ~uint64_t{0});
  if (pages % 64 != 0) {
    bitmap[need - 1] = (uint64_t{1} << (pages % 64)) - 1;
  }
  if (!it->second.region) {
    return 0;  // trapped fallback: cannot track, all dirty
  }
  try {
    std::vector<uint64_t> dirty;
    it->second.dirty->take(*it->second.region, DirtyReader::Vendor, dirty);
    std::fill(bitmap, bitmap + need, 0);
    std::copy_n(dirty.begin(), std::min<uint64_t>(dirty.size(), need), bitmap);
    return 0;
  } catch (const std::exception& e) {
    spdlog::warn("vGPU {}: dirty tracking of BAR {}: {}", uuid_, bar, e.what());
    return 0;  // bitmap stays all dirty
  }
}

int Vgpu::svc_direct_bar_written(uint32_t bar, uint64_t offset, uint64_t len) noexcept {
  auto it = direct_.find(bar);
  if (it == direct_.end()) {
    return -EINVAL;
  }
  const uint64_t size = it->second.host().size();
  if (offset > size || len > size - offset) {
    return -EINVAL;
  }
  if (it->second.region && len != 0) {
    it->second.region->device_wrote(offset, len);
  }
  return 0;
}

int Vgpu::svc_display_damage(const xvgpu_display_damage* damage) noexcept {
  return display_damage_.record(damage);
}

int Vgpu::svc_queue_work(void (*fn)(void*), void* arg) noexcept {
  if (fn == nullptr) {
    return -EINVAL;
  }
  if (!worker_) {
    return -ENODEV;
  }
  try {
    return worker_->submit([fn, arg] { fn(arg); }) ? 0 : -EAGAIN;
  } catch (...) {
    return -ENOMEM;
  }
}

int Vgpu::svc_domain_info(xvgpu_domain_info* out) noexcept {
  if (out == nullptr || out->struct_size < sizeof(uint32_t)) {
    return -EINVAL;
  }
  std::lock_guard hw(hw_mu_);
  if (!domain_) {
    return -ENODEV;
  }
  const uint32_t n = std::min<uint32_t>(out->struct_size, sizeof(xvgpu_domain_info));
  xvgpu_domain_info copy = *domain_;
  copy.struct_size = n;
  std::memcpy(static_cast<void*>(out), &copy, n);
  return 0;
}

uint32_t Vgpu::svc_capability_offset(uint32_t index) noexcept {
  const auto& v = cfg_.placement().vendor;
  return index < v.size() ? v[index] : 0;
}

void Vgpu::svc_log(int level, const char* message) noexcept {
  if (message == nullptr) {
    return;
  }
  const std::string_view msg(message, ::strnlen(message, 1024));
  const auto lvl = level <= XVGPU_LOG_ERROR  ? spdlog::level::err
                   : level == XVGPU_LOG_WARN ? spdlog::level::warn
                   : level == XVGPU_LOG_INFO ? spdlog::level::info
                                             : spdlog::level::debug;
  XVGPU_LOG_LIMITED(vendor_log_, lvl, "vGPU {} [{}]: {}", uuid_, pgpu_.info().vendor, msg);
}

}  // namespace xvgpu::gpu
