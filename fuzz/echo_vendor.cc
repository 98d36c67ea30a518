#include "echo_vendor.h"

#include <xvgpu/vendor.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>

#include "fuzz_input.h"

namespace xvgpu::fuzz {

namespace {

constexpr uint32_t kRegisters = 512;

struct EchoDevice {
  xvgpu_instance* inst = nullptr;
  std::array<uint64_t, kRegisters> regs{};
};
const xvgpu_host_api* g_host = nullptr;
size_t g_accesses = 0;

int echo_available(void*, uint32_t, uint32_t* n) {
  *n = 1u << 20;
  return 0;
}
int echo_create(void*, xvgpu_instance* inst, const xvgpu_create_info*, void** data, xvgpu_error*) {
  auto d = std::make_unique<EchoDevice>();
  d->inst = inst;
  *data = d.release();  // owned through the C ABI until echo_destroy
  return 0;
}
int echo_destroy(void* data, xvgpu_error*) {
  const std::unique_ptr<EchoDevice> owned(static_cast<EchoDevice*>(data));
  return 0;
}
int echo_start(void*, const xvgpu_domain_info*, xvgpu_error*) {
  return 0;
}
int echo_noop(void*, xvgpu_error*) {
  return 0;
}
int echo_reset(void* data, xvgpu_error*) {
  static_cast<EchoDevice*>(data)->regs = {};
  return 0;
}
int echo_read(void* data, const xvgpu_access* a, uint64_t* v) {
  auto* d = static_cast<EchoDevice*>(data);
  ++g_accesses;
  if (a->size != 1 && a->size != 2 && a->size != 4 && a->size != 8) violation("vendor access of a bad size");
  if (a->offset % a->size != 0) violation("unaligned vendor read");
  *v = d->regs[(a->offset / 8) % kRegisters];
  return 0;
}
int echo_write(void* data, const xvgpu_access* a, uint64_t v) {
  auto* d = static_cast<EchoDevice*>(data);
  ++g_accesses;
  if (a->size == 0 || a->offset % a->size != 0) violation("unaligned vendor write");
  d->regs[(a->offset / 8) % kRegisters] = v;
  if (a->offset == 0x40) (void)g_host->raise_msi(d->inst, static_cast<uint32_t>(v & 3));
  return 0;
}
// State: u32 count (<= 512), then count registers; nothing may follow.
int echo_save(void* data, const xvgpu_stream* out, xvgpu_error*) {
  const auto* d = static_cast<const EchoDevice*>(data);
  const uint32_t n = kRegisters;
  if (const int rc = out->write(out->ctx, &n, sizeof n); rc < 0) return rc;
  return out->write(out->ctx, d->regs.data(), sizeof d->regs);
}
int echo_restore(void* data, const xvgpu_stream* in, xvgpu_error*) {
  auto* d = static_cast<EchoDevice*>(data);
  uint32_t n = 0;
  if (in->read(in->ctx, &n, sizeof n) != sizeof n || n > kRegisters) return -EINVAL;
  std::array<uint64_t, kRegisters> regs{};
  const auto len = static_cast<int64_t>(n * sizeof(uint64_t));
  if (in->read(in->ctx, regs.data(), static_cast<size_t>(len)) != len) return -EINVAL;
  uint8_t extra = 0;
  if (in->read(in->ctx, &extra, 1) != 0) return -EINVAL;
  d->regs = regs;
  return 0;
}

const xvgpu_bar_desc kBar0 = {sizeof(xvgpu_bar_desc),
                              0,
                              64 << 10,
                              XVGPU_BAR_64BIT | XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT,
                              0,
                              0,
                              {}};
const xvgpu_bar_desc kBar0Small = {
    sizeof(xvgpu_bar_desc), 0, 4096, XVGPU_BAR_64BIT | XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT, 0, 0, {}};
const xvgpu_bar_desc kBar2 = {sizeof(xvgpu_bar_desc), 2, 4096, 0, 4, 8, {}};
const xvgpu_bar_desc kBar3 = {sizeof(xvgpu_bar_desc), 3, 32, XVGPU_BAR_IO, 1, 4, {}};
const xvgpu_bar_desc* const kBars[] = {&kBar0, &kBar2, &kBar3};
const xvgpu_bar_desc* const kBarsSmall[] = {&kBar0Small, &kBar2, &kBar3};

constexpr xvgpu_device_layout layout(const xvgpu_bar_desc* const* bars) {
  return {sizeof(xvgpu_device_layout),
          0x1234,
          0x1111,
          0,
          0,
          0,
          3,
          0,
          0,
          4,
          1,
          {},
          3,
          bars,
          0,
          nullptr,
          0,
          nullptr,
          0,
          nullptr};
}
const xvgpu_device_layout kLayout = layout(kBars);
const xvgpu_device_layout kLayoutSmall = layout(kBarsSmall);
const xvgpu_type_desc kType = {
    sizeof(xvgpu_type_desc), 0, "echo", "fuzz", 0, 1, 0, 0, 0, nullptr, &kLayout, 0, 0, nullptr, nullptr};
const xvgpu_type_desc kTypeSmall = {sizeof(xvgpu_type_desc),
                                    0,
                                    "echo-small",
                                    "fuzz, small BAR0",
                                    0,
                                    1,
                                    0,
                                    0,
                                    0,
                                    nullptr,
                                    &kLayoutSmall,
                                    0,
                                    0,
                                    nullptr,
                                    nullptr};
const xvgpu_type_desc* const kTypes[] = {&kType, &kTypeSmall};
const xvgpu_pgpu_desc kPgpu = {sizeof(xvgpu_pgpu_desc), 0, 0, "echo0", "", 2, 0, kTypes, nullptr};
const xvgpu_device_ops kOps = {sizeof(xvgpu_device_ops),
                               echo_available,
                               echo_create,
                               echo_destroy,
                               echo_start,
                               echo_noop,
                               echo_reset,
                               echo_read,
                               echo_write,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               echo_save,
                               echo_restore};
int echo_init(const xvgpu_host_api* host, xvgpu_registrar* reg, xvgpu_error* err) {
  g_host = host;
  return host->register_pgpu(reg, &kPgpu, &kOps, nullptr, err);
}
const xvgpu_vendor kVendor = {sizeof(xvgpu_vendor),
                              XVGPU_VENDOR_ABI_MAJOR,
                              XVGPU_VENDOR_ABI_MINOR,
                              0,
                              "fuzz-echo",
                              "1",
                              echo_init,
                              nullptr};
const xvgpu_vendor* entry_point() {
  return &kVendor;
}

}  // namespace

void register_echo_vendor() {
  static const int registered = xvgpu_register_builtin_vendor(entry_point);
  (void)registered;
}

size_t take_echo_accesses() {
  const size_t n = g_accesses;
  g_accesses = 0;
  return n;
}

}  // namespace xvgpu::fuzz
