// The trap path: guest config-space, BAR and legacy I/O accesses that the frontend traps and
// the DeviceBus routes here, split into the pieces the vendor accepts. Never throws: a bad access
// is counted and answered with all ones.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gpu/access_split.h"
#include "gpu/msi_delivery.h"
#include "gpu/vgpu.h"

namespace xvgpu::gpu {

namespace {

uint64_t all_ones(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

}  // namespace

uint64_t Vgpu::trapped_read(const IoAccess& access) noexcept {
  switch (access.space) {
    case AddressSpace::PciConfig:
      if (access.addr >= pci::kConfigSize) {
        count_bad("config read", access.addr, access.size);
        return all_ones(access.size);
      }
      return config_read(static_cast<unsigned>(access.addr), access.size, access.vcpu);
    case AddressSpace::Port:
      return bar_access(IoSpace::Port, access.addr, access.size, access.vcpu, false, 0);
    case AddressSpace::Mmio:
      return bar_access(IoSpace::Mmio, access.addr, access.size, access.vcpu, false, 0);
  }
  return all_ones(access.size);
}

void Vgpu::trapped_write(const IoAccess& access, uint64_t value) noexcept {
  switch (access.space) {
    case AddressSpace::PciConfig:
      if (access.addr >= pci::kConfigSize) {
        count_bad("config write", access.addr, access.size);
        return;
      }
      config_write(static_cast<unsigned>(access.addr), access.size, static_cast<uint32_t>(value),
                   access.vcpu);
      return;
    case AddressSpace::Port:
      (void)bar_access(IoSpace::Port, access.addr, access.size, access.vcpu, true, value);
      return;
    case AddressSpace::Mmio:
      (void)bar_access(IoSpace::Mmio, access.addr, access.size, access.vcpu, true, value);
      return;
  }
}

namespace {
// Config accesses: 1, 2 or 4 bytes that stay inside one dword (what CF8/CFC can produce).
bool valid_config_access(unsigned offset, unsigned size) {
  return (size == 1 || size == 2 || size == 4) && offset < pci::kConfigSize && (offset % 4) + size <= 4;
}
}  // namespace

uint32_t Vgpu::config_read(unsigned offset, unsigned size, VcpuId vcpu) noexcept {
  ++counters_.config_reads;
  if (!valid_config_access(offset, size)) {
    count_bad("config read", offset, size);
    return static_cast<uint32_t>(all_ones(size));
  }
  std::lock_guard lock(mu_);
  if (!has_instance(state_)) {
    return static_cast<uint32_t>(all_ones(size));
  }
  unsigned vendor_bytes = 0;
  for (unsigned i = 0; i < size; ++i) {
    vendor_bytes += cfg_.owner(offset + i) == ConfigOwner::Vendor ? 1 : 0;
  }
  if (vendor_bytes == 0) {
    std::lock_guard hw(hw_mu_);
    return cfg_.read(offset, size);
  }
  if (vendor_bytes != size) {
    count_bad("config read straddling vendor-owned bytes", offset, size);
    return static_cast<uint32_t>(all_ones(size));
  }
  return static_cast<uint32_t>(vendor_config_access(offset, size, vcpu, false, 0));
}

void Vgpu::config_write(unsigned offset, unsigned size, uint32_t value, VcpuId vcpu) noexcept {
  ++counters_.config_writes;
  if (!valid_config_access(offset, size)) {
    count_bad("config write", offset, size);
    return;
  }
  std::lock_guard lock(mu_);
  if (!has_instance(state_)) {
    return;
  }
  unsigned vendor_bytes = 0;
  for (unsigned i = 0; i < size; ++i) {
    vendor_bytes += cfg_.owner(offset + i) == ConfigOwner::Vendor ? 1 : 0;
  }
  if (vendor_bytes == size) {
    (void)vendor_config_access(offset, size, vcpu, true, value);
    return;
  }
  if (vendor_bytes != 0) {
    count_bad("config write straddling vendor-owned bytes", offset, size);
    return;
  }
  xvgpu_irq_state before{};
  xvgpu_irq_state after{};
  {
    std::lock_guard hw(hw_mu_);
    before = irq_state_locked();
    cfg_.write(offset, size, value);
    try {
      counters_.msi_delivered += deliver_unmasked_pending(cfg_, *platform_.interrupts);
    } catch (const std::exception& e) {
      XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: MSI delivery: {}", uuid_, e.what());
    }
    update_intx_locked();
    reconcile_locked();
    after = irq_state_locked();
  }
  const bool changed = before.msi_enabled != after.msi_enabled ||
                       before.msi_vectors_enabled != after.msi_vectors_enabled ||
                       before.intx_disabled != after.intx_disabled;
  if (changed && pgpu_.ops().irq_changed != nullptr) {
    pgpu_.ops().irq_changed(vendor_data_, &after);
  }
}

uint64_t Vgpu::vendor_config_access(unsigned offset, unsigned size, VcpuId vcpu, bool is_write,
                                    uint64_t value) noexcept {
  const auto& ops = pgpu_.ops();
  xvgpu_access acc{};
  acc.struct_size = sizeof acc;
  acc.region = XVGPU_REGION_CONFIG;
  acc.offset = offset;
  acc.size = size;
  acc.vcpu = vcpu.value;
  if (is_write) {
    if (ops.config_write == nullptr || ops.config_write(vendor_data_, &acc, value) < 0) {
      ++counters_.vendor_errors;
    }
    return 0;
  }
  uint64_t v = 0;
  if (ops.config_read == nullptr || ops.config_read(vendor_data_, &acc, &v) < 0) {
    ++counters_.vendor_errors;
    return all_ones(size);
  }
  return v & all_ones(size);
}

uint64_t Vgpu::bar_access(IoSpace space, uint64_t addr, unsigned size, VcpuId vcpu, bool is_write,
                          uint64_t value) noexcept {
  ++(is_write ? counters_.bar_writes : counters_.bar_reads);
  const uint64_t ones = all_ones(size);
  std::lock_guard lock(mu_);
  if (state_ != VgpuState::Running) {
    count_bad(is_write ? "write to a stopped vGPU" : "read from a stopped vGPU", addr, size);
    return ones;
  }
  const auto hit = mapper_.find(space, addr);
  if (hit && hit->bar >= XVGPU_REGION_LEGACY_IO) {
    return legacy_access_locked(*hit, addr, size, vcpu, is_write, value);
  }
  if (hit && hit->bar == BarMapper::kRomBar) {
    if (is_write) {
      return 0;  // read-only memory: a write changes nothing
    }
    if (!rom_ || hit->offset + size > hit->size) {
      count_bad("expansion ROM read", addr, size);
      return ones;
    }
    ++counters_.rom_reads;
    return rom_->read(hit->offset, size);
  }
  const BarLayout* bar = hit ? type_.layout.bar(hit->bar) : nullptr;
  if (bar == nullptr) {
    count_bad(is_write ? "write outside BARs" : "read outside BARs", addr, size);
    return ones;
  }
  auto direct = direct_.find(bar->index);
  if (direct != direct_.end()) {
    // A direct BAR reached through traps (the platform has no direct memory): plain memory.
    const AccessPlan plan = plan_access(hit->offset, size, hit->size, 1, 8);
    if (plan.refused) {
      count_bad("direct BAR access", addr, size);
      return ones;
    }
    auto mem = direct->second.host();
    if (is_write) {
      for (unsigned i = 0; i < size; ++i) {
        mem[hit->offset + i] = static_cast<std::byte>(value >> (8 * i));
      }
      return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
      v |= uint64_t{std::to_integer<uint8_t>(mem[hit->offset + i])} << (8 * i);
    }
    return v;
  }
  const AccessPlan plan = plan_access(hit->offset, size, hit->size, bar->access_min, bar->access_max);
  if (plan.refused) {
    count_bad(is_write ? "BAR write (size/alignment rule)" : "BAR read (size/alignment rule)", addr, size);
    return ones;
  }
  return dispatch_locked(bar->index, plan, vcpu, is_write, value);
}

uint64_t Vgpu::legacy_access_locked(const BarMapper::Hit& hit, uint64_t addr, unsigned size, VcpuId vcpu,
                                    bool is_write, uint64_t value) noexcept {
  const uint64_t ones = all_ones(size);
  const size_t index = hit.bar - XVGPU_REGION_LEGACY_IO;
  if (index >= type_.layout.legacy_io.size()) {
    count_bad("legacy port access", addr, size);
    return ones;
  }
  const LegacyIoLayout& range = type_.layout.legacy_io[index];
  AccessPlan plan;
  if (range.unaligned) {
    // Port I/O as the guest made it: whole, at any port, inside the range.
    if (size < range.access_min || size > range.access_max || hit.offset + size > hit.size) {
      count_bad(is_write ? "legacy port write (size rule)" : "legacy port read (size rule)", addr, size);
      return ones;
    }
    plan.refused = false;
    plan.count = 1;
    plan.pieces[0] = AccessPiece{hit.offset, static_cast<uint8_t>(size), 0};
  } else {
    plan = plan_access(hit.offset, size, hit.size, range.access_min, range.access_max);
    if (plan.refused) {
      count_bad(
          is_write ? "legacy port write (size/alignment rule)" : "legacy port read (size/alignment rule)",
          addr, size);
      return ones;
    }
  }
  return dispatch_locked(hit.bar, plan, vcpu, is_write, value);
}

uint64_t Vgpu::dispatch_locked(unsigned region, const AccessPlan& plan, VcpuId vcpu, bool is_write,
                               uint64_t value) noexcept {
  const auto& ops = pgpu_.ops();
  uint64_t result = 0;
  for (unsigned i = 0; i < plan.count; ++i) {
    const auto& piece = plan.pieces[i];
    xvgpu_access acc{};
    acc.struct_size = sizeof acc;
    acc.region = region;
    acc.offset = piece.offset;
    acc.size = piece.size;
    acc.vcpu = vcpu.value;
    const uint64_t piece_ones = all_ones(piece.size);
    if (is_write) {
      if (const int rc = ops.write(vendor_data_, &acc, (value >> piece.shift) & piece_ones); rc < 0) {
        ++counters_.vendor_errors;
        XVGPU_LOG_LIMITED(vendor_log_, spdlog::level::warn,
                          "vGPU {}: vendor failed guest write of BAR {} offset {:#x} size {}: {} (dropped)",
                          uuid_, region, acc.offset, acc.size, std::strerror(-rc));
      }
    } else {
      uint64_t v = 0;
      if (const int rc = ops.read(vendor_data_, &acc, &v); rc < 0) {
        ++counters_.vendor_errors;
        XVGPU_LOG_LIMITED(vendor_log_, spdlog::level::warn,
                          "vGPU {}: vendor failed guest read of BAR {} offset {:#x} size {}: {} (all ones)",
                          uuid_, region, acc.offset, acc.size, std::strerror(-rc));
        v = piece_ones;
      }
      result |= (v & piece_ones) << piece.shift;
    }
  }
  return result;
}

}  // namespace xvgpu::gpu
