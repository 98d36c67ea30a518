#include "gpu/vgpu.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "gpu/access_split.h"
#include "gpu/device_bus.h"
#include "gpu/msi_delivery.h"
#include "gpu/uuid.h"

namespace xvgpu::gpu {

namespace {

constexpr uint64_t kMaxDmaCopy = uint64_t{1} << 30;
constexpr uint64_t kMaxSgEntryLen = uint64_t{256} << 20;
constexpr uint32_t kMaxSgEntries = 1024;
constexpr size_t kMaxLiveSgMappings = 4096;

uint64_t all_ones(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

std::string vendor_message(const xvgpu_error& err) {
  return std::string(err.message, ::strnlen(err.message, sizeof err.message));
}

bool has_instance(VgpuState s) {
  return s == VgpuState::Created || s == VgpuState::Running || s == VgpuState::Stopped;
}

}  // namespace

// Maps BAR windows through the platform (claims / direct placement) and the bus routes.
class Vgpu::MapHooks : public BarMapper::Hooks {
 public:
  explicit MapHooks(Vgpu& v) : v_(v) {}
  void map_bar(const BarLayout& bar, const BarWindow& w) override {
    auto it = v_.direct_.find(bar.index);
    if (it != v_.direct_.end() && it->second.region) {
      it->second.region->place(w.first);
      return;
    }
    if (!touch_bus) {
      v_.platform_.claims->claim_range(w.space, w.first, w.last);
      return;
    }
    // The bus knows every window the guest's vGPUs decode (this one's other BARs, other
    // vGPUs, legacy ports): route first, so a guest that overlaps two windows is refused here
    // and the hypervisor is never asked for an overlapping claim (found by simgpu_bar_fuzzer).
    v_.bus_.add_route(w.space, w.first, w.last, v_.shared_from_this());
    try {
      v_.platform_.claims->claim_range(w.space, w.first, w.last);
    } catch (...) {
      v_.bus_.remove_route(w.space, w.first);
      throw;
    }
  }
  void unmap_bar(const BarLayout& bar, const BarWindow& w) noexcept override {
    try {
      auto it = v_.direct_.find(bar.index);
      if (it != v_.direct_.end() && it->second.region) {
        it->second.region->unplace();
        return;
      }
      if (touch_bus) {
        v_.bus_.remove_route(w.space, w.first);
      }
      v_.platform_.claims->release_range(w.space, w.first, w.last);
    } catch (const std::exception& e) {
      spdlog::warn("vGPU {}: releasing BAR {} at {:#x}: {}", v_.uuid_, bar.index, w.first, e.what());
    }
  }
  bool touch_bus = true;

 private:
  Vgpu& v_;
};

Vgpu::Vgpu(const VgpuConfig& config, PhysicalGpu& pgpu, uint32_t type_index, const Platform& platform,
           DeviceBus& bus, HostAccounting& accounting)
    : pgpu_(pgpu),
      type_index_(type_index),
      type_(pgpu.info().types.at(type_index)),
      platform_(platform),
      bus_(bus),
      accounting_(accounting),
      sbdf_(config.sbdf),
      rom_(config.rom),
      cfg_(type_.layout, config.rom ? config.rom->bar_size() : 0) {
  const auto u = normalize_uuid(config.uuid);
  if (!u) {
    throw Error(fmt::format("invalid vGPU uuid '{}' (want 8-4-4-4-12 hex digits)", config.uuid));
  }
  uuid_ = *u;
  if (!config.vm_uuid.empty()) {
    const auto vm = normalize_uuid(config.vm_uuid);
    if (!vm) {
      throw Error(fmt::format("invalid VM uuid '{}'", config.vm_uuid));
    }
    vm_uuid_ = *vm;
  }
  vm_name_ = config.vm_name.substr(0, 255);
  incoming_ = config.incoming;
  if (rom_ && (rom_->vendor_id() != type_.layout.vendor_id || rom_->device_id() != type_.layout.device_id)) {
    throw Error(
        fmt::format("the expansion ROM is for PCI {} but type {} is {:04x}:{:04x} (a BIOS would not run it)",
                    rom_->ids_text(), type_.name, type_.layout.vendor_id, type_.layout.device_id));
  }
  if (!sbdf_.valid()) {
    throw Error("invalid PCI address for vGPU " + uuid_);
  }
  if (platform_.memory == nullptr || platform_.interrupts == nullptr || platform_.claims == nullptr) {
    throw Error("vGPU " + uuid_ + ": the platform lacks guest memory, interrupts or range claims");
  }
  if (platform_.domid != bus.domid()) {
    throw Error("vGPU " + uuid_ + ": platform and bus serve different domains");
  }
  // Creation parameters: each names a creation-time knob of the type; values are validated now.
  std::vector<std::string> seen;
  param_texts_.reserve(config.params.size());
  for (const auto& [key, value] : config.params) {
    uint32_t index = 0;
    const KnobInfo* knob = type_.knob(key, &index);
    if (knob == nullptr || !knob->at_create) {
      std::vector<std::string> names;
      for (const auto& k : type_.knobs) {
        if (k.at_create) {
          names.push_back(k.name);
        }
      }
      throw Error(
          fmt::format("unknown parameter '{}' for vGPU type {}; accepted: {}", key, type_.name,
                      names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      throw Error("parameter '" + key + "' given twice");
    }
    seen.push_back(key);
    const KnobValue v = parse_knob_value(*knob, value);
    param_texts_.push_back(v.text);
    create_params_.push_back(xvgpu_knob_value{index, 0, v.integer, nullptr});
  }
  for (size_t i = 0; i < create_params_.size(); ++i) {
    if (type_.knobs[create_params_[i].knob].type == KnobType::String) {
      create_params_[i].text = param_texts_[i].c_str();
    }
  }
}

Vgpu::~Vgpu() {
  std::lock_guard lock(mu_);
  if (state_ == VgpuState::Running) {
    xvgpu_error err{};
    if (worker_) {
      worker_->drain();
    }
    (void)pgpu_.ops().shutdown(vendor_data_, &err);
    detach_locked(false);
    state_ = VgpuState::Stopped;
  }
  if (state_ == VgpuState::Created || state_ == VgpuState::Stopped) {
    if (worker_) {
      worker_->close();
      worker_->drain();
    }
    xvgpu_error err{};
    const int rc = pgpu_.ops().destroy(vendor_data_, &err);
    if (rc < 0) {
      spdlog::warn("vGPU {}: vendor refused destroy at exit: {}", uuid_, vendor_message(err));
    }
    release_resources_locked();
    state_ = VgpuState::Destroyed;
  }
}

VgpuState Vgpu::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

VgpuState Vgpu::transition(VgpuOp op) const {
  return next_state(state_, op, uuid_);
}

void Vgpu::throw_vendor_error(const char* what, int rc, const xvgpu_error& err) const {
  std::string msg = vendor_message(err);
  throw Error(fmt::format("vendor {} refused to {} vGPU {}: {} (error {})", pgpu_.info().vendor, what, uuid_,
                          msg.empty() ? std::string("no reason given") : msg, rc));
}

void Vgpu::create() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Create);
  if (pgpu_.vendor_available(type_index_) == 0) {
    throw NoCapacityError(
        fmt::format("no capacity for another {} on {}/{}: the vendor reports none available", type_.name,
                    pgpu_.info().vendor, pgpu_.info().name));
  }
  reservation_ = accounting_.reserve(uuid_, pgpu_.info(), type_,
                                     ReservationOwner{platform_.domid.value, vm_uuid_, vm_name_, incoming_});
  try {
    for (const auto& bar : type_.layout.bars) {
      if (!bar.direct) {
        continue;
      }
      DirectBar d;
      if (platform_.direct_memory != nullptr) {
        d.region = platform_.direct_memory->allocate(bar.size);
      } else {
        d.fallback = ZeroedMemory(bar.size);  // pages appear as the guest touches them
      }
      direct_.emplace(bar.index, std::move(d));
    }
    worker_ = std::make_unique<Worker>("vgpu " + uuid_);
    xvgpu_create_info info{};
    info.struct_size = sizeof info;
    info.type_index = type_index_;
    std::memcpy(info.uuid, uuid_.c_str(), uuid_.size() + 1);
    info.num_params = static_cast<uint32_t>(create_params_.size());
    info.params = create_params_.data();
    xvgpu_error err{};
    void* data = nullptr;
    const int rc = pgpu_.ops().create(pgpu_.data(), &handle_, &info, &data, &err);
    if (rc < 0) {
      throw_vendor_error("create", rc, err);
    }
    vendor_data_ = data;
  } catch (...) {
    release_resources_locked();
    throw;
  }
  state_ = next;
}

void Vgpu::start() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Start);
  xvgpu_domain_info info{};
  info.struct_size = sizeof info;
  info.domid = platform_.domid.value;
  info.pci_segment = sbdf_.seg;
  info.pci_bus = sbdf_.bus;
  info.pci_devfn = static_cast<uint8_t>(sbdf_.dev << 3 | sbdf_.fn);
  std::memcpy(info.vm_uuid, vm_uuid_.c_str(), vm_uuid_.size() + 1);
  std::memcpy(info.vgpu_uuid, uuid_.c_str(), uuid_.size() + 1);
  info.vm_name = vm_name_.c_str();
  {
    std::lock_guard hw(hw_mu_);
    domain_ = info;
  }
  xvgpu_error err{};
  const int rc = pgpu_.ops().start(vendor_data_, &info, &err);
  if (rc < 0) {
    std::lock_guard hw(hw_mu_);
    domain_.reset();
    throw_vendor_error("start", rc, err);
  }
  try {
    attach_locked();
  } catch (...) {
    xvgpu_error ignored{};
    (void)pgpu_.ops().shutdown(vendor_data_, &ignored);
    std::lock_guard hw(hw_mu_);
    domain_.reset();
    throw;
  }
  state_ = next;
}

void Vgpu::stop() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Stop);
  worker_->drain();
  xvgpu_error err{};
  const int rc = pgpu_.ops().shutdown(vendor_data_, &err);
  if (rc < 0) {
    throw_vendor_error("shut down", rc, err);
  }
  detach_locked(true);
  std::lock_guard hw(hw_mu_);
  domain_.reset();
  state_ = next;
}

void Vgpu::reset() {
  std::lock_guard lock(mu_);
  (void)transition(VgpuOp::Reset);
  worker_->drain();
  xvgpu_error err{};
  const int rc = pgpu_.ops().reset(vendor_data_, &err);
  if (rc < 0) {
    throw_vendor_error("reset", rc, err);
  }
  xvgpu_irq_state irq{};
  {
    std::lock_guard hw(hw_mu_);
    cfg_.reset();
    intx_level_ = false;
    update_intx_locked();
    reconcile_locked();
    irq = irq_state_locked();
  }
  if (pgpu_.ops().irq_changed != nullptr) {
    pgpu_.ops().irq_changed(vendor_data_, &irq);
  }
}

void Vgpu::destroy() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Destroy);
  if (state_ != VgpuState::Defined) {
    worker_->close();
    worker_->drain();
    xvgpu_error err{};
    const int rc = pgpu_.ops().destroy(vendor_data_, &err);
    if (rc < 0) {
      throw_vendor_error("destroy", rc, err);
    }
    release_resources_locked();
  }
  state_ = next;
}

void Vgpu::wait_for_queued_work() {
  if (worker_) {
    worker_->drain();
  }
}

void Vgpu::abandon() noexcept {
  std::lock_guard lock(mu_);
  if (state_ == VgpuState::Destroyed || state_ == VgpuState::Defined) {
    state_ = VgpuState::Destroyed;
    return;
  }
  spdlog::error("vGPU {}: abandoning the vendor instance after a refused teardown", uuid_);
  if (worker_) {
    worker_->close();
    worker_->drain();
  }
  if (state_ == VgpuState::Running) {
    detach_locked(true);
  }
  release_resources_locked();
  state_ = VgpuState::Destroyed;
}

void Vgpu::release_resources_locked() noexcept {
  worker_.reset();
  {
    std::lock_guard sg(sg_mu_);
    if (!sg_maps_.empty()) {
      spdlog::warn("vGPU {}: vendor left {} guest mappings; released", uuid_, sg_maps_.size());
      sg_maps_.clear();
    }
  }
  direct_.clear();
  reservation_.reset();
  vendor_data_ = nullptr;
}

void Vgpu::attach_locked() {
  bus_.attach(sbdf_, shared_from_this());
  try {
    platform_.claims->claim_pci(sbdf_);
  } catch (...) {
    bus_.detach(sbdf_);
    throw;
  }
  std::lock_guard hw(hw_mu_);
  attached_ = true;
  reconcile_locked();
  update_intx_locked();
}

void Vgpu::detach_locked(bool touch_bus) noexcept {
  {
    std::lock_guard hw(hw_mu_);
    attached_ = false;
    MapHooks hooks(*this);
    hooks.touch_bus = touch_bus;
    mapper_.reconcile(cfg_, false, hooks);
    update_intx_locked();
  }
  try {
    platform_.claims->release_pci(sbdf_);
  } catch (const std::exception& e) {
    spdlog::warn("vGPU {}: releasing PCI {}: {}", uuid_, sbdf_.to_string(), e.what());
  }
  if (touch_bus) {
    bus_.detach(sbdf_);
  }
}

void Vgpu::reconcile_locked() {
  MapHooks hooks(*this);
  counters_.unmapped_bars += mapper_.reconcile(cfg_, attached_, hooks);
}

void Vgpu::update_intx_locked() {
  const uint8_t pin = type_.layout.intx_pin;
  if (pin == 0) {
    return;
  }
  cfg_.set_intx_status(intx_level_);
  const bool out = attached_ && intx_level_ && (cfg_.command() & pci::kCmdIntxDisable) == 0;
  if (out == intx_out_) {
    return;
  }
  intx_out_ = out;
  try {
    platform_.interrupts->set_intx_level(sbdf_, pin - 1u, out);
  } catch (const std::exception& e) {
    XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: INTx: {}", uuid_, e.what());
  }
}

xvgpu_irq_state Vgpu::irq_state_locked() const {
  xvgpu_irq_state s{};
  s.struct_size = sizeof s;
  if (const auto msi = read_msi_state(cfg_)) {
    s.msi_enabled = msi->enabled ? 1 : 0;
    s.msi_vectors_enabled = msi->enabled ? msi->vectors_enabled : 0;
  }
  s.intx_disabled = (cfg_.command() & pci::kCmdIntxDisable) != 0 ? 1 : 0;
  return s;
}

void Vgpu::count_bad(const char* what, uint64_t addr, unsigned size) noexcept {
  ++counters_.bad_accesses;
  XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: refused guest {} at {:#x} size {}", uuid_,
                    what, addr, size);
}

// ---------------------------------------------------------------------------------------------
// Guest accesses

uint64_t Vgpu::guest_read(const IoAccess& access) noexcept {
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

void Vgpu::guest_write(const IoAccess& access, uint64_t value) noexcept {
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

// ---------------------------------------------------------------------------------------------
// Operator-facing queries

std::vector<Counter> Vgpu::stats() {
  std::vector<Counter> out = {
      {"core.config_reads", counters_.config_reads},   {"core.config_writes", counters_.config_writes},
      {"core.bar_reads", counters_.bar_reads},         {"core.bar_writes", counters_.bar_writes},
      {"core.bad_accesses", counters_.bad_accesses},   {"core.vendor_errors", counters_.vendor_errors},
      {"core.msi_delivered", counters_.msi_delivered}, {"core.msi_pended", counters_.msi_pended},
      {"core.msi_dropped", counters_.msi_dropped},     {"core.dma_errors", counters_.dma_errors},
      {"core.unmapped_bars", counters_.unmapped_bars}, {"core.rom_reads", counters_.rom_reads},
  };
  std::lock_guard lock(mu_);
  const auto& ops = pgpu_.ops();
  if (has_instance(state_) && ops.read_stats != nullptr && !type_.stat_names.empty()) {
    std::vector<uint64_t> values(type_.stat_names.size());
    if (ops.read_stats(vendor_data_, values.data(), static_cast<uint32_t>(values.size())) >= 0) {
      for (size_t i = 0; i < values.size(); ++i) {
        out.push_back({type_.stat_names[i], values[i]});
      }
    }
  }
  return out;
}

std::string Vgpu::knob_get(const std::string& name) {
  std::lock_guard lock(mu_);
  uint32_t index = 0;
  const KnobInfo* knob = type_.knob(name, &index);
  if (knob == nullptr) {
    throw Error(fmt::format("vGPU {} (type {}) has no knob '{}'", uuid_, type_.name, name));
  }
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: its knobs are not available", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().knob_get == nullptr) {
    throw Error(fmt::format("vendor {} cannot read knobs", pgpu_.info().vendor));
  }
  KnobValue v;
  std::string text(knob_max_text(*knob) + 1, '\0');
  const int rc = pgpu_.ops().knob_get(vendor_data_, index, &v.integer, text.data(), text.size());
  if (rc < 0) {
    throw Error(fmt::format("vGPU {}: reading knob '{}' failed (error {})", uuid_, name, rc));
  }
  text.resize(::strnlen(text.data(), text.size()));
  v.text = text;
  return format_knob_value(*knob, v);
}

void Vgpu::knob_set(const std::string& name, const std::string& value) {
  std::lock_guard lock(mu_);
  uint32_t index = 0;
  const KnobInfo* knob = type_.knob(name, &index);
  if (knob == nullptr) {
    throw Error(fmt::format("vGPU {} (type {}) has no knob '{}'", uuid_, type_.name, name));
  }
  if (!knob->runtime) {
    throw Error(fmt::format("knob '{}' can only be given when the vGPU is created", name));
  }
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: its knobs are not available", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().knob_set == nullptr) {
    throw Error(fmt::format("vendor {} cannot set knobs", pgpu_.info().vendor));
  }
  const KnobValue v = parse_knob_value(*knob, value);
  xvgpu_knob_value kv{index, 0, v.integer, knob->type == KnobType::String ? v.text.c_str() : nullptr};
  xvgpu_error err{};
  const int rc = pgpu_.ops().knob_set(vendor_data_, &kv, &err);
  if (rc < 0) {
    const std::string msg = vendor_message(err);
    throw Error(fmt::format("vGPU {}: vendor refused {}={}: {} (error {})", uuid_, name, value,
                            msg.empty() ? std::string("no reason given") : msg, rc));
  }
}

std::optional<DisplaySurface> Vgpu::display_surface(uint32_t head) {
  std::lock_guard lock(mu_);
  return display_surface_locked(head);
}

namespace {

// Rows of the surface that the dirty pages of its BAR touch, as full-width rectangles.
void dirty_rows(const DisplaySurface& s, const std::vector<uint64_t>& pages, std::vector<Rect>& out) {
  const uint64_t first_byte = s.offset;
  const uint64_t end_byte =
      s.offset + uint64_t{s.stride} * (s.height - 1) + uint64_t{s.width} * s.bytes_per_pixel;
  const uint64_t first_page = first_byte / kPageSize;
  const uint64_t end_page = std::min<uint64_t>((end_byte + kPageSize - 1) / kPageSize, pages.size() * 64);
  auto dirty = [&](uint64_t p) { return (pages[p / 64] >> (p % 64) & 1) != 0; };
  for (uint64_t p = first_page; p < end_page;) {
    if (!dirty(p)) {
      ++p;
      continue;
    }
    uint64_t q = p;
    while (q < end_page && dirty(q)) ++q;
    // Bytes [p, q) pages of the BAR, relative to the surface's first pixel.
    const uint64_t lo = std::max(p * kPageSize, first_byte) - first_byte;
    const uint64_t hi = std::min(q * kPageSize, end_byte) - first_byte;  // exclusive
    const auto y0 = static_cast<uint32_t>(lo / s.stride);
    const auto y1 = static_cast<uint32_t>(std::min<uint64_t>((hi - 1) / s.stride, s.height - 1));
    if (!out.empty() && out.back().y + out.back().height >= y0) {
      out.back().height = std::max(out.back().height, y1 + 1 - out.back().y);
    } else {
      out.push_back({0, y0, s.width, y1 + 1 - y0});
    }
    p = q;
  }
}

std::optional<Rect> clip(const Rect& r, const DisplaySurface& s) {
  if (r.x >= s.width || r.y >= s.height || r.width == 0 || r.height == 0) return std::nullopt;
  return Rect{r.x, r.y, std::min(r.width, s.width - r.x), std::min(r.height, s.height - r.y)};
}

}  // namespace

DisplayUpdate Vgpu::display_update(uint32_t head) {
  std::lock_guard lock(mu_);
  DisplayUpdate u;
  HeadDamage vendor = display_damage_.take(head);
  u.surface_changed = vendor.surface_changed;
  u.surface = display_surface_locked(head);
  if (!u.surface) return u;
  const DisplaySurface& s = *u.surface;
  auto it = direct_.find(s.bar);
  if (it != direct_.end() && it->second.region) {
    std::vector<uint64_t> pages;
    try {
      it->second.dirty->take(*it->second.region, DirtyReader::Console, pages);
      dirty_rows(s, pages, u.damage);
    } catch (const std::exception& e) {
      XVGPU_LOG_LIMITED(vendor_log_, spdlog::level::warn, "vGPU {}: dirty tracking of BAR {}: {}", uuid_,
                        s.bar, e.what());
      u.damage.assign(1, Rect{0, 0, s.width, s.height});
    }
  } else {
    u.damage.assign(1, Rect{0, 0, s.width, s.height});  // trapped fallback: no dirty log
  }
  for (const Rect& r : vendor.rects) {
    if (auto c = clip(r, s)) u.damage.push_back(*c);
  }
  return u;
}

std::optional<DisplaySurface> Vgpu::display_surface_locked(uint32_t head) {
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: no display", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().display_surface == nullptr) {
    throw Error(fmt::format("vendor {} has no display query", pgpu_.info().vendor));
  }
  xvgpu_display_surface s{};
  s.struct_size = sizeof s;
  const int rc = pgpu_.ops().display_surface(vendor_data_, head, &s);
  if (rc < 0) {
    throw Error(fmt::format("vGPU {}: display query for head {} failed (error {})", uuid_, head, rc));
  }
  if (s.enabled == 0) {
    return std::nullopt;
  }
  DisplaySurface d;
  d.fourcc = s.fourcc;
  d.width = s.width;
  d.height = s.height;
  d.stride = s.stride;
  d.bar = s.bar;
  d.offset = s.offset;
  switch (s.fourcc) {
    case XVGPU_FOURCC_XRGB8888:
      d.bytes_per_pixel = 4;
      break;
    case XVGPU_FOURCC_RGB888:
      d.bytes_per_pixel = 3;
      break;
    case XVGPU_FOURCC_RGB565:
      d.bytes_per_pixel = 2;
      break;
    default:
      throw Error(fmt::format("vGPU {}: display uses unknown format {:#010x}", uuid_, s.fourcc));
  }
  auto it = direct_.find(s.bar);
  if (it == direct_.end()) {
    throw Error(fmt::format("vGPU {}: display surface in BAR {}, which is not a direct BAR", uuid_, s.bar));
  }
  const auto mem = it->second.host();
  const uint64_t line = uint64_t{s.width} * d.bytes_per_pixel;
  if (s.width == 0 || s.height == 0 || s.width > 16384 || s.height > 16384 || s.stride < line ||
      s.offset > mem.size() || uint64_t{s.stride} * (s.height - 1) + line > mem.size() - s.offset) {
    throw Error(
        fmt::format("vGPU {}: display surface {}x{} stride {} at offset {:#x} does not fit BAR {} ({} bytes)",
                    uuid_, s.width, s.height, s.stride, s.offset, s.bar, mem.size()));
  }
  const uint64_t len = std::min<uint64_t>(uint64_t{s.stride} * s.height, mem.size() - s.offset);
  d.pixels = std::span<const std::byte>(mem.data() + s.offset, len);
  return d;
}

// ---------------------------------------------------------------------------------------------
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
