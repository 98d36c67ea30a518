#include "gpu/host_services.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "gpu/vendor_descriptor.h"
#include "gpu/vendor_plugin.h"
#include "gpu/vgpu.h"

namespace xvgpu::gpu {

namespace {

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
};

}  // namespace

const xvgpu_host_api* host_api() {
  return &kHostApi;
}

}  // namespace xvgpu::gpu
